#include "ha/runner.h"

#include <grpcpp/create_channel.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <mutex>
#include <thread>

#include "common/errors.h"
#include "common/tls.h"
#include "ha/beat_codec.h"
#include "ha/reference_guard.h"
#include "ha/witness_guard.h"

namespace duet::ha {
namespace {

constexpr std::uint64_t kMinFreeBytes = 64ULL << 20;  // below this the store counts as full

std::string ms_text(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

}  // namespace

struct Runner::Life {
  std::mutex mu;
  bool alive = true;
  boost::asio::any_io_executor executor;

  // Runs `fn` on the executor unless the runner has stopped.
  template <typename Fn>
  void post(Fn&& fn) {
    std::lock_guard lock(mu);
    if (alive) boost::asio::post(executor, std::forward<Fn>(fn));
  }
};

Runner::Runner(boost::asio::any_io_executor executor, Clock& clock, RunnerOptions options,
               store::Store& store, std::unique_ptr<Guard> guard, Hooks hooks)
    : executor_(std::move(executor)),
      clock_(clock),
      options_(std::move(options)),
      store_(store),
      guard_(std::move(guard)),
      hooks_(std::move(hooks)),
      rm_(RoleMachine::Options{options_.node.name, options_.ha.priority, options_.peer.has_value(),
                               options_.ha.guard == HaConfig::Guard::kWitness ? GuardMode::kWitness
                               : options_.ha.guard == HaConfig::Guard::kReference
                                   ? GuardMode::kReference
                                   : GuardMode::kNone,
                               !options_.ha.fence_command.empty(),
                               Timing{std::chrono::milliseconds(options_.ha.interval_ms),
                                      std::chrono::milliseconds(options_.ha.timeout_ms)},
                               options_.incarnation}),
      life_(std::make_shared<Life>()) {
  life_->executor = executor_;
}

Runner::~Runner() { stop(); }

Status Runner::start() {
  if (options_.peer) {
    DUET_ASSIGN_OR_RETURN(auto creds, make_channel_credentials(options_.tls));
    auto channel = grpc::CreateCustomChannel(options_.peer->address.to_string(), creds,
                                             make_channel_arguments(options_.tls));
    stub_ = duet::v1::Peer::NewStub(channel);
    JournalShipper::Options so;
    so.sync = options_.ha.sync;
    so.lag_bound = std::chrono::milliseconds(options_.ha.sync_lag_bound_ms);
    // A master serves its journal while it acts, and also while it hands
    // over in a switchover (not acting, but the standby must catch up).
    shipper_ = std::make_unique<JournalShipper>(clock_, store_, so, [this] {
      return rm_.role() == Role::kMaster && (rm_.may_act(clock_.now()) || rm_.switching_over());
    });
    JournalFollower::Hooks fh;
    fh.caught_up = [this] {
      const Role before = rm_.role();
      apply(rm_.on_caught_up(clock_.now()));
      if (rm_.role() == Role::kStandby) reseed_allowed_ = false;
      log_role_change(before);
      if (rm_.role() != before) send_beat();  // tell the master at once
    };
    fh.lost_sync = [this](const std::string& why) {
      const Role before = rm_.role();
      apply(rm_.on_lost_sync(clock_.now(), why));
      log_role_change(before);
    };
    fh.stream_ended = [this](const std::string& why) {
      spdlog::debug("ha: {}", why);
      if (!unsynced_since_) unsynced_since_ = clock_.now();
    };
    fh.diverged = [this](const std::string& why) {
      const Role before = rm_.role();
      apply(rm_.on_diverged(clock_.now(), why));
      log_role_change(before);
    };
    fh.moved = [this] { rm_.on_epoch_adopted(store_.current_epoch()); };
    follower_ =
        std::make_unique<JournalFollower>(executor_, store_, options_.node.name, std::move(fh));
  }
  if (guard_) {
    spdlog::info("ha: split-brain guard: {}", guard_->describe());
    std::weak_ptr<Life> life = life_;
    guard_->start([this, life](const GuardVerdict& v) {
      if (life.expired() || stopped_) return;
      apply(rm_.on_guard(clock_.now(), v.ok, v.valid_until, v.detail));
    });
  }
  const auto info = store_.info();
  probe_health();
  timing_.value = config_timing(options_.ha);
  refresh_timing();
  apply(rm_.on_start(clock_.now(), store_.current_epoch(), {0, info.last_lsn}, healthy_));
  if (options_.peer) {
    spdlog::info("ha: waiting for peer {} at {} (interval {} ms, failover timeout {} ms)",
                 options_.peer->name, options_.peer->address.to_string(), timing_.value.interval_ms,
                 timing_.value.timeout_ms);
  }
  schedule_tick();
  return ok_status();
}

void Runner::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(life_->mu);
    life_->alive = false;
  }
  if (tick_timer_) clock_.cancel(*tick_timer_);
  if (guard_) guard_->stop();
  if (follower_) follower_->stop("manager stopping");
  if (shipper_) shipper_->stop();
}

void Runner::schedule_tick() {
  std::weak_ptr<Life> life = life_;
  tick_interval_ = rm_.beat_interval();
  tick_timer_ = clock_.call_after(tick_interval_, [this, life] {
    if (life.expired() || stopped_) return;
    tick();
    schedule_tick();
  });
}

void Runner::refresh_timing() {
  auto setting = read_timing_setting(store_);
  if (!setting.ok()) return;  // the store's health check reports it; keep the timing in force
  ResolvedTiming next = resolve_timing(options_.ha, *setting);
  if (next == timing_) return;
  if (!next.problem.empty() && next.problem != timing_.problem)
    spdlog::error("ha: {}", next.problem);
  if (next.value != timing_.value) {
    spdlog::warn("ha: timing: interval {} ms, failover timeout {} ms ({})", next.value.interval_ms,
                 next.value.timeout_ms,
                 next.from_setting ? "replicated setting ha.timing" : "config file");
  }
  timing_ = std::move(next);
  const Role before = rm_.role();
  apply(rm_.set_timing(clock_.now(), to_timing(timing_.value)));
  log_role_change(before);
  retime();
}

void Runner::retime() {
  if (stopped_) return;
  const Duration interval = rm_.beat_interval();
  if (tick_timer_ && interval < tick_interval_) {
    clock_.cancel(*tick_timer_);
    schedule_tick();
  }
  const std::pair<Duration, Duration> g{interval, rm_.peer_may_promote_after()};
  if (guard_ && g != guard_timing_) {
    guard_timing_ = g;
    guard_->set_timing(g.first, g.second);
  }
}

void Runner::tick() {
  refresh_timing();
  probe_health();
  send_beat();
  const Role before = rm_.role();
  apply(rm_.on_tick(clock_.now()));
  log_role_change(before);
  drive_replication();
}

void Runner::drive_replication() {
  if (!follower_ || stopped_) return;
  const auto now = clock_.now();
  if (rm_.following(now)) {
    follower_->ensure(stub_.get(), reseed_allowed_);
    // A master that still beats but cannot be streamed from for a failover
    // timeout: this standby no longer holds what it acknowledges.
    if (follower_->connected()) {
      unsynced_since_.reset();
    } else if (rm_.role() == Role::kStandby && unsynced_since_ &&
               now - *unsynced_since_ >= rm_.silence_timeout()) {
      const Role before = rm_.role();
      apply(rm_.on_lost_sync(
          now, "no replication stream from the master for " + ms_text(now - *unsynced_since_)));
      log_role_change(before);
    }
  } else {
    unsynced_since_.reset();
    if (follower_->running()) {
      follower_->stop(std::string("not following the master (") + role_name(rm_.role()) + ")");
    }
  }
}

void Runner::log_role_change(Role before) {
  if (rm_.role() != before) {
    spdlog::info("ha: {} -> {}{}", role_name(before), role_name(rm_.role()),
                 rm_.reason().empty() ? "" : " (" + rm_.reason() + ")");
  }
}

void Runner::commit(const store::WriteBatch& batch, std::function<void(Result<Committed>)> done) {
  auto lsn = store_.commit(batch);
  if (!lsn.ok()) return done(lsn.error());
  const Committed c{*lsn, store_.current_epoch(), false};
  if (!shipper_) return done(c);
  shipper_->on_commit();
  shipper_->when_replicated(*lsn, [c, done = std::move(done)](bool replicated) mutable {
    Committed r = c;
    r.replicated = replicated;
    done(r);
  });
}

void Runner::probe_health() {
  // A re-seed holds the store in one long restore transaction: nothing else
  // may use it, and its writes show the store works. Keep the last verdict.
  if (follower_ && follower_->restoring()) return;
  bool ok = true;
  std::string detail;
  if (auto s = store_.probe_write(); !s.ok()) {
    ok = false;
    detail = "store write failed: " + s.error().to_string();
  } else if (!options_.data_dir.empty()) {
    struct statvfs fs {};
    if (statvfs(options_.data_dir.c_str(), &fs) == 0) {
      const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
      if (free_bytes < kMinFreeBytes) {
        ok = false;
        detail = "disk nearly full: " + std::to_string(free_bytes >> 20) + " MiB free in " +
                 options_.data_dir;
      }
    }
  }
  if (ok != healthy_ || detail != health_detail_) {
    if (ok) {
      spdlog::info("ha: store healthy again");
    } else {
      spdlog::error("ha: {}", detail);
    }
    healthy_ = ok;
    health_detail_ = detail;
    apply(rm_.on_health(clock_.now(), ok, detail));
  }
}

void Runner::refresh_position() {
  if (follower_ && follower_->restoring()) return;  // the pre-restore position stands
  auto info = store_.info();
  LogPosition pos{0, info.last_lsn};
  if (info.last_lsn > 0) {
    // The epoch of the last record: the store's current epoch is an upper
    // bound; the exact one comes from the journal.
    auto rec = store_.read_journal(info.last_lsn, 1);
    if (rec.ok() && !rec->empty()) pos.last_epoch = rec->front().epoch;
  }
  rm_.on_position(pos);
}

duet::v1::Beat Runner::outgoing_beat() {
  refresh_position();
  duet::v1::Beat b = to_proto(rm_.next_beat(clock_.now()));
  b.mutable_health()->set_store_writable(healthy_);
  b.mutable_health()->set_detail(health_detail_);
  b.set_running_alone(shipper_ && rm_.role() == Role::kMaster && shipper_->running_alone());
  b.set_guard(guard_
                  ? (rm_.guard_holds(clock_.now()) ? "ok: " : "not holding: ") + rm_.guard_detail()
                  : "none");
  return b;
}

void Runner::send_beat() {
  if (!stub_ || beat_in_flight_ || stopped_) return;
  struct Call {
    grpc::ClientContext ctx;
    duet::v1::HeartbeatRequest req;
    duet::v1::HeartbeatResponse resp;
  };
  auto call = std::make_shared<Call>();
  call->ctx.set_deadline(std::chrono::system_clock::now() + rm_.beat_interval());
  *call->req.mutable_beat() = outgoing_beat();
  beat_in_flight_ = true;
  std::shared_ptr<Life> life = life_;
  stub_->async()->Heartbeat(&call->ctx, &call->req, &call->resp,
                            [this, call, life](grpc::Status status) {
                              life->post([this, call, status] {
                                beat_in_flight_ = false;
                                if (status.ok()) {
                                  peer_error_.clear();
                                  on_peer_beat(call->resp.beat());
                                } else {
                                  peer_error_ = status.error_message();
                                }
                              });
                            });
}

duet::v1::Beat Runner::answer(const duet::v1::Beat& from_peer) {
  on_peer_beat(from_peer);
  return outgoing_beat();
}

void Runner::on_peer_beat(const duet::v1::Beat& beat) {
  if (stopped_) return;
  if (options_.peer && beat.from() != options_.peer->name) {
    spdlog::warn("ha: heartbeat from '{}', but the peer is '{}'; ignored", beat.from(),
                 options_.peer->name);
    return;
  }
  const Role before = rm_.role();
  apply(rm_.on_beat(clock_.now(), from_proto(beat)));
  // Invariant 1: remember the highest epoch seen, so a later promotion of
  // this node (even a forced one) takes a higher one.
  // (Not during a re-seed: the restore takes the snapshot's epoch, and the
  // next beat after it persists the peer's.)
  if (rm_.role() != Role::kMaster && beat.epoch() > store_.current_epoch() &&
      !(follower_ && follower_->restoring())) {
    if (auto s = store_.advance_epoch(beat.epoch()); s.ok()) {
      rm_.on_epoch_adopted(beat.epoch());
    } else {
      spdlog::error("ha: cannot persist epoch {} seen from {}: {}", beat.epoch(), beat.from(),
                    s.error().to_string());
    }
  }
  log_role_change(before);
  retime();  // the peer's advertised timing may call for faster beats
  drive_replication();
}

void Runner::apply(const Actions& actions) {
  for (const auto& action : actions) {
    if (const auto* p = std::get_if<Promote>(&action)) {
      promote(*p);
    } else if (std::holds_alternative<StartActing>(action)) {
      spdlog::info("ha: acting as master in epoch {}", rm_.epoch());
      if (hooks_.start_acting) hooks_.start_acting(rm_.epoch());
      send_beat();  // tell the peer at once
    } else if (const auto* stop = std::get_if<StopActing>(&action)) {
      spdlog::warn("ha: stopped acting: {}", stop->reason);
      if (shipper_ && !rm_.switching_over()) {
        shipper_->drop_streams("stopped acting: " + stop->reason);
      }
      if (hooks_.stop_acting) hooks_.stop_acting(stop->reason);
    } else if (const auto* acquire = std::get_if<AcquireLease>(&action)) {
      if (guard_) guard_->want_lease(acquire->epoch);
    } else if (std::holds_alternative<ReleaseLease>(action)) {
      if (guard_) guard_->want_lease(0);
    }
  }
}

void Runner::promote(const Promote& p) {
  spdlog::warn("ha: promoting to epoch {}: {}", p.epoch, p.reason);
  if (p.fence_peer && !options_.ha.fence_command.empty() && options_.peer) {
    // The fence command may take seconds: run it off the strand.
    promoting_ = true;
    std::vector<std::pair<std::string, std::string>> env{
        {"DUET_PEER_NAME", options_.peer->name},
        {"DUET_PEER_ADDRESS", options_.peer->address.to_string()},
        {"DUET_EPOCH", std::to_string(p.epoch)}};
    const std::string command = options_.ha.fence_command;
    const Duration timeout = std::chrono::milliseconds(options_.ha.fence_timeout_ms);
    std::shared_ptr<Life> life = life_;
    const Epoch epoch = p.epoch;
    std::thread([this, life, command, env, timeout, epoch] {
      std::string result = run_fence_command(command, env, timeout, clock_);
      life->post([this, result, epoch] {
        last_fence_result_ = result;
        spdlog::warn("ha: fence command against {}: {}", options_.peer->name, result);
        finish_promotion(epoch);
      });
    }).detach();
    return;
  }
  finish_promotion(p.epoch);
}

void Runner::finish_promotion(Epoch epoch) {
  promoting_ = false;
  // A half-done re-seed is abandoned (rolled back) so the epoch can be written.
  if (follower_ && follower_->restoring()) follower_->stop("promoting");
  if (auto s = store_.advance_epoch(epoch); !s.ok()) {
    spdlog::error("ha: cannot persist epoch {}: {}", epoch, s.error().to_string());
    apply(rm_.on_promote_failed(clock_.now(), s.error().to_string()));
    return;
  }
  apply(rm_.on_promoted(clock_.now(), epoch));
}

Result<std::string> Runner::force_promote() {
  if (rm_.role() == Role::kMaster)
    return std::string("already master in epoch ") + std::to_string(rm_.epoch());
  apply(rm_.on_force_promote(clock_.now()));
  return std::string("promotion forced: ") + rm_.reason();
}

Result<std::string> Runner::failback() {
  if (rm_.role() == Role::kMaster) {
    return std::string("this node is master; failback applies to its peer");
  }
  const Role before = rm_.role();
  apply(rm_.on_failback(clock_.now()));
  // Whatever this node holds that the master does not is discarded: a
  // diverged journal is replaced by the master's snapshot.
  reseed_allowed_ = true;
  if (follower_) follower_->stop("failback: restarting replication");
  log_role_change(before);
  return std::string(role_name(before)) + " -> " + role_name(rm_.role()) + ": " + rm_.reason();
}

void Runner::switchover(std::function<void(Result<std::string>)> done) {
  start_switchover(std::move(done),
                   clock_.now() + 2 * rm_.silence_timeout() + std::chrono::seconds(2));
}

void Runner::start_switchover(std::function<void(Result<std::string>)> done, TimePoint wait_until) {
  const auto now = clock_.now();
  if (switching_) {
    done(make_error(CommonErrc::kInvalidArgument, "a switchover is already running"));
    return;
  }
  if (rm_.role() != Role::kMaster || !rm_.may_act(now)) {
    done(make_error(CommonErrc::kInvalidArgument, "this node is not the acting master"));
    return;
  }
  apply(rm_.begin_switchover(now));
  if (!rm_.switching_over()) {
    const auto& p = rm_.peer();
    if (rm_.peer_alive(now) && p && now < wait_until) {
      // A standby just brought back (failback) reports itself healthy and
      // eligible only after a settling time: wait for it rather than refuse.
      std::weak_ptr<Life> life = life_;
      clock_.call_after(rm_.beat_interval(), [this, life, done = std::move(done), wait_until] {
        if (life.expired() || stopped_) return;
        start_switchover(std::move(done), wait_until);
      });
      return;
    }
    done(make_error(CommonErrc::kInvalidArgument,
                    std::string("the peer is not a healthy standby (") +
                        (rm_.peer_alive(now) && p ? role_name(p->role) : "down") + ")"));
    return;
  }
  spdlog::warn("ha: switchover: stopped acting; waiting for the standby to catch up");
  const auto limit = std::max<Duration>(std::chrono::seconds(5), 2 * rm_.silence_timeout());
  switching_ = Switching{std::move(done), now + limit};
  poll_switchover();
}

void Runner::poll_switchover() {
  if (!switching_ || stopped_) return;
  const auto now = clock_.now();
  if (rm_.role() != Role::kMaster) {  // the peer took over and we follow it
    const auto& p = rm_.peer();
    end_switchover(std::string("switchover done: ") + (p ? p->from : "the peer") +
                   " is master in epoch " + std::to_string(p ? p->epoch : 0) + ", " +
                   options_.node.name + " follows it");
    return;
  }
  if (now >= switching_->deadline) {
    const std::string why = switching_->last_error.empty() ? "the standby did not take over in time"
                                                           : switching_->last_error;
    apply(rm_.end_switchover(now, false));
    spdlog::error("ha: switchover abandoned: {}; acting again", why);
    end_switchover(make_error(
        CommonErrc::kInvalidArgument,
        "switchover abandoned (" + why + "); " + options_.node.name + " is master again"));
    return;
  }
  const store::Lsn last = store_.last_lsn();
  if (!switching_->handed_over && !switching_->handover_in_flight && shipper_ && stub_ &&
      shipper_->lag().acked_lsn >= last) {
    struct Call {
      grpc::ClientContext ctx;
      duet::v1::HandoverRequest req;
      duet::v1::HandoverResponse resp;
    };
    auto call = std::make_shared<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    call->req.set_from(options_.node.name);
    call->req.set_epoch(rm_.epoch());
    call->req.set_lsn(last);
    switching_->handover_in_flight = true;
    std::shared_ptr<Life> life = life_;
    stub_->async()->Handover(
        &call->ctx, &call->req, &call->resp, [this, call, life](grpc::Status status) {
          life->post([this, call, status] {
            if (!switching_) return;
            switching_->handover_in_flight = false;
            if (status.ok() && call->resp.accepted()) {
              switching_->handed_over = true;
            } else {
              switching_->last_error = status.ok() ? call->resp.message() : status.error_message();
            }
          });
        });
  }
  std::weak_ptr<Life> weak = life_;
  clock_.call_after(std::chrono::milliseconds(5), [this, weak] {
    if (!weak.expired()) poll_switchover();
  });
}

void Runner::end_switchover(Result<std::string> outcome) {
  auto done = std::move(switching_->done);
  switching_.reset();
  if (outcome.ok()) spdlog::warn("ha: {}", *outcome);
  done(std::move(outcome));
}

duet::v1::HandoverResponse Runner::on_handover(const duet::v1::HandoverRequest& req) {
  duet::v1::HandoverResponse resp;
  if (!options_.peer || req.from() != options_.peer->name) {
    resp.set_message("hand-over from '" + req.from() + "', who is not this node's peer");
    return resp;
  }
  refresh_position();
  const Role before = rm_.role();
  auto actions = rm_.on_handover(clock_.now(), req.lsn());
  bool promoting = false;
  for (const auto& a : actions) promoting |= std::holds_alternative<Promote>(a);
  if (!promoting) {
    resp.set_message(std::string("not taking over: this node is ") + role_name(before) +
                     " at LSN " + std::to_string(rm_.position().last_lsn) + ", the master at " +
                     std::to_string(req.lsn()));
    return resp;
  }
  spdlog::warn("ha: switchover: {} hands over at LSN {}", req.from(), req.lsn());
  apply(actions);
  log_role_change(before);
  resp.set_accepted(true);
  resp.set_message(options_.node.name + " takes over");
  return resp;
}

bool Runner::may_act() const { return rm_.may_act(clock_.now()); }

void Runner::fill_status(duet::v1::StatusResponse& r) const {
  const auto now = clock_.now();
  const auto info = store_.info();
  const bool self_acts = rm_.may_act(now);
  const auto& peer = rm_.peer();
  const bool peer_alive = rm_.peer_alive(now);
  if (self_acts) {
    r.set_master(options_.node.name);
  } else if (peer_alive && peer && peer->acting) {
    r.set_master(peer->from);
  }
  r.set_ha(options_.peer ? "pair" : "standalone");
  r.set_sync_mode(options_.ha.sync ? "sync" : "async");
  r.set_running_alone(options_.ha.sync && shipper_ && self_acts && shipper_->running_alone());

  auto* self = r.add_nodes();
  self->set_name(options_.node.name);
  self->set_address(options_.node.address.to_string());
  self->set_self(true);
  self->set_role(role_name(rm_.role()));
  self->set_epoch(rm_.epoch());
  self->set_applied_lsn(info.last_lsn);
  self->set_guard(guard_ ? (rm_.guard_holds(now) ? "ok: " : "not holding: ") + rm_.guard_detail()
                         : "none");
  self->set_detail(rm_.reason());
  if (follower_ && follower_->reseeding()) {
    self->set_detail("re-seeding: " + std::to_string(follower_->reseed_rows()) + " rows (" +
                     std::to_string(follower_->reseed_bytes() >> 20) + " MiB) restored");
  }
  auto ms = [](Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  self->set_interval_ms(timing_.value.interval_ms);
  self->set_timeout_ms(timing_.value.timeout_ms);
  self->set_timing_source(timing_.from_setting ? "setting" : "config");
  self->set_timing_detail(timing_.problem);
  self->set_effective_interval_ms(ms(rm_.beat_interval()));
  self->set_effective_timeout_ms(ms(rm_.silence_timeout()));
  self->set_fence_after_ms(ms(rm_.fence_after()));
  self->set_timing_settled(rm_.timing_settled());
  if (!options_.peer) return;
  auto* p = r.add_nodes();
  p->set_name(options_.peer->name);
  p->set_address(options_.peer->address.to_string());
  if (auto age = rm_.peer_age(now)) {
    p->set_heartbeat_age_ms(std::chrono::duration_cast<std::chrono::milliseconds>(*age).count());
  }
  if (const auto& pt = rm_.peer_timing()) {
    p->set_interval_ms(ms(pt->interval));
    p->set_timeout_ms(ms(pt->timeout));
  }
  if (peer_alive && peer) {
    p->set_role(role_name(peer->role));
    p->set_epoch(peer->epoch);
    p->set_applied_lsn(peer->position.last_lsn);
    if (self_acts && shipper_) {
      // The master's view: what the standby acknowledged as durable.
      const auto lag = shipper_->lag();
      p->set_applied_lsn(std::max<Lsn>(lag.acked_lsn, peer->position.last_lsn));
      p->set_lag_records(lag.records);
      p->set_lag_ms(lag.ms);
      if (auto rows = shipper_->snapshot_rows_sent()) {
        p->set_detail("re-seeding: " + std::to_string(*rows) + " rows sent");
      } else if (!lag.connected) {
        p->set_detail("no replication stream");
      }
    } else {
      const auto lag =
          info.last_lsn > peer->position.last_lsn ? info.last_lsn - peer->position.last_lsn : 0;
      p->set_lag_records(lag);
    }
  } else {
    p->set_role("down");
    if (peer) p->set_epoch(peer->epoch);
    p->set_detail(peer_error_.empty()
                      ? "not heard for " +
                            (rm_.peer_age(now) ? ms_text(*rm_.peer_age(now)) : std::string("ever"))
                      : peer_error_);
  }
  p->set_guard(peer_alive ? "(see that node)" : "unknown");
}

std::unique_ptr<Guard> make_guard(boost::asio::any_io_executor executor, const Clock& clock,
                                  const ManagerConfig& config) {
  if (!config.peer) return nullptr;
  const auto interval = std::chrono::milliseconds(config.ha.interval_ms);
  const auto timeout = std::chrono::milliseconds(config.ha.timeout_ms);
  switch (config.ha.guard) {
    case HaConfig::Guard::kReference:
      return std::make_unique<ReferenceGuard>(executor, clock, config.ha.reference, interval,
                                              interval, timeout);
    case HaConfig::Guard::kWitness: {
      std::string pair = config.node.name < config.peer->name
                             ? config.node.name + "/" + config.peer->name
                             : config.peer->name + "/" + config.node.name;
      return std::make_unique<WitnessGuard>(executor, clock, *config.ha.witness, config.tls,
                                            config.node.name, pair, interval);
    }
    case HaConfig::Guard::kNone:
      break;
  }
  return nullptr;
}

std::string run_fence_command(const std::string& command,
                              const std::vector<std::pair<std::string, std::string>>& env,
                              Duration timeout, const Clock& clock) {
  const pid_t pid = fork();
  if (pid < 0) return "cannot fork";
  if (pid == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = clock.now() + timeout;
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (clock.now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return "timed out after " + ms_text(timeout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

}  // namespace duet::ha
