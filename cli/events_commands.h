#pragma once

// duetctl events list | count | counters.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "cli/connection.h"
#include "duet/v1/events.pb.h"

namespace duet::cli {

struct EventsListArgs {
  std::string since;  // unix ms, ISO 8601 ("2026-11-21T04:00:00Z"), or an age ("15m", "2h", "30s")
  std::string source;
  std::string priority;
  std::uint32_t limit = 100;
  bool raw = false;
};

// One event as `events list --json` shows it.
nlohmann::ordered_json event_json(const duet::v1::Event& e, bool raw);

// Parses --since against `now_ms`; nullopt when it is none of the accepted forms.
std::optional<std::int64_t> parse_since(const std::string& text, std::int64_t now_ms);

int run_events_list(const ConnectionOptions& options, const EventsListArgs& args, bool json,
                    std::ostream& out, std::ostream& err);
int run_events_count(const ConnectionOptions& options, bool json, std::ostream& out,
                     std::ostream& err);
// Every listed manager's intake counters.
int run_events_counters(const ConnectionOptions& options, bool json, std::ostream& out,
                        std::ostream& err);

}  // namespace duet::cli
