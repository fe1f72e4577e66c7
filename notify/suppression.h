#pragma once

// Notification suppression, a pure core: given what a notification last saw
// for a key (node, monitor, notification, sub-key) and a new result of that
// key, whether to notify now. No clock of its own: the caller gives the time.
//
// A "run" is an unbroken sequence of results of one priority for the key.
//
//   - after N: a run notifies only once it has N results (N consecutive
//     results of the same priority). N = 1 notifies on the first.
//   - a change of priority starts a new run, so the first time the new run
//     reaches N it always notifies: critical, info, critical notifies the
//     second critical too, whatever the repeat policy.
//   - within a run that has notified, each further result follows `repeat`:
//       always  every result notifies;
//       period  notifies again once `period_ms` has passed since the last
//               notification of the run;
//       never   the run never notifies again.
//   - a priority the notification does not want (its filter) is counted like
//     any other, so it ends the run before it, but never notifies.
//
// The state is small and replicated with the intent it decided, so a new
// master continues where the old one stopped.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/priority.h"

namespace duet::notify {

enum class Repeat : std::uint8_t { kAlways, kPeriod, kNever };
const char* repeat_name(Repeat r);
std::optional<Repeat> parse_repeat(std::string_view text);

struct Suppression {
  std::uint32_t after = 1;  // results of one priority before the first notification (>= 1)
  Repeat repeat = Repeat::kAlways;
  std::int64_t period_ms = 0;  // for kPeriod
};

struct KeyState {
  Priority priority = Priority::kUnknown;  // of the current run
  std::uint32_t count = 0;                 // results in the run, at most `after`
  bool notified = false;                   // the run has notified
  std::int64_t last_notified_ms = 0;       // of the run's last notification
  std::int64_t last_at_ms = 0;             // the last result's time

  bool operator==(const KeyState&) const = default;
};

struct Decision {
  bool notify = false;
  KeyState next;
  // Why it does not notify ("1 of 3 results", "repeat: never", "not wanted"),
  // or why it does ("first", "priority changed", "repeat: always", "period passed").
  std::string_view why;
};

// `prev` is nullopt for a key never seen. `wanted`: the notification's filter
// takes `priority`.
Decision decide(const Suppression& rule, const std::optional<KeyState>& prev, Priority priority,
                std::int64_t now_ms, bool wanted);

// The state as a row's text and back: "priority count notified last_notified_ms last_at_ms".
std::string encode_state(const KeyState& s);
std::optional<KeyState> decode_state(std::string_view text);

}  // namespace duet::notify
