#include "cli/monitors_apply.h"

#include <chrono>
#include <set>

#include "duet/v1/monitoring.grpc.pb.h"
#include "duet/v1/repository.grpc.pb.h"

namespace duet::cli {
namespace {

void set_deadline(grpc::ClientContext& ctx, const ConnectionOptions& options) {
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
}

// The manager's problems ("FILE:LINE: what" per line) as FileProblems, to be
// sorted with the monitors' own.
std::vector<FileProblem> problems_of(const std::string& file, const std::string& message) {
  std::vector<FileProblem> out;
  std::size_t at = 0;
  while (at <= message.size()) {
    const auto nl = message.find('\n', at);
    std::string line = message.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? message.size() + 1 : nl + 1;
    if (line.empty()) continue;
    FileProblem p{0, line};
    const std::string prefix = file + ":";
    if (line.rfind(prefix, 0) == 0) {
      const auto colon = line.find(": ", prefix.size());
      const std::string number =
          colon == std::string::npos ? "" : line.substr(prefix.size(), colon - prefix.size());
      if (!number.empty() && number.size() < 9 &&
          number.find_first_not_of("0123456789") == std::string::npos) {
        p = {std::stoi(number), line.substr(colon + 2)};
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

MonitorsApply::MonitorsApply(const ConnectionOptions& options, std::string file, ApplyFile parsed)
    : options_(options), file_(std::move(file)), parsed_(std::move(parsed)) {}

int MonitorsApply::check(std::ostream& err) {
  auto target = command_target(options_, err);
  if (!target) return 1;
  address_ = *target;
  channel_ = open_channel(options_, address_, err);
  if (!channel_) return 1;
  auto failed = [&](const char* what, const grpc::Status& s) {
    err << "duetctl: apply: " << address_ << ": " << what << ": " << s.error_message() << "\n";
    return 1;
  };

  auto monitoring = duet::v1::Monitoring::NewStub(channel_);
  duet::v1::ListMonitorsResponse monitors;
  {
    grpc::ClientContext ctx;
    set_deadline(ctx, options_);
    auto s = monitoring->ListMonitors(&ctx, duet::v1::ListMonitorsRequest(), &monitors);
    if (!s.ok()) return failed("reading the monitors", s);
  }
  for (const auto& v : monitors.monitors()) stored_[v.monitor().name()] = v.monitor();

  auto repository = duet::v1::Repository::NewStub(channel_);
  std::set<std::string> nodes = parsed_.nodes, scopes = parsed_.scopes;
  {
    duet::v1::ListNodesResponse resp;
    grpc::ClientContext ctx;
    set_deadline(ctx, options_);
    auto s = repository->ListNodes(&ctx, duet::v1::ListNodesRequest(), &resp);
    if (!s.ok()) return failed("reading the nodes", s);
    for (const auto& n : resp.nodes()) nodes.insert(n.name());
  }
  {
    duet::v1::ListScopesResponse resp;
    grpc::ClientContext ctx;
    set_deadline(ctx, options_);
    auto s = repository->ListScopes(&ctx, duet::v1::ListScopesRequest(), &resp);
    if (!s.ok()) return failed("reading the scopes", s);
    for (const auto& sc : resp.scopes()) scopes.insert(sc.name());
  }

  std::vector<FileProblem> problems = parsed_.problems;
  for (const auto& m : parsed_.monitors) {
    const auto& d = m.def;
    const std::string who = "monitor '" + d.name() + "': ";
    if (!d.node().empty() && nodes.count(d.node()) == 0) {
      problems.push_back({m.line_of("node"), who + "node '" + d.node() +
                                                 "' does not exist (neither in this document "
                                                 "nor in the repository)"});
    }
    if (!d.scope().empty() && scopes.count(d.scope()) == 0) {
      problems.push_back({m.line_of("scope"), who + "scope '" + d.scope() +
                                                  "' does not exist (neither in this document "
                                                  "nor in the repository)"});
    }
  }
  if (problems.empty()) return 0;

  // Every problem at once: the repository part's too, from a dry run.
  duet::v1::ApplyRequest req;
  req.set_file(file_);
  req.set_yaml(parsed_.repository_yaml);
  req.set_dry_run(true);
  duet::v1::ChangeResponse resp;
  grpc::ClientContext ctx;
  set_deadline(ctx, options_);
  auto s = repository->Apply(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    auto more = problems_of(file_, s.error_message());
    problems.insert(problems.end(), more.begin(), more.end());
  }
  err << "duetctl: apply: " << address_ << ": refused, nothing changed:\n"
      << format_file_problems(file_, problems) << "\n";
  return 1;
}

duet::v1::ObjectChange MonitorsApply::planned(const FileMonitor& m) const {
  duet::v1::ObjectChange c;
  c.set_kind("monitor");
  c.set_name(m.def.name());
  auto it = stored_.find(m.def.name());
  if (it == stored_.end()) {
    c.set_action("created");
    return c;
  }
  auto fields = changed_fields(m.def, it->second);
  c.set_action(fields.empty() ? "unchanged" : "updated");
  for (auto& f : fields) c.add_fields(std::move(f));
  return c;
}

void MonitorsApply::plan(duet::v1::ChangeResponse& changes) const {
  for (const auto& m : parsed_.monitors) *changes.add_changes() = planned(m);
}

MonitorWrites MonitorsApply::put(duet::v1::ChangeResponse& changes) {
  MonitorWrites out;
  std::vector<FileProblem> refused;
  auto stub = duet::v1::Monitoring::NewStub(channel_);
  for (const auto& m : parsed_.monitors) {
    auto change = planned(m);
    // The same as the manager's: nothing to send (the dry run says the same).
    if (change.action() == "unchanged") {
      *changes.add_changes() = std::move(change);
      continue;
    }
    duet::v1::PutMonitorRequest req;
    *req.mutable_monitor() = m.def;
    req.set_create_only(false);
    duet::v1::MonitorChangeResponse resp;
    grpc::ClientContext ctx;
    set_deadline(ctx, options_);
    auto s = stub->PutMonitor(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        s.error_code() == grpc::StatusCode::NOT_FOUND) {
      refused.push_back({line_of_error(m, s.error_message()),
                         "monitor '" + m.def.name() + "': " + s.error_message()});
      continue;
    }
    if (!s.ok()) {
      out.refused = "duetctl: apply: " + address_ + ": monitor '" + m.def.name() +
                    "': " + s.error_message() + "; it and the monitors after it were not applied\n";
      break;
    }
    if (resp.action() != "updated") change.clear_fields();
    change.set_action(resp.action());
    *changes.add_changes() = std::move(change);
    if (resp.lsn() != 0) {
      out.lsns.push_back(resp.lsn());
      out.replicated = out.replicated && resp.replicated();
    }
  }
  if (!refused.empty()) {
    out.refused = "duetctl: apply: " + address_ +
                  ": monitors refused (the rest of the file is applied):\n" +
                  format_file_problems(file_, refused) + "\n" + out.refused;
  }
  return out;
}

std::optional<std::string> export_monitors(const ConnectionOptions& options, std::ostream& err) {
  auto address = command_target(options, err);
  if (!address) return std::nullopt;
  auto channel = open_channel(options, *address, err);
  if (!channel) return std::nullopt;
  auto stub = duet::v1::Monitoring::NewStub(channel);
  duet::v1::ListMonitorsResponse resp;
  grpc::ClientContext ctx;
  set_deadline(ctx, options);
  auto s = stub->ListMonitors(&ctx, duet::v1::ListMonitorsRequest(), &resp);
  if (!s.ok()) {
    err << "duetctl: export: " << *address << ": reading the monitors: " << s.error_message()
        << "\n";
    return std::nullopt;
  }
  std::vector<duet::v1::MonitorDef> defs;
  for (const auto& v : resp.monitors()) defs.push_back(v.monitor());
  return monitors_section(std::move(defs));
}

}  // namespace duet::cli
