#pragma once

// duetctl jobs ...: job-net definitions, sessions and operations
// (docs/jobs.md).
//
//   jobs apply -f FILE [--dry-run] [--prune]     definitions (FILE:LINE on error)
//   jobs export                                  every definition as YAML
//   jobs list                                    the nets
//   jobs start NET [--param K=V]... [--business-day D]
//   jobs sessions [--net N] [--state S] [--limit N]
//   jobs show SESSION                            units, end values, output tails, operations
//   jobs hold|release|skip|unskip|stop|approve|reject SESSION [UNIT]
//   jobs suspend|resume SESSION
//   jobs force-end SESSION [UNIT] --status S [--value V]
//   jobs rerun SESSION [UNIT] [--mode from|after|top|warning]
//
// Writes go to the master; reads to the master when there is one, else to
// the first manager that answers. Exit status: 0 done; 1 refused or no
// manager; 2 wrong usage or invalid definitions; 3 no such net or session.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/connection.h"

namespace duet::cli {

class JobsCommands {
 public:
  explicit JobsCommands(CLI::App& app);
  JobsCommands(const JobsCommands&) = delete;
  JobsCommands& operator=(const JobsCommands&) = delete;

  std::optional<int> run(const ConnectionOptions& options, bool json, std::ostream& out,
                         std::ostream& err) const;

 private:
  int apply(const ConnectionOptions& options, bool json, std::ostream& out,
            std::ostream& err) const;
  int list(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err,
           bool yaml) const;
  int start(const ConnectionOptions& options, bool json, std::ostream& out,
            std::ostream& err) const;
  int sessions(const ConnectionOptions& options, bool json, std::ostream& out,
               std::ostream& err) const;
  int show(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err) const;
  int operate(const std::string& op, const ConnectionOptions& options, bool json, std::ostream& out,
              std::ostream& err) const;

  CLI::App* apply_ = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* start_ = nullptr;
  CLI::App* sessions_ = nullptr;
  CLI::App* show_ = nullptr;
  std::vector<std::pair<std::string, CLI::App*>> ops_;
  std::string file_;
  bool dry_run_ = false, prune_ = false;
  std::string net_, business_day_, state_;
  std::vector<std::string> params_;
  std::uint32_t limit_ = 0;
  std::uint64_t session_ = 0;
  std::string unit_, status_, mode_ = "from";
  std::int64_t value_ = 0;
};

}  // namespace duet::cli
