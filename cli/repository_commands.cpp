#include "cli/repository_commands.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/monitors_apply.h"
#include "cli/output.h"
#include "duet/v1/notify.grpc.pb.h"
#include "duet/v1/repository.grpc.pb.h"

namespace duet::cli {
namespace {

using json = nlohmann::ordered_json;

// One call to the Repository service of the command's target manager.
// (Or of the Notify service: the stub is the method's.)
template <typename Request, typename Response, typename Stub>
std::optional<grpc::Status> call(const ConnectionOptions& options, const std::string& command,
                                 const Request& request, Response* response,
                                 grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                              Response*),
                                 std::ostream& err, std::string* address_out = nullptr) {
  auto address = command_target(options, err);
  if (!address) return std::nullopt;
  auto channel = open_channel(options, *address, err);
  if (!channel) return std::nullopt;
  auto stub = std::make_unique<Stub>(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  grpc::Status s = ((*stub).*method)(&ctx, request, response);
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      err << "duetctl: " << command << ": " << *address << ": refused, nothing changed:\n"
          << s.error_message() << "\n";
    } else {
      err << "duetctl: " << command << ": " << *address << ": " << s.error_message() << "\n";
    }
  }
  if (address_out != nullptr) *address_out = *address;
  return s;
}

int exit_code(const std::optional<grpc::Status>& s) {
  if (!s) return 1;
  if (s->ok()) return 0;
  return s->error_code() == grpc::StatusCode::NOT_FOUND ? 3 : 1;
}

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& items,
                   const char* sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// `monitors`: what apply wrote besides the repository's transaction (its
// changes are in `resp`).
int print_change(const std::optional<grpc::Status>& s, const duet::v1::ChangeResponse& resp,
                 bool json_out, std::ostream& out, const MonitorWrites& monitors = {}) {
  if (!s || !s->ok()) return exit_code(s);
  std::map<std::string, int> counts;
  for (const auto& c : resp.changes()) ++counts[c.action()];
  const bool committed = resp.committed() || !monitors.lsns.empty();
  const bool replicated = (!resp.committed() || resp.replicated()) && monitors.replicated;
  std::uint64_t lsn = resp.lsn();
  for (auto l : monitors.lsns) lsn = std::max(lsn, l);
  if (json_out) {
    json changes = json::array();
    for (const auto& c : resp.changes()) {
      changes.push_back(
          {{"kind", c.kind()},
           {"name", c.name()},
           {"action", c.action()},
           {"fields", std::vector<std::string>(c.fields().begin(), c.fields().end())}});
    }
    out << json{{"node", resp.node()}, {"dry_run", resp.dry_run()}, {"committed", committed},
                {"lsn", lsn},          {"epoch", resp.epoch()},     {"replicated", replicated},
                {"summary", counts},   {"changes", changes}}
               .dump(2)
        << "\n";
    return 0;
  }
  for (const auto& c : resp.changes()) {
    out << c.kind() << " " << c.name() << ": "
        << (resp.dry_run() && c.action() != "unchanged" ? "would be " : "") << c.action();
    if (!c.fields().empty()) out << " (" << joined(c.fields()) << ")";
    out << "\n";
  }
  std::string summary;
  for (const char* a : {"created", "updated", "removed", "unchanged"}) {
    if (counts[a] != 0) {
      summary += (summary.empty() ? "" : ", ") + std::to_string(counts[a]) + " " + a;
    }
  }
  out << resp.node() << ": " << (summary.empty() ? "nothing given" : summary) << "; ";
  if (resp.dry_run()) {
    out << "dry run, nothing changed\n";
  } else if (!committed) {
    out << "nothing to change\n";
  } else {
    if (resp.committed()) {
      out << "committed at LSN " << resp.lsn() << " (epoch " << resp.epoch() << ")";
    }
    if (!monitors.lsns.empty()) {
      out << (resp.committed() ? ", definitions at LSN " : "definitions committed at LSN ")
          << monitors.lsns.front();
      if (monitors.lsns.size() > 1) out << " to " << monitors.lsns.back();
    }
    out << (replicated ? ", replicated to the standby" : ", NOT replicated (master alone)") << "\n";
  }
  return 0;
}

}  // namespace

int run_nodes_add(const ConnectionOptions& options, const NodeAddArgs& args, bool json_out,
                  std::ostream& out, std::ostream& err) {
  duet::v1::AddNodeRequest req;
  auto* node = req.mutable_node();
  node->set_name(args.name);
  for (const auto& a : args.addresses) node->add_addresses(a);
  node->set_os(args.os);
  for (const auto& kv : args.attributes) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      err << "duetctl: nodes add: --attr '" << kv << "': give KEY=VALUE\n";
      return 2;
    }
    const std::string key = kv.substr(0, eq);
    if (node->attributes().count(key) != 0) {
      err << "duetctl: nodes add: --attr: '" << key << "' is given twice\n";
      return 2;
    }
    (*node->mutable_attributes())[key] = kv.substr(eq + 1);
  }
  for (const auto& s : args.scopes) node->add_scopes(s);
  duet::v1::ChangeResponse resp;
  auto s = call(options, "nodes add", req, &resp, &duet::v1::Repository::Stub::AddNode, err);
  return print_change(s, resp, json_out, out);
}

int run_nodes_remove(const ConnectionOptions& options, const std::string& name, bool json_out,
                     std::ostream& out, std::ostream& err) {
  duet::v1::RemoveRequest req;
  req.set_name(name);
  duet::v1::ChangeResponse resp;
  auto s = call(options, "nodes remove", req, &resp, &duet::v1::Repository::Stub::RemoveNode, err);
  return print_change(s, resp, json_out, out);
}

int run_scopes_add(const ConnectionOptions& options, const ScopeAddArgs& args, bool json_out,
                   std::ostream& out, std::ostream& err) {
  duet::v1::AddScopeRequest req;
  req.mutable_scope()->set_name(args.name);
  req.mutable_scope()->set_parent(args.parent);
  req.mutable_scope()->set_description(args.description);
  duet::v1::ChangeResponse resp;
  auto s = call(options, "scopes add", req, &resp, &duet::v1::Repository::Stub::AddScope, err);
  return print_change(s, resp, json_out, out);
}

int run_scopes_remove(const ConnectionOptions& options, const std::string& name, bool json_out,
                      std::ostream& out, std::ostream& err) {
  duet::v1::RemoveRequest req;
  req.set_name(name);
  duet::v1::ChangeResponse resp;
  auto s =
      call(options, "scopes remove", req, &resp, &duet::v1::Repository::Stub::RemoveScope, err);
  return print_change(s, resp, json_out, out);
}

int run_apply(const ConnectionOptions& options, const std::string& file, bool dry_run,
              bool json_out, std::ostream& out, std::ostream& err) {
  duet::v1::ApplyRequest req;
  std::ostringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
    req.set_file("(stdin)");
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      err << "duetctl: apply: cannot read '" << file << "'\n";
      return 1;
    }
    text << in.rdbuf();
    req.set_file(file);
  }
  req.set_dry_run(dry_run);
  duet::v1::ChangeResponse resp;
  // Monitors are the Monitoring service's, channels and notifications the
  // Notify service's: the repository gets the file without them.
  ApplyFile parsed = split_apply_file(text.str());
  if (!parsed.has_monitors && !parsed.has_notify) {
    req.set_yaml(text.str());
    auto s = call(options, "apply", req, &resp, &duet::v1::Repository::Stub::Apply, err);
    return print_change(s, resp, json_out, out);
  }
  duet::v1::ApplyNotifyRequest notify_req;
  notify_req.set_yaml(text.str());
  notify_req.set_file(req.file());
  if (parsed.has_notify) {
    // Checked first (a dry run), so a bad definition changes nothing.
    notify_req.set_dry_run(true);
    duet::v1::ChangeResponse planned;
    auto s = call(options, "apply", notify_req, &planned, &duet::v1::Notify::Stub::Apply, err);
    if (!s || !s->ok()) return exit_code(s);
    notify_req.set_dry_run(dry_run);
  }
  const bool has_notify = parsed.has_notify;
  std::optional<MonitorsApply> monitors;
  if (parsed.has_monitors) {
    monitors.emplace(options, req.file(), std::move(parsed));
    if (int rc = monitors->check(err); rc != 0) return rc;
    req.set_yaml(monitors->repository_yaml());
  } else {
    req.set_yaml(parsed.repository_yaml);
  }
  auto s = call(options, "apply", req, &resp, &duet::v1::Repository::Stub::Apply, err);
  if (!s || !s->ok()) return exit_code(s);
  MonitorWrites writes;
  if (monitors) {
    if (dry_run) {
      monitors->plan(resp);
    } else {
      writes = monitors->put(resp);
    }
  }
  if (has_notify) {
    duet::v1::ChangeResponse notified;
    auto ns = call(options, "apply", notify_req, &notified, &duet::v1::Notify::Stub::Apply, err);
    if (!ns || !ns->ok()) return exit_code(ns);
    for (const auto& c : notified.changes()) *resp.add_changes() = c;
    if (notified.committed()) {
      writes.lsns.push_back(notified.lsn());
      writes.replicated = writes.replicated && notified.replicated();
    }
  }
  const int rc = print_change(s, resp, json_out, out, writes);
  err << writes.refused;
  return writes.refused.empty() ? rc : 1;
}

int run_nodes_list(const ConnectionOptions& options, const std::string& scope, bool json_out,
                   std::ostream& out, std::ostream& err) {
  duet::v1::ListNodesRequest req;
  req.set_scope(scope);
  duet::v1::ListNodesResponse resp;
  auto s = call(options, "nodes list", req, &resp, &duet::v1::Repository::Stub::ListNodes, err);
  if (!s || !s->ok()) return exit_code(s);
  if (json_out) {
    json nodes = json::array();
    for (const auto& n : resp.nodes()) {
      // Sorted, so the output does not depend on map order.
      std::map<std::string, std::string> attributes(n.attributes().begin(), n.attributes().end());
      nodes.push_back(
          {{"name", n.name()},
           {"addresses", std::vector<std::string>(n.addresses().begin(), n.addresses().end())},
           {"os", n.os()},
           {"attributes", attributes},
           {"scopes", std::vector<std::string>(n.scopes().begin(), n.scopes().end())},
           {"updated_at_ms", n.updated_at_ms()},
           {"updated_by", n.updated_by()}});
    }
    out << json{{"node", resp.node()}, {"applied_lsn", resp.applied_lsn()}, {"nodes", nodes}}.dump(
               2)
        << "\n";
    return 0;
  }
  if (resp.nodes().empty()) {
    out << "no nodes" << (scope.empty() ? "" : " in scope " + scope) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "ADDRESSES", "OS", "SCOPES", "ATTRIBUTES"}};
  for (const auto& n : resp.nodes()) {
    std::map<std::string, std::string> attributes(n.attributes().begin(), n.attributes().end());
    std::string attrs;
    for (const auto& [k, v] : attributes) attrs += (attrs.empty() ? "" : ", ") + k + "=" + v;
    rows.push_back({n.name(), joined(n.addresses()), n.os().empty() ? "-" : n.os(),
                    n.scopes().empty() ? "-" : joined(n.scopes()), attrs.empty() ? "-" : attrs});
  }
  print_table(rows, out);
  return 0;
}

int run_scopes_list(const ConnectionOptions& options, bool json_out, std::ostream& out,
                    std::ostream& err) {
  duet::v1::ListScopesResponse resp;
  auto s = call(options, "scopes list", duet::v1::ListScopesRequest(), &resp,
                &duet::v1::Repository::Stub::ListScopes, err);
  if (!s || !s->ok()) return exit_code(s);
  if (json_out) {
    json scopes = json::array();
    for (const auto& sc : resp.scopes()) {
      scopes.push_back({{"name", sc.name()},
                        {"parent", sc.parent().empty() ? json(nullptr) : json(sc.parent())},
                        {"description", sc.description()},
                        {"depth", sc.depth()},
                        {"nodes", sc.node_count()},
                        {"updated_at_ms", sc.updated_at_ms()},
                        {"updated_by", sc.updated_by()}});
    }
    out << json{{"node", resp.node()}, {"applied_lsn", resp.applied_lsn()}, {"scopes", scopes}}
               .dump(2)
        << "\n";
    return 0;
  }
  if (resp.scopes().empty()) {
    out << "no scopes\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"SCOPE", "NODES", "DESCRIPTION"}};
  for (const auto& sc : resp.scopes()) {
    std::string description = sc.description();
    if (auto nl = description.find('\n'); nl != std::string::npos) {
      description = description.substr(0, nl) + " ...";
    }
    rows.push_back({std::string(2 * sc.depth(), ' ') + sc.name(), std::to_string(sc.node_count()),
                    description});
  }
  print_table(rows, out);
  return 0;
}

int run_export(const ConnectionOptions& options, bool json_out, std::ostream& out,
               std::ostream& err) {
  duet::v1::ExportResponse resp;
  auto s = call(options, "export", duet::v1::ExportRequest(), &resp,
                &duet::v1::Repository::Stub::Export, err);
  if (!s || !s->ok()) return exit_code(s);
  auto monitors = export_monitors(options, err);  // read apart from the repository
  if (!monitors) return 1;
  duet::v1::NotifyDefsResponse defs;
  auto ns = call(options, "export", duet::v1::NotifyDefsRequest(), &defs,
                 &duet::v1::Notify::Stub::Definitions, err);
  if (!ns || !ns->ok()) return exit_code(ns);
  std::string yaml = resp.yaml();
  for (const std::string* part :
       std::initializer_list<const std::string*>{&*monitors, &defs.yaml()}) {
    if (!part->empty() && !yaml.empty() && yaml.back() != '\n') yaml += '\n';
    yaml += *part;
  }
  if (json_out) {
    out << json{{"node", resp.node()}, {"applied_lsn", resp.applied_lsn()}, {"yaml", yaml}}.dump(2)
        << "\n";
  } else {
    out << yaml;
  }
  return 0;
}

RepositoryCommands::RepositoryCommands(CLI::App& app) {
  auto* nodes = app.add_subcommand("nodes", "the repository's nodes (hosts and devices)");
  nodes->require_subcommand(1);
  nodes_add_ = nodes->add_subcommand("add", "add a node (on the master)");
  nodes_add_->add_option("name", node_.name, "node name")->required();
  nodes_add_->add_option("--address", node_.addresses, "an IP address or host name (repeat)")
      ->required();
  nodes_add_->add_option("--os", node_.os, "operating system");
  nodes_add_->add_option("--attr", node_.attributes, "KEY=VALUE attribute (repeat)");
  nodes_add_->add_option("--scope", node_.scopes, "a scope it sits in (repeat)");
  nodes_list_ = nodes->add_subcommand("list", "every node, by name");
  nodes_list_->add_option("--scope", list_scope_, "only nodes in this scope or below it");
  nodes_remove_ = nodes->add_subcommand("remove", "remove a node and its memberships");
  nodes_remove_->add_option("name", name_, "node name")->required();

  auto* scopes = app.add_subcommand("scopes", "the repository's scopes (a tree)");
  scopes->require_subcommand(1);
  scopes_add_ = scopes->add_subcommand("add", "add a scope (on the master)");
  scopes_add_->add_option("name", scope_.name, "scope name")->required();
  scopes_add_->add_option("--parent", scope_.parent, "the scope it sits under (none: a top scope)");
  scopes_add_->add_option("--description", scope_.description, "what it is");
  scopes_list_ = scopes->add_subcommand("list", "every scope, in tree order");
  scopes_remove_ =
      scopes->add_subcommand("remove", "remove a scope without child scopes, and its memberships");
  scopes_remove_->add_option("name", name_, "scope name")->required();

  apply_ =
      app.add_subcommand("apply", "create or update the scopes, nodes and monitors of a YAML file");
  apply_->add_option("-f,--file", file_, "the YAML document ('-': standard input)")->required();
  apply_->add_flag("--dry-run", dry_run_, "show what would change, change nothing");
  export_ =
      app.add_subcommand("export", "the repository and the monitors as a YAML document for apply");
}

std::optional<int> RepositoryCommands::run(const ConnectionOptions& options, bool json,
                                           std::ostream& out, std::ostream& err) const {
  if (nodes_add_->parsed()) return run_nodes_add(options, node_, json, out, err);
  if (nodes_list_->parsed()) return run_nodes_list(options, list_scope_, json, out, err);
  if (nodes_remove_->parsed()) return run_nodes_remove(options, name_, json, out, err);
  if (scopes_add_->parsed()) return run_scopes_add(options, scope_, json, out, err);
  if (scopes_list_->parsed()) return run_scopes_list(options, json, out, err);
  if (scopes_remove_->parsed()) return run_scopes_remove(options, name_, json, out, err);
  if (apply_->parsed()) return run_apply(options, file_, dry_run_, json, out, err);
  if (export_->parsed()) return run_export(options, json, out, err);
  return std::nullopt;
}

}  // namespace duet::cli
