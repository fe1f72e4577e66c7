// The resource monitor (monitors/resource.h): /proc parsers on fixture text,
// metrics between two samples, and the sampler over a fake /proc tree.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "monitors/resource.h"
#include "tests/support/temp_dir.h"

using namespace duet::monitors;

namespace {

const char* kStat1 =
    "cpu  1000 0 500 8000 400 0 100 0 0 0\n"
    "cpu0 500 0 250 4000 200 0 50 0 0 0\n"
    "intr 12345\n";
const char*
    kStat2 =  // 1 s later: 200 jiffies busy (user 100, system 50, softirq 50), 100 idle, 100 iowait
    "cpu  1100 0 550 8100 500 0 150 0 0 0\n";
const char* kMeminfo =
    "MemTotal:        8000000 kB\n"
    "MemFree:          500000 kB\n"
    "MemAvailable:    2000000 kB\n"
    "SwapTotal:       1000000 kB\n"
    "SwapFree:         750000 kB\n";
const char* kDiskstats1 =
    "   7       0 loop0 10 0 80 0 0 0 0 0 0 0 0\n"
    "   8       0 sda 1000 0 20000 0 500 0 40000 0 0 0 0\n"
    "   8       1 sda1 900 0 18000 0 450 0 36000 0 0 0 0\n";
const char* kDiskstats2 =
    "   8       0 sda 1100 0 22048 0 600 0 44096 0 0 0 0\n"
    "   8       1 sda1 10 0 100 0 5 0 10 0 0 0 0\n";  // went backwards: replaced
const char* kNetDev1 =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:  1000      10    0    0    0     0          0         0     1000      10    0    0 "
    "   0     0       0          0\n"
    "  eth0: 50000     100    0    0    0     0          0         0    20000      80    0    0 "
    "   0     0       0          0\n";
const char* kNetDev2 =
    "  eth0: 150000    200    0    0    0     0          0         0    20500      90    0    0 "
    "   0     0       0          0\n";
const char* kMounts =
    "sysfs /sys sysfs rw 0 0\n"
    "proc /proc proc rw 0 0\n"
    "/dev/sda1 / ext4 rw,relatime 0 0\n"
    "tmpfs /run tmpfs rw 0 0\n"
    "/dev/sdb1 /srv/my\\040data xfs rw 0 0\n"
    "/dev/sda1 / ext4 rw,relatime 0 0\n";

const Metric* find(const std::vector<Metric>& m, const std::string& name,
                   const std::string& label = "") {
  for (const auto& x : m) {
    if (x.name == name && x.label == label) return &x;
  }
  return nullptr;
}

ResourceSample sample(const char* stat, const char* disks, const char* net) {
  ResourceSample s;
  s.cpu = *parse_proc_stat(stat);
  s.load = *parse_loadavg("0.50 1.25 2.00 1/123 4567\n");
  s.memory = *parse_meminfo(kMeminfo);
  s.disks = parse_diskstats(disks);
  s.networks = parse_net_dev(net);
  s.mounts.push_back(MountUsage{"/", "/dev/sda1", "ext4", 1000, 250, 300});
  return s;
}

}  // namespace

TEST_CASE("resource: the /proc parsers", "[resource]") {
  auto cpu = parse_proc_stat(kStat1);
  REQUIRE(cpu.ok());
  CHECK(cpu->user == 1000);
  CHECK(cpu->iowait == 400);
  CHECK(cpu->total() == 10000);
  CHECK_FALSE(parse_proc_stat("intr 1\n").ok());
  CHECK_FALSE(parse_proc_stat("cpu x y z w\n").ok());

  auto load = parse_loadavg("0.50 1.25 2.00 1/123 4567\n");
  REQUIRE(load.ok());
  CHECK(load->five == Approx(1.25));
  CHECK_FALSE(parse_loadavg("garbage\n").ok());

  auto mem = parse_meminfo(kMeminfo);
  REQUIRE(mem.ok());
  CHECK(mem->available_kb == 2000000);
  CHECK(mem->swap_free_kb == 750000);
  CHECK_FALSE(parse_meminfo("MemFree: 1 kB\n").ok());

  auto disks = parse_diskstats(kDiskstats1);
  CHECK(disks.count("loop0") == 0);
  REQUIRE(disks.count("sda") == 1);
  CHECK(disks["sda"].sectors_written == 40000);

  auto net = parse_net_dev(kNetDev1);
  REQUIRE(net.count("eth0") == 1);
  CHECK(net["eth0"].rx_bytes == 50000);
  CHECK(net["eth0"].tx_packets == 80);

  auto mounts = parse_mounts(kMounts);
  REQUIRE(mounts.size() == 2);  // pseudo filesystems out, "/" once
  CHECK(mounts[0].mount_point == "/");
  CHECK(mounts[1].mount_point == "/srv/my data");
  CHECK(mounts[1].fs_type == "xfs");
}

TEST_CASE("resource: metrics from one sample, and rates between two", "[resource]") {
  const ResourceSample s1 = sample(kStat1, kDiskstats1, kNetDev1);
  const ResourceSample s2 = sample(kStat2, kDiskstats2, kNetDev2);

  auto first = resource_metrics(s1, nullptr, 0);
  CHECK(find(first, "cpu.busy_pct") == nullptr);  // needs two samples
  REQUIRE(find(first, "memory.used_pct") != nullptr);
  CHECK(find(first, "memory.used_pct")->value == Approx(75.0));
  CHECK(find(first, "swap.used_pct")->value == Approx(25.0));
  CHECK(find(first, "load.15m")->value == Approx(2.0));
  // df's view: used 700 of (700 used + 250 available).
  CHECK(find(first, "disk.used_pct", "/")->value == Approx(100.0 * 700 / 950));

  auto m = resource_metrics(s2, &s1, 2.0);
  // 400 jiffies: 200 busy, 100 idle, 100 iowait.
  CHECK(find(m, "cpu.busy_pct")->value == Approx(50.0));
  CHECK(find(m, "cpu.iowait_pct")->value == Approx(25.0));
  CHECK(find(m, "disk.read_bytes_per_s", "sda")->value == Approx(2048.0 * 512 / 2));
  CHECK(find(m, "disk.write_bytes_per_s", "sda")->value == Approx(4096.0 * 512 / 2));
  CHECK(find(m, "disk.ops_per_s", "sda")->value == Approx(200.0 / 2));
  CHECK(find(m, "disk.read_bytes_per_s", "sda1") == nullptr);  // counters went backwards
  CHECK(find(m, "net.rx_bytes_per_s", "eth0")->value == Approx(50000.0));
  CHECK(find(m, "net.tx_bytes_per_s", "eth0")->value == Approx(250.0));
  CHECK(find(m, "net.rx_bytes_per_s", "lo") == nullptr);  // not in the second sample
}

TEST_CASE("resource: the sampler reads a /proc tree, and names what it cannot read", "[resource]") {
  duet::testing::TempDir dir;
  const std::string root = dir.file("proc");
  std::filesystem::create_directories(root + "/net");
  std::filesystem::create_directories(root + "/self");
  auto put = [&](const std::string& name, const char* text) {
    std::ofstream(root + "/" + name) << text;
  };
  put("stat", kStat1);
  put("loadavg", "0.10 0.20 0.30 1/1 1\n");
  put("meminfo", kMeminfo);
  put("diskstats", kDiskstats1);
  put("net/dev", kNetDev1);
  put("self/mounts", kMounts);
  std::vector<std::string> asked;
  ResourceSampler sampler(root, [&](const MountEntry& e) -> std::optional<MountUsage> {
    asked.push_back(e.mount_point);
    if (e.mount_point != "/") return std::nullopt;  // statvfs failed: left out
    return MountUsage{e.mount_point, e.device, e.fs_type, 100, 40, 50};
  });
  auto s = sampler.sample();
  REQUIRE(s.ok());
  CHECK(s->load.fifteen == Approx(0.3));
  CHECK(s->disks.count("sda") == 1);
  CHECK(s->networks.count("eth0") == 1);
  CHECK(asked == std::vector<std::string>{"/", "/srv/my data"});
  REQUIRE(s->mounts.size() == 1);
  CHECK(s->mounts[0].mount_point == "/");

  std::filesystem::remove(root + "/net/dev");  // optional: no network rates, still a sample
  CHECK(sampler.sample().ok());
  put("meminfo", "nothing useful\n");
  auto bad = sampler.sample();
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains(root + "/meminfo"));
  std::filesystem::remove(root + "/stat");
  bad = sampler.sample();
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains(root + "/stat"));
}

TEST_CASE("resource: this host's /proc gives a sample", "[resource]") {
  ResourceSampler sampler;
  auto s = sampler.sample();
  REQUIRE(s.ok());
  CHECK(s->memory.total_kb > 0);
  CHECK(s->cpu.total() > 0);
}
