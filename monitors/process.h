#pragma once

// The process monitor: how many processes match a name and/or arguments
// pattern, and their CPU and memory, from /proc (Linux).
//
// - parse_pid_stat() reads /proc/<pid>/stat, whose command name sits in
//   parentheses and may itself hold spaces and parentheses (the last ')'
//   ends it);
// - ProcessSampler lists /proc/<pid> directories under a /proc root (a test
//   gives a directory of fixtures), keeps the processes that match, and
//   process_metrics() turns two samples into a CPU percentage.
//
// A process that exits while it is being read is skipped, not an error.

#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "monitors/resource.h"

namespace duet::monitors {

struct PidStat {
  std::string comm;             // the command name (at most 15 characters, from the kernel)
  char state = '?';             // R, S, D, Z, ...
  std::uint64_t cpu_ticks = 0;  // utime + stime, in clock ticks
  std::uint64_t rss_pages = 0;
};

std::optional<PidStat> parse_pid_stat(std::string_view text);

struct ProcessMatch {
  // ECMAScript regexes; an empty one matches everything. `name` is tried on
  // the command name and on the basename of argv[0]; `args` on the whole
  // command line, arguments joined by spaces.
  std::string name;
  std::string args;
  bool include_zombies = false;
};

struct ProcessInfo {
  std::uint64_t pid = 0;
  std::string comm;
  std::string cmdline;
  std::uint64_t cpu_ticks = 0;
  std::uint64_t rss_bytes = 0;
};

struct ProcessSample {
  std::map<std::uint64_t, ProcessInfo> processes;  // the matching ones, by pid
};

class ProcessSampler {
 public:
  // An invalid pattern is an error naming it (kInvalidArgument).
  static Result<ProcessSampler> create(ProcessMatch match, std::string proc_root = "/proc");
  Result<ProcessSample> sample() const;

 private:
  ProcessSampler(ProcessMatch match, std::optional<std::regex> name, std::optional<std::regex> args,
                 std::string root)
      : match_(std::move(match)),
        name_(std::move(name)),
        args_(std::move(args)),
        root_(std::move(root)) {}
  bool matches(const PidStat& stat, const std::string& cmdline) const;

  ProcessMatch match_;
  std::optional<std::regex> name_;
  std::optional<std::regex> args_;
  std::string root_;
};

// "process.count", "process.rss_bytes", and with `before` (taken `seconds`
// earlier) "process.cpu_pct": CPU used by the processes present in both
// samples, in % of one core (200 = two cores busy). `ticks_per_s`: the
// kernel's USER_HZ (sysconf(_SC_CLK_TCK)).
std::vector<Metric> process_metrics(const ProcessSample& now, const ProcessSample* before,
                                    double seconds, double ticks_per_s);

}  // namespace duet::monitors
