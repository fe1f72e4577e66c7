#include "manager/job_runner.h"

#include <spdlog/spdlog.h>

#include "common/errors.h"
#include "jobs/business_calendar.h"
#include "manager/job_rows.h"
#include "store/row.h"

namespace duet::manager {
using duet::v1::JobNetDef;

class JobRunner::Directory : public jobs::NodeDirectory {
 public:
  explicit Directory(const Hooks& hooks) : hooks_(hooks) {}
  std::vector<std::string> nodes_in(const std::string& scope) const override {
    return hooks_.nodes_in ? hooks_.nodes_in(scope) : std::vector<std::string>{};
  }
  bool available(const std::string& node) const override {
    return hooks_.connected && hooks_.connected(node);
  }
  std::map<std::string, std::string> node_variables(const std::string& node) const override {
    return hooks_.node_variables ? hooks_.node_variables(node)
                                 : std::map<std::string, std::string>{};
  }
  std::string node_of_monitor(const std::string& monitor) const override {
    if (!hooks_.monitor) return {};
    auto m = hooks_.monitor(monitor);
    return m ? m->node() : std::string();
  }

 private:
  const Hooks& hooks_;
};

JobRunner::JobRunner(boost::asio::any_io_executor strand, Clock& clock, Options options,
                     Hooks hooks)
    : strand_(std::move(strand)),
      clock_(clock),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      directory_(std::make_unique<Directory>(hooks_)) {}

JobRunner::~JobRunner() {
  if (timer_) clock_.cancel(*timer_);
  if (recover_timer_) clock_.cancel(*recover_timer_);
  if (soon_timer_) clock_.cancel(*soon_timer_);
}

void JobRunner::drop_waiting(const std::string& why) {
  auto waiting = std::move(waiting_done_);
  waiting_done_.clear();
  waiting_.clear();
  for (auto& done : waiting) done(make_error(CommonErrc::kUnavailable, why));
}

void JobRunner::commit_soon() {
  if (soon_timer_) return;
  soon_timer_ = clock_.call_after(std::chrono::milliseconds(0), [this] {
    soon_timer_.reset();
    if (!waiting_done_.empty()) commit_output([](Result<std::uint64_t>) {});
  });
}

void JobRunner::start_acting() {
  ++generation_;
  if (recover_timer_) clock_.cancel(*recover_timer_);
  recover_timer_.reset();
  engine_ = std::make_unique<jobs::Engine>(*directory_, hooks_.epoch());
  load_definitions();
  schedules_.clear();
  load_triggers(to_unix_ms(clock_.wall_now()));
  restore_all();
}

void JobRunner::stop_acting() {
  ++generation_;
  engine_.reset();
  drop_waiting("not the acting master");
  if (recover_timer_) clock_.cancel(*recover_timer_);
  recover_timer_.reset();
  if (timer_) clock_.cancel(*timer_);
  timer_.reset();
  plans_.clear();
}

void JobRunner::reload() {
  load_definitions();
  if (hooks_.watches_changed) hooks_.watches_changed();
  if (!engine_) return;
  load_triggers(to_unix_ms(clock_.wall_now()));
  commit_output([](Result<std::uint64_t>) {});
}

void JobRunner::load_definitions() {
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr) return;
  nets_.clear();
  calendars_.clear();
  counters_.clear();
  jobs::EngineLimits limits;
  limits.default_node_limit = options_.default_node_limit;
  auto scanned = s->scan("job_nets", [&](const store::Row& row) {
    JobNetDef def;
    if (def.ParseFromString(store::text_of(row, "definition"))) nets_[def.root().name()] = def;
    return true;
  });
  if (scanned.ok()) {
    scanned = s->scan("job_calendars", [&](const store::Row& row) {
      duet::v1::JobCalendarDef def;
      if (def.ParseFromString(store::text_of(row, "definition"))) calendars_[def.name()] = def;
      return true;
    });
  }
  if (scanned.ok()) {
    scanned = s->scan("job_limits", [&](const store::Row& row) {
      const auto key = store::text_of(row, "key");
      const auto sep = key.find('\x1f');
      const auto n = static_cast<std::uint32_t>(store::int_of(row, "max_running"));
      if (key.rfind("queue", 0) == 0) limits.queues[key.substr(sep + 1)] = n;
      if (key.rfind("node", 0) == 0) limits.nodes[key.substr(sep + 1)] = n;
      return true;
    });
  }
  if (scanned.ok()) {
    scanned = s->scan("job_meta", [&](const store::Row& row) {
      counters_[store::text_of(row, "key")] =
          static_cast<std::uint64_t>(store::int_of(row, "value"));
      return true;
    });
  }
  if (!scanned.ok()) spdlog::error("jobs: loading definitions: {}", scanned.error().to_string());
  if (engine_) engine_->set_limits(std::move(limits));
}

std::shared_ptr<const jobs::Plan> JobRunner::plan(const std::string& net, std::uint64_t version) {
  auto key = std::make_pair(net, version);
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr) return nullptr;
  auto row = s->get("job_net_versions", job_version_key(net, version));
  if (!row.ok() || !row->has_value()) return nullptr;
  JobNetDef def;
  if (!def.ParseFromString(store::text_of(**row, "definition"))) return nullptr;
  const duet::v1::JobCalendarDef* cal = nullptr;
  if (auto c = calendars_.find(def.calendar()); c != calendars_.end()) cal = &c->second;
  auto compiled = jobs::Plan::compile(std::move(def), cal);
  if (!compiled) {
    spdlog::error("jobs: net {} version {}: {}", net, version, compiled.error().message);
    return nullptr;
  }
  plans_[key] = *compiled;
  return *compiled;
}

Status JobRunner::restore_session(std::uint64_t id) {
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr) return make_error(CommonErrc::kUnavailable, "store not open");
  auto row = s->get("job_sessions", static_cast<std::int64_t>(id));
  if (!row.ok()) return std::move(row).take_error();
  if (!row->has_value()) {
    return make_error(CommonErrc::kNotFound, "no session " + std::to_string(id));
  }
  duet::v1::JobSessionInfo info;
  info.ParseFromString(store::text_of(**row, "info"));
  auto p = plan(info.net(), info.version());
  if (p == nullptr) {
    return make_error(CommonErrc::kNotFound, "session " + std::to_string(id) + ": net " +
                                                 info.net() + " version " +
                                                 std::to_string(info.version()) + " is gone");
  }
  std::vector<duet::v1::JobUnitState> units;
  const std::string prefix = job_units_prefix(id);
  auto scanned = s->scan_after("job_units", prefix, [&](const store::Row& r) {
    if (store::text_of(r, "key").rfind(prefix, 0) != 0) return false;
    duet::v1::JobUnitState st;
    if (st.ParseFromString(store::text_of(r, "unit"))) units.push_back(std::move(st));
    return true;
  });
  if (!scanned.ok()) return scanned;
  engine_->restore(std::move(info), std::move(p), std::move(units), to_unix_ms(clock_.wall_now()));
  return ok_status();
}

void JobRunner::restore_all() {
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr || !engine_) return;
  std::vector<std::uint64_t> open;
  auto scanned = s->scan("job_open", [&](const store::Row& row) {
    open.push_back(static_cast<std::uint64_t>(store::int_of(row, "session")));
    return true;
  });
  if (!scanned.ok()) spdlog::error("jobs: open sessions: {}", scanned.error().to_string());
  for (auto id : open) {
    if (auto r = restore_session(id); !r.ok()) {
      spdlog::error("jobs: session {} not restored: {}", id, r.error().message);
    }
  }
  if (!open.empty()) spdlog::info("jobs: {} open sessions restored", open.size());
  commit_output([](Result<std::uint64_t>) {});
}

void JobRunner::report_into(const std::string& node, const duet::v1::JobRunResult& result) {
  if (!engine_) return;
  jobs::RunReport r;
  r.run_id = result.run_id();
  r.started = result.started();
  r.at_ms = result.at_ms();
  r.end_value = result.end_value();
  r.error = result.error();
  r.stdout_tail = result.stdout_tail();
  r.stderr_tail = result.stderr_tail();
  r.set_variables.insert(result.set_variables().begin(), result.set_variables().end());
  (void)node;
  engine_->report(r, to_unix_ms(clock_.wall_now()));
}

std::uint64_t JobRunner::next_counter(const char* key, store::WriteBatch& batch) {
  auto& v = counters_[key];
  ++v;
  batch.put("job_meta",
            store::Row{{"key", std::string(key)}, {"value", static_cast<std::int64_t>(v)}});
  return v;
}

void JobRunner::take_into(store::WriteBatch& batch, Changes& changes) {
  if (!engine_) return;
  // Manual starts waiting: in this batch, whoever commits it.
  batch.append(std::move(waiting_));
  for (auto& done : waiting_done_) changes.waiting.push_back(std::move(done));
  waiting_done_.clear();
  for (const auto& f : file_starts_) {
    auto started = start_into(f.net, {}, "", f.trigger, batch, f.at_ms);
    if (!started) {
      skipped_.push_back(jobs::Notice{0, f.net, "", Priority::kWarning,
                                      "job net " + f.net + ": " + f.trigger +
                                          " did not start a session: " + started.error().message});
    }
  }
  file_starts_.clear();
  auto out = engine_->take();
  for (auto& n : skipped_) out.notices.push_back(std::move(n));
  skipped_.clear();
  for (const auto& [id, info] : out.sessions) {
    batch.put("job_sessions", store::Row{{"id", static_cast<std::int64_t>(id)},
                                         {"net", info.net()},
                                         {"state", info.state()},
                                         {"created_at_ms", info.created_at_ms()},
                                         {"info", job_blob(info)}});
    if (info.state() != "ended") {
      batch.put("job_open", store::Row{{"session", static_cast<std::int64_t>(id)}});
    }
  }
  for (auto id : out.closed) batch.erase("job_open", static_cast<std::int64_t>(id));
  // Units in as few journal records as their size allows: a wide level
  // changes hundreds at once.
  std::vector<store::Row> unit_rows;
  unit_rows.reserve(out.units.size());
  for (const auto& [key, st] : out.units) {
    unit_rows.push_back(store::Row{{"key", job_unit_key(key.first, key.second)},
                                   {"session", static_cast<std::int64_t>(key.first)},
                                   {"state", st.state()},
                                   {"unit", job_blob(st)}});
  }
  batch.put_rows("job_units", std::move(unit_rows));
  for (const auto& op : out.operations) {
    const auto id = next_counter("next_operation", batch);
    batch.put("job_operations", store::Row{{"id", static_cast<std::int64_t>(id)},
                                           {"session", static_cast<std::int64_t>(op.session())},
                                           {"at_ms", op.at_ms()},
                                           {"operation", job_blob(op)}});
  }
  // Notices become events (and so reach the notifications), in this batch.
  EventIntake* intake = hooks_.intake ? hooks_.intake() : nullptr;
  Notifier* notifier = hooks_.notifier ? hooks_.notifier() : nullptr;
  const auto now = to_unix_ms(clock_.wall_now());
  for (const auto& n : out.notices) {
    spdlog::info("jobs: {}", n.message);
    if (intake == nullptr) continue;
    EventIntake::Raised ev;
    ev.protocol = "job";
    ev.source = options_.node_name;
    ev.scopes = {};
    ev.message = n.message;
    ev.fields = {{"net", n.net}, {"session", std::to_string(n.session)}, {"unit", n.unit}};
    ev.priority = n.priority;
    ev.at_ms = now;
    const auto id = intake->raise_into(ev, batch, changes.counted);
    if (notifier != nullptr && notifier->active()) {
      notify::Occurrence o;
      o.monitor = "job";
      o.priority = n.priority;
      o.message = n.message;
      o.sub_key = n.net + "/" + n.unit;
      o.at_ms = now;
      o.event_id = id;
      o.vars = ev.fields;
      notifier->evaluate_into(o, batch, changes.notes);
    }
  }
  auto& into = changes.out;
  for (auto& d : out.dispatch) into.dispatch.push_back(std::move(d));
  for (auto& k : out.kill) into.kill.push_back(std::move(k));
  for (auto& n : out.notices) into.notices.push_back(std::move(n));
  for (auto& [k, v] : out.units) into.units[k] = std::move(v);
  for (auto& [k, v] : out.sessions) into.sessions[k] = std::move(v);
  for (auto& o : out.operations) into.operations.push_back(std::move(o));
  for (auto id : out.closed) into.closed.push_back(id);
}

void JobRunner::committed(Changes changes, bool ok, std::uint64_t lsn) {
  for (auto& done : changes.waiting) {
    if (ok) {
      done(lsn);
    } else {
      done(make_error(CommonErrc::kUnavailable, "the commit failed"));
    }
  }
  if (!ok) {
    if (EventIntake* intake = hooks_.intake ? hooks_.intake() : nullptr) {
      intake->uncount(changes.counted);
    }
  }
  if (Notifier* notifier = hooks_.notifier ? hooks_.notifier() : nullptr) {
    notifier->committed(std::move(changes.notes), ok);
  }
  if (!engine_) return;
  if (!ok) {
    // The engine is ahead of the store: it starts again from what is
    // committed, after a pause (the store may be failing: a full disk). Until
    // then results are not taken (their agents send them again) and
    // operations are refused.
    spdlog::error("jobs: a commit failed; the engine is restored from the store in 1 s");
    engine_.reset();
    drop_waiting("a commit failed");
    if (timer_) clock_.cancel(*timer_);
    timer_.reset();
    if (recover_timer_) return;
    recover_timer_ = clock_.call_after(std::chrono::seconds(1), [this, gen = generation_] {
      recover_timer_.reset();
      if (gen != generation_) return;
      engine_ = std::make_unique<jobs::Engine>(*directory_, hooks_.epoch());
      load_definitions();  // and the schedules' progress as committed
      schedules_.clear();
      load_triggers(to_unix_ms(clock_.wall_now()));
      restore_all();
    });
    return;
  }
  for (const auto& d : changes.out.dispatch) send(d);
  for (const auto& k : changes.out.kill) send(k);
  arm_timer();
}

void JobRunner::send(const jobs::Dispatch& d) {
  duet::v1::ManagerMessage m;
  auto* s = m.mutable_job_start();
  s->set_run_id(d.run.run_id());
  s->set_session(d.session);
  s->set_unit(d.unit);
  s->set_kind(d.kind);
  s->set_command(d.command);
  s->set_user(d.user);
  s->set_directory(d.directory);
  s->mutable_env()->insert(d.env.begin(), d.env.end());
  s->set_time_limit_s(d.time_limit_s);
  if (d.kind == "monitor" && hooks_.monitor) {
    if (auto def = hooks_.monitor(d.spec->monitor().monitor())) *s->mutable_monitor() = *def;
  }
  if (d.kind == "transfer") {
    const auto& t = d.spec->transfer();
    s->set_from_node(t.from_node());
    s->set_from_path(d.from_path);
    s->set_to_path(d.to_path);
    s->set_overwrite(t.overwrite());
  }
  // Not connected: sent when the agent says hello (agent_connected).
  if (hooks_.send) (void)hooks_.send(d.run.node(), std::move(m));
}

void JobRunner::send(const jobs::Kill& k) {
  duet::v1::ManagerMessage m;
  m.mutable_job_kill()->set_run_id(k.run_id);
  m.mutable_job_kill()->set_reason(k.reason);
  if (hooks_.send) (void)hooks_.send(k.node, std::move(m));
}

Result<JobRunner::TransferSource> JobRunner::transfer_source(const std::string& run_id,
                                                             const std::string& node) const {
  auto run = engine_ ? engine_->find_run(run_id) : std::nullopt;
  if (!run || run->kind != "transfer" || run->spec == nullptr) {
    return make_error(CommonErrc::kNotFound, "no open transfer run " + run_id);
  }
  if (run->run.node() != node) {
    return make_error(CommonErrc::kInvalidArgument,
                      "transfer run " + run_id + " is not run by " + node);
  }
  return TransferSource{run->spec->transfer().from_node(), run->from_path};
}

void JobRunner::agent_connected(const std::string& node, bool new_outbox) {
  if (!engine_) return;
  if (new_outbox) {
    spdlog::warn("jobs: the agent of {} has a new outbox: its running runs are ended as lost",
                 node);
    engine_->runs_lost(node,
                       "the agent of " + node +
                           " came back with a new outbox (a rebuilt host): this run's end was lost",
                       to_unix_ms(clock_.wall_now()));
  }
  auto u = engine_->undelivered(node);
  for (const auto& d : u.dispatch) send(d);
  for (const auto& k : u.kill) send(k);
  // Runs of "any node of a scope" may fit now.
  engine_->nodes_changed(to_unix_ms(clock_.wall_now()));
  commit_output([](Result<std::uint64_t>) {});
}

void JobRunner::commit_output(std::function<void(Result<std::uint64_t>)> done) {
  commit_output(store::WriteBatch(), std::move(done));
}

void JobRunner::commit_output(store::WriteBatch batch,
                              std::function<void(Result<std::uint64_t>)> done) {
  if (!engine_) {
    done(make_error(CommonErrc::kUnavailable, "not the acting master"));
    return;
  }
  Changes changes;
  check_schedules(to_unix_ms(clock_.wall_now()), batch);
  take_into(batch, changes);
  if (batch.empty()) {
    arm_timer();
    done(std::uint64_t{0});
    return;
  }
  hooks_.commit(batch, [this, changes = std::move(changes), done = std::move(done),
                        gen = generation_](Result<ha::Runner::Committed> r) mutable {
    if (gen != generation_) {
      for (auto& w : changes.waiting) w(make_error(CommonErrc::kUnavailable, "the master changed"));
      done(make_error(CommonErrc::kUnavailable, "the master changed"));
      return;
    }
    committed(std::move(changes), r.ok(), r.ok() ? static_cast<std::uint64_t>(r->lsn) : 0);
    if (!r.ok()) {
      done(r.error());
      return;
    }
    done(static_cast<std::uint64_t>(r->lsn));
  });
}

void JobRunner::arm_timer() {
  if (!engine_) return;
  auto next = engine_->next_wakeup();
  for (const auto& sc : schedules_) {
    if (sc.next && (!next || sc.next->at_ms < *next)) next = sc.next->at_ms;
  }
  if (!next) return;
  if (timer_ && timer_at_ <= *next) return;
  if (timer_) clock_.cancel(*timer_);
  timer_at_ = *next;
  const auto delay = std::max<std::int64_t>(0, *next - to_unix_ms(clock_.wall_now()));
  timer_ = clock_.call_after(std::chrono::milliseconds(delay), [this] {
    timer_.reset();
    on_timer();
  });
}

void JobRunner::on_timer() {
  if (!engine_) return;
  engine_->tick(to_unix_ms(clock_.wall_now()));
  commit_output([](Result<std::uint64_t>) {});
}

Result<std::uint64_t> JobRunner::start_into(const std::string& net,
                                            std::map<std::string, std::string> params,
                                            const std::string& business_day,
                                            const std::string& trigger, store::WriteBatch& batch,
                                            std::int64_t now) {
  auto it = nets_.find(net);
  if (it == nets_.end()) return make_error(CommonErrc::kNotFound, "no job net '" + net + "'");
  if (!it->second.enabled()) {
    return make_error(CommonErrc::kInvalidArgument, "job net '" + net + "' is disabled");
  }
  for (const auto& [k, v] : params) {
    if (it->second.params().count(k) == 0) {
      return make_error(CommonErrc::kInvalidArgument,
                        "job net '" + net + "' has no parameter '" + k + "'");
    }
  }
  const std::uint32_t max = std::max<std::uint32_t>(1, it->second.max_sessions());
  std::uint32_t open = 0;
  for (auto id : engine_->open_sessions()) {
    const auto* info = engine_->session(id);
    if (info != nullptr && info->net() == net && info->state() != "ended") ++open;
  }
  if (open >= max) {
    return make_error(CommonErrc::kInvalidArgument,
                      "job net '" + net + "' has " + std::to_string(open) +
                          " sessions open (max_sessions " + std::to_string(max) + ")");
  }
  auto p = plan(net, it->second.version());
  if (p == nullptr) {
    return make_error(CommonErrc::kNotFound, "job net '" + net + "': its definition is missing");
  }
  duet::v1::JobSessionInfo info;
  info.set_id(next_counter("next_session", batch));
  info.set_net(net);
  info.set_trigger(trigger);
  info.set_business_day(business_day.empty()
                            ? jobs::BusinessCalendar::date_text(p->calendar().business_day(now))
                            : business_day);
  info.mutable_params()->insert(params.begin(), params.end());
  const auto id = info.id();
  engine_->start(std::move(info), std::move(p), now);
  return id;
}

void JobRunner::start_session(
    const std::string& net, std::map<std::string, std::string> params,
    const std::string& business_day, const std::string& trigger,
    std::function<void(Result<std::pair<std::uint64_t, std::uint64_t>>)> done) {
  if (!engine_) {
    done(make_error(CommonErrc::kUnavailable, "not the acting master"));
    return;
  }
  const auto now = to_unix_ms(clock_.wall_now());
  auto started = start_into(net, std::move(params), business_day, trigger, waiting_, now);
  if (!started) {
    done(started.error());
    return;
  }
  // Starts that come together share one transaction (or ride in the next
  // batch of agents' results, whichever commits first).
  const auto id = *started;
  waiting_done_.push_back([id, done = std::move(done)](Result<std::uint64_t> lsn) {
    if (!lsn.ok()) {
      done(lsn.error());
      return;
    }
    spdlog::info("jobs: session {} started", id);
    done(std::make_pair(id, *lsn));
  });
  commit_soon();
}

void JobRunner::operate(jobs::Operation op, Done done) {
  if (!engine_) {
    done(make_error(CommonErrc::kUnavailable, "not the acting master"));
    return;
  }
  if (!engine_->has(op.session)) {
    // An ended session: back into the engine to be operated on.
    if (auto r = restore_session(op.session); !r.ok()) {
      done(r.error());
      return;
    }
  }
  auto r = engine_->operate(op, to_unix_ms(clock_.wall_now()));
  if (!r.ok()) {
    (void)engine_->take();  // a restored session with nothing done leaves again
    done(r.error());
    return;
  }
  commit_output(std::move(done));
}

}  // namespace duet::manager
