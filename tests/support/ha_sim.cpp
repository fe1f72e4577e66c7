#include "tests/support/ha_sim.h"

#include <cstdlib>
#include <sstream>

namespace duet::testing {

using ha::Actions;
using ha::Epoch;
using ha::Lsn;
using ha::Role;

namespace {
constexpr auto kStep = std::chrono::milliseconds(1);
}

SimPair::SimPair(SimConfig config) : config_(config), rng_(config.seed) {
  a_.name = "a";
  a_.priority = config.priority_a;
  b_.name = "b";
  b_.priority = config.priority_b;
  // The rm of a node that never booted still answers role queries.
  for (Node* n : {&a_, &b_}) {
    n->rm = std::make_unique<ha::RoleMachine>(
        ha::RoleMachine::Options{n->name, n->priority, true, config_.guard, config_.fence_command,
                                 config_.timing, 1, n->name == "a" ? "b" : "a"});
  }
  if (config_.write_every > Duration::zero()) schedule_writes();
}

void SimPair::log(const std::string& line) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
          .count() -
      3600000;
  events.push_back(std::to_string(ms) + "ms " + line);
  if (events.size() > 2000) events.erase(events.begin(), events.begin() + 1000);
}

std::string SimPair::trace(std::size_t last) const {
  std::ostringstream out;
  const std::size_t from = events.size() > last ? events.size() - last : 0;
  for (std::size_t i = from; i < events.size(); ++i) out << events[i] << "\n";
  return out.str();
}

ha::LogPosition SimPair::position(const Node& n) const {
  if (n.journal.empty()) return {};
  return {n.journal.back(), n.journal.size()};
}

bool SimPair::acting(const std::string& name) {
  Node& n = node_(name);
  return n.up && !n.paused && n.rm->may_act(clock_.now());
}

std::optional<std::string> SimPair::acting_master() {
  if (acting("a")) return "a";
  if (acting("b")) return "b";
  return std::nullopt;
}

// ---- control ----

void SimPair::start(const std::string& name) {
  Node& n = node_(name);
  ++n.generation;
  n.up = true;
  n.paused = false;
  n.inbox.clear();
  n.pending.clear();
  n.peer_acked = 0;
  n.alone = false;
  n.alone_wanted = false;
  n.alone_via_echo = false;
  n.lease_epoch.reset();
  n.failback_requested = false;
  n.last_append = {0, 0};
  n.stream_open = false;
  n.stream_connected = false;
  n.rm = std::make_unique<ha::RoleMachine>(
      ha::RoleMachine::Options{n.name, n.priority, true, config_.guard, config_.fence_command,
                               config_.timing, rng_(), other(n).name});
  if (n.timing) (void)n.rm->set_timing(clock_.now(), *n.timing);
  log(name + " boots (epoch " + std::to_string(n.persisted_epoch) + ", " +
      std::to_string(n.journal.size()) + " records)");
  apply_actions(n, n.rm->on_start(clock_.now(), n.persisted_epoch, position(n), n.disk_ok));
  schedule_tick(n);
}

void SimPair::crash(const std::string& name) {
  Node& n = node_(name);
  n.up = false;
  ++n.generation;
  log(name + " crashes");
  // The kernel closes its sockets: a stream it served ends at the follower.
  close_served_streams(n, "the master's connection was reset");
}

void SimPair::wipe(const std::string& name) {
  Node& n = node_(name);
  n.journal.clear();
  n.persisted_epoch = 0;
  log(name + " store wiped");
}

void SimPair::pause(const std::string& name) {
  node_(name).paused = true;
  log(name + " SIGSTOP");
}

void SimPair::resume(const std::string& name) {
  Node& n = node_(name);
  if (!n.paused) return;
  n.paused = false;
  log(name + " SIGCONT");
  // Before it processes anything: a resumed process must not act on stale beliefs.
  check_invariants();
  auto inbox = std::move(n.inbox);
  n.inbox.clear();
  for (auto& [from, payload] : inbox) handle(n, from, std::move(payload));
}

void SimPair::set_disk(const std::string& name, bool ok) {
  Node& n = node_(name);
  n.disk_ok = ok;
  log(name + (ok ? " disk repaired" : " disk fails"));
  if (n.up) {
    apply_actions(n, n.rm->on_health(clock_.now(), ok, ok ? "" : "store not writable"));
  }
}

void SimPair::set_reference(const std::string& name, bool reachable) {
  node_(name).reference_ok = reachable;
  log(name + (reachable ? " reaches the reference" : " loses the reference"));
}

void SimPair::cut(const std::string& from, const std::string& to) {
  cut_.insert({from, to});
  log("cut " + from + "->" + to);
}

void SimPair::heal(const std::string& from, const std::string& to) {
  cut_.erase({from, to});
  log("heal " + from + "->" + to);
}

void SimPair::partition_replication() {
  replication_cut_ = true;
  log("replication stream cut");
  for (Node* n : {&a_, &b_}) {
    if (n->up && n->stream_open) end_stream(*n, "replication link cut");
  }
}

void SimPair::heal_replication() {
  replication_cut_ = false;
  log("replication stream link healed");
}

void SimPair::heal_all() {
  cut_.clear();
  replication_cut_ = false;
  loss_.clear();
  drop_next_.clear();
  duplicate_probability_ = 0;
  log("network healed");
}

void SimPair::set_loss(const std::string& from, const std::string& to, double probability) {
  loss_[{from, to}] = probability;
}

void SimPair::force_promote(const std::string& name) {
  Node& n = node_(name);
  if (!n.up) return;
  log(name + " operator: promote --force");
  apply_actions(n, n.rm->on_force_promote(clock_.now()));
}

void SimPair::failback(const std::string& name) {
  Node& n = node_(name);
  if (!n.up) return;
  log(name + " operator: failback");
  n.failback_requested = true;
  apply_actions(n, n.rm->on_failback(clock_.now()));
}

bool SimPair::switchover() {
  auto master = acting_master();
  if (!master) return false;
  Node& m = node_(*master);
  apply_actions(m, m.rm->begin_switchover(clock_.now()));
  if (!m.rm->switching_over()) return false;
  log(*master + " operator: switchover");
  poll_switchover(m, m.generation, clock_.now());
  return true;
}

// Hands over once the standby has everything; gives up after a while.
void SimPair::poll_switchover(Node& m, std::uint64_t gen, TimePoint started) {
  if (!m.up || m.generation != gen || !m.rm->switching_over()) return;
  if (!m.paused && m.peer_acked >= m.journal.size()) {
    send(m.name, other(m).name, Handover{m.journal.size()});
  }
  if (clock_.now() - started > 5 * config_.timing.timeout) {
    log(m.name + " switchover timed out");
    apply_actions(m, m.rm->end_switchover(clock_.now(), false));
    return;
  }
  clock_.call_after(config_.timing.interval / 5,
                    [this, &m, gen, started] { poll_switchover(m, gen, started); });
}

void SimPair::run_for(Duration d) {
  const auto end = clock_.now() + d;
  while (clock_.now() < end) {
    clock_.advance(kStep);
    check_invariants();
  }
}

void SimPair::set_timing(const std::string& name, ha::Timing timing) {
  Node& n = node_(name);
  n.timing = timing;
  log(name + " timing " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(timing.interval).count()) +
      "/" +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(timing.timeout).count()) +
      " ms");
  if (n.up && !n.paused) apply_actions(n, n.rm->set_timing(clock_.now(), timing));
}

// ---- the nodes' own behaviour ----

void SimPair::schedule_tick(Node& n) {
  const std::uint64_t gen = n.generation;
  clock_.call_after(n.rm->beat_interval(), [this, &n, gen] {
    if (!n.up || n.generation != gen) return;
    schedule_tick(n);
    if (n.paused) return;
    const auto now = clock_.now();
    Node& peer = other(n);
    // Guard.
    if (config_.guard == ha::GuardMode::kReference) {
      apply_actions(n, n.rm->on_guard(now, n.reference_ok, now + n.rm->peer_may_promote_after(),
                                      n.reference_ok ? "reachable" : "unreachable"));
    } else if (config_.guard == ha::GuardMode::kWitness && n.lease_epoch) {
      send(n.name, "w", LeaseRequest{*n.lease_epoch, now});
    }
    // Heartbeat.
    send(n.name, peer.name, n.rm->next_beat(now));
    // Replication, as master.
    if (n.rm->role() == Role::kMaster && n.rm->may_act(now)) {
      send(n.name, peer.name, Append{n.rm->epoch(), 0, {}, n.journal.size()});
    }
    apply_actions(n, n.rm->on_tick(now));
    drive_alone(n);
    drive_replication(n);
  });
}

void SimPair::schedule_writes() {
  clock_.call_after(config_.write_every, [this] {
    schedule_writes();
    for (Node* n : {&a_, &b_}) {
      if (n->up && !n->paused && n->rm->may_act(clock_.now())) write(*n);
    }
  });
}

void SimPair::write(Node& n) {
  if (!n.disk_ok) return;
  n.journal.push_back(n.rm->epoch());
  ++writes_;
  const Lsn lsn = n.journal.size();
  n.rm->on_position(position(n));
  if (config_.sync && !n.alone) {
    n.pending.emplace(lsn, clock_.now());
  } else {
    ++alone_acked_;
    if (config_.sync && n.alone_via_echo) alone_known_.insert({lsn, n.rm->epoch()});
  }
  send(n.name, other(n).name, Append{n.rm->epoch(), 0, {}, lsn});
}

void SimPair::send(const std::string& from, const std::string& to, Payload payload) {
  if (cut_.contains({from, to})) return;
  const bool on_stream = std::holds_alternative<Append>(payload) ||
                         std::holds_alternative<Ack>(payload) ||
                         std::holds_alternative<StreamEnd>(payload);
  if (on_stream && replication_cut_) return;
  if (drop_next_.erase({from, to}) > 0) return;
  std::uniform_real_distribution<double> coin(0, 1);
  auto it = loss_.find({from, to});
  if (it != loss_.end() && coin(rng_) < it->second) return;
  // An Append carries the master's whole journal: the simulation's stand-in
  // for the real journal stream plus its divergence check.
  if (auto* app = std::get_if<Append>(&payload)) {
    Node& n = node_(from);
    app->seq = ++n.send_seq;
    const Node& f = node_(to);
    app->stream = f.stream_open ? f.stream_id : 0;
    for (std::size_t i = 0; i < n.journal.size(); ++i)
      app->records.emplace_back(i + 1, n.journal[i]);
  }
  std::uniform_int_distribution<std::int64_t> latency(config_.latency_min.count(),
                                                      config_.latency_max.count());
  const int copies = coin(rng_) < duplicate_probability_ ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    clock_.call_after(Duration(latency(rng_)),
                      [this, from, to, payload] { deliver(from, to, payload); });
  }
}

void SimPair::deliver(const std::string& from, const std::string& to, Payload payload) {
  if (to == "w") {
    handle_witness(from, std::get<LeaseRequest>(payload));
    return;
  }
  Node& n = node_(to);
  if (!n.up) return;
  if (n.paused) {
    n.inbox.emplace_back(from, std::move(payload));
    return;
  }
  handle(n, from, std::move(payload));
}

void SimPair::handle(Node& n, const std::string& /*from*/, Payload payload) {
  const auto now = clock_.now();
  if (auto* beat = std::get_if<ha::Beat>(&payload)) {
    apply_actions(n, n.rm->on_beat(now, *beat));
    if (n.rm->role() != Role::kMaster && beat->epoch > n.persisted_epoch && n.disk_ok) {
      n.persisted_epoch = beat->epoch;  // as the runner does: remember the highest epoch seen
      n.rm->on_epoch_adopted(beat->epoch);
    }
    drive_alone(n);        // the echo may allow running alone
    drive_replication(n);  // as the runner does after each heartbeat
  } else if (auto* app = std::get_if<Append>(&payload)) {
    on_append(n, *app);
  } else if (auto* ack = std::get_if<Ack>(&payload)) {
    on_ack(n, *ack);
  } else if (auto* reply = std::get_if<LeaseReply>(&payload)) {
    if (reply->granted && n.lease_epoch == reply->epoch) {
      // The witness counts from when it received the request; the holder
      // counts from when it sent it, less a margin.
      const auto margin = config_.lease / 100 + std::chrono::milliseconds(1);
      apply_actions(n, n.rm->on_guard(now, true, reply->sent + config_.lease - margin, "lease"));
    } else {
      apply_actions(n, n.rm->on_guard(now, false, now, "lease refused"));
    }
  } else if (auto* handover = std::get_if<Handover>(&payload)) {
    apply_actions(n, n.rm->on_handover(now, handover->lsn));
  } else if (auto* end = std::get_if<StreamEnd>(&payload)) {
    if (n.stream_open && end->stream == n.stream_id) end_stream(n, end->why);
  }
}

void SimPair::handle_witness(const std::string& from, const LeaseRequest& req) {
  const auto now = clock_.now();
  if (req.epoch == 0) {
    if (lease_holder_ == from) lease_holder_.clear();
    return;
  }
  const bool free = lease_holder_.empty() || now >= lease_expires_ || lease_holder_ == from;
  const bool epoch_ok =
      lease_holder_ == from ? req.epoch >= lease_epoch_ : req.epoch > witness_highest_;
  const bool granted = free && epoch_ok;
  if (std::getenv("DUET_SIM_WITNESS_LOG") != nullptr) {
    log("witness: " + from + " asks epoch " + std::to_string(req.epoch) + " -> " +
        (granted ? "granted" : "refused") + " (holder " + lease_holder_ + " epoch " +
        std::to_string(lease_epoch_) + ")");
  }
  if (granted) {
    if (lease_holder_ != from) log("witness grants the lease to " + from);
    lease_holder_ = from;
    lease_epoch_ = req.epoch;
    witness_highest_ = std::max(witness_highest_, req.epoch);
    lease_expires_ = now + config_.lease;
  }
  send("w", from, LeaseReply{granted, req.epoch, req.sent});
}

void SimPair::on_append(Node& n, const Append& msg) {
  const auto now = clock_.now();
  apply_actions(n, n.rm->on_epoch_seen(now, msg.epoch));
  if (msg.epoch < n.persisted_epoch) return;  // a stale master: fenced out
  if (!n.rm->following(now)) return;
  // Batches arrive only on the stream they were sent on.
  if (!n.stream_open || msg.stream != n.stream_id) return;
  // The real journal stream is ordered: an older copy is stale, not news.
  const std::pair<Epoch, std::uint64_t> id{msg.epoch, msg.seq};
  if (id <= n.last_append) return;
  n.last_append = id;
  if (!n.stream_connected) {
    // The follower: the master's first batch on a new stream shows this node behind it.
    n.stream_connected = true;
    if (n.journal.size() < msg.master_last && n.rm->role() == Role::kStandby) {
      log(n.name + " reconnects behind the master (LSN " + std::to_string(n.journal.size()) +
          " of " + std::to_string(msg.master_last) + ")");
      apply_actions(n, n.rm->on_lost_sync(now, "behind the master"));
    }
  }
  // Common prefix with the master's journal.
  std::size_t common = 0;
  while (common < n.journal.size() && common < msg.records.size() &&
         n.journal[common] == msg.records[common].second) {
    ++common;
  }
  if (common < n.journal.size()) {
    if (!n.failback_requested) {
      log(n.name + " diverged at LSN " + std::to_string(common + 1));
      apply_actions(n, n.rm->on_diverged(now, "LSN " + std::to_string(common + 1)));
      return;
    }
    n.journal.resize(common);  // failback: discard what the master does not have
  }
  if (!n.disk_ok) return;
  for (std::size_t i = n.journal.size(); i < msg.records.size(); ++i) {
    n.journal.push_back(msg.records[i].second);
    n.persisted_epoch = std::max(n.persisted_epoch, msg.records[i].second);
  }
  n.rm->on_position(position(n));
  send(n.name, other(n).name, Ack{n.journal.size(), msg.epoch});
  if (n.rm->role() == Role::kSyncing && n.journal.size() >= msg.master_last) {
    n.failback_requested = false;
    apply_actions(n, n.rm->on_caught_up(now));
  }
}

void SimPair::on_ack(Node& n, const Ack& msg) {
  if (n.rm->role() != Role::kMaster || msg.epoch != n.rm->epoch()) return;
  n.peer_acked = std::max<Lsn>(n.peer_acked, msg.lsn);
  while (!n.pending.empty() && n.pending.begin()->first <= n.peer_acked) {
    const Lsn lsn = n.pending.begin()->first;
    sync_acked_.insert({lsn, n.journal[lsn - 1]});
    n.pending.erase(n.pending.begin());
  }
  if ((n.alone || n.alone_wanted) && n.peer_acked >= n.journal.size()) {
    if (n.alone) log(n.name + " back in sync with the standby");
    n.alone = false;
    n.alone_wanted = false;
    n.alone_via_echo = false;
    n.rm->set_alone_wanted(false);
  }
}

void SimPair::drive_alone(Node& n) {
  const auto now = clock_.now();
  if (!config_.sync || n.rm->role() != Role::kMaster || !n.rm->may_act(now)) return;
  if (!n.alone_wanted && !n.pending.empty() &&
      now - n.pending.begin()->second >= config_.sync_bound) {
    n.alone_wanted = true;
    n.rm->set_alone_wanted(true);
    log(n.name + " wants to run alone: the standby lags past the bound");
    send(n.name, other(n).name, n.rm->next_beat(now));  // the runner's wants_alone hook
  }
  if (n.alone_wanted && !n.alone && n.rm->alone_allowed(now)) {
    n.alone = true;
    n.alone_via_echo = n.rm->alone_announced();
    log(n.name + " runs alone (" +
        (n.alone_via_echo ? "the standby heard it" : "the standby is silent") + ")");
    alone_acked_ += n.pending.size();
    if (n.alone_via_echo) {
      for (const auto& [lsn, t] : n.pending) alone_known_.insert({lsn, n.journal[lsn - 1]});
    }
    n.pending.clear();
  }
}

void SimPair::drive_replication(Node& n) {
  const auto now = clock_.now();
  if (n.rm->following(now)) {
    if (!n.stream_open) {  // ensure()
      if (replication_cut_) {
        end_stream(n, "cannot reach the master's journal");
      } else {
        n.stream_open = true;
        n.stream_connected = false;
        ++n.stream_id;
      }
    }
  } else {
    if (n.stream_open) end_stream(n, "not following the master");  // follower stop()
  }
}

void SimPair::end_stream(Node& n, const std::string& why) {
  if (n.stream_open) log(n.name + " replication stream ended: " + why);
  n.stream_open = false;
  n.stream_connected = false;
}

void SimPair::close_served_streams(Node& master, const std::string& why) {
  Node& f = other(master);
  if (f.up && f.stream_open) send(master.name, f.name, StreamEnd{f.stream_id, why});
}

void SimPair::apply_actions(Node& n, const Actions& actions) {
  const auto now = clock_.now();
  for (const auto& action : actions) {
    if (const auto* p = std::get_if<ha::Promote>(&action)) {
      if (!n.disk_ok) {
        apply_actions(n, n.rm->on_promote_failed(now, "store not writable"));
        continue;
      }
      // Invariant: whoever becomes master holds every change acknowledged in sync.
      for (const auto& [lsn, epoch] : sync_acked_) {
        if (lsn > n.journal.size() || n.journal[lsn - 1] != epoch) {
          violations.push_back(n.name + " promoted to epoch " + std::to_string(p->epoch) +
                               " without acknowledged change LSN " + std::to_string(lsn) +
                               " (epoch " + std::to_string(epoch) + ")");
          break;
        }
      }
      if (p->reason.rfind("forced", 0) == 0) {
        alone_known_.clear();  // the operator accepts losing what was acknowledged alone
      } else {
        for (const auto& [lsn, epoch] : alone_known_) {
          if (lsn > n.journal.size() || n.journal[lsn - 1] != epoch) {
            violations.push_back(n.name + " took over (epoch " + std::to_string(p->epoch) +
                                 ") without LSN " + std::to_string(lsn) +
                                 ", acknowledged alone after it heard the master say so");
            break;
          }
        }
      }
      auto [it, fresh] = actors_by_epoch_.emplace(p->epoch, n.name);
      if (!fresh && it->second != n.name) {
        violations.push_back("epoch " + std::to_string(p->epoch) + " taken by both " + it->second +
                             " and " + n.name);
      }
      n.persisted_epoch = std::max(n.persisted_epoch, p->epoch);
      n.pending.clear();
      n.peer_acked = 0;
      n.alone = false;
      n.alone_wanted = false;
      n.alone_via_echo = false;
      n.rm->set_alone_wanted(false);
      log(n.name + " promotes to epoch " + std::to_string(p->epoch) + ": " + p->reason);
      apply_actions(n, n.rm->on_promoted(now, p->epoch));
    } else if (const auto* stop = std::get_if<ha::StopActing>(&action)) {
      log(n.name + " stops acting: " + stop->reason);
      // The runner drops the streams it serves, except to hand over in a switchover.
      if (!n.rm->switching_over()) close_served_streams(n, "stopped acting: " + stop->reason);
    } else if (std::holds_alternative<ha::StartActing>(action)) {
      log(n.name + " acts as master in epoch " + std::to_string(n.rm->epoch()));
      send(n.name, other(n).name, n.rm->next_beat(now));  // tell the peer at once
    } else if (const auto* acquire = std::get_if<ha::AcquireLease>(&action)) {
      n.lease_epoch = acquire->epoch;
      send(n.name, "w", LeaseRequest{acquire->epoch, now});
    } else if (std::holds_alternative<ha::ReleaseLease>(action)) {
      n.lease_epoch.reset();
      send(n.name, "w", LeaseRequest{0, now});
    }
  }
}

void SimPair::check_invariants() {
  for (Node* n : {&a_, &b_}) {
    if (n->rm->role() != n->seen_role) {
      if (n->seen_role == Role::kStandby && n->rm->role() == Role::kSyncing) ++n->lost_sync_drops;
      n->seen_role = n->rm->role();
      ++n->role_changes;
    }
  }
  check_fence_rule(a_, b_);
  check_fence_rule(b_, a_);
  const bool a = acting("a");
  const bool b = acting("b");
  if (!(a && b)) return;
  const Epoch ea = a_.rm->epoch();
  const Epoch eb = b_.rm->epoch();
  if (ea == eb) {
    violations.push_back("both nodes act as master in epoch " + std::to_string(ea));
  } else if (config_.guard == ha::GuardMode::kWitness) {
    violations.push_back("both nodes act as master (epochs " + std::to_string(ea) + " and " +
                         std::to_string(eb) + ") despite the witness");
  }
}

void SimPair::check_fence_rule(Node& m, Node& s) {
  // The master stops relying on contact at contact_until() (without a
  // timing change: send time of its newest beat the standby echoed +
  // fence_after()); the standby may promote at (the last time it heard the
  // master) + its silence timeout. The first must stay before the second at
  // every moment, timing changes included.
  if (!m.up || !s.up || m.rm->role() != Role::kMaster || s.rm->role() != Role::kStandby) return;
  const auto until = m.rm->contact_until();
  const auto age = s.rm->peer_age(clock_.now());
  if (!until || !age || *until <= clock_.now()) return;
  const TimePoint master_stops = *until;
  const TimePoint standby_may_promote = clock_.now() - *age + s.rm->silence_timeout();
  if (master_stops >= standby_may_promote) {
    const auto ms = [](Duration d) {
      return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    };
    violations.push_back(m.name + " relies on contact until " + ms(master_stops - clock_.now()) +
                         " ms from now, but " + s.name + " may promote in " +
                         ms(standby_may_promote - clock_.now()) + " ms");
  }
}

}  // namespace duet::testing
