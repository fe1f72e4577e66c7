#include "manager/agent_hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cinttypes>

#include "common/errors.h"
#include "manager/agent_hub_internal.h"
#include "monitors/check.h"
#include "repository/store_rows.h"

namespace duet::manager {
namespace {

using namespace agent_hub_internal;
constexpr std::int64_t kLivenessTickMs = 1000;

}  // namespace

std::string AgentHub::status_key(const std::string& monitor, const std::string& node) {
  return monitor + kSep + node;
}

std::string AgentHub::metrics_key(const std::string& node, const std::string& monitor,
                                  std::int64_t at_ms, std::uint64_t seq) {
  char tail[64];
  std::snprintf(tail, sizeof tail, "%015" PRId64 "%c%020" PRIu64, std::max<std::int64_t>(at_ms, 0),
                kSep, seq);
  return node + kSep + monitor + kSep + tail;
}

AgentHub::AgentHub(boost::asio::any_io_executor strand, Clock& clock, Options options, Hooks hooks)
    : strand_(std::move(strand)),
      clock_(clock),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      relay_(TransferRelay::Hooks{
          [this](const std::string& node, duet::v1::ManagerMessage m) {
            return send_to(node, std::move(m));
          },
          [this](const std::string& run_id,
                 const std::string& node) -> Result<TransferRelay::Source> {
            JobRunner* jobs = hooks_.jobs ? hooks_.jobs() : nullptr;
            if (jobs == nullptr) return make_error(CommonErrc::kUnavailable, "no job runner");
            DUET_ASSIGN_OR_RETURN(auto src, jobs->transfer_source(run_id, node));
            return TransferRelay::Source{std::move(src.node), std::move(src.path)};
          },
          [this] { return clock_.now(); }}) {}

AgentHub::~AgentHub() {
  if (flush_timer_) clock_.cancel(*flush_timer_);
  if (liveness_timer_) clock_.cancel(*liveness_timer_);
  if (maintain_timer_) clock_.cancel(*maintain_timer_);
}

duet::v1::ManagerMessage AgentHub::message() const {
  duet::v1::ManagerMessage m;
  m.set_epoch(hooks_.epoch ? hooks_.epoch() : 0);
  return m;
}

AgentHub::Agent& AgentHub::agent(const std::string& node) {
  auto it = agents_.find(node);
  if (it != agents_.end()) return it->second;
  Agent& a = agents_[node];
  a.node = node;
  if (store::Store* s = hooks_.store()) {
    auto row = s->get("agents", node);
    if (row.ok() && row->has_value()) {
      const auto& r = **row;
      a.in_store = true;
      a.stored = a.committed = a.taken = static_cast<std::uint64_t>(int_of(r, "acked_up_to"));
      a.last_seen_ms = int_of(r, "last_seen_ms");
      a.reachable = int_of(r, "reachable") != 0;
      a.version = text_of(r, "version");
      a.address = text_of(r, "address");
      a.outbox_dropped = static_cast<std::uint64_t>(int_of(r, "outbox_dropped"));
      a.enrolled_at_ms = int_of(r, "enrolled_at_ms");
      a.outbox_identity = static_cast<std::uint64_t>(int_of(r, "outbox_identity"));
    }
  }
  return a;
}

AgentHub::Agent* AgentHub::agent_of(const std::shared_ptr<AgentLink>& link) {
  auto it = link_nodes_.find(link.get());
  if (it == link_nodes_.end()) return nullptr;
  auto a = agents_.find(it->second);
  return a != agents_.end() && a->second.link == link ? &a->second : nullptr;
}

void AgentHub::start_acting() {
  acting_ = true;
  acting_since_ms_ = to_unix_ms(clock_.wall_now());
  agents_.clear();
  pending_.clear();
  // Every agent in the store, so that one that never comes back is noticed.
  if (store::Store* s = hooks_.store()) {
    std::vector<std::string> nodes;
    (void)s->scan("agents", [&](const store::Row& row) {
      nodes.push_back(text_of(row, "node"));
      return true;
    });
    for (const auto& n : nodes) agent(n);
  }
  reload();
  load_status();
  liveness_timer_ =
      clock_.call_after(std::chrono::milliseconds(kLivenessTickMs), [this] { liveness_tick(); });
  schedule_maintenance();
}

void AgentHub::schedule_maintenance() {
  maintain_timer_ =
      clock_.call_after(std::chrono::milliseconds(options_.maintain_every_ms), [this] {
        maintain_timer_.reset();
        if (!acting_) return;
        maintain_metrics();
        schedule_maintenance();
      });
}

void AgentHub::stop_acting() {
  acting_ = false;
  if (maintain_timer_) clock_.cancel(*maintain_timer_);
  maintain_timer_.reset();
  if (liveness_timer_) clock_.cancel(*liveness_timer_);
  liveness_timer_.reset();
  if (flush_timer_) clock_.cancel(*flush_timer_);
  flush_timer_.reset();
  pending_.clear();
  relay_.clear();
  // Agents go to the new master: it says where each stands.
  for (auto& [node, a] : agents_) {
    if (a.link) {
      duet::v1::ManagerMessage m = message();
      *m.mutable_not_master() = hooks_.not_master();
      a.link->send(std::move(m));
      a.link->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "this manager stopped acting"));
      a.link.reset();
    }
  }
  agents_.clear();
  link_nodes_.clear();
}

void AgentHub::load_status() {
  status_.clear();
  store::Store* s = hooks_.store();
  if (s == nullptr) return;
  (void)s->scan("monitor_status", [&](const store::Row& row) {
    status_[text_of(row, "key")] = Status{text_of(row, "priority"), int_of(row, "since_ms"),
                                          int_of(row, "last_at_ms"), text_of(row, "message")};
    return true;
  });
}

void AgentHub::reload() {
  store::Store* s = hooks_.store();
  if (s == nullptr) return;
  monitors_.clear();
  (void)s->scan("monitors", [&](const store::Row& row) {
    Monitor m;
    if (!m.def.ParseFromString(text_of(row, "definition"))) {
      spdlog::error("monitors: the row of '{}' does not parse; skipped", text_of(row, "name"));
      return true;
    }
    auto j = monitors::judgement_of(m.def);
    if (j.ok()) {
      m.judgement = std::move(*j);
    } else {
      spdlog::error("monitors: '{}': {}", m.def.name(), j.error().message);
    }
    monitors_[m.def.name()] = std::move(m);
    return true;
  });
  auto state = repository::load_state(*s);
  if (state.ok()) repo_ = std::move(*state);
  if (!acting_) return;
  if (on_reload_) on_reload_();
  for (auto& [node, a] : agents_) {
    if (a.link) send_assignments(a, false);
  }
}

std::string AgentHub::address_of(const std::string& node) const {
  auto it = repo_.nodes.find(node);
  if (it == repo_.nodes.end() || it->second.addresses.empty()) return {};
  return it->second.addresses.front();
}

duet::v1::Assignments AgentHub::assignments_for(const std::string& node) const {
  duet::v1::Assignments out;
  for (const auto& [name, m] : monitors_) {
    const auto& d = m.def;
    if (!d.enabled() || d.runs_on() == "manager") continue;
    bool mine = d.node() == node;
    if (!mine && !d.scope().empty()) {
      auto within = repo_.nodes_within(d.scope());
      mine = std::binary_search(within.begin(), within.end(), node);
    }
    if (mine) *out.add_monitors() = d;
  }
  if (JobRunner* jobs = hooks_.jobs ? hooks_.jobs() : nullptr) {
    for (auto& w : jobs->watches_for(node)) *out.add_watches() = std::move(w);
  }
  return out;
}

void AgentHub::send_assignments(Agent& a, bool force) {
  auto as = assignments_for(a.node);
  std::string sig = monitors::canonical_bytes(as);
  if (!force && sig == a.assignments) return;
  a.assignments = std::move(sig);
  a.monitors = static_cast<std::size_t>(as.monitors_size());
  duet::v1::ManagerMessage m = message();
  *m.mutable_assignments() = std::move(as);
  a.link->send(std::move(m));
}

std::vector<AgentHub::Target> AgentHub::manager_targets() const {
  std::vector<Target> out;
  for (const auto& [name, m] : monitors_) {
    const auto& d = m.def;
    if (!d.enabled() || d.runs_on() != "manager") continue;
    std::vector<std::string> nodes;
    if (!d.node().empty()) {
      nodes.push_back(d.node());
    } else {
      nodes = repo_.nodes_within(d.scope());
    }
    for (const auto& n : nodes) out.push_back(Target{d, n, address_of(n)});
  }
  return out;
}

void AgentHub::on_hello(const std::shared_ptr<AgentLink>& link, const duet::v1::AgentHello& hello) {
  if (!acting_ || !hooks_.may_act()) {
    duet::v1::ManagerMessage m = message();
    *m.mutable_not_master() = hooks_.not_master();
    link->send(std::move(m));
    link->finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, hooks_.not_master_text()));
    return;
  }
  const std::string& node = hello.node();
  if (auto why = repository::name_problem(node)) {
    link->finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node: " + *why));
    return;
  }
  const auto names = link->certificate_names();
  if (!names.empty() && std::find(names.begin(), names.end(), node) == names.end()) {
    spdlog::warn("agents: {} said it is '{}', but its certificate names someone else; refused",
                 link->peer_address(), node);
    link->finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                              "the client certificate is not issued to node '" + node + "'"));
    return;
  }
  Agent& a = agent(node);
  if (a.link && a.link != link) {
    a.link->finish(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer session"));
  }
  a.link = link;
  link_nodes_[link.get()] = node;
  bool new_outbox = false, rebuilt = false;
  if (hello.outbox_identity() != 0 && hello.outbox_identity() != a.outbox_identity) {
    if (a.outbox_identity != 0 && a.stored != 0) {
      rebuilt = true;
      // A rebuilt host: its numbers start at 1 again. Nothing of the old
      // outbox can come any more; take the new one from its start.
      spdlog::warn(
          "agents: {} has a new outbox (its results are numbered from 1 again); "
          "the master held the old one's results up to {}",
          node, a.stored);
      std::erase_if(pending_, [&](const Pending& p) { return p.node == node; });
      a.stored = a.committed = 0;
    }
    a.outbox_identity = hello.outbox_identity();
    new_outbox = true;
  }
  // What the old session had queued is resent; what is committed and awaiting
  // replication is not taken again (its ack follows when it is replicated).
  a.taken = a.committed;
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  a.last_seen_ms = now_ms;
  a.version = hello.version();
  a.address = link->peer_address();
  a.outbox_pending = hello.outbox_pending();
  a.outbox_dropped = hello.outbox_dropped();
  // Drop what is queued for this agent: the old session's results come again.
  std::erase_if(pending_, [&](const Pending& p) { return p.node == node; });
  duet::v1::ManagerMessage m = message();
  auto* w = m.mutable_welcome();
  w->set_manager(options_.node_name);
  w->set_acked_up_to(a.stored);
  w->set_keepalive_ms(options_.keepalive_ms);
  auto as = assignments_for(node);
  a.assignments = monitors::canonical_bytes(as);
  a.monitors = static_cast<std::size_t>(as.monitors_size());
  *w->mutable_assignments() = std::move(as);
  link->send(std::move(m));
  spdlog::info("agents: {} connected from {} (agent {}, holds results up to {}, {} monitors)", node,
               a.address, a.version, a.stored, a.monitors);
  if (JobRunner* jobs = hooks_.jobs ? hooks_.jobs() : nullptr) {
    jobs->agent_connected(node, rebuilt);
  }
  if (!a.in_store || !a.reachable || new_outbox) {
    store::WriteBatch batch;
    Effects effects;
    if (a.in_store && !a.reachable) {
      raise(batch, effects, "agent", node, Priority::kInfo, "agent " + node + " reachable again",
            {{"agent", node}, {"state", "reachable"}}, now_ms);
    }
    a.reachable = true;
    a.in_store = true;
    if (a.enrolled_at_ms == 0) a.enrolled_at_ms = now_ms;
    add_agent_row(batch, a, now_ms);
    commit_simple(std::move(batch), std::move(effects), "agent " + node + " registered");
  }
}

void AgentHub::on_result(const std::shared_ptr<AgentLink>& link, duet::v1::AgentResult result) {
  if (!acting_) return;
  // The session's agent: the one whose current link this is.
  Agent* a = agent_of(link);
  if (a == nullptr) return;  // a replaced session, or one that never said hello
  a->last_seen_ms = to_unix_ms(clock_.wall_now());
  if (result.seq() <= a->taken) {
    // Already held (a resend after a reconnection): acknowledge what is stored.
    if (result.seq() <= a->stored) {
      duet::v1::ManagerMessage m = message();
      m.mutable_ack()->set_up_to_seq(a->stored);
      link->send(std::move(m));
    }
    return;
  }
  a->taken = result.seq();
  Pending p;
  p.node = a->node;
  p.seq = result.seq();
  if (result.kind() == "file") {
    p.file.emplace();
    if (!p.file->ParseFromString(result.payload())) p.file->Clear();
  } else if (result.kind() == "job") {
    p.job.emplace();
    if (!p.job->ParseFromString(result.payload()) || p.job->run_id().empty()) {
      spdlog::warn("agents: {} result {}: a job result that cannot be read; dropped", a->node,
                   result.seq());
      p.job->Clear();
    }
  } else if (result.kind() != "monitor" || !p.result.ParseFromString(result.payload())) {
    spdlog::warn("agents: {} result {}: kind '{}' not understood; stored as a failed result",
                 a->node, result.seq(), result.kind());
    p.result.set_ok(false);
    p.result.set_error("the manager could not read this result (kind '" + result.kind() + "')");
  }
  p.result.set_node(a->node);  // an agent speaks for its own node only
  if (p.result.started_at_ms() == 0) p.result.set_started_at_ms(result.produced_at_ms());
  // A job's result (or a file trigger) holds up its successors: flushed as
  // soon as the strand has taken what is queued, so results that came
  // together share the transaction. Monitor results wait for the batch timer.
  const bool urgent = p.job.has_value() || p.file.has_value();
  pending_.push_back(std::move(p));
  if (pending_.size() >= options_.max_batch) {
    flush();
  } else {
    schedule_flush(urgent);
  }
}

void AgentHub::on_local_result(duet::v1::MonitorResult result) {
  if (!acting_) return;
  Pending p;
  p.seq = 0;
  p.result = std::move(result);
  pending_.push_back(std::move(p));
  schedule_flush();
}

void AgentHub::on_stats(const std::shared_ptr<AgentLink>& link, const duet::v1::AgentStats& stats) {
  if (Agent* found = agent_of(link)) {
    Agent& a = *found;
    const std::string& node = a.node;
    a.last_seen_ms = to_unix_ms(clock_.wall_now());
    if (stats.outbox_dropped() > a.outbox_dropped) {
      spdlog::warn("agents: {} dropped {} results because its outbox was full ({} ever)", node,
                   stats.outbox_dropped() - a.outbox_dropped, stats.outbox_dropped());
    }
    a.outbox_pending = stats.outbox_pending();
    a.outbox_dropped = stats.outbox_dropped();
    // An answer, so the agent knows its session is alive.
    duet::v1::ManagerMessage m = message();
    m.mutable_ack()->set_up_to_seq(a.stored);
    link->send(std::move(m));
    return;
  }
}

void AgentHub::on_closed(const std::shared_ptr<AgentLink>& link) {
  Agent* found = agent_of(link);
  link_nodes_.erase(link.get());
  if (found != nullptr) {
    Agent& a = *found;
    const std::string node = a.node;
    a.link.reset();
    a.last_seen_ms = to_unix_ms(clock_.wall_now());
    std::erase_if(pending_, [&](const Pending& p) { return p.node == node; });
    a.taken = a.committed;
    relay_.on_closed(node);
    spdlog::info("agents: {} disconnected", node);
    return;
  }
}

void AgentHub::on_fetch(const std::shared_ptr<AgentLink>& link,
                        const duet::v1::FetchRequest& request) {
  if (Agent* a = agent_of(link); a != nullptr && acting_) relay_.on_fetch(a->node, request);
}

void AgentHub::on_chunk(const std::shared_ptr<AgentLink>& link, duet::v1::FileChunk chunk) {
  if (Agent* a = agent_of(link); a != nullptr && acting_) {
    relay_.on_chunk(a->node, std::move(chunk));
  }
}

void AgentHub::schedule_flush(bool soon) {
  if (flush_timer_) {
    if (!soon || flush_soon_) return;
    clock_.cancel(*flush_timer_);  // a job result: sooner than the timer set
  }
  flush_soon_ = soon;
  const auto delay = std::chrono::milliseconds(soon ? 0 : options_.batch_delay_ms);
  flush_timer_ = clock_.call_after(delay, [this] {
    flush_timer_.reset();
    flush();
  });
}

void AgentHub::add_agent_row(store::WriteBatch& batch, const Agent& a, std::int64_t now_ms) const {
  batch.put("agents",
            store::Row{{"node", a.node},
                       {"acked_up_to", static_cast<std::int64_t>(a.taken)},
                       {"last_seen_ms", a.last_seen_ms},
                       {"reachable", std::int64_t{a.reachable ? 1 : 0}},
                       {"version", a.version},
                       {"address", a.address},
                       {"outbox_dropped", static_cast<std::int64_t>(a.outbox_dropped)},
                       {"enrolled_at_ms", a.enrolled_at_ms},
                       {"updated_at_ms", now_ms},
                       {"outbox_identity", static_cast<std::int64_t>(a.outbox_identity)}});
}

std::vector<std::string> AgentHub::enclosing_scopes(const std::string& node) const {
  std::vector<std::string> enclosing;
  for (const auto& sc : repo_.scopes_of(node)) {
    for (const auto& up : repo_.lineage(sc)) {
      if (std::find(enclosing.begin(), enclosing.end(), up) == enclosing.end()) {
        enclosing.push_back(up);
      }
    }
  }
  if (enclosing.empty() && repo_.nodes.count(node) == 0) {
    enclosing.emplace_back(repository::kUnregistered);
  }
  return enclosing;
}

std::uint64_t AgentHub::raise(store::WriteBatch& batch, Effects& effects,
                              const std::string& protocol, const std::string& node,
                              Priority priority, std::string message,
                              std::map<std::string, std::string> fields, std::int64_t at_ms) {
  EventIntake* intake = hooks_.intake ? hooks_.intake() : nullptr;
  if (intake == nullptr) return 0;
  EventIntake::Raised ev;
  ev.protocol = protocol;
  ev.host = repo_.nodes.count(node) != 0 ? node : std::string();
  ev.source = address_of(node);
  if (ev.source.empty()) ev.source = node;
  ev.scopes = enclosing_scopes(node);
  ev.message = std::move(message);
  ev.fields = std::move(fields);
  ev.priority = priority;
  ev.at_ms = at_ms;
  const std::uint64_t id = intake->raise_into(ev, batch, effects.counted);
  Notifier* notifier = hooks_.notifier ? hooks_.notifier() : nullptr;
  if (protocol == "agent" && notifier != nullptr) {
    notify::Occurrence o;
    o.node = node;
    o.monitor = "agent";
    o.scopes = ev.scopes;
    o.priority = priority;
    o.message = ev.message;
    o.at_ms = at_ms;
    o.event_id = id;
    o.vars = ev.fields;
    notifier->evaluate_into(o, batch, effects.notes);
  }
  return id;
}

void AgentHub::settle(Effects effects, bool ok, std::uint64_t lsn) {
  if (!ok) {
    if (EventIntake* intake = hooks_.intake ? hooks_.intake() : nullptr) {
      intake->uncount(effects.counted);
    }
  }
  if (Notifier* notifier = hooks_.notifier ? hooks_.notifier() : nullptr) {
    notifier->committed(std::move(effects.notes), ok);
  }
  if (JobRunner* jobs = hooks_.jobs ? hooks_.jobs() : nullptr) {
    jobs->committed(std::move(effects.jobs), ok, lsn);
  }
}

bool AgentHub::send_to(const std::string& node, duet::v1::ManagerMessage m) {
  auto it = agents_.find(node);
  if (!acting_ || it == agents_.end() || !it->second.link) return false;
  m.set_epoch(hooks_.epoch());
  it->second.link->send(std::move(m));
  return true;
}

std::optional<duet::v1::MonitorDef> AgentHub::monitor_def(const std::string& name) const {
  auto it = monitors_.find(name);
  if (it == monitors_.end()) return std::nullopt;
  return it->second.def;
}

std::map<std::string, std::string> AgentHub::node_variables(const std::string& node) const {
  std::map<std::string, std::string> out;
  auto it = repo_.nodes.find(node);
  if (it == repo_.nodes.end()) return out;
  out["node.name"] = node;
  out["node.address"] = it->second.addresses.empty() ? "" : it->second.addresses.front();
  out["node.os"] = it->second.os;
  for (const auto& [k, v] : it->second.attributes) out["node." + k] = v;
  return out;
}

bool AgentHub::connected(const std::string& node) const {
  auto it = agents_.find(node);
  return it != agents_.end() && it->second.link != nullptr;
}

void AgentHub::commit_simple(store::WriteBatch batch, Effects effects, std::string what) {
  hooks_.commit(batch, [this, effects = std::move(effects),
                        what = std::move(what)](Result<ha::Runner::Committed> r) mutable {
    if (!r.ok()) spdlog::error("agents: {}: not committed: {}", what, r.error().to_string());
    settle(std::move(effects), r.ok(), r.ok() ? static_cast<std::uint64_t>(r->lsn) : 0);
  });
}

void AgentHub::liveness_tick() {
  liveness_timer_.reset();
  if (!acting_) return;
  liveness_timer_ =
      clock_.call_after(std::chrono::milliseconds(kLivenessTickMs), [this] { liveness_tick(); });
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  store::WriteBatch batch;
  Effects effects;
  std::string names;
  for (auto& [node, a] : agents_) {
    if (a.link || !a.reachable || !a.in_store) continue;
    const std::int64_t silent_since = std::max(a.last_seen_ms, acting_since_ms_);
    if (now_ms - silent_since < options_.unreachable_after_ms) continue;
    a.reachable = false;
    raise(batch, effects, "agent", node, Priority::kCritical,
          "agent " + node + " unreachable: no session for " +
              std::to_string((now_ms - a.last_seen_ms) / 1000) + " s",
          {{"agent", node}, {"state", "unreachable"}}, now_ms);
    add_agent_row(batch, a, now_ms);
    names += (names.empty() ? "" : ", ") + node;
  }
  if (batch.empty()) return;
  spdlog::warn("agents: unreachable: {}", names);
  commit_simple(std::move(batch), std::move(effects), "agents unreachable");
}

}  // namespace duet::manager
