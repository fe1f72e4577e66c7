#pragma once

// Cron schedules with seconds, in an IANA time zone: when a job net's
// schedule falls due. A pure core: the caller gives the instant.
//
// Six fields, "SEC MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK":
//   *  a-b  a-b/n  */n  a/n  and lists of those, comma-separated;
//   months jan..dec or 1..12; days of week sun..sat or 0..7 (0 and 7: Sunday).
// As in classic cron, when both day fields are restricted a day matching
// either is due; when one is `*`, only the other counts.
//
// The fields name local wall-clock times in the schedule's zone. Across a
// DST change no time is missed and none is run twice:
//   - a local time that does not exist (the hour skipped in spring) runs at
//     the first instant after the gap, once, however many times it names;
//   - a local time that occurs twice (the hour repeated in autumn) runs at
//     its first occurrence only.
// So "0 30 2 * * *" runs every day exactly once, and "0 */15 * * * *" runs
// once per local quarter-hour label (in autumn the repeated hour's labels
// do not run again; in spring the skipped hour's run once, at 03:00).

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace date {
class time_zone;
}

namespace duet::jobs {

class CronSchedule {
 public:
  // An error names the field: "cron: hour: '25' is outside 0..23".
  static Result<CronSchedule> parse(std::string_view expression, std::string_view zone);

  // The first time due strictly after `after_ms` (unix ms, whole seconds);
  // nullopt when none comes within 5 years (e.g. "0 0 0 30 2 *").
  std::optional<std::int64_t> next_after(std::int64_t after_ms) const;

  const std::string& expression() const { return expression_; }
  const std::string& zone() const { return zone_name_; }

 private:
  std::string expression_, zone_name_;
  const date::time_zone* zone_ = nullptr;  // null: UTC
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = false, any_weekday_ = false;
};

}  // namespace duet::jobs
