#pragma once

// LeaseTable: the deciding logic of duet-witness, a pure core. For each
// manager pair it knows who holds the master lease, in which epoch, and until
// when (witness-local monotonic time), and the highest epoch ever granted.
//
// Contract:
// - No sockets, no threads, no clock: every call takes `now` (monotonic time
//   of this witness process) and returns the answer to send. `now` must not
//   go backwards between calls.
// - Thread-compatible: the caller serializes calls (duet-witness runs them
//   on one strand).
// - Persistence comes through the `Persist` callback given at construction.
//   It is called synchronously, from inside acquire(), exactly when a grant
//   would raise a pair's highest epoch, with the whole state as it will be
//   after that grant, and BEFORE the table changes anything. If it returns an
//   error, the request is refused (Refusal::kPersistFailed) and the table is
//   unchanged. It is never called for renewals, refusals, probes or releases.
//   The callback must not call back into the table.
// - Rules for acquire() (epoch > 0):
//   * nothing is granted to anyone while now < quiet_until(): the witness
//     (re)started less than max(max_lease_ms, the lease bound recorded by the
//     previous run) ago, and a lease the previous run granted may still be
//     running. Renewals are refused too.
//   * a running lease held by another node blocks the request.
//   * the epoch rule: epoch > highest is allowed to any node (after the
//     highest is persisted); epoch == highest only to the node that highest
//     was granted to (it is persisted with it, so this holds across
//     restarts); anything below the highest is a stale epoch.
//   * the duration granted is min(duration_ms, max_lease_ms), counted from `now`.
// - acquire() with epoch 0 is a probe: it answers (holder, highest epoch,
//   quiet period) and changes nothing.
// - release() by the running holder, in its epoch, ends the lease at once.
//   Anything else changes nothing.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace duet::ha {

// What survives a witness restart: per pair, the highest epoch granted and
// the node it was granted to; and the longest lease any run may have granted
// (lease_bound_ms), which sets the next run's quiet period.
struct PairEpoch {
  std::uint64_t epoch = 0;
  std::string node;
  bool operator==(const PairEpoch&) const = default;
};

struct EpochState {
  std::int64_t lease_bound_ms = 0;
  std::map<std::string, PairEpoch> pairs;  // by pair id ("a/b")
  bool operator==(const EpochState&) const = default;
};

// The state file's text form: a header line, one line per pair, and a
// checksum line over everything before it, so that a truncated, edited or
// damaged file is detected. parse_epoch_state() fails (kInvalidArgument,
// message naming the line) on anything it did not write.
std::string format_epoch_state(const EpochState& state);
Result<EpochState> parse_epoch_state(const std::string& text);

// The pair identity both managers of a pair send: their two node names,
// sorted, joined by "/".
std::string make_pair_id(const std::string& node_a, const std::string& node_b);

// True if `pair` is a valid pair id and `node` one of its two names; else
// false with `why` set.
bool check_pair_and_node(const std::string& pair, const std::string& node, std::string* why);

struct LeaseAsk {
  std::string pair;
  std::string node;
  std::uint64_t epoch = 0;
  std::int64_t duration_ms = 0;
};

enum class LeaseOutcome {
  kGranted,   // a new lease (new holder, new epoch, or the lease had ended)
  kRenewed,   // the running lease of the same node in the same epoch, extended
  kRefused,   // see Refusal
  kReleased,  // the holder's lease ended at its request
  kAnswered,  // a probe, or a release that had nothing to release; no change
};

enum class Refusal {
  kNone,
  kInvalid,        // malformed request (pair, node, duration)
  kQuietPeriod,    // the witness started recently
  kHeld,           // another node holds a running lease
  kStaleEpoch,     // epoch below the highest, or equal to it but granted to the other node
  kPersistFailed,  // the new highest epoch could not be recorded
  kNotHolder,      // release by a node that holds no running lease in that epoch
};

struct LeaseAnswer {
  LeaseOutcome outcome = LeaseOutcome::kAnswered;
  Refusal refusal = Refusal::kNone;
  bool granted = false;
  std::string holder;  // of the running lease after the call; "" if none
  std::uint64_t holder_epoch = 0;
  std::uint64_t highest_epoch = 0;  // for the pair, after the call
  std::int64_t granted_ms = 0;      // when granted
  std::string reason;               // for people: why refused, what a probe saw
};

const char* to_string(LeaseOutcome outcome);
const char* to_string(Refusal refusal);

class LeaseTable {
 public:
  using Persist = std::function<Status(const EpochState&)>;

  // `restored`: the state loaded at start (empty on a first start).
  // `started`: when this witness began (its quiet period starts there).
  LeaseTable(EpochState restored, std::int64_t max_lease_ms, TimePoint started, Persist persist);

  LeaseAnswer acquire(const LeaseAsk& ask, TimePoint now);
  LeaseAnswer release(const LeaseAsk& ask, TimePoint now);

  // The state as persisted (or to persist at start: it carries the lease
  // bound of this run's quiet period).
  const EpochState& state() const { return state_; }
  TimePoint quiet_until() const { return quiet_until_; }
  bool in_quiet_period(TimePoint now) const { return now < quiet_until_; }
  std::int64_t max_lease_ms() const { return max_lease_ms_; }

 private:
  struct Lease {
    std::string holder;
    std::uint64_t epoch = 0;
    TimePoint expires{};
  };

  // The running lease of `pair` at `now`, or nullptr.
  const Lease* running(const std::string& pair, TimePoint now) const;
  LeaseAnswer answer(const std::string& pair, TimePoint now) const;
  LeaseAnswer refuse(const std::string& pair, TimePoint now, Refusal why, std::string reason) const;

  EpochState state_;
  std::int64_t max_lease_ms_;
  TimePoint quiet_until_;
  Persist persist_;
  std::map<std::string, Lease> leases_;  // by pair id; entries stay after expiry
};

}  // namespace duet::ha
