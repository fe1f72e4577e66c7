// The engine's operator operations: hold, release, skip, unskip, stop,
// suspend, resume, force-end, rerun, approve, reject (jobs/engine.h).

#include <algorithm>
#include <deque>
#include <set>

#include "common/errors.h"
#include "jobs/engine.h"
#include "jobs/engine_session.h"

namespace duet::jobs {
namespace {

namespace us = unit_state;

Error refused(const std::string& why) { return make_error(CommonErrc::kInvalidArgument, why); }

std::string name_of(const Engine::Session& s, std::uint32_t u) {
  return u == 0 ? "session " + std::to_string(s.info.id()) : "unit " + s.pu(u).path;
}

bool not_started(std::string_view state) { return state == us::kWaiting || state == us::kHeld; }

}  // namespace

Status Engine::operate(const Operation& op, std::int64_t now) {
  Session* s = find(op.session);
  if (s == nullptr) return refused("session " + std::to_string(op.session) + " is not open");
  std::uint32_t u = 0;
  if (!op.unit.empty()) {
    auto found = s->plan->find(op.unit);
    if (!found) {
      return refused("session " + std::to_string(op.session) + " has no unit '" + op.unit + "'");
    }
    u = *found;
  }
  const auto& st = s->units[u];
  const std::string state = st.state();
  const std::string who = name_of(*s, u);
  const auto& kind = s->pu(u).kind;
  Status result = ok_status();

  if (op.op == "hold" || op.op == "skip") {
    if (!not_started(state)) {
      return refused(who + " is " + state + "; " + op.op + " applies before a unit starts");
    }
    if (op.op == "hold") {
      touch(*s, u).set_hold(true);
    } else {
      touch(*s, u).set_skip(true);
      if (state == us::kHeld) finish(*s, u, us::kSkipped, EndStatus::kNormal, 0, now);
    }
  } else if (op.op == "release") {
    if (!st.hold()) return refused(who + " is not held");
    touch(*s, u).set_hold(false);
    if (state == us::kHeld) {
      set_state(*s, u, us::kWaiting);
      evaluate(*s, u, now);
    }
  } else if (op.op == "unskip") {
    if (!st.skip()) return refused(who + " is not marked to skip");
    touch(*s, u).set_skip(false);
  } else if (op.op == "stop") {
    result = stop(*s, u, op, now);
  } else if (op.op == "suspend") {
    if (u != 0) return refused("suspend applies to a session, not to a unit");
    if (s->info.state() != "running") return refused(who + " is " + s->info.state());
    s->info.set_state("suspended");
    touch_session(*s);
  } else if (op.op == "resume") {
    if (u != 0) return refused("resume applies to a session, not to a unit");
    if (s->info.state() != "suspended") return refused(who + " is not suspended");
    s->info.set_state("running");
    touch_session(*s);
    for (std::uint32_t i = 1; i < s->units.size(); ++i) evaluate(*s, i, now);
    recheck_all_ = true;
  } else if (op.op == "force-end") {
    auto status = parse_end_status(op.status);
    if (!status) return refused("force-end needs a status: normal, warning or abnormal");
    result = force_end(*s, u, *status, op.value, now);
  } else if (op.op == "rerun") {
    result = rerun(*s, u, op.rerun, now);
  } else if (op.op == "approve" || op.op == "reject") {
    if (kind != "approval" || state != us::kRunning) {
      return refused(who + " is not an approval job waiting for approval");
    }
    touch(*s, u).set_approved_by(op.by);
    if (op.op == "approve") {
      finish(*s, u, us::kEnded, EndStatus::kNormal, 0, now);
    } else {
      finish(*s, u, us::kEnded, EndStatus::kAbnormal, kValueRejected, now);
    }
  } else {
    return refused("unknown operation '" + op.op + "'");
  }
  if (!result) return result;
  record(*s, u, op, now);
  admit(now);
  return ok_status();
}

Status Engine::stop(Session& s, std::uint32_t unit, const Operation& op, std::int64_t now) {
  const std::string state = s.units[unit].state();
  const auto& kind = s.pu(unit).kind;
  if (us::final(state)) return refused(name_of(s, unit) + " has already ended");
  if (not_started(state)) {
    return refused(name_of(s, unit) + " has not started; hold or skip it instead");
  }
  if (state == us::kStopping) return ok_status();
  if (state == us::kRetryWait || kind == "approval") {
    finish(s, unit, us::kStopped, EndStatus::kAbnormal, kValueStopped, now);
    return ok_status();
  }
  if (kind != "net") {
    set_state(s, unit, us::kStopping);
    if (kill_runs(s, unit, "stopped by " + op.by, now)) {
      finish(s, unit, us::kStopped, EndStatus::kAbnormal, kValueStopped, now);
    }
    return ok_status();
  }
  // A net: nothing new starts inside it; what runs is stopped; what waits is not run.
  set_state(s, unit, us::kStopping);
  for (auto c : s.pu(unit).children) {
    const std::string cs = s.units[c].state();
    if (us::final(cs) || cs == us::kStopping) continue;
    if (not_started(cs)) {
      finish(s, c, us::kNotRun, EndStatus::kNormal, 0, now);
    } else {
      (void)stop(s, c, op, now);
    }
  }
  net_maybe_done(s, unit, now);
  return ok_status();
}

Status Engine::force_end(Session& s, std::uint32_t unit, EndStatus status, std::int64_t value,
                         std::int64_t now) {
  const auto& pu = s.pu(unit);
  if (!us::final(s.units[unit].state())) {
    // It and everything open inside it end now; runs are killed (their
    // reports, when they come, change nothing).
    for (auto d = unit; d < pu.end; ++d) {
      (void)kill_runs(s, d, "force-ended", now);
      if (d != unit && !us::final(s.units[d].state())) set_state(s, d, us::kNotRun);
    }
    finish(s, unit, us::kEnded, status, value, now);
    return ok_status();
  }
  // Already ended: its status changes, and whatever it kept from running
  // may run now (a failed job forced to normal lets its successors go).
  auto& st = touch(s, unit);
  if (unit == 0) {
    st.set_end_status(end_status_name(status));
    st.set_end_value(value);
    s.info.set_end_status(end_status_name(status));
    touch_session(s);
    return ok_status();
  }
  set_state(s, unit, us::kEnded);
  st.set_end_status(end_status_name(status));
  st.set_end_value(value);
  std::vector<std::uint32_t> revived;
  for (auto d : pu.dependents) {
    if (s.units[d].state() == us::kNotRun) {
      reset(s, d);
      revived.push_back(d);
    }
  }
  const auto parent = static_cast<std::uint32_t>(pu.parent);
  reopen(s, parent, now);
  for (auto d : revived) evaluate(s, d, now);
  net_maybe_done(s, parent, now);
  return ok_status();
}

Status Engine::rerun(Session& s, std::uint32_t unit, const std::string& how, std::int64_t now) {
  if (how != "from" && how != "after" && how != "top" && how != "warning") {
    return refused("rerun is from, after, top or warning, not '" + how + "'");
  }
  if (how == "warning") {
    std::vector<std::uint32_t> jobs;
    for (auto d = unit; d < s.pu(unit).end; ++d) {
      if (s.pu(d).kind != "net" && s.units[d].state() == us::kEnded &&
          s.units[d].end_status() == "warning") {
        jobs.push_back(d);
      }
    }
    if (jobs.empty()) return refused(name_of(s, unit) + " has no job that ended with warning");
    for (auto d : jobs) {
      reset(s, d);
      reopen(s, static_cast<std::uint32_t>(s.pu(d).parent), now);
    }
    for (auto d : jobs) evaluate(s, d, now);
    return ok_status();
  }
  if (how == "top" || unit == 0) {
    if (!us::final(s.units[0].state())) {
      return refused(name_of(s, 0) + " is still running; stop or force-end it first");
    }
    reset(s, 0);
    s.info.set_started_at_ms(now);
    reopen(s, 0, now);
    for (std::uint32_t u = 1; u < s.units.size(); ++u) arm_delays(s, u, now);
    begin(s, 0, now);
    return ok_status();
  }
  if (!us::final(s.units[unit].state())) {
    return refused(name_of(s, unit) + " is " + s.units[unit].state() +
                   "; rerun applies to a unit that has ended");
  }
  // Downstream: its successors, theirs, and at each enclosing level the
  // successors of the nets around it (they will end again).
  std::set<std::uint32_t> downstream;
  std::deque<std::uint32_t> todo;
  for (auto a = static_cast<std::int32_t>(unit); a > 0;
       a = s.pu(static_cast<std::uint32_t>(a)).parent) {
    todo.push_back(static_cast<std::uint32_t>(a));
  }
  while (!todo.empty()) {
    const auto x = todo.front();
    todo.pop_front();
    for (auto d : s.pu(x).dependents) {
      if (downstream.insert(d).second) todo.push_back(d);
    }
  }
  if (how == "from") {
    reset(s, unit);
  } else {
    auto& st = touch(s, unit);
    set_state(s, unit, us::kEnded);
    st.set_end_status("normal");
  }
  for (auto d : downstream) reset(s, d);
  reopen(s, static_cast<std::uint32_t>(s.pu(unit).parent), now);
  for (auto d : downstream) {
    reopen(s, static_cast<std::uint32_t>(s.pu(d).parent), now);
  }
  if (how == "from") evaluate(s, unit, now);
  for (auto d : downstream) evaluate(s, d, now);
  net_maybe_done(s, static_cast<std::uint32_t>(s.pu(unit).parent), now);
  return ok_status();
}

void Engine::reset(Session& s, std::uint32_t unit) {
  for (auto d = unit; d < s.pu(unit).end; ++d) {
    auto& st = touch(s, d);
    for (auto& r : *st.mutable_runs()) {
      if (!open_run(r) || runs_.erase(r.run_id()) == 0) continue;
      --s.open_runs;
      if (r.state() != "queued") occupy(r.node(), queue_of(s, d), -1);
    }
    set_state(s, d, us::kWaiting);
    const auto index = st.index();
    st.Clear();
    st.set_index(index);
    st.set_state(us::kWaiting);
    st.set_hold(s.pu(d).def->hold());
  }
}

void Engine::reopen(Session& s, std::uint32_t net, std::int64_t /*now*/) {
  for (auto a = static_cast<std::int32_t>(net); a >= 0;
       a = s.pu(static_cast<std::uint32_t>(a)).parent) {
    const auto u = static_cast<std::uint32_t>(a);
    if (!us::final(s.units[u].state())) break;
    auto& st = touch(s, u);
    set_state(s, u, us::kRunning);
    st.set_end_status("");
    st.set_end_value(0);
    st.set_ended_at_ms(0);
  }
  if (s.info.state() == "ended") {
    s.info.set_state("running");
    s.info.set_end_status("");
    s.info.set_ended_at_ms(0);
    touch_session(s);
    closing_.erase(s.info.id());
  }
}

void Engine::record(const Session& s, std::uint32_t unit, const Operation& op, std::int64_t now) {
  duet::v1::JobOperation rec;
  rec.set_session(s.info.id());
  rec.set_unit(s.pu(unit).path);
  rec.set_op(op.op);
  if (op.op == "force-end") {
    rec.set_detail(op.status + " " + std::to_string(op.value));
  } else if (op.op == "rerun") {
    rec.set_detail(op.rerun);
  }
  rec.set_by(op.by);
  rec.set_at_ms(now);
  out_.operations.push_back(std::move(rec));
}

EngineOutput Engine::take() {
  for (const auto& [sid, u] : dirty_units_) {
    if (auto* s = find(sid)) out_.units[{sid, u}] = s->units[u];
  }
  for (auto sid : dirty_sessions_) {
    if (auto* s = find(sid)) out_.sessions[sid] = s->info;
  }
  dirty_units_.clear();
  dirty_sessions_.clear();
  for (auto it = closing_.begin(); it != closing_.end();) {
    auto* s = find(*it);
    if (s == nullptr || (s->info.state() == "ended" && s->open_runs == 0)) {
      if (s != nullptr) sessions_.erase(*it);
      out_.closed.push_back(*it);
      it = closing_.erase(it);
    } else {
      ++it;
    }
  }
  return std::exchange(out_, EngineOutput{});
}

}  // namespace duet::jobs
