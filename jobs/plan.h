#pragma once

// A job net compiled for the engine: its units flattened in pre-order (the
// root is 0), each with its parent and children, its wait conditions with
// sibling names resolved to indices, the siblings that wait on it, and a
// reference job's spec resolved to the job it reuses. Immutable once made;
// sessions share it (a redefinition makes a new Plan, and a session keeps
// running the version it started with).
//
// Compile only a definition that jobs/definitions.h accepted; compile still
// refuses what would make the engine misbehave (an unknown sibling, a cycle),
// naming the unit.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "duet/v1/jobs.pb.h"
#include "jobs/business_calendar.h"

namespace duet::jobs {

enum class EndStatus : std::uint8_t { kNormal, kWarning, kAbnormal };
const char* end_status_name(EndStatus s);
std::optional<EndStatus> parse_end_status(std::string_view text);
// The worse of two: abnormal > warning > normal.
inline EndStatus worse(EndStatus a, EndStatus b) { return a > b ? a : b; }

// "OP VALUE" with OP one of == != < <= > >=.
struct Comparison {
  enum class Op : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe } op = Op::kEq;
  std::string value;
  // Numerically when both sides are integers, else as text.
  bool holds(std::string_view lhs) const;
};
// An error says what is wrong: "'=< 3' is not OP VALUE (OP: == != < <= > >=)".
Result<Comparison> parse_comparison(std::string_view text);

// "HH:MM" or "HH:MM:SS" -> seconds of the day.
std::optional<int> parse_time_of_day(std::string_view text);

// End values the engine gives when there is no exit code (docs/jobs.md).
inline constexpr std::int64_t kValueFailedToStart = -1;
inline constexpr std::int64_t kValueTimeLimit = -2;
inline constexpr std::int64_t kValueStopped = -3;
inline constexpr std::int64_t kValueRejected = -4;

struct PlanCondition {
  enum class Kind : std::uint8_t { kUnit, kTime, kAfterStart, kVariable } kind = Kind::kUnit;
  std::uint32_t unit = 0;  // kUnit: the sibling's index
  std::string want;        // kUnit: ok, normal, warning, abnormal, any ("" with end_value)
  std::optional<Comparison> compare;  // kUnit: end value; kVariable: the variable
  int time_of_day_s = 0;              // kTime
  std::uint32_t after_s = 0;          // kAfterStart
  std::string variable;               // kVariable
};

struct PlanGroup {
  bool any = false;
  std::vector<PlanCondition> conditions;
};

struct PlanUnit {
  std::uint32_t index = 0;
  std::string path;  // "" for the root, "load", "sub/job"
  std::int32_t parent = -1;
  std::vector<std::uint32_t> children;
  std::vector<std::uint32_t> dependents;  // siblings with a condition on this unit
  std::string kind;  // net, command, transfer, approval, monitor (a reference: what it reuses)
  const duet::v1::JobUnitDef* def = nullptr;   // the unit as defined
  const duet::v1::JobUnitDef* spec = nullptr;  // what it runs (the referenced job for a reference)
  bool any_groups = false;
  std::vector<PlanGroup> groups;
  int depth = 0;
  std::uint32_t end = 0;  // one past its last descendant (pre-order: a subtree is [index, end))
};

class Plan {
 public:
  // `calendar`: the net's business calendar when it names one (else days
  // run 00:00 to 00:00 in the net's zone).
  static Result<std::shared_ptr<const Plan>> compile(duet::v1::JobNetDef def,
                                                     const duet::v1::JobCalendarDef* calendar);

  const duet::v1::JobNetDef& def() const { return def_; }
  const std::string& name() const { return def_.root().name(); }
  std::uint64_t version() const { return def_.version(); }
  const std::vector<PlanUnit>& units() const { return units_; }
  const PlanUnit& unit(std::uint32_t i) const { return units_[i]; }
  std::optional<std::uint32_t> find(std::string_view path) const;
  const BusinessCalendar& calendar() const { return calendar_; }

  // The end status of an end value by the unit's ranges (defaults: 0
  // normal, 1 warning, anything else abnormal).
  EndStatus judge(std::uint32_t unit, std::int64_t value) const;
  // The user variables of the nets enclosing a unit, outermost first (an
  // inner net's value of a name comes later and wins).
  std::vector<std::pair<std::string, std::string>> user_variables_of(std::uint32_t unit) const;

 private:
  Plan() = default;
  duet::v1::JobNetDef def_;
  std::vector<PlanUnit> units_;
  BusinessCalendar calendar_;
};

}  // namespace duet::jobs
