#pragma once

// The split-brain guard, as the HA core sees it: a stream of verdicts saying
// whether this node may act as master, and until when.
//
// Two implementations: ReferenceGuard (reference addresses: TCP host:port or
// ICMP targets, like the site gateway) and WitnessGuard (a time-limited lease
// from duet-witness, tagged with the epoch).
//
// Contract:
// - start() begins periodic checks; every result goes to the listener, on
//   the executor the guard was built with. Never called under a lock.
// - All methods are called on that executor (thread-compatible).
// - stop() ends the checks; no listener call happens after it returns, and a
//   witness lease held is released (best effort).
// - valid_until is local monotonic time; past it, `ok` must not be relied on.

#include <cstdint>
#include <functional>
#include <string>

#include "common/clock.h"

namespace duet::ha {

struct GuardVerdict {
  bool ok = false;          // reference: a target answered; witness: the lease is held
  TimePoint valid_until{};  // until when `ok` may be relied upon
  std::string detail;       // for status and logs, e.g. "10.0.0.1:22 reachable"
};

class Guard {
 public:
  using Listener = std::function<void(const GuardVerdict&)>;
  virtual ~Guard() = default;

  virtual void start(Listener listener) = 0;
  virtual void stop() = 0;

  // The epoch this node wants to act in. Witness: acquire (or keep renewing)
  // the lease for it; 0 releases any lease and only checks the witness is
  // reachable. Reference guard: ignored.
  virtual void want_lease(std::uint64_t epoch) = 0;

  // The pair's timing changed at run time: check every `interval` from the
  // next check on. `timeout` is the failover timeout the peer may be using:
  // the reference guard's verdicts stay valid that long, and the witness
  // lease lasts that long unless ha.witness.lease_ms was set in the file.
  virtual void set_timing(Duration interval, Duration timeout) = 0;

  // One line for status and logs: "reference 10.0.0.1:22, icmp:10.0.0.1" or
  // "witness 127.0.0.13:7430".
  virtual std::string describe() const = 0;
};

}  // namespace duet::ha
