#include "cli/jobs_commands.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/output.h"
#include "duet/v1/jobs.grpc.pb.h"

namespace duet::cli {
namespace {

using json = nlohmann::ordered_json;

const std::vector<std::string> kOps{"hold",   "release", "skip",   "unskip",    "stop", "suspend",
                                    "resume", "approve", "reject", "force-end", "rerun"};

std::string time_or_dash(std::int64_t ms) { return ms == 0 ? "-" : iso_time(ms); }

json session_json(const duet::v1::JobSessionInfo& s) {
  json j{{"id", s.id()},
         {"net", s.net()},
         {"version", s.version()},
         {"state", s.state()},
         {"end_status", s.end_status()},
         {"trigger", s.trigger()},
         {"business_day", s.business_day()},
         {"created_at", iso_time(s.created_at_ms())},
         {"started_at", time_or_dash(s.started_at_ms())},
         {"ended_at", time_or_dash(s.ended_at_ms())}};
  j["params"] = std::map<std::string, std::string>(s.params().begin(), s.params().end());
  j["variables"] = std::map<std::string, std::string>(s.variables().begin(), s.variables().end());
  return j;
}

json unit_json(const duet::v1::JobUnitView& v) {
  const auto& st = v.state();
  json runs = json::array();
  for (const auto& r : st.runs()) {
    runs.push_back({{"run_id", r.run_id()},
                    {"node", r.node()},
                    {"state", r.state()},
                    {"epoch", r.epoch()},
                    {"dispatched_at", time_or_dash(r.dispatched_at_ms())},
                    {"started_at", time_or_dash(r.started_at_ms())},
                    {"ended_at", time_or_dash(r.ended_at_ms())},
                    {"end_value", r.end_value()},
                    {"error", r.error()},
                    {"stdout_tail", r.stdout_tail()},
                    {"stderr_tail", r.stderr_tail()}});
  }
  return json{{"path", v.path()},
              {"kind", v.kind()},
              {"state", st.state()},
              {"end_status", st.end_status()},
              {"end_value", st.end_value()},
              {"attempt", st.attempt()},
              {"hold", st.hold()},
              {"skip", st.skip()},
              {"ready_at", time_or_dash(st.ready_at_ms())},
              {"started_at", time_or_dash(st.started_at_ms())},
              {"ended_at", time_or_dash(st.ended_at_ms())},
              {"approved_by", st.approved_by()},
              {"runs", runs}};
}

}  // namespace

JobsCommands::JobsCommands(CLI::App& app) {
  auto* jobs = app.add_subcommand("jobs", "job nets: definitions, sessions and operations");
  apply_ = jobs->add_subcommand("apply", "apply job-net definitions from a YAML file");
  apply_->add_option("-f,--file", file_, "the file")->required();
  apply_->add_flag("--dry-run", dry_run_, "check and show the changes, write nothing");
  apply_->add_flag("--prune", prune_, "remove what the file does not name");
  export_ =
      jobs->add_subcommand("export", "every definition as YAML (applying it changes nothing)");
  list_ = jobs->add_subcommand("list", "the job nets");
  start_ = jobs->add_subcommand("start", "start a session of a net now");
  start_->add_option("net", net_, "the net")->required();
  start_->add_option("--param", params_, "a runtime parameter NAME=VALUE (repeatable)");
  start_->add_option("--business-day", business_day_, "YYYY-MM-DD (default: by the calendar)");
  sessions_ = jobs->add_subcommand("sessions", "the newest sessions");
  sessions_->add_option("--net", net_, "of this net");
  sessions_->add_option("--state", state_, "running, suspended or ended");
  sessions_->add_option("--limit", limit_, "at most N (default 100)");
  show_ = jobs->add_subcommand("show", "a session: its units, runs, output tails and operations");
  show_->add_option("session", session_, "the session id")->required();
  for (const auto& op : kOps) {
    auto* sub = jobs->add_subcommand(op, op == "force-end" ? "end a unit now with a chosen status"
                                         : op == "rerun"   ? "run again from a unit"
                                                           : op + " a session or one of its units");
    sub->add_option("session", session_, "the session id")->required();
    if (op != "suspend" && op != "resume") sub->add_option("unit", unit_, "a unit's path (a/b)");
    if (op == "force-end") {
      sub->add_option("--status", status_, "normal, warning or abnormal")->required();
      sub->add_option("--value", value_, "the end value (default 0)");
    }
    if (op == "rerun") {
      sub->add_option("--mode", mode_, "from (default), after, top or warning")
          ->check(CLI::IsMember({"from", "after", "top", "warning"}));
    }
    ops_.emplace_back(op, sub);
  }
}

std::optional<int> JobsCommands::run(const ConnectionOptions& options, bool json_out,
                                     std::ostream& out, std::ostream& err) const {
  if (apply_->parsed()) return apply(options, json_out, out, err);
  if (export_->parsed()) return list(options, json_out, out, err, true);
  if (list_->parsed()) return list(options, json_out, out, err, false);
  if (start_->parsed()) return start(options, json_out, out, err);
  if (sessions_->parsed()) return sessions(options, json_out, out, err);
  if (show_->parsed()) return show(options, json_out, out, err);
  for (const auto& [op, sub] : ops_) {
    if (sub->parsed()) return operate(op, options, json_out, out, err);
  }
  return std::nullopt;
}

int JobsCommands::apply(const ConnectionOptions& options, bool json_out, std::ostream& out,
                        std::ostream& err) const {
  std::ifstream in(file_);
  if (!in) {
    err << "duetctl: jobs apply: cannot read " << file_ << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  duet::v1::ApplyJobsRequest req;
  req.set_yaml(text.str());
  req.set_file(file_);
  req.set_dry_run(dry_run_);
  req.set_prune(prune_);
  duet::v1::ChangeResponse resp;
  const int rc = call_service<duet::v1::Jobs>(
      options, "jobs apply", err,
      [&](auto& stub, auto& ctx) { return stub.Apply(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json_out) {
    json changes = json::array();
    for (const auto& c : resp.changes()) {
      changes.push_back(
          {{"kind", c.kind()},
           {"name", c.name()},
           {"action", c.action()},
           {"fields", std::vector<std::string>(c.fields().begin(), c.fields().end())}});
    }
    out << json{{"node", resp.node()},
                {"dry_run", resp.dry_run()},
                {"committed", resp.committed()},
                {"lsn", resp.lsn()},
                {"replicated", resp.replicated()},
                {"changes", changes}}
               .dump(2)
        << "\n";
    return 0;
  }
  for (const auto& c : resp.changes()) {
    out << c.kind() << " " << c.name() << ": " << c.action();
    for (int i = 0; i < c.fields_size(); ++i) out << (i == 0 ? " (" : ", ") << c.fields(i);
    out << (c.fields_size() > 0 ? ")" : "") << "\n";
  }
  if (resp.dry_run()) {
    out << "dry run: nothing written\n";
  } else if (resp.committed()) {
    out << "definitions committed at LSN " << resp.lsn()
        << (resp.replicated() ? " (replicated)" : " (standby away: not replicated yet)") << "\n";
  } else {
    out << "nothing to change\n";
  }
  return 0;
}

int JobsCommands::list(const ConnectionOptions& options, bool json_out, std::ostream& out,
                       std::ostream& err, bool yaml) const {
  duet::v1::JobDefsResponse resp;
  const int rc = call_service<duet::v1::Jobs>(options, "jobs", err, [&](auto& stub, auto& ctx) {
    return stub.Definitions(&ctx, duet::v1::JobDefsRequest(), &resp);
  });
  if (rc != 0) return rc;
  if (yaml) {
    out << resp.yaml();
    return 0;
  }
  if (json_out) {
    json nets = json::array();
    for (const auto& n : resp.nets()) {
      json schedules = json::array();
      for (const auto& s : n.schedules()) schedules.push_back(s.cron() + " " + s.zone());
      nets.push_back({{"name", n.root().name()},
                      {"enabled", n.enabled()},
                      {"version", n.version()},
                      {"units", n.root().units_size()},
                      {"schedules", schedules},
                      {"calendar", n.calendar()},
                      {"updated_at", time_or_dash(n.updated_at_ms())},
                      {"updated_by", n.updated_by()}});
    }
    out << json{{"node", resp.node()}, {"nets", nets}}.dump(2) << "\n";
    return 0;
  }
  if (resp.nets().empty()) {
    out << "no job nets (define them with duetctl jobs apply -f FILE)\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NET", "ENABLED", "VERSION", "UNITS", "SCHEDULES"}};
  for (const auto& n : resp.nets()) {
    std::string sched;
    for (const auto& s : n.schedules()) sched += (sched.empty() ? "" : "; ") + s.cron();
    rows.push_back({n.root().name(), n.enabled() ? "yes" : "no", std::to_string(n.version()),
                    std::to_string(n.root().units_size()), sched.empty() ? "-" : sched});
  }
  print_table(rows, out);
  return 0;
}

int JobsCommands::start(const ConnectionOptions& options, bool json_out, std::ostream& out,
                        std::ostream& err) const {
  duet::v1::StartJobRequest req;
  req.set_net(net_);
  req.set_business_day(business_day_);
  for (const auto& p : params_) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      err << "duetctl: jobs start: --param " << p << ": give NAME=VALUE\n";
      return 2;
    }
    (*req.mutable_params())[p.substr(0, eq)] = p.substr(eq + 1);
  }
  duet::v1::StartJobResponse resp;
  const int rc = call_service<duet::v1::Jobs>(
      options, "jobs start", err,
      [&](auto& stub, auto& ctx) { return stub.Start(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json_out) {
    out << json{{"session", resp.session()}, {"lsn", resp.lsn()}}.dump(2) << "\n";
  } else {
    out << "session " << resp.session() << " of " << net_ << " started\n";
  }
  return 0;
}

int JobsCommands::sessions(const ConnectionOptions& options, bool json_out, std::ostream& out,
                           std::ostream& err) const {
  duet::v1::ListSessionsRequest req;
  req.set_net(net_);
  req.set_state(state_);
  req.set_limit(limit_);
  duet::v1::ListSessionsResponse resp;
  const int rc = call_service<duet::v1::Jobs>(
      options, "jobs sessions", err,
      [&](auto& stub, auto& ctx) { return stub.Sessions(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json_out) {
    json list = json::array();
    for (const auto& s : resp.sessions()) list.push_back(session_json(s));
    out << json{{"node", resp.node()}, {"sessions", list}}.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"SESSION", "NET", "STATE", "END", "BUSINESS DAY", "STARTED", "ENDED", "TRIGGER"}};
  for (const auto& s : resp.sessions()) {
    rows.push_back({std::to_string(s.id()), s.net(), s.state(),
                    s.end_status().empty() ? "-" : s.end_status(), s.business_day(),
                    time_or_dash(s.started_at_ms()), time_or_dash(s.ended_at_ms()), s.trigger()});
  }
  print_table(rows, out);
  return 0;
}

int JobsCommands::show(const ConnectionOptions& options, bool json_out, std::ostream& out,
                       std::ostream& err) const {
  duet::v1::ShowSessionRequest req;
  req.set_session(session_);
  duet::v1::ShowSessionResponse resp;
  const int rc = call_service<duet::v1::Jobs>(
      options, "jobs show", err,
      [&](auto& stub, auto& ctx) { return stub.Show(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json_out) {
    json units = json::array(), ops = json::array();
    for (const auto& u : resp.units()) units.push_back(unit_json(u));
    for (const auto& o : resp.operations()) {
      ops.push_back({{"unit", o.unit()},
                     {"op", o.op()},
                     {"detail", o.detail()},
                     {"by", o.by()},
                     {"at", iso_time(o.at_ms())}});
    }
    json j = session_json(resp.session());
    j["units"] = units;
    j["operations"] = ops;
    out << j.dump(2) << "\n";
    return 0;
  }
  const auto& s = resp.session();
  out << "session " << s.id() << " of " << s.net() << " (version " << s.version()
      << "): " << s.state() << (s.end_status().empty() ? "" : " " + s.end_status())
      << ", business day " << s.business_day() << ", " << s.trigger() << "\n";
  std::vector<std::vector<std::string>> rows{
      {"UNIT", "KIND", "STATE", "END", "VALUE", "TRY", "RUN", "NODE", "STARTED", "ENDED"}};
  for (const auto& u : resp.units()) {
    const auto& st = u.state();
    const auto* run = st.runs().empty() ? nullptr : &st.runs(st.runs_size() - 1);
    rows.push_back({u.path().empty() ? "(net)" : u.path(), u.kind(),
                    st.state() + (st.hold() ? " (hold)" : "") + (st.skip() ? " (skip)" : ""),
                    st.end_status().empty() ? "-" : st.end_status(),
                    st.end_status().empty() ? "-" : std::to_string(st.end_value()),
                    std::to_string(st.attempt()), run ? run->run_id() : "-",
                    run ? run->node() : "-", time_or_dash(st.started_at_ms()),
                    time_or_dash(st.ended_at_ms())});
  }
  print_table(rows, out);
  for (const auto& u : resp.units()) {
    for (const auto& r : u.state().runs()) {
      if (r.stdout_tail().empty() && r.stderr_tail().empty() && r.error().empty()) continue;
      out << "\n" << u.path() << " run " << r.run_id() << " on " << r.node() << ":\n";
      if (!r.error().empty()) out << "  error: " << r.error() << "\n";
      for (const auto& [name, tail] : {std::pair{"stdout", &r.stdout_tail()},
                                       std::pair{"stderr", &r.stderr_tail()}}) {
        if (tail->empty()) continue;
        out << "  " << name << " (tail):\n" << *tail << (tail->back() == '\n' ? "" : "\n");
      }
    }
  }
  if (!resp.operations().empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> ops{{"AT", "BY", "OPERATION", "UNIT", "DETAIL"}};
    for (const auto& o : resp.operations()) {
      ops.push_back({iso_time(o.at_ms()), o.by(), o.op(), o.unit().empty() ? "-" : o.unit(),
                     o.detail().empty() ? "-" : o.detail()});
    }
    print_table(ops, out);
  }
  return 0;
}

int JobsCommands::operate(const std::string& op, const ConnectionOptions& options, bool json_out,
                          std::ostream& out, std::ostream& err) const {
  duet::v1::JobOperationRequest req;
  req.set_session(session_);
  req.set_unit(unit_);
  req.set_op(op);
  req.set_status(status_);
  req.set_value(value_);
  req.set_rerun(mode_);
  duet::v1::JobOperationResponse resp;
  const std::string what = "jobs " + op;
  const int rc = call_service<duet::v1::Jobs>(
      options, what.c_str(), err,
      [&](auto& stub, auto& ctx) { return stub.Operate(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json_out) {
    out << json{{"session", session_}, {"unit", unit_}, {"op", op}, {"lsn", resp.lsn()}}.dump(2)
        << "\n";
  } else {
    out << op << ": session " << session_ << (unit_.empty() ? "" : " unit " + unit_) << ": done\n";
  }
  return 0;
}

}  // namespace duet::cli
