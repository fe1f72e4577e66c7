#include "ha/runner.h"

// Runner: start and stop, the tick, heartbeats, health, replication and
// commits, and carrying out the role machine's actions. The operator's
// commands and the switchover are in runner_operations.cpp, status in
// runner_status.cpp.

#include <grpcpp/create_channel.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <thread>

#include "common/errors.h"
#include "common/tls.h"
#include "ha/beat_codec.h"
#include "ha/runner_internal.h"

namespace duet::ha {
namespace {

constexpr std::uint64_t kMinFreeBytes = 64ULL << 20;  // below this the store counts as full

}  // namespace

Runner::Runner(boost::asio::any_io_executor executor, Clock& clock, RunnerOptions options,
               store::Store& store, std::unique_ptr<Guard> guard, Hooks hooks)
    : executor_(std::move(executor)),
      clock_(clock),
      options_(std::move(options)),
      store_(store),
      guard_(std::move(guard)),
      hooks_(std::move(hooks)),
      rm_(RoleMachine::Options{
          options_.node.name, options_.ha.priority, options_.peer.has_value(),
          options_.ha.guard == HaConfig::Guard::kWitness     ? GuardMode::kWitness
          : options_.ha.guard == HaConfig::Guard::kReference ? GuardMode::kReference
                                                             : GuardMode::kNone,
          !options_.ha.fence_command.empty(),
          Timing{std::chrono::milliseconds(options_.ha.interval_ms),
                 std::chrono::milliseconds(options_.ha.timeout_ms)},
          options_.incarnation, options_.peer ? options_.peer->name : std::string()}),
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
    shipper_ = std::make_unique<JournalShipper>(
        clock_, store_, so,
        [this] {
          return rm_.role() == Role::kMaster && (rm_.may_act(clock_.now()) || rm_.switching_over());
        },
        // Acknowledge without the standby only once it heard so, or is silent.
        [this] { return rm_.alone_allowed(clock_.now()); },
        [this] {
          rm_.set_alone_wanted(true);
          send_beat();  // tell the standby at once
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
    // A broken stream alone says nothing about what this node holds: the
    // master tells it in its beats when it acknowledges without it.
    fh.stream_ended = [](const std::string& why) { spdlog::debug("ha: {}", why); };
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
  if (shipper_) shipper_->recheck_alone();  // the standby may have gone silent
  drive_replication();
}

void Runner::drive_replication() {
  if (!follower_ || stopped_) return;
  if (rm_.following(clock_.now())) {
    follower_->ensure(stub_.get(), reseed_allowed_);
  } else {
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
  rm_.set_alone_wanted(shipper_ && rm_.role() == Role::kMaster && shipper_->running_alone());
  duet::v1::Beat b = to_proto(rm_.next_beat(clock_.now()));
  b.mutable_health()->set_store_writable(healthy_);
  b.mutable_health()->set_detail(health_detail_);
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
  if (shipper_) shipper_->recheck_alone();  // the echo may allow running alone
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

bool Runner::may_act() const { return rm_.may_act(clock_.now()); }

}  // namespace duet::ha
