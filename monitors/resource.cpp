#include "monitors/resource.h"

#include <sys/statvfs.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "common/errors.h"

namespace duet::monitors {
namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool to_u64(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool to_double(std::string_view s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Error bad(const std::string& what) { return make_error(CommonErrc::kInvalidArgument, what); }

// "\040" in /proc/self/mounts is a space, and so on.
std::string unescape_mount(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool octal = true;
      for (std::size_t k = 1; k <= 3; ++k) {
        if (i + k >= s.size() || s[i + k] < '0' || s[i + k] > '7') {
          octal = false;
          break;
        }
        v = v * 8 + (s[i + k] - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// A counter's increase, or nullopt when it went backwards.
std::optional<double> delta(std::uint64_t now, std::uint64_t before) {
  if (now < before) return std::nullopt;
  return static_cast<double>(now - before);
}

}  // namespace

Result<CpuTimes> parse_proc_stat(std::string_view text) {
  for (auto line : lines(text)) {
    auto w = words(line);
    if (w.empty() || w[0] != "cpu") continue;
    if (w.size() < 5) return bad("/proc/stat: the cpu line has too few fields");
    std::uint64_t v[8] = {};
    for (std::size_t i = 0; i < 8 && i + 1 < w.size(); ++i) {
      if (!to_u64(w[i + 1], v[i])) return bad("/proc/stat: cpu field " + std::string(w[i + 1]));
    }
    return CpuTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
  }
  return bad("/proc/stat: no cpu line");
}

Result<LoadAverage> parse_loadavg(std::string_view text) {
  auto w = words(lines(text).empty() ? std::string_view() : lines(text)[0]);
  LoadAverage l;
  if (w.size() < 3 || !to_double(w[0], l.one) || !to_double(w[1], l.five) ||
      !to_double(w[2], l.fifteen)) {
    return bad("/proc/loadavg: expected three load averages");
  }
  return l;
}

Result<MemInfo> parse_meminfo(std::string_view text) {
  MemInfo m;
  bool total = false, available = false;
  for (auto line : lines(text)) {
    auto w = words(line);
    if (w.size() < 2) continue;
    std::uint64_t v = 0;
    if (!to_u64(w[1], v)) continue;
    if (w[0] == "MemTotal:") {
      m.total_kb = v;
      total = true;
    } else if (w[0] == "MemAvailable:") {
      m.available_kb = v;
      available = true;
    } else if (w[0] == "SwapTotal:") {
      m.swap_total_kb = v;
    } else if (w[0] == "SwapFree:") {
      m.swap_free_kb = v;
    }
  }
  if (!total || !available) return bad("/proc/meminfo: no MemTotal or MemAvailable");
  return m;
}

std::map<std::string, DiskIo> parse_diskstats(std::string_view text) {
  std::map<std::string, DiskIo> out;
  for (auto line : lines(text)) {
    auto w = words(line);
    if (w.size() < 10) continue;
    const std::string name(w[2]);
    if (name.rfind("loop", 0) == 0 || name.rfind("ram", 0) == 0) continue;
    DiskIo d;
    if (!to_u64(w[3], d.reads) || !to_u64(w[5], d.sectors_read) || !to_u64(w[7], d.writes) ||
        !to_u64(w[9], d.sectors_written)) {
      continue;
    }
    out[name] = d;
  }
  return out;
}

std::map<std::string, NetIo> parse_net_dev(std::string_view text) {
  std::map<std::string, NetIo> out;
  for (auto line : lines(text)) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // the two header lines
    auto name_words = words(line.substr(0, colon));
    auto w = words(line.substr(colon + 1));
    if (name_words.size() != 1 || w.size() < 10) continue;
    NetIo n;
    if (!to_u64(w[0], n.rx_bytes) || !to_u64(w[1], n.rx_packets) || !to_u64(w[8], n.tx_bytes) ||
        !to_u64(w[9], n.tx_packets)) {
      continue;
    }
    out[std::string(name_words[0])] = n;
  }
  return out;
}

std::vector<MountEntry> parse_mounts(std::string_view text) {
  static const std::set<std::string> pseudo = {
      "proc",       "sysfs",       "devtmpfs",  "devpts",     "tmpfs",      "cgroup",    "cgroup2",
      "securityfs", "pstore",      "debugfs",   "tracefs",    "mqueue",     "hugetlbfs", "configfs",
      "fusectl",    "binfmt_misc", "autofs",    "bpf",        "rpc_pipefs", "nsfs",      "ramfs",
      "squashfs",   "efivarfs",    "selinuxfs", "fuse.lxcfs", "shm"};
  std::vector<MountEntry> out;
  std::set<std::string> seen;
  for (auto line : lines(text)) {
    auto w = words(line);
    if (w.size() < 3) continue;
    MountEntry e{unescape_mount(w[0]), unescape_mount(w[1]), std::string(w[2])};
    if (pseudo.count(e.fs_type) > 0) continue;
    if (!seen.insert(e.mount_point).second) continue;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Metric> resource_metrics(const ResourceSample& now, const ResourceSample* before,
                                     double seconds) {
  std::vector<Metric> m;
  auto pct = [](double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; };
  if (before != nullptr) {
    auto total = delta(now.cpu.total(), before->cpu.total());
    auto idle = delta(now.cpu.idle_all(), before->cpu.idle_all());
    auto iowait = delta(now.cpu.iowait, before->cpu.iowait);
    auto steal = delta(now.cpu.steal, before->cpu.steal);
    if (total && idle && *total > 0 && *idle <= *total) {
      m.push_back({"cpu.busy_pct", "", pct(*total - *idle, *total), "%"});
      if (iowait) m.push_back({"cpu.iowait_pct", "", pct(*iowait, *total), "%"});
      if (steal) m.push_back({"cpu.steal_pct", "", pct(*steal, *total), "%"});
    }
  }
  m.push_back({"load.1m", "", now.load.one, ""});
  m.push_back({"load.5m", "", now.load.five, ""});
  m.push_back({"load.15m", "", now.load.fifteen, ""});
  const auto& mem = now.memory;
  m.push_back({"memory.used_pct", "",
               pct(static_cast<double>(mem.total_kb - std::min(mem.available_kb, mem.total_kb)),
                   static_cast<double>(mem.total_kb)),
               "%"});
  m.push_back(
      {"memory.available_bytes", "", static_cast<double>(mem.available_kb) * 1024, "bytes"});
  m.push_back(
      {"swap.used_pct", "",
       pct(static_cast<double>(mem.swap_total_kb - std::min(mem.swap_free_kb, mem.swap_total_kb)),
           static_cast<double>(mem.swap_total_kb)),
       "%"});
  for (const auto& u : now.mounts) {
    // As df: used / (used + available to users).
    const double used = static_cast<double>(u.total_bytes - std::min(u.free_bytes, u.total_bytes));
    m.push_back({"disk.used_pct", u.mount_point,
                 pct(used, used + static_cast<double>(u.available_bytes)), "%"});
    m.push_back(
        {"disk.available_bytes", u.mount_point, static_cast<double>(u.available_bytes), "bytes"});
  }
  if (before == nullptr || seconds <= 0) return m;
  for (const auto& [name, d] : now.disks) {
    auto it = before->disks.find(name);
    if (it == before->disks.end()) continue;
    auto rd = delta(d.sectors_read, it->second.sectors_read);
    auto wr = delta(d.sectors_written, it->second.sectors_written);
    auto ro = delta(d.reads, it->second.reads);
    auto wo = delta(d.writes, it->second.writes);
    if (!rd || !wr || !ro || !wo) continue;
    m.push_back({"disk.read_bytes_per_s", name, *rd * 512 / seconds, "bytes/s"});
    m.push_back({"disk.write_bytes_per_s", name, *wr * 512 / seconds, "bytes/s"});
    m.push_back({"disk.ops_per_s", name, (*ro + *wo) / seconds, "ops/s"});
  }
  for (const auto& [name, n] : now.networks) {
    auto it = before->networks.find(name);
    if (it == before->networks.end()) continue;
    auto rx = delta(n.rx_bytes, it->second.rx_bytes);
    auto tx = delta(n.tx_bytes, it->second.tx_bytes);
    if (!rx || !tx) continue;
    m.push_back({"net.rx_bytes_per_s", name, *rx / seconds, "bytes/s"});
    m.push_back({"net.tx_bytes_per_s", name, *tx / seconds, "bytes/s"});
  }
  return m;
}

ResourceSampler::ResourceSampler(std::string proc_root, StatFs statfs)
    : root_(std::move(proc_root)), statfs_(std::move(statfs)) {
  if (!statfs_) {
    statfs_ = [](const MountEntry& e) -> std::optional<MountUsage> {
      struct statvfs fs {};
      if (::statvfs(e.mount_point.c_str(), &fs) != 0) return std::nullopt;
      MountUsage u{e.mount_point, e.device, e.fs_type, 0, 0, 0};
      u.total_bytes = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
      u.available_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
      u.free_bytes = static_cast<std::uint64_t>(fs.f_bfree) * fs.f_frsize;
      return u;
    };
  }
}

Result<ResourceSample> ResourceSampler::sample() const {
  auto read = [this](const std::string& name) -> Result<std::string> {
    std::ifstream in(root_ + "/" + name);
    if (!in) return make_error(CommonErrc::kIo, "cannot read " + root_ + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  auto named = [this](const std::string& name, const Error& e) {
    return make_error(CommonErrc::kIo, root_ + "/" + name + ": " + e.message);
  };
  ResourceSample s;
  DUET_ASSIGN_OR_RETURN(auto stat, read("stat"));
  auto cpu = parse_proc_stat(stat);
  if (!cpu.ok()) return named("stat", cpu.error());
  s.cpu = *cpu;
  DUET_ASSIGN_OR_RETURN(auto loadavg, read("loadavg"));
  auto load = parse_loadavg(loadavg);
  if (!load.ok()) return named("loadavg", load.error());
  s.load = *load;
  DUET_ASSIGN_OR_RETURN(auto meminfo, read("meminfo"));
  auto mem = parse_meminfo(meminfo);
  if (!mem.ok()) return named("meminfo", mem.error());
  s.memory = *mem;
  // Optional files (containers may hide them): no rates rather than no sample.
  if (auto d = read("diskstats"); d.ok()) s.disks = parse_diskstats(*d);
  if (auto n = read("net/dev"); n.ok()) s.networks = parse_net_dev(*n);
  if (auto mounts = read("self/mounts"); mounts.ok()) {
    for (const auto& e : parse_mounts(*mounts)) {
      if (auto u = statfs_(e); u && u->total_bytes > 0) s.mounts.push_back(*u);
    }
  }
  return s;
}

}  // namespace duet::monitors
