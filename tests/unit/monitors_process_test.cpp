// The process monitor (monitors/process.h) over a fake /proc tree.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "monitors/process.h"
#include "tests/support/temp_dir.h"

using namespace duet::monitors;

namespace {

// A /proc/<pid>/stat line: utime, stime and rss where proc(5) puts them.
std::string stat_line(std::uint64_t pid, const std::string& comm, char state, std::uint64_t utime,
                      std::uint64_t stime, std::uint64_t rss) {
  return std::to_string(pid) + " (" + comm + ") " + state + " 1 1 1 0 -1 4194560 100 0 0 0 " +
         std::to_string(utime) + " " + std::to_string(stime) + " 0 0 20 0 1 0 12345 1000000 " +
         std::to_string(rss) + " 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
}

struct FakeProc {
  duet::testing::TempDir dir;
  std::string root = dir.file("proc");
  FakeProc() { std::filesystem::create_directories(root + "/self"); }
  void add(std::uint64_t pid, const std::string& comm, char state, std::uint64_t ticks,
           std::uint64_t rss, const std::vector<std::string>& argv) {
    const std::string d = root + "/" + std::to_string(pid);
    std::filesystem::create_directories(d);
    std::ofstream(d + "/stat") << stat_line(pid, comm, state, ticks, 0, rss);
    std::string cmd;
    for (const auto& a : argv) cmd += a + std::string(1, '\0');
    std::ofstream(d + "/cmdline", std::ios::binary) << cmd;
  }
};

std::vector<std::uint64_t> pids(const ProcessSample& s) {
  std::vector<std::uint64_t> out;
  for (const auto& [pid, p] : s.processes) out.push_back(pid);
  return out;
}

}  // namespace

TEST_CASE("process: /proc/<pid>/stat with a command name holding spaces and parentheses",
          "[process]") {
  auto st = parse_pid_stat(stat_line(42, "my (odd) name", 'S', 70, 0, 300));
  REQUIRE(st);
  CHECK(st->comm == "my (odd) name");
  CHECK(st->state == 'S');
  CHECK(st->cpu_ticks == 70);
  CHECK(st->rss_pages == 300);
  CHECK_FALSE(parse_pid_stat("42 no parentheses here"));
  CHECK_FALSE(parse_pid_stat("42 (short) S 1 2"));
}

TEST_CASE("process: matching by name and arguments, counting CPU and memory", "[process]") {
  FakeProc proc;
  proc.add(100, "nginx", 'S', 1000, 100, {"nginx: master process /usr/sbin/nginx"});
  proc.add(101, "nginx", 'S', 5000, 200, {"nginx: worker process"});
  proc.add(200, "python3", 'R', 300, 50,
           {"/usr/bin/python3", "/opt/app/server.py", "--port", "8080"});
  proc.add(300, "nginx", 'Z', 0, 0, {});
  const long page = ::sysconf(_SC_PAGESIZE);

  auto by_name = ProcessSampler::create({"^nginx$", "", false}, proc.root);
  REQUIRE(by_name.ok());
  auto s1 = by_name->sample();
  REQUIRE(s1.ok());
  CHECK(pids(*s1) == std::vector<std::uint64_t>{100, 101});  // the zombie is not counted
  auto m = process_metrics(*s1, nullptr, 0, 100);
  CHECK(m[0] == Metric{"process.count", "", 2, ""});
  CHECK(m[1].value == Approx(300.0 * page));

  auto by_args = ProcessSampler::create({"python", "server\\.py.*--port 8080", false}, proc.root);
  REQUIRE(by_args.ok());
  CHECK(pids(*by_args->sample()) == std::vector<std::uint64_t>{200});
  auto argv0 = ProcessSampler::create({"^python3$", "", false}, proc.root);
  CHECK(pids(*argv0->sample()) == std::vector<std::uint64_t>{200});  // comm or argv[0] basename
  auto zombies = ProcessSampler::create({"nginx", "", true}, proc.root);
  CHECK(pids(*zombies->sample()).size() == 3);

  // Two seconds later: the master used 100 ticks, the worker 300, and a new
  // worker appeared (no interval for it), at 100 ticks per second.
  proc.add(100, "nginx", 'S', 1100, 100, {"nginx: master process /usr/sbin/nginx"});
  proc.add(101, "nginx", 'S', 5300, 200, {"nginx: worker process"});
  proc.add(102, "nginx", 'S', 900, 200, {"nginx: worker process"});
  auto s2 = by_name->sample();
  REQUIRE(s2.ok());
  auto m2 = process_metrics(*s2, &*s1, 2.0, 100);
  CHECK(m2[0].value == 3);
  REQUIRE(m2.size() == 3);
  CHECK(m2[2].name == "process.cpu_pct");
  CHECK(m2[2].value == Approx(200.0));  // 400 ticks over 2 s: two cores' worth

  // A process gone between listing and reading is skipped.
  std::filesystem::remove(proc.root + "/102/stat");
  CHECK(pids(*by_name->sample()) == std::vector<std::uint64_t>{100, 101});
}

TEST_CASE("process: a bad pattern is refused, naming it", "[process]") {
  auto bad = ProcessSampler::create({"nginx(", "", false});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("nginx("));
  auto missing = ProcessSampler::create({"x", "", false}, "/nonexistent/proc");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->sample().ok());
}

TEST_CASE("process: this test process is found in the real /proc", "[process]") {
  auto self = ProcessSampler::create({"", "duet_unit_tests", false});
  REQUIRE(self.ok());
  auto s = self->sample();
  REQUIRE(s.ok());
  CHECK(s->processes.count(static_cast<std::uint64_t>(::getpid())) == 1);
}
