#pragma once

// duetctl nodes | scopes | apply | export: the repository (docs/repository.md).
//
// Writes (add, remove, apply) go to the master, found with Status when two
// managers are given; a standby refuses them ("not master; the master is
// ..."). Reads (list, export) ask the master too when there is one, else the
// first manager that answers; with one --manager they show that node's own
// copy. `apply -f FILE` sends the file's text; the manager parses and checks
// it and answers every problem as "FILE:LINE: ...", changing nothing. The
// file's `monitors:` are taken out and put through the Monitoring service
// (cli/monitors_apply.h); `export` adds them from it.
//
// Exit status: 0 done; 1 refused, invalid or no manager; 2 wrong usage;
// 3 no such node or scope.

#include <CLI/CLI.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/connection.h"

namespace duet::cli {

struct NodeAddArgs {
  std::string name;
  std::vector<std::string> addresses;
  std::string os;
  std::vector<std::string> attributes;  // "KEY=VALUE" each
  std::vector<std::string> scopes;
};

struct ScopeAddArgs {
  std::string name;
  std::string parent;
  std::string description;
};

int run_nodes_add(const ConnectionOptions& options, const NodeAddArgs& args, bool json,
                  std::ostream& out, std::ostream& err);
int run_nodes_list(const ConnectionOptions& options, const std::string& scope, bool json,
                   std::ostream& out, std::ostream& err);
int run_nodes_remove(const ConnectionOptions& options, const std::string& name, bool json,
                     std::ostream& out, std::ostream& err);
int run_scopes_add(const ConnectionOptions& options, const ScopeAddArgs& args, bool json,
                   std::ostream& out, std::ostream& err);
int run_scopes_list(const ConnectionOptions& options, bool json, std::ostream& out,
                    std::ostream& err);
int run_scopes_remove(const ConnectionOptions& options, const std::string& name, bool json,
                      std::ostream& out, std::ostream& err);
// FILE "-" reads standard input.
int run_apply(const ConnectionOptions& options, const std::string& file, bool dry_run, bool json,
              std::ostream& out, std::ostream& err);
int run_export(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err);

// The subcommands nodes, scopes, apply and export of `app`, and their arguments.
class RepositoryCommands {
 public:
  explicit RepositoryCommands(CLI::App& app);
  RepositoryCommands(const RepositoryCommands&) = delete;
  RepositoryCommands& operator=(const RepositoryCommands&) = delete;

  // After parsing: the exit status of the repository command given, or
  // nullopt when the command line named another one.
  std::optional<int> run(const ConnectionOptions& options, bool json, std::ostream& out,
                         std::ostream& err) const;

 private:
  NodeAddArgs node_;
  ScopeAddArgs scope_;
  std::string name_;        // remove
  std::string list_scope_;  // nodes list --scope
  std::string file_;        // apply -f
  bool dry_run_ = false;
  CLI::App* nodes_add_ = nullptr;
  CLI::App* nodes_list_ = nullptr;
  CLI::App* nodes_remove_ = nullptr;
  CLI::App* scopes_add_ = nullptr;
  CLI::App* scopes_list_ = nullptr;
  CLI::App* scopes_remove_ = nullptr;
  CLI::App* apply_ = nullptr;
  CLI::App* export_ = nullptr;
};

}  // namespace duet::cli
