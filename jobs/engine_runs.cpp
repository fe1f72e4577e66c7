// The engine's runs: agents' reports, multiplicity per node and queue,
// dispatch (with the variables a run sees) and kills (jobs/engine.h).

#include <string>
#include <utility>

#include "jobs/engine.h"
#include "jobs/engine_session.h"

namespace duet::jobs {
namespace {

using duet::v1::JobRun;
namespace us = unit_state;

// ${NAME} replaced by its value; an unknown name is left as written (the
// shell may know it).
std::string substitute(const std::string& text, const std::map<std::string, std::string>& vars) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find("${", i);
    if (open == std::string::npos) break;
    const auto close = text.find('}', open + 2);
    if (close == std::string::npos) break;
    out.append(text, i, open - i);
    auto it = vars.find(text.substr(open + 2, close - open - 2));
    if (it != vars.end()) {
      out += it->second;
    } else {
      out.append(text, open, close - open + 1);
    }
    i = close + 1;
  }
  out.append(text, i, std::string::npos);
  return out;
}

}  // namespace

void Engine::report(const RunReport& r, std::int64_t now) {
  auto it = runs_.find(r.run_id);
  if (it == runs_.end()) return;  // not open here: already ended, or unknown
  const RunRef ref = it->second;
  Session* s = nullptr;
  JobRun* run = run_of(ref, &s);
  if (run == nullptr) {
    runs_.erase(it);
    return;
  }
  touch(*s, ref.unit);
  if (r.started) {
    if (run->state() == "dispatching") {
      run->set_state("running");
      run->set_started_at_ms(r.at_ms);
    }
    return;
  }
  if (run->state() == "queued") return;  // cannot be: never sent
  occupy(run->node(), queue_of(*s, ref.unit), -1);
  run->set_state("ended");
  if (run->started_at_ms() == 0) run->set_started_at_ms(r.at_ms);
  run->set_ended_at_ms(r.at_ms);
  run->set_end_value(r.end_value);
  run->set_error(r.error);
  run->set_stdout_tail(r.stdout_tail);
  run->set_stderr_tail(r.stderr_tail);
  runs_.erase(it);
  --s->open_runs;
  if (!r.set_variables.empty()) {
    for (const auto& [k, v] : r.set_variables) (*s->info.mutable_variables())[k] = v;
    touch_session(*s);
  }
  job_runs_done(*s, ref.unit, now);
  admit(now);
}

// ---------------------------------------------------------------- multiplicity

const std::string& Engine::queue_of(const Session& s, std::uint32_t unit) const {
  const auto& own = s.pu(unit).def->queue();
  return own.empty() ? s.pu(unit).spec->queue() : own;
}

std::uint32_t Engine::node_limit(const std::string& node) const {
  auto it = limits_.nodes.find(node);
  return it == limits_.nodes.end() ? limits_.default_node_limit : it->second;
}

bool Engine::fits(const std::string& node, const std::string& queue) const {
  if (running_on(node) >= node_limit(node)) return false;
  if (queue.empty()) return true;
  std::uint32_t qlimit = 1;
  if (auto it = limits_.queues.find(queue); it != limits_.queues.end()) qlimit = it->second;
  auto busy = queue_busy_.find(queue);
  return (busy == queue_busy_.end() ? 0 : busy->second) < qlimit;
}

void Engine::occupy(const std::string& node, const std::string& queue, int delta) {
  node_busy_[node] += static_cast<std::uint32_t>(delta);
  if (node_busy_[node] == 0) node_busy_.erase(node);
  recheck_.insert(node);
  if (!queue.empty()) {
    queue_busy_[queue] += static_cast<std::uint32_t>(delta);
    if (queue_busy_[queue] == 0) queue_busy_.erase(queue);
    if (delta < 0) recheck_all_ = true;  // a queue's runs may wait on any node
  }
  if (delta < 0) recheck_.insert("");
}

void Engine::enqueue(const RunRef& ref, const std::string& node) {
  queued_[node].push_back(ref);
  recheck_.insert(node);
}

const JobRun* Engine::run_of(const RunRef& ref, const Session** session) const {
  auto it = sessions_.find(ref.session);
  if (it == sessions_.end()) return nullptr;
  for (const auto& r : it->second->units[ref.unit].runs()) {
    if (r.run_id() == ref.run_id) {
      if (session != nullptr) *session = it->second.get();
      return &r;
    }
  }
  return nullptr;
}

JobRun* Engine::run_of(const RunRef& ref, Session** session) {
  const Session* s = nullptr;
  const JobRun* r = std::as_const(*this).run_of(ref, &s);
  if (session != nullptr && r != nullptr) *session = const_cast<Session*>(s);
  return const_cast<JobRun*>(r);
}

void Engine::admit(std::int64_t now) {
  std::vector<std::string> nodes;
  if (recheck_all_) {
    for (const auto& [node, q] : queued_) nodes.push_back(node);
  } else {
    nodes.assign(recheck_.begin(), recheck_.end());
  }
  recheck_.clear();
  recheck_all_ = false;
  for (const auto& node : nodes) {
    auto qit = queued_.find(node);
    if (qit == queued_.end()) continue;
    auto& q = qit->second;
    std::deque<RunRef> kept;
    while (!q.empty()) {
      RunRef ref = std::move(q.front());
      q.pop_front();
      if (runs_.count(ref.run_id) == 0) continue;  // stopped or force-ended meanwhile
      Session* s = nullptr;
      JobRun* run = run_of(ref, &s);
      if (run == nullptr || run->state() != "queued") continue;
      const auto& queue = queue_of(*s, ref.unit);
      if (s->info.state() != "running") {
        kept.push_back(std::move(ref));
        continue;
      }
      if (node.empty()) {
        // Any one node of the scope: an available node with room, the least busy.
        std::string best;
        std::size_t best_busy = 0;
        for (const auto& n : nodes_.nodes_in(s->pu(ref.unit).spec->command().scope())) {
          if (!nodes_.available(n) || !fits(n, queue)) continue;
          if (best.empty() || running_on(n) < best_busy) {
            best = n;
            best_busy = running_on(n);
          }
        }
        if (best.empty()) {
          kept.push_back(std::move(ref));
          continue;
        }
        run->set_node(best);
      } else if (!fits(node, queue)) {
        kept.push_back(std::move(ref));
        if (running_on(node) >= node_limit(node)) break;  // full: the rest wait too
        continue;
      }
      launch(*s, ref.unit, *run, now);
    }
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) q.push_front(std::move(*it));
    if (q.empty()) queued_.erase(qit);
  }
}

void Engine::launch(Session& s, std::uint32_t unit, JobRun& run, std::int64_t now) {
  auto& st = touch(s, unit);
  run.set_state("dispatching");
  run.set_dispatched_at_ms(now);
  run.set_epoch(epoch_);
  if (s.pu(unit).kind == "transfer") {
    // The paths as of now, kept with the run: a resend and the master's
    // check of the agent's fetches use these, whatever variables do later.
    const auto vars = variables(s, unit, run);
    run.set_from_path(substitute(s.pu(unit).spec->transfer().from_path(), vars));
    run.set_to_path(substitute(s.pu(unit).spec->transfer().to_path(), vars));
  }
  occupy(run.node(), queue_of(s, unit), +1);
  if (st.state() == us::kQueued) set_state(s, unit, us::kRunning);
  out_.dispatch.push_back(make_dispatch(s, unit, run));
}

Dispatch Engine::make_dispatch(const Session& s, std::uint32_t unit, const JobRun& run) const {
  const auto& pu = s.pu(unit);
  Dispatch d;
  d.session = s.info.id();
  d.unit = pu.path;
  d.run = run;
  d.kind = pu.kind;
  d.spec = pu.spec;
  const auto vars = variables(s, unit, run);
  d.command = substitute(pu.spec->command().run(), vars);
  d.user = pu.spec->command().user();
  d.directory = substitute(pu.spec->command().directory(), vars);
  for (const auto& [k, v] : vars) {
    if (k.rfind("DUET_", 0) == 0) d.env[k] = v;
  }
  for (const auto& [k, v] : pu.spec->command().env()) d.env[k] = substitute(v, vars);
  d.time_limit_s = pu.spec->time_limit_s();
  d.from_path = run.from_path();
  d.to_path = run.to_path();
  return d;
}

Engine::Undelivered Engine::undelivered(const std::string& node) const {
  Undelivered out;
  for (const auto& [id, ref] : runs_) {
    const Session* s = nullptr;
    const JobRun* r = run_of(ref, &s);
    if (r == nullptr || r->node() != node) continue;
    if (r->state() == "dispatching") out.dispatch.push_back(make_dispatch(*s, ref.unit, *r));
    const auto& state = s->units[ref.unit].state();
    if (r->state() != "queued" && (state == unit_state::kStopping || unit_state::final(state))) {
      out.kill.push_back(Kill{r->run_id(), r->node(), "stopped"});
    }
  }
  return out;
}

std::optional<Dispatch> Engine::find_run(const std::string& run_id) const {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return std::nullopt;
  const Session* s = nullptr;
  const JobRun* r = run_of(it->second, &s);
  if (r == nullptr || (r->state() != "dispatching" && r->state() != "running")) return std::nullopt;
  return make_dispatch(*s, it->second.unit, *r);
}

void Engine::runs_lost(const std::string& node, const std::string& why, std::int64_t now) {
  std::vector<std::string> lost;
  for (const auto& [id, ref] : runs_) {
    const JobRun* r = std::as_const(*this).run_of(ref, nullptr);
    if (r != nullptr && r->node() == node && r->state() == "running") lost.push_back(id);
  }
  for (const auto& id : lost) {
    RunReport rep;
    rep.run_id = id;
    rep.at_ms = now;
    rep.end_value = kValueFailedToStart;
    rep.error = why;
    report(rep, now);
  }
}

bool Engine::kill_runs(Session& s, std::uint32_t unit, const std::string& reason,
                       std::int64_t now) {
  bool none_open = true;
  auto& st = touch(s, unit);
  for (auto& r : *st.mutable_runs()) {
    if (!open_run(r)) continue;
    if (r.state() == "queued") {
      runs_.erase(r.run_id());
      --s.open_runs;
      r.set_state("ended");
      r.set_end_value(kValueStopped);
      r.set_error("stopped before it started: " + reason);
      r.set_ended_at_ms(now);
      continue;
    }
    none_open = false;
    out_.kill.push_back(Kill{r.run_id(), r.node(), reason});
  }
  return none_open;
}

std::map<std::string, std::string> Engine::variables(const Session& s, std::uint32_t unit,
                                                     const JobRun& run) const {
  std::map<std::string, std::string> vars(s.plan->def().params().begin(),
                                          s.plan->def().params().end());
  for (const auto& [k, v] : s.info.params()) vars[k] = v;
  for (auto& [k, v] : s.plan->user_variables_of(unit)) vars[k] = v;
  for (const auto& [k, v] : s.info.variables()) vars[k] = v;
  if (!run.node().empty()) {
    for (auto& [k, v] : nodes_.node_variables(run.node())) vars[k] = std::move(v);
  }
  vars["DUET_SESSION"] = std::to_string(s.info.id());
  vars["DUET_NET"] = s.info.net();
  vars["DUET_UNIT"] = s.pu(unit).path;
  vars["DUET_RUN_ID"] = run.run_id();
  vars["DUET_NODE"] = run.node();
  vars["DUET_BUSINESS_DAY"] = s.info.business_day();
  vars["DUET_ATTEMPT"] = std::to_string(s.units[unit].attempt());
  vars["DUET_EPOCH"] = std::to_string(epoch_);
  return vars;
}

}  // namespace duet::jobs
