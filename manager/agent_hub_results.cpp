#include <spdlog/spdlog.h>

#include <algorithm>

#include "manager/agent_hub.h"
#include "manager/agent_hub_internal.h"
#include "monitors/check.h"

// AgentHub's results: a batch of them judged, stored with the agents' high-water
// marks in one transaction, and acknowledged once replicated (invariant 1).

namespace duet::manager {

using namespace agent_hub_internal;

std::vector<AgentHub::Pending> AgentHub::take_pending() {
  std::vector<Pending> items;
  if (pending_.size() > options_.max_batch) {
    items.assign(std::make_move_iterator(pending_.begin()),
                 std::make_move_iterator(pending_.begin() +
                                         static_cast<std::ptrdiff_t>(options_.max_batch)));
    pending_.erase(pending_.begin(),
                   pending_.begin() + static_cast<std::ptrdiff_t>(options_.max_batch));
    schedule_flush();
  } else {
    items.swap(pending_);
  }
  return items;
}

void AgentHub::flush() {
  if (pending_.empty() || !acting_) return;
  std::vector<Pending> items = take_pending();
  ResultBatch rb;
  rb.now_ms = to_unix_ms(clock_.wall_now());
  rb.notifier = hooks_.notifier ? hooks_.notifier() : nullptr;
  rb.jobs = hooks_.jobs ? hooks_.jobs() : nullptr;
  rb.metric_rows.reserve(items.size());
  for (auto& p : items) {
    if (!p.node.empty()) rb.up_to[p.node] = std::max(rb.up_to[p.node], p.seq);
    if (p.job) {
      // A job's run: its effect on the session goes into this batch.
      if (rb.jobs != nullptr && !p.job->run_id().empty()) rb.jobs->report_into(p.node, *p.job);
    } else if (p.file) {
      // A file-check trigger fired: the net it starts, in this batch.
      if (rb.jobs != nullptr && !p.file->id().empty()) rb.jobs->file_into(p.node, *p.file);
    } else {
      judge_into(p, rb);
    }
  }
  store::WriteBatch& batch = rb.batch;
  if (!rb.metric_rows.empty()) batch.put_rows("metrics", std::move(rb.metric_rows));
  if (rb.jobs != nullptr && !rb.job_events.empty()) rb.jobs->events_into(rb.job_events, batch);
  if (rb.jobs != nullptr) rb.jobs->take_into(batch, rb.effects.jobs);
  for (const auto& key : rb.status_changed) {
    const Status& st = status_[key];
    const auto sep = key.find(kSep);
    batch.put("monitor_status", store::Row{{"key", key},
                                           {"monitor", key.substr(0, sep)},
                                           {"node", key.substr(sep + 1)},
                                           {"priority", st.priority},
                                           {"since_ms", st.since_ms},
                                           {"last_at_ms", st.last_at_ms},
                                           {"message", st.message}});
  }
  Taken taken;
  taken.results = items.size();
  taken.epoch = hooks_.epoch();
  taken.status_before = std::move(rb.status_before);
  for (const auto& [node, seq] : rb.up_to) {
    Agent& a = agents_[node];
    Agent copy = a;
    copy.taken = seq;
    add_agent_row(batch, copy, rb.now_ms);
    a.committed = std::max(a.committed, seq);
    taken.up_to[node] = {seq, a.outbox_identity};  // the outbox the numbers are of
  }
  hooks_.commit(batch, [this, taken = std::move(taken),
                        effects = std::move(rb.effects)](Result<ha::Runner::Committed> r) mutable {
    settle(std::move(effects), r.ok(), r.ok() ? static_cast<std::uint64_t>(r->lsn) : 0);
    if (r.ok()) {
      results_stored(taken);
    } else {
      results_not_stored(taken, r.error());
    }
  });
}

void AgentHub::judge_into(const Pending& p, ResultBatch& rb) {
  const auto& r = p.result;
  auto mit = monitors_.find(r.monitor());
  const Monitor* mon = mit == monitors_.end() ? nullptr : &mit->second;
  Priority prio = Priority::kUnknown;
  std::string verdict_message;
  if (mon != nullptr && mon->judgement) {
    auto v = monitors::judge(*mon->judgement, monitors::to_measurement(r));
    prio = v.priority;
    verdict_message = std::move(v.message);
  } else {
    verdict_message = mon == nullptr ? "no monitor '" + r.monitor() + "' is defined"
                                     : "the monitor's judgement is invalid";
  }
  duet::v1::MetricPoint point;
  point.set_at_ms(r.started_at_ms());
  point.set_priority(priority_name(prio));
  point.set_seq(p.seq);
  point.set_ok(r.ok());
  point.set_error(r.error());
  *point.mutable_metrics() = r.metrics();
  std::string blob;
  point.SerializeToString(&blob);
  const std::uint64_t key_seq = p.seq != 0 ? p.seq : ++local_seq_;
  rb.metric_rows.push_back(
      store::Row{{"key", metrics_key(r.node(), r.monitor(), r.started_at_ms(), key_seq)},
                 {"at_ms", r.started_at_ms()},
                 {"point", store::Blob{std::move(blob)}}});
  if (mon == nullptr) return;
  // The status per (monitor, node), and an event when it changes.
  const std::string key = status_key(r.monitor(), r.node());
  auto sit = status_.find(key);
  if (rb.status_before.count(key) == 0) {
    rb.status_before[key] = sit == status_.end() ? Status{} : sit->second;
  }
  const std::string pname = priority_name(prio);
  const bool first = sit == status_.end();
  const bool changed = first ? prio != Priority::kInfo : sit->second.priority != pname;
  const bool per_result = monitors::event_per_result(mon->def.kind());
  Status& st = status_[key];
  if (first || st.priority != pname) st.since_ms = r.started_at_ms();
  st.priority = pname;
  st.last_at_ms = r.started_at_ms();
  st.message = verdict_message;
  rb.status_changed.insert(key);
  const std::int64_t at_ms = r.started_at_ms() != 0 ? r.started_at_ms() : rb.now_ms;
  std::uint64_t event_id = 0;
  std::string event_message;
  if (changed || per_result) {
    std::map<std::string, std::string> fields{{"monitor", r.monitor()},
                                              {"kind", mon->def.kind()},
                                              {"node", r.node()},
                                              {"priority", pname}};
    if (!first && !per_result) fields["previous"] = rb.status_before[key].priority;
    if (!r.text().empty()) fields["text"] = r.text().substr(0, 1024);
    event_message = per_result
                        ? r.monitor() + " on " + r.node() + ": " + r.text()
                        : r.monitor() + " on " + r.node() + " is " + pname + ": " + verdict_message;
    event_id = raise(rb.batch, rb.effects, "monitor", r.node(), prio, event_message,
                     std::move(fields), at_ms);
  }
  // What the event triggers of job nets and the notifications look at.
  const bool triggering = event_id != 0 && rb.jobs != nullptr && rb.jobs->wants_events();
  const bool notifying = rb.notifier != nullptr && rb.notifier->active();
  if (!triggering && !notifying) return;
  notify::Occurrence o;
  o.node = r.node();
  o.monitor = r.monitor();
  o.priority = prio;
  o.at_ms = at_ms;
  o.event_id = event_id;
  o.scopes = enclosing_scopes(r.node());
  // A monitor's event may start job nets, in this batch.
  if (triggering) {
    notify::Occurrence ev = o;
    ev.message = std::move(event_message);
    if (rb.jobs->wants_event(ev)) rb.job_events.push_back(std::move(ev));
  }
  // Every result goes to the notifications: "after N results" counts them.
  if (notifying) {
    o.message = per_result ? r.text() : verdict_message;
    o.vars = {{"kind", mon->def.kind()}};
    if (!r.text().empty()) o.vars["text"] = r.text().substr(0, 1024);
    if (!first) o.vars["previous"] = rb.status_before[key].priority;
    rb.notifier->evaluate_into(o, rb.batch, rb.effects.notes);
  }
}

void AgentHub::results_stored(const Taken& taken) {
  if (!acting_ || taken.epoch != hooks_.epoch()) return;
  for (const auto& [node, mark] : taken.up_to) {
    auto it = agents_.find(node);
    if (it == agents_.end()) continue;
    Agent& a = it->second;
    if (a.outbox_identity != mark.outbox_identity) continue;  // a new outbox meanwhile
    a.stored = std::max(a.stored, mark.seq);
    if (a.link) {
      duet::v1::ManagerMessage m = message();
      m.mutable_ack()->set_up_to_seq(a.stored);
      a.link->send(std::move(m));
    }
  }
}

void AgentHub::results_not_stored(const Taken& taken, const Error& why) {
  ++commit_failures_;
  spdlog::error("agents: {} results not committed: {}; their agents will send them again",
                taken.results, why.to_string());
  for (const auto& [key, st] : taken.status_before) {
    if (st.priority.empty()) {
      status_.erase(key);
    } else {
      status_[key] = st;
    }
  }
  for (const auto& [node, mark] : taken.up_to) {
    auto it = agents_.find(node);
    if (it == agents_.end()) continue;
    it->second.taken = it->second.committed = it->second.stored;
    if (it->second.link) {
      it->second.link->finish(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "results not committed; send again"));
      it->second.link.reset();
    }
  }
}

}  // namespace duet::manager
