#pragma once

// What the EventIntake's source files share: event_intake.cpp (receipts,
// roles), intake_store.cpp (batches, counts, the rebuild), intake_forwarding.cpp
// (IntakePeer.Forward) and event_queries.cpp (list, count, counters). Not for
// use elsewhere.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "intake/intake_item.h"
#include "intake/pair_dedup.h"
#include "store/store.h"

namespace duet::manager::intake_internal {

inline constexpr std::size_t kMaxHeld = 1'000'000;  // standby receipts kept at most
inline constexpr std::size_t kMaxHeldBytes = std::size_t{256} << 20;  // ...and their memory
inline constexpr std::size_t kMaxDigestsPerCall = 5000;
inline constexpr std::size_t kMaxContentBytesPerCall = 1 << 20;
// Events are read newest first (by id); receive times may be out of id order
// by the batching delay and the clock skew between the managers: a walk
// stops a minute past the time it looks for.
inline constexpr std::int64_t kListSlackMs = 60'000;
// event_pairs rows are kept this long past the window.
inline constexpr std::int64_t kPairsKeepMs = 120'000;
// Items queued for the strand at most (about 0.15 s of its work at ~30 us each).
inline constexpr std::size_t kMaxQueued = 4096;
inline constexpr const char* kNextIdKey = "next_event_id";
inline constexpr auto kForwardBusy = std::chrono::milliseconds(20);
inline constexpr auto kForwardIdle = std::chrono::milliseconds(200);

// intake_state rows "count.total", "count.priority.P", "count.protocol.P".
inline constexpr const char* kCountPrefix = "count.";

inline std::string cursor_key(const std::string& node) { return "peer." + node + ".cursor"; }
inline std::string incarnation_key(const std::string& node) {
  return "peer." + node + ".incarnation";
}

using store::int_of;
using store::text_of;

// The `pairs` blob of an event_pairs row: (event id, receipt number) as varints.
std::string encode_pairs(const std::vector<intake::ReceiptPair>& pairs);
// Stops at the first malformed entry.
std::vector<intake::ReceiptPair> decode_pairs(const std::string& blob);

// Counts the events table (keys as after kCountPrefix): one full scan.
std::map<std::string, std::int64_t> count_events(store::Store& store);
// Adds an events row to `counts`.
void count_event(const store::Row& row, std::int64_t by,
                 std::map<std::string, std::int64_t>& counts);
// Adds events rows to `counts`, as count_event on each but quicker: rows of
// the same priority and protocol are tallied first and looked up once.
void count_rows(const std::vector<store::Row>& rows, std::map<std::string, std::int64_t>& counts);

// Names as an event stores them (its scopes, its hosts): joined with ",".
std::string join_names(const std::vector<std::string>& names);

// A held receipt's memory, roughly.
std::size_t held_bytes(const intake::IntakeItem& item);

}  // namespace duet::manager::intake_internal
