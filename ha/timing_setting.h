#pragma once

// The pair's run-time timing: the replicated setting `ha.timing` and its rules.
//
// The heartbeat interval and failover timeout come from the config file
// (ha.interval_ms, ha.timeout_ms) until an operator changes them with
// `duetctl ha timing`. The change is one row of the replicated `settings`
// table (key "ha.timing", value "interval_ms=200 timeout_ms=1000"), so it
// reaches the standby with the journal and survives restarts, failover and a
// standby that was down at the time. The row wins over the config file;
// deleting it (`duetctl ha timing --reset`) goes back to each node's file.
//
// Everything here is pure except read_timing_setting(), which reads the row.
// How a node moves safely from one timing to another is the RoleMachine's
// business (ha/role_machine.h, set_timing).

#include <cstdint>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/result.h"
#include "ha/role_machine.h"
#include "store/store.h"

namespace duet::ha {

inline constexpr const char* kTimingSettingKey = "ha.timing";

struct TimingMs {
  std::int64_t interval_ms = 0;
  std::int64_t timeout_ms = 0;
  bool operator==(const TimingMs&) const = default;
};

TimingMs config_timing(const HaConfig& ha);
Timing to_timing(const TimingMs& t);
// "interval_ms=200 timeout_ms=1000"
std::string format_timing_setting(const TimingMs& t);
// The inverse of format_timing_setting; kInvalidArgument naming the problem.
Result<TimingMs> parse_timing_setting(const std::string& text);

// Why `t` cannot be used by a node configured with `ha`, naming the bound it
// breaks (the config file's bounds, and with a witness the lease rules of
// docs/witness.md); nullopt when it can.
std::optional<std::string> timing_refusal(const TimingMs& t, const HaConfig& ha);

// The witness lease to ask for under `t`: ha.witness.lease_ms when set in the
// file, else the failover timeout.
std::int64_t witness_lease_ms(const TimingMs& t, const HaConfig& ha);

// The timing a node uses: the setting when present and usable, else the file's.
struct ResolvedTiming {
  TimingMs value;
  bool from_setting = false;
  std::string problem;  // why a present setting is not used; empty otherwise
  bool operator==(const ResolvedTiming&) const = default;
};
ResolvedTiming resolve_timing(const HaConfig& ha, const std::optional<std::string>& setting);

// The value of the `ha.timing` row, nullopt when there is none.
Result<std::optional<std::string>> read_timing_setting(store::Store& store);

}  // namespace duet::ha
