#include "monitors/process.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.h"

namespace duet::monitors {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool to_u64(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Result<std::optional<std::regex>> compile(const std::string& pattern, const char* what) {
  if (pattern.empty()) return std::optional<std::regex>();
  try {
    return std::optional<std::regex>(std::regex(pattern, std::regex::ECMAScript));
  } catch (const std::regex_error& e) {
    return make_error(CommonErrc::kInvalidArgument,
                      std::string("process ") + what + " pattern '" + pattern + "': " + e.what());
  }
}

}  // namespace

std::optional<PidStat> parse_pid_stat(std::string_view text) {
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  PidStat st;
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  // After ") ": state is field 3; utime 14, stime 15; rss 24 (1-based, as proc(5)).
  std::vector<std::string_view> f;
  std::size_t i = close + 1;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    if (i > start) f.push_back(text.substr(start, i - start));
  }
  // f[0] is field 3.
  if (f.size() < 22 || f[0].size() != 1) return std::nullopt;
  st.state = f[0][0];
  std::uint64_t utime = 0, stime = 0;
  if (!to_u64(f[11], utime) || !to_u64(f[12], stime) || !to_u64(f[21], st.rss_pages)) {
    return std::nullopt;
  }
  st.cpu_ticks = utime + stime;
  return st;
}

Result<ProcessSampler> ProcessSampler::create(ProcessMatch match, std::string proc_root) {
  DUET_ASSIGN_OR_RETURN(auto name, compile(match.name, "name"));
  DUET_ASSIGN_OR_RETURN(auto args, compile(match.args, "arguments"));
  return ProcessSampler(std::move(match), std::move(name), std::move(args), std::move(proc_root));
}

bool ProcessSampler::matches(const PidStat& stat, const std::string& cmdline) const {
  if (stat.state == 'Z' && !match_.include_zombies) return false;
  if (name_) {
    const std::string argv0 = cmdline.substr(0, cmdline.find(' '));
    const std::string base = std::filesystem::path(argv0).filename().string();
    if (!std::regex_search(stat.comm, *name_) &&
        (base.empty() || !std::regex_search(base, *name_))) {
      return false;
    }
  }
  return !args_ || std::regex_search(cmdline, *args_);
}

Result<ProcessSample> ProcessSampler::sample() const {
  std::error_code ec;
  std::filesystem::directory_iterator it(root_, ec);
  if (ec) return make_error(CommonErrc::kIo, "cannot list " + root_ + ": " + ec.message());
  static const long page = ::sysconf(_SC_PAGESIZE);
  ProcessSample out;
  for (const auto& entry : it) {
    std::uint64_t pid = 0;
    if (!to_u64(entry.path().filename().string(), pid)) continue;
    const std::string dir = entry.path().string();
    auto stat_text = read_file(dir + "/stat");
    if (!stat_text) continue;  // exited meanwhile
    auto stat = parse_pid_stat(*stat_text);
    if (!stat) continue;
    std::string cmdline = read_file(dir + "/cmdline").value_or("");
    while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (!matches(*stat, cmdline)) continue;
    out.processes[pid] = ProcessInfo{pid, stat->comm, cmdline, stat->cpu_ticks,
                                     stat->rss_pages * static_cast<std::uint64_t>(page)};
  }
  return out;
}

std::vector<Metric> process_metrics(const ProcessSample& now, const ProcessSample* before,
                                    double seconds, double ticks_per_s) {
  std::vector<Metric> m;
  std::uint64_t rss = 0;
  for (const auto& [pid, p] : now.processes) rss += p.rss_bytes;
  m.push_back({"process.count", "", static_cast<double>(now.processes.size()), ""});
  m.push_back({"process.rss_bytes", "", static_cast<double>(rss), "bytes"});
  if (before != nullptr && seconds > 0 && ticks_per_s > 0) {
    double ticks = 0;
    for (const auto& [pid, p] : now.processes) {
      auto it = before->processes.find(pid);
      // A new process, or a pid reused by another one: no interval to count.
      if (it == before->processes.end() || it->second.cpu_ticks > p.cpu_ticks ||
          it->second.comm != p.comm) {
        continue;
      }
      ticks += static_cast<double>(p.cpu_ticks - it->second.cpu_ticks);
    }
    m.push_back({"process.cpu_pct", "", 100.0 * ticks / ticks_per_s / seconds, "%"});
  }
  return m;
}

}  // namespace duet::monitors
