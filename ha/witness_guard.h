#pragma once

// WitnessGuard: the split-brain guard backed by duet-witness. It asks the
// witness for the master lease in the epoch the HA core wants to act in, and
// reports, after every answer, whether the lease is held and until when this
// node may rely on it (see ha/guard.h for the Guard contract).
//
// Contract (in addition to Guard's):
// - Threads: the constructor, the destructor and every method run on
//   `executor`. `clock` only tells time (lease arithmetic); ticks come from
//   an Asio timer on the executor. Outstanding handlers keep only a small
//   shared state alive, so destroying the guard after stop() is safe.
// - start() once. Every `interval` (and at once on start() and when
//   want_lease() changes the epoch) it sends one Acquire: for the wanted
//   epoch, or with epoch 0 as a probe that only checks the witness answers.
//   At most one Acquire is in flight; a tick that finds one in flight is
//   skipped. Each RPC has a deadline of max(interval, 100 ms).
// - Replies arrive on gRPC threads and are posted to the executor before any
//   state is touched or the listener is called.
// - A verdict is ok=true only for a grant of the epoch wanted when the reply
//   is handled. Its valid_until is lease_valid_until(): the local time at
//   which the request was SENT, plus the duration granted, minus
//   lease_safety_margin(). A reply for an epoch no longer wanted produces no
//   verdict (and a grant nobody wants any more is released).
// - Refused, unreachable, or a probe: ok=false with a detail saying why.
//   valid_until is then the end of the last granted lease if that is still
//   ahead (never extended by a failure), else the zero TimePoint.
// - want_lease(0) releases a held lease (best effort, no waiting) and turns
//   the checks into probes. stop() does the same; after it returns no
//   listener call happens, and in-flight replies are dropped.
// - The destructor calls stop(); it never waits on the network.
//
// Safety margin (see docs/witness.md): the witness counts a lease from when
// it RECEIVES the request, the holder from when it SENT it, so transit time
// only makes the holder more cautious and needs no margin. What remains is
// clock rate: each side measures the lease on its own monotonic clock, and
// the holder's clock is assumed to run at least (1 - kMaxClockDriftPpm/10^6)
// times as fast as the witness's. kMaxClockDriftPpm is 10,000 ppm (1%):
// undisciplined quartz is within 100 ppm, and ntpd and systemd-timesyncd
// slew through the kernel's NTP interface at about 500 ppm at most, so 1%
// leaves wide headroom; it costs only 1% of the lease (60 ms of a 6 s
// lease), paid only when renewals stop. A
// slow holder clock can stretch a lease of G by less than G x 1%, so the
// margin is that, rounded up, plus kFixedLeaseMargin (200 ms, no RPC in it)
// for the holder's timer lateness and the time it takes to stop acting.
// Wall clocks play no part. Not covered: a clock slewed faster than 1%
// (chrony's default maxslewrate is higher: lower it), and a host whose
// monotonic clock stops while the system is suspended.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "duet/v1/witness.pb.h"
#include "ha/guard.h"

namespace duet::ha {

inline constexpr std::int64_t kMaxClockDriftPpm = 10000;
inline constexpr Duration kFixedLeaseMargin = std::chrono::milliseconds(200);

// Margin subtracted from a lease of length `granted` on the holder's side.
Duration lease_safety_margin(Duration granted);

// Until when a lease of `granted`, asked for at local time `sent_at`, may be
// relied on; nullopt when the lease is not longer than its margin.
std::optional<TimePoint> lease_valid_until(TimePoint sent_at, Duration granted);

// How the guard talks to the witness. The real one is gRPC (made by the main
// constructor); tests give a fake. `done` may run on any thread, at most once
// per call, possibly before acquire()/release() return.
class WitnessLink {
 public:
  struct Answer {
    bool reached = false;  // false: transport error, deadline, or TLS failure
    std::string error;     // when !reached
    duet::v1::LeaseReply reply;
  };
  using Done = std::function<void(Answer)>;

  virtual ~WitnessLink() = default;
  virtual void acquire(const duet::v1::LeaseRequest& request, Duration timeout, Done done) = 0;
  virtual void release(const duet::v1::LeaseRequest& request, Duration timeout, Done done) = 0;
};

// gRPC link: one channel, callback API, reconnect backoff capped at 1 s so a
// witness that comes back is seen within about a second.
std::shared_ptr<WitnessLink> make_grpc_witness_link(const WitnessClientConfig& config,
                                                    const TlsConfig& tls);

class WitnessGuard final : public Guard {
 public:
  WitnessGuard(boost::asio::any_io_executor executor, const Clock& clock,
               WitnessClientConfig config, TlsConfig tls, std::string node, std::string pair,
               Duration interval);
  // With an explicit link (tests, other transports).
  WitnessGuard(boost::asio::any_io_executor executor, const Clock& clock,
               WitnessClientConfig config, std::shared_ptr<WitnessLink> link, std::string node,
               std::string pair, Duration interval);
  ~WitnessGuard() override;

  WitnessGuard(const WitnessGuard&) = delete;
  WitnessGuard& operator=(const WitnessGuard&) = delete;

  void start(Listener listener) override;
  void stop() override;
  void want_lease(std::uint64_t epoch) override;
  // Renewals every `interval` from the next tick; the lease asked for becomes
  // `timeout` when config.lease_follows_timeout.
  void set_timing(Duration interval, Duration timeout) override;
  std::string describe() const override;

 private:
  // Shared with callbacks that may outlive this object: they check `stopped`
  // (under `mu`) before posting or touching the guard.
  struct Life {
    std::mutex mu;
    bool stopped = false;
    boost::asio::any_io_executor executor;
  };

  void tick();
  void send_acquire();
  void handle_acquire(std::uint64_t epoch, TimePoint sent_at, const WitnessLink::Answer& answer);
  void send_release(std::uint64_t epoch);
  void schedule_tick();
  void emit(const GuardVerdict& verdict);
  duet::v1::LeaseRequest make_request(std::uint64_t epoch) const;
  Duration rpc_timeout() const;

  boost::asio::any_io_executor executor_;
  const Clock& clock_;
  WitnessClientConfig config_;
  std::shared_ptr<WitnessLink> link_;
  std::string node_;
  std::string pair_;
  Duration interval_;
  boost::asio::steady_timer timer_;  // the next tick
  std::shared_ptr<Life> life_;

  // Executor-only state.
  Listener listener_;
  bool started_ = false;
  bool in_flight_ = false;
  bool recheck_ = false;  // send again as soon as the in-flight call ends
  std::uint64_t wanted_epoch_ = 0;
  std::uint64_t held_epoch_ = 0;  // epoch of the last grant not released; 0 if none
  TimePoint held_until_{};        // its valid_until
};

}  // namespace duet::ha
