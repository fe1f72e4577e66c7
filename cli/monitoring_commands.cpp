#include "cli/monitoring_commands.h"

#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/events_commands.h"
#include "cli/output.h"
#include "duet/v1/monitoring.grpc.pb.h"

namespace duet::cli {
namespace {

using json_t = nlohmann::ordered_json;

std::string iso(std::int64_t unix_ms) { return iso_time(unix_ms); }
std::int64_t now_ms() { return now_unix_ms(); }

// The stub of the master (writes) or of the first manager that answers (reads).
std::unique_ptr<duet::v1::Monitoring::Stub> connect(const ConnectionOptions& options,
                                                    std::ostream& err, std::string& address) {
  auto target = command_target(options, err);
  if (!target) return nullptr;
  address = *target;
  auto channel = open_channel(options, address, err);
  return channel ? duet::v1::Monitoring::NewStub(channel) : nullptr;
}

template <typename Call>
int call(const ConnectionOptions& options, const char* what, std::ostream& err, Call fn) {
  std::string address;
  auto stub = connect(options, err, address);
  if (!stub) return 1;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  grpc::Status s = fn(*stub, ctx);
  if (!s.ok()) {
    err << "duetctl: " << what << ": " << address << ": " << s.error_message() << "\n";
    return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                   s.error_code() == grpc::StatusCode::NOT_FOUND
               ? 2
               : 1;
  }
  return 0;
}

json_t def_json(const duet::v1::MonitorDef& d) {
  std::map<std::string, std::string> params(d.params().begin(), d.params().end());
  json_t judgement = json_t::object();
  const auto& j = d.judgement();
  if (!j.metric().empty()) judgement["metric"] = j.metric();
  if (!j.info_range().empty()) judgement["info"] = j.info_range();
  if (!j.warning_range().empty()) judgement["warning"] = j.warning_range();
  if (j.patterns_size() > 0) {
    json_t pats = json_t::array();
    for (const auto& p : j.patterns())
      pats.push_back({{"regex", p.regex()}, {"priority", p.priority()}});
    judgement["patterns"] = pats;
  }
  if (!j.otherwise().empty()) judgement["otherwise"] = j.otherwise();
  json_t out{{"name", d.name()}, {"kind", d.kind()}};
  if (!d.node().empty()) out["node"] = d.node();
  if (!d.scope().empty()) out["scope"] = d.scope();
  out["runs_on"] = d.runs_on();
  out["interval_s"] = d.interval_s();
  out["timeout_s"] = d.timeout_s();
  out["enabled"] = d.enabled();
  out["params"] = params;
  out["judgement"] = judgement;
  if (!d.description().empty()) out["description"] = d.description();
  out["updated_at"] = iso(d.updated_at_ms());
  out["updated_by"] = d.updated_by();
  return out;
}

json_t view_json(const duet::v1::MonitorView& v) {
  json_t out = def_json(v.monitor());
  json_t status = json_t::array();
  for (const auto& s : v.status()) {
    status.push_back({{"node", s.node()},
                      {"priority", s.priority()},
                      {"since", iso(s.since_ms())},
                      {"last_at", iso(s.last_at_ms())},
                      {"message", s.message()}});
  }
  out["status"] = status;
  return out;
}

bool split_pair(const std::string& text, char sep, bool last, std::string& a, std::string& b) {
  const auto at = last ? text.rfind(sep) : text.find(sep);
  if (at == std::string::npos || at == 0) return false;
  a = text.substr(0, at);
  b = text.substr(at + 1);
  return true;
}

int run_agents_list(const ConnectionOptions& options, bool json, std::ostream& out,
                    std::ostream& err) {
  duet::v1::ListAgentsResponse resp;
  int rc = call(options, "agents list", err, [&](auto& stub, auto& ctx) {
    return stub.ListAgents(&ctx, duet::v1::ListAgentsRequest(), &resp);
  });
  if (rc != 0) return rc;
  if (json) {
    json_t agents = json_t::array();
    for (const auto& a : resp.agents()) {
      agents.push_back({{"node", a.node()},
                        {"state", a.state()},
                        {"manager", a.manager()},
                        {"last_seen", iso(a.last_seen_ms())},
                        {"last_seen_ms", a.last_seen_ms()},
                        {"reachable", a.reachable()},
                        {"acked_up_to", a.acked_up_to()},
                        {"address", a.address()},
                        {"version", a.version()},
                        {"monitors", a.monitors()},
                        {"outbox_pending", a.outbox_pending()},
                        {"outbox_dropped", a.outbox_dropped()}});
    }
    out << json_t{{"node", resp.node()}, {"agents", agents}}.dump(2) << "\n";
    return 0;
  }
  out << std::left << std::setw(20) << "NODE" << std::setw(14) << "STATE" << std::setw(12)
      << "MANAGER" << std::setw(26) << "LAST SEEN" << std::setw(10) << "MONITORS"
      << "RESULTS" << std::right << "\n";
  for (const auto& a : resp.agents()) {
    out << std::left << std::setw(20) << a.node() << std::setw(14)
        << (a.reachable() ? a.state() : a.state() + "!") << std::setw(12)
        << (a.manager().empty() ? "-" : a.manager()) << std::setw(26) << iso(a.last_seen_ms())
        << std::setw(10) << a.monitors() << a.acked_up_to() << std::right;
    if (a.outbox_dropped() > 0) out << "  (" << a.outbox_dropped() << " dropped by a full outbox)";
    out << "\n";
  }
  if (resp.agents().empty()) out << "no agents\n";
  return 0;
}

int run_agents_token(const ConnectionOptions& options, const std::string& node,
                     std::uint32_t valid_s, bool json, std::ostream& out, std::ostream& err) {
  duet::v1::IssueTokenRequest req;
  req.set_node(node);
  req.set_valid_s(valid_s);
  duet::v1::IssueTokenResponse resp;
  int rc = call(options, "agents token", err,
                [&](auto& stub, auto& ctx) { return stub.IssueToken(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json) {
    out << json_t{{"node", node},
                  {"token", resp.token()},
                  {"expires_at", iso(resp.expires_at_ms())}}
               .dump(2)
        << "\n";
  } else {
    out << resp.token() << "\n";
    err << "one-time token for node " << node << ", valid until " << iso(resp.expires_at_ms())
        << "; put it in the agent's config as enrol_token\n";
  }
  return 0;
}

int print_change(const duet::v1::MonitorChangeResponse& resp, const std::string& name, bool json,
                 std::ostream& out) {
  if (json) {
    out << json_t{{"node", resp.node()},
                  {"monitor", name},
                  {"action", resp.action()},
                  {"lsn", resp.lsn()},
                  {"replicated", resp.replicated()}}
               .dump(2)
        << "\n";
  } else {
    out << "monitor " << name << ": " << resp.action();
    if (resp.lsn() != 0)
      out << " (LSN " << resp.lsn() << (resp.replicated() ? ", replicated" : ", not replicated")
          << ")";
    out << "\n";
  }
  return 0;
}

int run_monitors_add(const ConnectionOptions& options, const MonitorAddArgs& a, bool json,
                     std::ostream& out, std::ostream& err) {
  duet::v1::PutMonitorRequest req;
  req.set_create_only(!a.update);
  auto* d = req.mutable_monitor();
  d->set_name(a.name);
  d->set_kind(a.kind);
  d->set_node(a.node);
  d->set_scope(a.scope);
  d->set_runs_on(a.runs_on);
  d->set_interval_s(a.interval_s);
  d->set_timeout_s(a.timeout_s);
  d->set_enabled(!a.disabled);
  d->set_description(a.description);
  for (const auto& p : a.params) {
    std::string k, v;
    if (!split_pair(p, '=', false, k, v)) {
      err << "duetctl: monitors add: --param '" << p << "': write KEY=VALUE\n";
      return 2;
    }
    (*d->mutable_params())[k] = v;
  }
  auto* j = d->mutable_judgement();
  j->set_metric(a.metric);
  j->set_info_range(a.info);
  j->set_warning_range(a.warning);
  j->set_otherwise(a.otherwise);
  for (const auto& p : a.patterns) {
    std::string re, prio;
    if (!split_pair(p, '=', true, re, prio)) {
      err << "duetctl: monitors add: --pattern '" << p << "': write REGEX=PRIORITY\n";
      return 2;
    }
    auto* pat = j->add_patterns();
    pat->set_regex(re);
    pat->set_priority(prio);
  }
  duet::v1::MonitorChangeResponse resp;
  int rc = call(options, "monitors add", err,
                [&](auto& stub, auto& ctx) { return stub.PutMonitor(&ctx, req, &resp); });
  if (rc != 0) return rc;
  return print_change(resp, a.name, json, out);
}

int run_monitors_list(const ConnectionOptions& options, const std::string& only, bool json,
                      std::ostream& out, std::ostream& err) {
  duet::v1::ListMonitorsResponse resp;
  int rc = call(options, only.empty() ? "monitors list" : "monitors show", err,
                [&](auto& stub, auto& ctx) {
                  return stub.ListMonitors(&ctx, duet::v1::ListMonitorsRequest(), &resp);
                });
  if (rc != 0) return rc;
  if (!only.empty()) {
    for (const auto& v : resp.monitors()) {
      if (v.monitor().name() != only) continue;
      if (json) {
        out << view_json(v).dump(2) << "\n";
      } else {
        out << view_json(v).dump(2) << "\n";
      }
      return 0;
    }
    err << "duetctl: monitors show: no monitor '" << only << "'\n";
    return 2;
  }
  if (json) {
    json_t list = json_t::array();
    for (const auto& v : resp.monitors()) list.push_back(view_json(v));
    out << json_t{{"node", resp.node()}, {"monitors", list}}.dump(2) << "\n";
    return 0;
  }
  out << std::left << std::setw(24) << "NAME" << std::setw(10) << "KIND" << std::setw(20)
      << "TARGET" << std::setw(9) << "RUNS ON" << std::setw(10) << "INTERVAL" << std::setw(9)
      << "ENABLED"
      << "STATUS" << std::right << "\n";
  for (const auto& v : resp.monitors()) {
    const auto& d = v.monitor();
    std::map<std::string, int> by_priority;
    for (const auto& s : v.status()) ++by_priority[s.priority()];
    std::string status;
    for (const auto& [p, n] : by_priority)
      status += (status.empty() ? "" : ", ") + std::to_string(n) + " " + p;
    out << std::left << std::setw(24) << d.name() << std::setw(10) << d.kind() << std::setw(20)
        << (d.node().empty() ? "scope " + d.scope() : d.node()) << std::setw(9) << d.runs_on()
        << std::setw(10) << (std::to_string(d.interval_s()) + "s") << std::setw(9)
        << (d.enabled() ? "yes" : "no") << (status.empty() ? "-" : status) << std::right << "\n";
  }
  if (resp.monitors().empty()) out << "no monitors\n";
  return 0;
}

int run_monitors_change(const ConnectionOptions& options, const std::string& what,
                        const std::string& name, bool json, std::ostream& out, std::ostream& err) {
  duet::v1::MonitorChangeResponse resp;
  int rc = call(options, ("monitors " + what).c_str(), err, [&](auto& stub, auto& ctx) {
    if (what == "remove") {
      duet::v1::MonitorNameRequest req;
      req.set_name(name);
      return stub.RemoveMonitor(&ctx, req, &resp);
    }
    duet::v1::SetMonitorEnabledRequest req;
    req.set_name(name);
    req.set_enabled(what == "enable");
    return stub.SetMonitorEnabled(&ctx, req, &resp);
  });
  if (rc != 0) return rc;
  return print_change(resp, name, json, out);
}

int run_metrics_query(const ConnectionOptions& options, const std::string& node,
                      const std::string& monitor, const std::string& since, std::uint32_t limit,
                      bool json, std::ostream& out, std::ostream& err) {
  duet::v1::QueryMetricsRequest req;
  req.set_node(node);
  req.set_monitor(monitor);
  req.set_limit(limit);
  if (!since.empty()) {
    auto s = parse_since(since, now_ms());
    if (!s) {
      err << "duetctl: metrics query: --since '" << since
          << "': give unix ms, an ISO 8601 UTC time or an age (15m, 2h)\n";
      return 2;
    }
    req.set_since_ms(*s);
  }
  duet::v1::QueryMetricsResponse resp;
  int rc = call(options, "metrics query", err,
                [&](auto& stub, auto& ctx) { return stub.QueryMetrics(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json) {
    json_t points = json_t::array();
    for (const auto& p : resp.points()) {
      json_t values = json_t::array();
      for (const auto& m : p.metrics()) {
        json_t v{{"name", m.name()}, {"value", m.value()}};
        if (!m.label().empty()) v["label"] = m.label();
        values.push_back(v);
      }
      json_t point{{"at", iso(p.at_ms())}, {"at_ms", p.at_ms()}, {"priority", p.priority()},
                   {"ok", p.ok()},         {"seq", p.seq()},     {"metrics", values}};
      if (!p.error().empty()) point["error"] = p.error();
      points.push_back(point);
    }
    out << json_t{{"node", node}, {"monitor", monitor}, {"points", points}}.dump(2) << "\n";
    return 0;
  }
  for (const auto& p : resp.points()) {
    out << iso(p.at_ms()) << "  " << std::left << std::setw(8) << p.priority() << std::right;
    if (!p.ok()) out << "  " << p.error();
    for (const auto& m : p.metrics()) {
      out << "  " << m.name() << (m.label().empty() ? "" : "[" + m.label() + "]") << "="
          << m.value();
    }
    out << "\n";
  }
  if (resp.points().empty()) out << "no results in that time\n";
  return 0;
}

}  // namespace

MonitoringCommands::MonitoringCommands(CLI::App& app) {
  auto* agents = app.add_subcommand("agents", "agents on managed hosts");
  agents->require_subcommand(1);
  agents_list_ = agents->add_subcommand("list", "every agent: connected or not, to which manager");
  agents_token_ = agents->add_subcommand("token", "a one-time enrolment token for a node's agent");
  agents_token_->add_option("node", node_, "the agent's node")->required();
  agents_token_->add_option("--valid", valid_s_, "seconds it stays valid")->capture_default_str();

  auto* monitors = app.add_subcommand("monitors", "monitor definitions and their status");
  monitors->require_subcommand(1);
  monitors_add_ = monitors->add_subcommand("add", "define a monitor (on the master)");
  auto* m = monitors_add_;
  m->add_option("name", add_.name, "monitor name")->required();
  m->add_option("--kind", add_.kind, "ping, port, http, process, resource, log_file, command")
      ->required();
  m->add_option("--node", add_.node, "the node it watches");
  m->add_option("--scope", add_.scope, "or every node of this scope");
  m->add_option("--runs-on", add_.runs_on, "agent or manager")->capture_default_str();
  m->add_option("--interval", add_.interval_s, "seconds, 10 .. 86400")->capture_default_str();
  m->add_option("--timeout", add_.timeout_s, "seconds (default: 10, at most the interval)");
  m->add_option("--param", add_.params, "KEY=VALUE setting of the kind (repeat)");
  m->add_option("--metric", add_.metric, "the metric judged (NAME or NAME@LABEL)");
  m->add_option("--info", add_.info, "info range LOW:HIGH");
  m->add_option("--warning", add_.warning, "warning range LOW:HIGH (else critical)");
  m->add_option("--pattern", add_.patterns, "REGEX=PRIORITY over the result's text (repeat)");
  m->add_option("--otherwise", add_.otherwise, "priority when no pattern matches (info)");
  m->add_option("--description", add_.description, "what it is for");
  m->add_flag("--disabled", add_.disabled, "define it disabled");
  m->add_flag("--update", add_.update, "replace the monitor if it exists");
  monitors_list_ = monitors->add_subcommand("list", "every monitor with its status per node");
  monitors_show_ = monitors->add_subcommand("show", "one monitor in full");
  monitors_show_->add_option("name", name_, "monitor name")->required();
  monitors_enable_ = monitors->add_subcommand("enable", "run it again");
  monitors_enable_->add_option("name", name_, "monitor name")->required();
  monitors_disable_ = monitors->add_subcommand("disable", "stop running it (kept)");
  monitors_disable_->add_option("name", name_, "monitor name")->required();
  monitors_remove_ = monitors->add_subcommand("remove", "delete it (its metrics stay)");
  monitors_remove_->add_option("name", name_, "monitor name")->required();

  auto* metrics = app.add_subcommand("metrics", "monitor results kept as time series");
  metrics->require_subcommand(1);
  metrics_query_ =
      metrics->add_subcommand("query", "a node's results of one monitor, oldest first");
  metrics_query_->add_option("node", node_, "node")->required();
  metrics_query_->add_option("monitor", name_, "monitor")->required();
  metrics_query_->add_option("--since", since_,
                             "unix ms, ISO 8601 UTC, or an age (1h); default 1h");
  metrics_query_->add_option("--limit", limit_, "results at most")->capture_default_str();
}

std::optional<int> MonitoringCommands::run(const ConnectionOptions& options, bool json,
                                           std::ostream& out, std::ostream& err) const {
  if (agents_list_->parsed()) return run_agents_list(options, json, out, err);
  if (agents_token_->parsed()) return run_agents_token(options, node_, valid_s_, json, out, err);
  if (monitors_add_->parsed()) return run_monitors_add(options, add_, json, out, err);
  if (monitors_list_->parsed()) return run_monitors_list(options, "", json, out, err);
  if (monitors_show_->parsed()) return run_monitors_list(options, name_, json, out, err);
  if (monitors_enable_->parsed())
    return run_monitors_change(options, "enable", name_, json, out, err);
  if (monitors_disable_->parsed()) {
    return run_monitors_change(options, "disable", name_, json, out, err);
  }
  if (monitors_remove_->parsed())
    return run_monitors_change(options, "remove", name_, json, out, err);
  if (metrics_query_->parsed()) {
    return run_metrics_query(options, node_, name_, since_, limit_, json, out, err);
  }
  return std::nullopt;
}

}  // namespace duet::cli
