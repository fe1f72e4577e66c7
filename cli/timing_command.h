#pragma once

// `duetctl ha timing`: show, change or reset the pair's heartbeat interval
// and failover timeout at run time (docs/ha.md, "Changing the timing").
//
// Without values it asks every listed manager and shows each node's timing:
// its target, where it comes from (config file or the replicated setting),
// and what is in force right now. With --interval and/or --timeout (or
// --reset) it sends Admin.SetTiming to the master, then waits (up to --wait
// seconds) until every answering node uses the new timing. Exit status: 0
// done; 1 refused (out of bounds: nothing changed), no master, or not settled
// in time; 2 wrong usage.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "cli/connection.h"

namespace duet::cli {

struct TimingChange {
  std::string interval;  // "200ms", "200" (milliseconds), "1s", "1.5s"; empty: keep
  std::string timeout;
  bool reset = false;  // back to each node's config file
  double wait_s = 30;
};

// Milliseconds of "200", "200ms", "1s", "1.5s", "2m"; nullopt when malformed
// or not a whole number of milliseconds.
std::optional<std::int64_t> parse_duration_ms(const std::string& text);

int run_ha_timing(const ConnectionOptions& options, const TimingChange& change, bool json,
                  std::ostream& out, std::ostream& err);

}  // namespace duet::cli
