// Runner: status for duetctl, and the helpers a manager uses to build one
// (the split-brain guard from config, the fence command).

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ha/reference_guard.h"
#include "ha/runner.h"
#include "ha/runner_internal.h"
#include "ha/witness_guard.h"

namespace duet::ha {

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
