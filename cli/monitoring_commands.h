#pragma once

// duetctl agents list | token, monitors add | list | show | enable | disable
// | remove, metrics query.

#include <CLI/CLI.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/connection.h"

namespace duet::cli {

struct MonitorAddArgs {
  std::string name, kind, node, scope, runs_on = "agent", description;
  std::uint32_t interval_s = 60;
  std::uint32_t timeout_s = 0;
  std::vector<std::string> params;    // KEY=VALUE
  std::string metric, info, warning;  // numeric judgement
  std::vector<std::string> patterns;  // REGEX=PRIORITY
  std::string otherwise;
  bool disabled = false;
  bool update = false;  // replace an existing definition
};

class MonitoringCommands {
 public:
  explicit MonitoringCommands(CLI::App& app);
  MonitoringCommands(const MonitoringCommands&) = delete;
  MonitoringCommands& operator=(const MonitoringCommands&) = delete;

  // The exit status of the command given, or nullopt when it was another one.
  std::optional<int> run(const ConnectionOptions& options, bool json, std::ostream& out,
                         std::ostream& err) const;

 private:
  MonitorAddArgs add_;
  std::string name_;
  std::string node_;
  std::string since_;
  std::uint32_t valid_s_ = 86400;
  std::uint32_t limit_ = 10000;
  CLI::App* agents_list_ = nullptr;
  CLI::App* agents_token_ = nullptr;
  CLI::App* monitors_add_ = nullptr;
  CLI::App* monitors_list_ = nullptr;
  CLI::App* monitors_show_ = nullptr;
  CLI::App* monitors_enable_ = nullptr;
  CLI::App* monitors_disable_ = nullptr;
  CLI::App* monitors_remove_ = nullptr;
  CLI::App* metrics_query_ = nullptr;
};

}  // namespace duet::cli
