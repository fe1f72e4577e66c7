#pragma once

// A monitor definition made runnable: the same code on the agent and on the
// manager (agentless checks).
//
// make_check() validates the kind's settings (`params`; an error names the
// key) and returns a Check that keeps what it needs between runs (the
// previous resource or process sample for rates, a log file's position).
// run() blocks for at most about the monitor's timeout and returns what it
// measured: one output for most kinds; for a log file, one per new line that
// matched a pattern, each with the position to store with it so a restart
// neither skips nor repeats a line (agent/outbox.h).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "duet/v1/monitoring.pb.h"
#include "monitors/judge.h"

namespace duet::monitors {

struct CheckOutput {
  Measurement measurement;
  // A source position to store with the result ("log:<monitor>", "dev:inode:offset").
  std::optional<std::pair<std::string, std::string>> position;
};

class Check {
 public:
  virtual ~Check() = default;
  virtual std::vector<CheckOutput> run() = 0;
  // A log file's position to store even when no line made a result.
  virtual std::optional<std::pair<std::string, std::string>> idle_position() const {
    return std::nullopt;
  }
};

struct CheckContext {
  std::string node;          // the node it runs for
  std::string node_address;  // its first repository address (the default target)
  // The stored position of a log file (agent: from the outbox); none: start at the end.
  std::function<std::optional<std::string>(const std::string& key)> load_position;
};

// The kinds this build runs.
const std::vector<std::string>& check_kinds();

// Checks a definition: name, kind, interval (10 s .. 24 h), timeout, params,
// judgement. An error names the field.
Status validate_monitor(const duet::v1::MonitorDef& def);

// The judgement of a definition (compile_judgement of its fields).
Result<Judgement> judgement_of(const duet::v1::MonitorDef& def);

Result<std::unique_ptr<Check>> make_check(const duet::v1::MonitorDef& def,
                                          const CheckContext& context);

// How often a check runs: its interval; a log file is read every `poll_ms`
// (1 s by default) whatever the interval, so its lines arrive as they come.
std::chrono::milliseconds run_every(const duet::v1::MonitorDef& def);

// Whether each result is an event of its own (log lines) rather than a
// reading whose changes of priority are.
bool event_per_result(const std::string& kind);

// The bytes of a definition (or any message) in a deterministic encoding:
// map fields (params) in key order, so two processes compare the same
// definition as equal (the default encoding orders maps by hash).
std::string canonical_bytes(const google::protobuf::Message& message);

// A Measurement as the wire form, and back.
duet::v1::MonitorResult to_result(const Measurement& m, const std::string& monitor,
                                  const std::string& node, std::int64_t started_at_ms,
                                  std::uint32_t duration_ms);
Measurement to_measurement(const duet::v1::MonitorResult& r);

}  // namespace duet::monitors
