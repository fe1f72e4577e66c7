#pragma once

// The resource monitor: CPU, load, memory, swap, disk usage per mount, and
// disk and network I/O rates, read from /proc and statvfs (Linux).
//
// Two layers:
// - pure parsers of the /proc files' text (parse_*), and resource_metrics(),
//   which turns two samples and the time between them into metrics
//   (percentages for CPU, rates per second for I/O);
// - ResourceSampler, which reads the files under a /proc root (a test gives
//   a directory of fixtures) and asks statvfs for each mounted filesystem.
//
// Counters that go backwards (a device replaced, a counter wrapped, a
// reboot between samples) give no rate for that interval rather than a
// negative or huge one.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duet::monitors {

// Jiffies from the first "cpu" line of /proc/stat.
struct CpuTimes {
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                steal = 0;
  std::uint64_t total() const {
    return user + nice + system + idle + iowait + irq + softirq + steal;
  }
  std::uint64_t idle_all() const { return idle + iowait; }
};

struct LoadAverage {
  double one = 0, five = 0, fifteen = 0;
};

struct MemInfo {
  std::uint64_t total_kb = 0, available_kb = 0, swap_total_kb = 0, swap_free_kb = 0;
};

struct DiskIo {
  std::uint64_t reads = 0, sectors_read = 0, writes = 0, sectors_written = 0;
};

struct NetIo {
  std::uint64_t rx_bytes = 0, rx_packets = 0, tx_bytes = 0, tx_packets = 0;
};

struct MountUsage {
  std::string mount_point;
  std::string device;
  std::string fs_type;
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;  // to unprivileged users (f_bavail), as df shows
  std::uint64_t free_bytes = 0;       // including the root reserve (f_bfree)
};

Result<CpuTimes> parse_proc_stat(std::string_view text);
Result<LoadAverage> parse_loadavg(std::string_view text);
Result<MemInfo> parse_meminfo(std::string_view text);
// Whole disks and partitions by name; loop and ram devices are left out.
std::map<std::string, DiskIo> parse_diskstats(std::string_view text);
// Interfaces by name; "lo" is kept (callers filter).
std::map<std::string, NetIo> parse_net_dev(std::string_view text);
// (mount point, device, type) of /proc/self/mounts lines on real
// filesystems: pseudo filesystems (proc, sysfs, cgroup, tmpfs, ...) are left
// out, and a mount point seen twice counts once. Octal escapes (\040) are decoded.
struct MountEntry {
  std::string device, mount_point, fs_type;
};
std::vector<MountEntry> parse_mounts(std::string_view text);

struct ResourceSample {
  CpuTimes cpu;
  LoadAverage load;
  MemInfo memory;
  std::map<std::string, DiskIo> disks;
  std::map<std::string, NetIo> networks;
  std::vector<MountUsage> mounts;
};

struct Metric {
  std::string name;   // "cpu.busy_pct", "disk.used_pct", "net.rx_bytes_per_s", ...
  std::string label;  // the mount point, device or interface; empty for host-wide ones
  double value = 0;
  std::string unit;  // "%", "bytes/s", "ops/s", "" (load)
  bool operator==(const Metric&) const = default;
};

// Metrics of `now`; with `before` (taken `seconds` earlier) also CPU busy
// percentages and I/O rates.
std::vector<Metric> resource_metrics(const ResourceSample& now, const ResourceSample* before,
                                     double seconds);

class ResourceSampler {
 public:
  using StatFs = std::function<std::optional<MountUsage>(const MountEntry&)>;
  // `proc_root`: "/proc" on a host; `statfs`: statvfs by default.
  explicit ResourceSampler(std::string proc_root = "/proc", StatFs statfs = {});
  // An error names the file that could not be read or understood.
  Result<ResourceSample> sample() const;

 private:
  std::string root_;
  StatFs statfs_;
};

}  // namespace duet::monitors
