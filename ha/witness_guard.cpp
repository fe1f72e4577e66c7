#include "ha/witness_guard.h"

#include <grpc/support/time.h>
#include <grpcpp/create_channel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "common/tls.h"
#include "duet/v1/witness.grpc.pb.h"

namespace duet::ha {
namespace {

std::int64_t to_ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

class GrpcWitnessLink final : public WitnessLink {
 public:
  GrpcWitnessLink(const WitnessClientConfig& config, const TlsConfig& tls) {
    auto creds = make_channel_credentials(tls);
    if (!creds.ok()) {
      error_ = "tls: " + creds.error().to_string();
      return;
    }
    grpc::ChannelArguments args = make_channel_arguments(tls);
    // gRPC's default reconnect backoff grows to two minutes; a witness that
    // comes back must be seen within about a second.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    stub_ = duet::v1::Witness::NewStub(
        grpc::CreateCustomChannel(config.address.to_string(), *creds, args));
  }

  void acquire(const duet::v1::LeaseRequest& request, Duration timeout, Done done) override {
    call(/*acquire=*/true, request, timeout, std::move(done));
  }
  void release(const duet::v1::LeaseRequest& request, Duration timeout, Done done) override {
    call(/*acquire=*/false, request, timeout, std::move(done));
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    duet::v1::LeaseRequest request;
    duet::v1::LeaseReply reply;
  };

  void call(bool acquire, const duet::v1::LeaseRequest& request, Duration timeout, Done done) {
    if (!stub_) {
      done(Answer{false, error_, {}});
      return;
    }
    auto c = std::make_shared<Call>();
    c->request = request;
    // A relative deadline: gRPC adds it to its own clock, so no wall clock here.
    c->ctx.set_deadline(gpr_time_from_millis(to_ms(timeout), GPR_TIMESPAN));
    // The callback keeps the call's context and the stub alive until it has run.
    auto on_done = [c, stub = stub_, done = std::move(done)](const grpc::Status& status) {
      Answer a;
      a.reached = status.ok();
      if (status.ok()) {
        a.reply = std::move(c->reply);
      } else {
        a.error = status.error_message().empty()
                      ? "gRPC status " + std::to_string(status.error_code())
                      : status.error_message();
      }
      done(std::move(a));
    };
    if (acquire) {
      stub_->async()->Acquire(&c->ctx, &c->request, &c->reply, std::move(on_done));
    } else {
      stub_->async()->Release(&c->ctx, &c->request, &c->reply, std::move(on_done));
    }
  }

  std::shared_ptr<duet::v1::Witness::Stub> stub_;
  std::string error_;
};

}  // namespace

Duration lease_safety_margin(Duration granted) {
  const std::int64_t ns = std::max<std::int64_t>(0, granted.count());
  // ceil(ns * ppm / 10^6) without overflow for any lease length.
  const std::int64_t q = ns / 1000000;
  const std::int64_t r = ns % 1000000;
  const std::int64_t drift = q * kMaxClockDriftPpm + (r * kMaxClockDriftPpm + 999999) / 1000000;
  return Duration(drift) + kFixedLeaseMargin;
}

std::optional<TimePoint> lease_valid_until(TimePoint sent_at, Duration granted) {
  const Duration margin = lease_safety_margin(granted);
  if (granted <= margin) return std::nullopt;
  return sent_at + (granted - margin);
}

std::shared_ptr<WitnessLink> make_grpc_witness_link(const WitnessClientConfig& config,
                                                    const TlsConfig& tls) {
  return std::make_shared<GrpcWitnessLink>(config, tls);
}

WitnessGuard::WitnessGuard(boost::asio::any_io_executor executor, const Clock& clock,
                           WitnessClientConfig config, TlsConfig tls, std::string node,
                           std::string pair, Duration interval)
    : WitnessGuard(std::move(executor), clock, config, make_grpc_witness_link(config, tls),
                   std::move(node), std::move(pair), interval) {}

WitnessGuard::WitnessGuard(boost::asio::any_io_executor executor, const Clock& clock,
                           WitnessClientConfig config, std::shared_ptr<WitnessLink> link,
                           std::string node, std::string pair, Duration interval)
    : executor_(std::move(executor)),
      clock_(clock),
      config_(std::move(config)),
      link_(std::move(link)),
      node_(std::move(node)),
      pair_(std::move(pair)),
      interval_(interval),
      timer_(executor_),
      life_(std::make_shared<Life>()) {
  life_->executor = executor_;
}

WitnessGuard::~WitnessGuard() { stop(); }

void WitnessGuard::start(Listener listener) {
  listener_ = std::move(listener);
  started_ = true;
  tick();
}

void WitnessGuard::stop() {
  if (!started_) return;
  started_ = false;
  {
    std::lock_guard lock(life_->mu);
    life_->stopped = true;
  }
  timer_.cancel();
  if (held_epoch_ != 0) send_release(held_epoch_);
  held_epoch_ = 0;
  held_until_ = {};
  listener_ = nullptr;
}

void WitnessGuard::want_lease(std::uint64_t epoch) {
  if (epoch == wanted_epoch_) return;
  wanted_epoch_ = epoch;
  if (epoch == 0 && held_epoch_ != 0) {
    send_release(held_epoch_);
    held_epoch_ = 0;
    held_until_ = {};
  }
  if (!started_) return;
  if (in_flight_) {
    recheck_ = true;
  } else {
    send_acquire();
  }
}

void WitnessGuard::set_timing(Duration interval, Duration timeout) {
  const bool sooner = interval < interval_;
  interval_ = interval;
  if (sooner && started_) schedule_tick();  // the next renewal within the new interval
  if (config_.lease_follows_timeout) {
    config_.lease_ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  }
}

std::string WitnessGuard::describe() const { return "witness " + config_.address.to_string(); }

void WitnessGuard::tick() {
  if (!in_flight_) send_acquire();
  schedule_tick();
}

void WitnessGuard::schedule_tick() {
  timer_.expires_after(interval_);
  timer_.async_wait([life = life_, this](const boost::system::error_code& ec) {
    if (ec) return;
    {
      std::lock_guard lock(life->mu);
      if (life->stopped) return;
    }
    tick();
  });
}

duet::v1::LeaseRequest WitnessGuard::make_request(std::uint64_t epoch) const {
  duet::v1::LeaseRequest r;
  r.set_pair(pair_);
  r.set_node(node_);
  r.set_epoch(epoch);
  r.set_duration_ms(config_.lease_ms);
  return r;
}

Duration WitnessGuard::rpc_timeout() const {
  return std::max<Duration>(interval_, std::chrono::milliseconds(100));
}

void WitnessGuard::send_acquire() {
  const std::uint64_t epoch = wanted_epoch_;
  // Taken before the request leaves: the lease is counted from no later than this.
  const TimePoint sent_at = clock_.now();
  in_flight_ = true;
  link_->acquire(make_request(epoch), rpc_timeout(),
                 [life = life_, this, epoch, sent_at](WitnessLink::Answer answer) {
                   std::lock_guard lock(life->mu);
                   if (life->stopped) return;
                   // post never runs the handler inline, so holding the lock is harmless.
                   boost::asio::post(life->executor, [life, this, epoch, sent_at,
                                                      answer = std::move(answer)]() mutable {
                     {
                       std::lock_guard inner(life->mu);
                       if (life->stopped) return;
                     }
                     handle_acquire(epoch, sent_at, answer);
                   });
                 });
}

void WitnessGuard::send_release(std::uint64_t epoch) {
  link_->release(make_request(epoch), rpc_timeout(),
                 [pair = pair_, epoch](WitnessLink::Answer answer) {
                   if (!answer.reached) {
                     spdlog::debug("witness: release of epoch {} for {} not delivered: {}", epoch,
                                   pair, answer.error);
                   }
                 });
}

void WitnessGuard::handle_acquire(std::uint64_t epoch, TimePoint sent_at,
                                  const WitnessLink::Answer& answer) {
  in_flight_ = false;
  const TimePoint now = clock_.now();
  const bool granted = answer.reached && answer.reply.granted();

  if (epoch != wanted_epoch_) {
    // The HA core changed its mind while this was in flight: no verdict for
    // an epoch it no longer wants; a lease nobody wants is given back.
    if (granted && epoch != 0 && wanted_epoch_ == 0) send_release(epoch);
    recheck_ = false;
    send_acquire();
    return;
  }

  GuardVerdict v;
  const std::string where = describe();
  const bool holding = held_epoch_ == epoch && epoch != 0 && held_until_ > now;
  if (holding) v.valid_until = held_until_;  // refused or unreachable: not extended

  if (!answer.reached) {
    v.detail = where + " unreachable: " + answer.error;
    if (epoch != 0) v.detail += holding ? "; lease not renewed" : "; no lease";
  } else if (epoch == 0) {
    v.detail = where + " reachable (no lease wanted): " + answer.reply.reason();
  } else if (!granted) {
    v.detail = where + " refused epoch " + std::to_string(epoch) + ": " + answer.reply.reason();
  } else if (answer.reply.holder() != node_ || answer.reply.holder_epoch() != epoch ||
             answer.reply.granted_ms() <= 0) {
    v.detail = where + " sent an inconsistent grant (holder " + answer.reply.holder() + " epoch " +
               std::to_string(answer.reply.holder_epoch()) + ", " +
               std::to_string(answer.reply.granted_ms()) + " ms); not relied on";
  } else {
    const std::int64_t granted_ms = std::min(answer.reply.granted_ms(), config_.lease_ms);
    const Duration lease = std::chrono::milliseconds(granted_ms);
    const auto until = lease_valid_until(sent_at, lease);
    if (!until) {
      v.detail = where + " granted " + std::to_string(granted_ms) +
                 " ms, not longer than the safety margin of " +
                 std::to_string(to_ms(lease_safety_margin(lease))) + " ms; raise lease_ms";
    } else if (*until <= now) {
      v.detail = where + " granted epoch " + std::to_string(epoch) +
                 ", but the reply came too late to rely on it";
    } else {
      held_epoch_ = epoch;
      held_until_ = *until;
      v.ok = true;
      v.valid_until = *until;
      v.detail = where + ": lease held in epoch " + std::to_string(epoch) + " (" +
                 std::to_string(granted_ms) + " ms granted, relied on for " +
                 std::to_string(to_ms(*until - now)) + " ms)";
    }
  }

  emit(v);
  if (recheck_ && started_) {
    recheck_ = false;
    send_acquire();
  }
}

void WitnessGuard::emit(const GuardVerdict& verdict) {
  if (listener_) listener_(verdict);
}

}  // namespace duet::ha
