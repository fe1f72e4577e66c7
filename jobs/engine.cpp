#include "jobs/engine.h"

#include <algorithm>
#include <cassert>

#include "common/errors.h"
#include "jobs/engine_session.h"

namespace duet::jobs {

namespace unit_state {
bool final(std::string_view s) {
  return s == kEnded || s == kSkipped || s == kNotRun || s == kStopped;
}
}  // namespace unit_state

namespace {

using duet::v1::JobRun;
using duet::v1::JobUnitState;
namespace us = unit_state;

Priority priority_of(EndStatus s) {
  switch (s) {
    case EndStatus::kNormal:
      return Priority::kInfo;
    case EndStatus::kWarning:
      return Priority::kWarning;
    case EndStatus::kAbnormal:
      return Priority::kCritical;
  }
  return Priority::kCritical;
}

}  // namespace

Engine::Engine(const NodeDirectory& nodes, std::uint64_t epoch) : nodes_(nodes), epoch_(epoch) {}

Engine::~Engine() = default;

void Engine::set_limits(EngineLimits limits) {
  limits_ = std::move(limits);
  recheck_all_ = true;
}

Engine::Session* Engine::find(std::uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

const duet::v1::JobSessionInfo* Engine::session(std::uint64_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second->info;
}

const JobUnitState* Engine::unit(std::uint64_t session, std::string_view path) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return nullptr;
  auto u = it->second->plan->find(path);
  return u ? &it->second->units[*u] : nullptr;
}

std::vector<std::uint64_t> Engine::open_sessions() const {
  std::vector<std::uint64_t> out;
  for (const auto& [id, s] : sessions_) out.push_back(id);
  return out;
}

std::size_t Engine::running_on(const std::string& node) const {
  auto it = node_busy_.find(node);
  return it == node_busy_.end() ? 0 : it->second;
}

JobUnitState& Engine::touch(Session& s, std::uint32_t unit) {
  dirty_units_.emplace(s.info.id(), unit);
  return s.units[unit];
}

void Engine::touch_session(Session& s) { dirty_sessions_.insert(s.info.id()); }

void Engine::wake_at(Session& s, std::uint32_t unit, Wake what, std::int64_t at) {
  wakeups_.insert({at, WakeKey{s.info.id(), unit, what}});
}

// ---------------------------------------------------------------- sessions

void Engine::start(duet::v1::JobSessionInfo info, std::shared_ptr<const Plan> plan,
                   std::int64_t now) {
  auto owned = std::make_unique<Session>();
  Session& s = *owned;
  s.plan = std::move(plan);
  s.info = std::move(info);
  s.info.set_version(s.plan->version());
  s.info.set_state("running");
  s.info.set_started_at_ms(now);
  if (s.info.created_at_ms() == 0) s.info.set_created_at_ms(now);
  if (s.info.next_run() == 0) s.info.set_next_run(1);
  s.business_day = BusinessCalendar::day_of(s.info.business_day()).value_or(0);
  const auto n = s.plan->units().size();
  s.units.resize(n);
  s.open_children.assign(n, 0);
  for (std::uint32_t u = 0; u < n; ++u) {
    auto& st = touch(s, u);
    st.set_index(u);
    st.set_state(us::kWaiting);
    st.set_hold(s.pu(u).def->hold());
    s.open_children[u] = static_cast<std::uint32_t>(s.pu(u).children.size());
  }
  const auto id = s.info.id();
  sessions_[id] = std::move(owned);
  touch_session(s);
  for (std::uint32_t u = 1; u < n; ++u) arm_delays(s, u, now);
  begin(s, 0, now);
  admit(now);
}

void Engine::restore(duet::v1::JobSessionInfo info, std::shared_ptr<const Plan> plan,
                     std::vector<JobUnitState> units, std::int64_t now) {
  auto owned = std::make_unique<Session>();
  Session& s = *owned;
  s.plan = std::move(plan);
  s.info = std::move(info);
  s.business_day = BusinessCalendar::day_of(s.info.business_day()).value_or(0);
  const auto n = s.plan->units().size();
  s.units.resize(n);
  for (std::uint32_t u = 0; u < n; ++u) {
    s.units[u].set_index(u);
    s.units[u].set_state(us::kWaiting);
  }
  for (auto& st : units) {
    if (st.index() < n) s.units[st.index()] = std::move(st);
  }
  s.open_children.assign(n, 0);
  for (std::uint32_t u = 1; u < n; ++u) {
    if (!us::final(s.units[u].state())) {
      ++s.open_children[static_cast<std::size_t>(s.pu(u).parent)];
    }
  }
  const auto id = s.info.id();
  sessions_[id] = std::move(owned);
  // Runs: queued ones wait again; dispatched ones hold their slot and are
  // dispatched again (the agent starts a run id at most once).
  for (std::uint32_t u = 0; u < n; ++u) {
    auto& st = s.units[u];
    for (auto& r : *st.mutable_runs()) {
      if (!open_run(r)) continue;
      RunRef ref{id, u, r.run_id()};
      runs_[r.run_id()] = ref;
      ++s.open_runs;
      if (r.state() == "queued") {
        enqueue(ref, r.node());
        continue;
      }
      occupy(r.node(), queue_of(s, u), +1);
      if (r.state() == "dispatching") out_.dispatch.push_back(make_dispatch(s, u, r));
    }
  }
  if (s.info.state() == "ended") return;
  for (std::uint32_t u = 0; u < n; ++u) {
    auto& st = s.units[u];
    if (u > 0 && !st.start_delayed() && (st.state() == us::kWaiting || st.state() == us::kHeld)) {
      arm_delays(s, u, now);
    }
    if (st.state() == us::kRetryWait) wake_at(s, u, Wake::kRetry, st.retry_at_ms());
    if (st.state() == us::kRunning && !st.end_delayed() && s.pu(u).def->has_end_delay()) {
      const auto& d = s.pu(u).def->end_delay();
      const auto tod = parse_time_of_day(d.at());
      const auto at = tod ? s.plan->calendar().at(s.business_day, *tod)
                          : st.started_at_ms() + static_cast<std::int64_t>(d.after_s()) * 1000;
      wake_at(s, u, Wake::kEndDelay, at);
    }
  }
  // What fell due while no master acted: conditions met, times passed.
  for (std::uint32_t u = 1; u < n; ++u) evaluate(s, u, now);
  for (std::uint32_t u = 0; u < n; ++u) {
    if (s.pu(u).kind == "net" && s.units[u].state() == us::kRunning) net_maybe_done(s, u, now);
  }
  admit(now);
}

void Engine::end_session(Session& s, std::int64_t now) {
  const auto& root = s.units[0];
  s.info.set_state("ended");
  s.info.set_end_status(root.state() == us::kStopped ? "stopped" : root.end_status());
  s.info.set_ended_at_ms(now);
  touch_session(s);
  const auto status = parse_end_status(root.end_status()).value_or(EndStatus::kAbnormal);
  out_.notices.push_back(Notice{s.info.id(), s.info.net(), "", priority_of(status),
                                "job net " + s.info.net() + " session " +
                                    std::to_string(s.info.id()) + " ended " + s.info.end_status()});
  closing_.insert(s.info.id());
}

// ---------------------------------------------------------------- units

void Engine::set_state(Session& s, std::uint32_t unit, const char* state) {
  auto& st = touch(s, unit);
  const bool was = us::final(st.state());
  const bool is = us::final(state);
  st.set_state(state);
  const auto parent = s.pu(unit).parent;
  if (parent >= 0 && was != is) {
    auto& open = s.open_children[static_cast<std::size_t>(parent)];
    open = is ? open - 1 : open + 1;
  }
}

Engine::Tri Engine::one(Session& s, const PlanCondition& c, std::int64_t now) {
  switch (c.kind) {
    case PlanCondition::Kind::kUnit: {
      const auto& other = s.units[c.unit];
      const auto& state = other.state();
      if (state == us::kNotRun) return Tri::kFalse;
      if (!us::final(state)) return Tri::kPending;
      const bool skipped = state == us::kSkipped;
      if (c.compare) {
        return c.compare->holds(std::to_string(skipped ? 0 : other.end_value())) ? Tri::kTrue
                                                                                 : Tri::kFalse;
      }
      const std::string status = skipped ? "normal" : other.end_status();
      const bool met = c.want == "any" || c.want == status ||
                       (c.want == "ok" && (status == "normal" || status == "warning"));
      return met ? Tri::kTrue : Tri::kFalse;
    }
    case PlanCondition::Kind::kTime:
    case PlanCondition::Kind::kAfterStart: {
      const auto at = c.kind == PlanCondition::Kind::kTime
                          ? s.plan->calendar().at(s.business_day, c.time_of_day_s)
                          : s.info.started_at_ms() + static_cast<std::int64_t>(c.after_s) * 1000;
      return now >= at ? Tri::kTrue : Tri::kPending;
    }
    case PlanCondition::Kind::kVariable: {
      const auto& vars = s.info.variables();
      auto it = vars.find(c.variable);
      std::string value;
      if (it != vars.end()) {
        value = it->second;
      } else if (auto p = s.info.params().find(c.variable); p != s.info.params().end()) {
        value = p->second;
      } else if (auto d = s.plan->def().params().find(c.variable);
                 d != s.plan->def().params().end()) {
        value = d->second;
      }
      return c.compare->holds(value) ? Tri::kTrue : Tri::kFalse;
    }
  }
  return Tri::kPending;
}

// A group: all / any of its conditions. Variable conditions are judged once
// the others have decided (a variable is read when the unit could start).
Engine::Tri Engine::condition(Session& s, std::uint32_t unit, std::int64_t now) {
  const auto& pu = s.pu(unit);
  if (pu.groups.empty()) return Tri::kTrue;
  bool any_true = false, any_pending = false, any_false = false;
  for (const auto& g : pu.groups) {
    bool g_true = false, g_pending = false, g_false = false;
    for (const auto& c : g.conditions) {
      if (c.kind == PlanCondition::Kind::kVariable) continue;
      const auto t = one(s, c, now);
      g_true |= t == Tri::kTrue;
      g_pending |= t == Tri::kPending;
      g_false |= t == Tri::kFalse;
    }
    Tri r;
    if (g.any) {
      r = g_true ? Tri::kTrue : (g_pending ? Tri::kPending : Tri::kFalse);
      if (r != Tri::kTrue) {
        bool has_var = false;
        for (const auto& c : g.conditions) {
          if (c.kind != PlanCondition::Kind::kVariable) continue;
          has_var = true;
          if (one(s, c, now) == Tri::kTrue) r = Tri::kTrue;
        }
        if (has_var && r == Tri::kFalse && g_pending) r = Tri::kPending;
      }
    } else {
      r = g_false ? Tri::kFalse : (g_pending ? Tri::kPending : Tri::kTrue);
      if (r == Tri::kTrue) {
        for (const auto& c : g.conditions) {
          if (c.kind == PlanCondition::Kind::kVariable && one(s, c, now) == Tri::kFalse) {
            r = Tri::kFalse;
          }
        }
      }
    }
    any_true |= r == Tri::kTrue;
    any_pending |= r == Tri::kPending;
    any_false |= r == Tri::kFalse;
    if (r == Tri::kPending) {
      // A time still to come: look again then.
      for (const auto& c : g.conditions) {
        if (c.kind == PlanCondition::Kind::kTime || c.kind == PlanCondition::Kind::kAfterStart) {
          const auto at =
              c.kind == PlanCondition::Kind::kTime
                  ? s.plan->calendar().at(s.business_day, c.time_of_day_s)
                  : s.info.started_at_ms() + static_cast<std::int64_t>(c.after_s) * 1000;
          if (at > now) wake_at(s, unit, Wake::kCondition, at);
        }
      }
    }
  }
  if (pu.any_groups) return any_true ? Tri::kTrue : (any_pending ? Tri::kPending : Tri::kFalse);
  return any_false ? Tri::kFalse : (any_pending ? Tri::kPending : Tri::kTrue);
}

void Engine::evaluate(Session& s, std::uint32_t unit, std::int64_t now) {
  auto& st = s.units[unit];
  if (st.state() != us::kWaiting || !s.running(s.pu(unit).parent)) return;
  if (s.info.state() != "running") return;  // suspended: resume looks again
  const auto t = condition(s, unit, now);
  if (t == Tri::kPending) return;
  if (t == Tri::kFalse) {
    const auto& w = s.pu(unit).def->wait();
    if (w.end_if_unmet()) {
      finish(s, unit, us::kEnded, parse_end_status(w.unmet_status()).value_or(EndStatus::kAbnormal),
             w.unmet_value(), now);
    } else {
      finish(s, unit, us::kNotRun, EndStatus::kNormal, 0, now);
    }
    return;
  }
  touch(s, unit).set_ready_at_ms(now);
  if (st.skip()) {
    finish(s, unit, us::kSkipped, EndStatus::kNormal, 0, now);
  } else if (st.hold()) {
    set_state(s, unit, us::kHeld);
  } else {
    begin(s, unit, now);
  }
}

void Engine::begin(Session& s, std::uint32_t unit, std::int64_t now) {
  auto& st = touch(s, unit);
  st.set_started_at_ms(now);
  const auto& pu = s.pu(unit);
  if (unit > 0 && pu.def->has_end_delay()) {
    const auto& d = pu.def->end_delay();
    const auto tod = parse_time_of_day(d.at());
    wake_at(s, unit, Wake::kEndDelay,
            tod ? s.plan->calendar().at(s.business_day, *tod)
                : now + static_cast<std::int64_t>(d.after_s()) * 1000);
  }
  if (pu.kind == "net") {
    set_state(s, unit, us::kRunning);
    for (auto c : pu.children) evaluate(s, c, now);
    net_maybe_done(s, unit, now);
  } else if (pu.kind == "approval") {
    set_state(s, unit, us::kRunning);
  } else {
    start_attempt(s, unit, now);
  }
}

void Engine::start_attempt(Session& s, std::uint32_t unit, std::int64_t now) {
  auto& st = touch(s, unit);
  const auto& pu = s.pu(unit);
  st.set_attempt(st.attempt() + 1);
  st.clear_runs();
  st.set_end_status("");
  st.set_end_value(0);
  set_state(s, unit, us::kQueued);
  std::vector<std::string> nodes;
  std::string failure;
  if (pu.kind == "command") {
    const auto& c = pu.spec->command();
    if (!c.node().empty()) {
      nodes.push_back(c.node());
    } else if (c.on() == "any") {
      nodes.push_back("");  // chosen when it fits
    } else {
      nodes = nodes_.nodes_in(c.scope());
      if (nodes.empty()) failure = "scope " + c.scope() + " has no node";
    }
  } else if (pu.kind == "monitor") {
    auto node = pu.spec->monitor().node();
    if (node.empty()) node = nodes_.node_of_monitor(pu.spec->monitor().monitor());
    if (node.empty()) failure = "monitor " + pu.spec->monitor().monitor() + " is not defined";
    nodes.push_back(node);
  } else {  // transfer: the receiving agent fetches
    nodes.push_back(pu.spec->transfer().to_node());
  }
  if (!failure.empty()) {
    auto* r = st.add_runs();
    r->set_state("ended");
    r->set_end_value(kValueFailedToStart);
    r->set_error(failure);
    r->set_ended_at_ms(now);
    job_runs_done(s, unit, now);
    return;
  }
  for (const auto& node : nodes) {
    auto* r = st.add_runs();
    r->set_run_id(std::to_string(s.info.id()) + "-" + std::to_string(s.info.next_run()));
    s.info.set_next_run(s.info.next_run() + 1);
    r->set_node(node);
    r->set_state("queued");
    r->set_epoch(epoch_);
    RunRef ref{s.info.id(), unit, r->run_id()};
    runs_[r->run_id()] = ref;
    ++s.open_runs;
    enqueue(ref, node);
  }
  touch_session(s);
}

void Engine::finish(Session& s, std::uint32_t unit, const char* state, EndStatus status,
                    std::int64_t value, std::int64_t now) {
  auto& st = touch(s, unit);
  set_state(s, unit, state);
  const bool has_status = std::string_view(state) != us::kNotRun;
  st.set_end_status(has_status ? end_status_name(status) : "");
  st.set_end_value(has_status ? value : 0);
  st.set_ended_at_ms(now);
  after_final(s, unit, now);
}

void Engine::after_final(Session& s, std::uint32_t unit, std::int64_t now) {
  for (auto d : s.pu(unit).dependents) evaluate(s, d, now);
  const auto parent = s.pu(unit).parent;
  if (parent < 0) {
    end_session(s, now);
  } else {
    net_maybe_done(s, static_cast<std::uint32_t>(parent), now);
  }
}

void Engine::job_runs_done(Session& s, std::uint32_t unit, std::int64_t now) {
  auto& st = s.units[unit];
  if (us::final(st.state())) return;  // force-ended: a late report changes nothing
  for (const auto& r : st.runs()) {
    if (open_run(r)) return;
  }
  if (st.state() == us::kStopping) {
    finish(s, unit, us::kStopped, EndStatus::kAbnormal, kValueStopped, now);
    return;
  }
  // Every node's run judged; the unit takes the worst (and its value).
  EndStatus worst = EndStatus::kNormal;
  std::int64_t value = 0;
  bool first = true;
  for (const auto& r : st.runs()) {
    const auto status = s.plan->judge(unit, r.end_value());
    if (first || status > worst) {
      worst = status;
      value = r.end_value();
      first = false;
    }
  }
  const auto& retry = s.pu(unit).def->retry();
  const auto status_name = std::string(end_status_name(worst));
  const bool retries =
      worst != EndStatus::kNormal && st.attempt() <= retry.count() &&
      std::find(retry.on().begin(), retry.on().end(), status_name) != retry.on().end();
  if (retries) {
    auto& t = touch(s, unit);
    t.set_end_status(status_name);
    t.set_end_value(value);
    t.set_retry_at_ms(now + static_cast<std::int64_t>(retry.interval_s()) * 1000);
    set_state(s, unit, us::kRetryWait);
    wake_at(s, unit, Wake::kRetry, t.retry_at_ms());
    return;
  }
  finish(s, unit, us::kEnded, worst, value, now);
}

void Engine::net_maybe_done(Session& s, std::uint32_t net, std::int64_t now) {
  const auto& st = s.units[net];
  if (st.state() != us::kRunning && st.state() != us::kStopping) return;
  if (s.open_children[net] != 0) return;
  EndStatus worst = EndStatus::kNormal;
  for (auto c : s.pu(net).children) {
    const auto& cs = s.units[c];
    if (cs.state() == us::kEnded || cs.state() == us::kStopped) {
      worst = worse(worst, parse_end_status(cs.end_status()).value_or(EndStatus::kAbnormal));
    }
  }
  if (st.state() == us::kStopping) {
    finish(s, net, us::kStopped, EndStatus::kAbnormal, kValueStopped, now);
  } else {
    finish(s, net, us::kEnded, worst, static_cast<std::int64_t>(worst), now);
  }
}

void Engine::arm_delays(Session& s, std::uint32_t unit, std::int64_t /*now*/) {
  const auto* def = s.pu(unit).def;
  if (!def->has_start_delay()) return;
  const auto& d = def->start_delay();
  const auto tod = parse_time_of_day(d.at());
  wake_at(s, unit, Wake::kStartDelay,
          tod ? s.plan->calendar().at(s.business_day, *tod)
              : s.info.started_at_ms() + static_cast<std::int64_t>(d.after_s()) * 1000);
}

void Engine::fire(const WakeKey& k, std::int64_t now) {
  Session* s = find(k.session);
  if (s == nullptr || s->info.state() == "ended") return;
  auto& st = s->units[k.unit];
  const auto& pu = s->pu(k.unit);
  const std::string path = s->info.net() + "/" + pu.path;
  switch (k.what) {
    case Wake::kCondition:
      evaluate(*s, k.unit, now);
      return;
    case Wake::kRetry:
      if (st.state() == us::kRetryWait && now >= st.retry_at_ms()) {
        if (s->info.state() == "running") {
          start_attempt(*s, k.unit, now);
        } else {
          wake_at(*s, k.unit, Wake::kRetry, now + 1000);  // suspended: look again
        }
      }
      return;
    case Wake::kStartDelay: {
      if (st.start_delayed() || (st.state() != us::kWaiting && st.state() != us::kHeld)) return;
      touch(*s, k.unit).set_start_delayed(true);
      const auto& action = pu.def->start_delay().action();
      out_.notices.push_back(Notice{s->info.id(), s->info.net(), pu.path, Priority::kWarning,
                                    "start delay: " + path + " has not started (action " +
                                        (action.empty() ? "notify" : action) + ")"});
      if (action == "hold") {
        touch(*s, k.unit).set_hold(true);
      } else if (action == "skip") {
        finish(*s, k.unit, us::kSkipped, EndStatus::kNormal, 0, now);
      } else if (action == "stop") {
        finish(*s, k.unit, us::kStopped, EndStatus::kAbnormal, kValueStopped, now);
      }
      return;
    }
    case Wake::kEndDelay: {
      if (st.end_delayed() || us::final(st.state()) || st.state() == us::kWaiting ||
          st.state() == us::kHeld) {
        return;
      }
      touch(*s, k.unit).set_end_delayed(true);
      const auto& action = pu.def->end_delay().action();
      out_.notices.push_back(Notice{s->info.id(), s->info.net(), pu.path, Priority::kWarning,
                                    "end delay: " + path + " has not ended (action " +
                                        (action.empty() ? "notify" : action) + ")"});
      if (action == "stop") {
        Operation op;
        op.op = "stop";
        op.by = "end delay";
        (void)stop(*s, k.unit, op, now);
      }
      return;
    }
  }
}

void Engine::tick(std::int64_t now) {
  while (!wakeups_.empty() && wakeups_.begin()->first <= now) {
    const auto k = wakeups_.begin()->second;
    wakeups_.erase(wakeups_.begin());
    fire(k, now);
  }
  admit(now);
}

void Engine::nodes_changed(std::int64_t now) {
  recheck_all_ = true;
  admit(now);
}

std::optional<std::int64_t> Engine::next_wakeup() const {
  if (wakeups_.empty()) return std::nullopt;
  return wakeups_.begin()->first;
}

}  // namespace duet::jobs
