#pragma once

// ReferenceGuard: the split-brain guard without a witness. This node may act
// as master while it can reach at least one reference address (the site
// gateway, a core switch): a node that reaches none of them is presumed
// isolated and must neither promote nor keep acting.
//
// Contract:
// - Threads: thread-compatible. Every method, the constructor and the
//   destructor run on `executor` (an io_context's executor with one thread
//   running it, or a strand). All I/O and timers are Boost.Asio objects on that
//   executor; their handlers and the listener run there too. The guard starts
//   no thread. (Asio's resolver service runs getaddrinfo on a thread of its
//   own, and only for target names that are not IP literals.)
// - Ownership: the guard owns its sockets and timers. `clock` must outlive
//   every call into the guard up to the return of stop() (or the destructor);
//   nothing reads it afterwards. Outstanding Asio handlers keep the internal
//   state they need alive, so destroying the guard right after stop() is safe
//   even while the io_context still holds cancelled operations.
// - Rounds: start() runs the first round at once (from a handler, never inside
//   start()), then one round per `interval`, measured from a round's start.
//   A round probes every target concurrently and ends when each probe has
//   answered, failed, or hit `probe_timeout` (name resolution included). A
//   round never overlaps the next: when a round outlasts `interval`, the next
//   one starts as soon as it ends (delayed, not skipped), so rounds run back to
//   back, never faster than one per `interval`.
// - Verdicts: exactly one listener call per round, with
//     ok          = at least one target answered in this round;
//     valid_until = (the start time, by `clock`, of the latest-started probe
//                   that answered) + validity. The start, not the completion:
//                   the answer proves reachability at some moment after the
//                   probe started, no earlier one is known. When ok is false,
//                   valid_until is the round's start time (nothing vouches
//                   beyond it);
//     detail      = one line, the targets in configured order, e.g.
//                   "127.0.0.1:22 refused; icmp:127.0.0.1 ok 0.1 ms".
//   Choose validity > interval + probe_timeout, or verdicts expire before the
//   next one can arrive.
// - stop(): cancels outstanding probes and timers; no listener call happens
//   after it returns (also when stop() is called from inside the listener).
//   start() may be called again after stop(). The destructor calls stop().
// - want_lease() is ignored: reference addresses know nothing of epochs.
//
// TCP targets ("host:port"): a connect must complete within probe_timeout; the
// connection is closed at once. Names are resolved asynchronously each round
// (IP literals skip the resolver); every resolved address is tried in turn.
// A REFUSED connection (RST) counts as NOT answered. A RST does prove that
// something answered for the address, but not that the target did: a local or
// intermediate firewall rule (REJECT --reject-with tcp-reset) forges one
// without any packet reaching the target, so it does not prove the path. The
// operator configured a port that is open, so a refusal also means a wrong
// port or a stopped service, which a passing guard would hide. And an error in
// this direction only withholds promotion; the opposite one could let two
// masters act. Use an ICMP target when host liveness is what is wanted.
//
// ICMP targets ("icmp:host"): IPv4 only (an IPv6 literal or a name without an
// IPv4 address fails the probe). One echo request per round; the reply must
// come from the target's address and match our identifier, sequence number
// and a random payload. The socket is an unprivileged ICMP datagram socket
// (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), allowed by
// net.ipv4.ping_group_range; the kernel picks the identifier and hands us only
// replies bearing it) and, when that is not permitted, a raw socket (needs
// CAP_NET_RAW; the guard picks the identifier and filters to echo replies).
// Packets that are not our reply are ignored and counted in stats(); so are
// malformed ones (too short, bad IPv4 header, bad checksum). Neither ever
// ends a probe early or fails it.

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/icmp_echo.h"
#include "ha/guard.h"

namespace duet::ha {

// Counters since construction; read on the executor.
struct ReferenceGuardStats {
  std::uint64_t rounds = 0;                // verdicts delivered
  std::uint64_t icmp_datagram_probes = 0;  // ICMP probes sent on an unprivileged datagram socket
  std::uint64_t icmp_raw_probes = 0;       // ... on a raw socket (the fallback)
  std::uint64_t icmp_ignored = 0;          // well-formed ICMP that was not our reply
  std::uint64_t icmp_malformed = 0;        // datagrams that could not be parsed
};

class ReferenceGuard final : public Guard {
 public:
  // Preconditions (asserted): interval, probe_timeout and validity positive.
  // With no targets every verdict is "not ok".
  ReferenceGuard(boost::asio::any_io_executor executor, const Clock& clock,
                 std::vector<ReferenceTarget> targets, Duration interval, Duration probe_timeout,
                 Duration validity);
  ~ReferenceGuard() override;
  ReferenceGuard(const ReferenceGuard&) = delete;
  ReferenceGuard& operator=(const ReferenceGuard&) = delete;

  void start(Listener listener) override;
  void stop() override;
  void want_lease(std::uint64_t epoch) override;
  // interval: between rounds; timeout: the verdicts' validity (from the next round on).
  void set_timing(Duration interval, Duration timeout) override;
  std::string describe() const override;  // "reference 10.0.0.1:22, icmp:10.0.0.1"

  const ReferenceGuardStats& stats() const { return *stats_; }

 private:
  class Engine;  // one per start(); outlives stop() while Asio handlers hold it

  boost::asio::any_io_executor executor_;
  const Clock& clock_;
  std::vector<ReferenceTarget> targets_;
  Duration interval_;
  Duration probe_timeout_;
  Duration validity_;
  std::shared_ptr<ReferenceGuardStats> stats_;
  std::shared_ptr<Engine> engine_;  // null while stopped
};

// The ICMP echo codec moved to common/icmp_echo.h (monitors use it too).
namespace icmp_echo = duet::icmp_echo;

}  // namespace duet::ha
