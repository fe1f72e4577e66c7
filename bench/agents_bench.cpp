// agents_bench: many agents against a real manager pair (issue 5).
//
// Starts two duet-manager processes on 127.0.0.11 / 127.0.0.12 (plaintext
// gRPC, fresh SQLite stores in a directory under --dir), waits for master +
// standby, adds a repository node "bench-target" and the monitors
// "bench-0".."bench-{k-1}" (kind command on that node, info 0:100, so every
// result is judged), then runs --agents simulated agents from this process
// (bench/sim_agents.h: one Agent.Session stream each over --channels
// connections) producing --items results per minute between them, each item
// once a minute, spread evenly.
//
// Timeline: ramp-up (--connect-rate sessions/s; results start as each agent
// is welcomed), --warmup-s more, then --minutes measured, then a drain of
// up to --drain-s for the last acknowledgements. Measured:
//   - result-to-stored latency: from producing a result until the ResultAck
//     covering it (the master acknowledges only committed and replicated
//     results), for the results produced in the measured window;
//   - sent / acked / lost (produced, never acknowledged after the drain);
//   - CPU of master, standby and this process over the measured window
//     (/proc/<pid>/stat, in cores);
//   - RSS of master and standby before the agents connect and at the end of
//     the measured window: memory per agent = (after - before) / agents;
//   - rows in the `metrics` table of both stores after the drain (each
//     result is one row, keyed (node, monitor, time, seq)).
// Prints one JSON object.
//
//   agents_bench --bin build/release --agents 10000 --items 100000 --minutes 2
//
// Bounded: the ramp gives up after agents/rate + 60 s, every loop stops at
// the end of the run, and both managers are killed at the end.

#include <absl/synchronization/mutex.h>
#include <grpcpp/create_channel.h>
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "bench/bench_util.h"
#include "bench/manager_pair.h"
#include "bench/proc_util.h"
#include "bench/sim_agents.h"
#include "duet/v1/admin.grpc.pb.h"
#include "duet/v1/monitoring.grpc.pb.h"
#include "duet/v1/repository.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Steady = std::chrono::steady_clock;
using duet::bench::SimFleet;

constexpr const char* kTargetNode = "bench-target";

struct Options {
  int agents = 10000;
  long items = 100000;
  double minutes = 2;
  double warmup_s = 30;
  double drain_s = 20;
  double connect_rate = 500;
  int channels = 16;
  int port = 17680;
  std::string bin;
  std::string dir = "/var/tmp";
  bool json_only = false;
  bool keep = false;
};

double secs(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

void progress(const Options& o, const std::string& line) {
  if (!o.json_only) std::cerr << "agents_bench: " << line << "\n";
}

[[noreturn]] void die(const std::string& why) {
  std::cerr << "agents_bench: " << why << "\n";
  std::_Exit(1);
}

using duet::bench::ManagerPair;
using Node = ManagerPair::Node;

// Rows of `metrics` in a store, read-only; -1 if it cannot be read.
long metric_rows(const std::string& path) {
  sqlite3* db = nullptr;
  long n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM metrics", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

// The repository node the monitors target, and `count` monitors on it.
// An error says what failed.
std::optional<std::string> define_monitors(const std::shared_ptr<grpc::Channel>& ch, int count) {
  auto repo = duet::v1::Repository::NewStub(ch);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    duet::v1::AddNodeRequest req;
    req.mutable_node()->set_name(kTargetNode);
    req.mutable_node()->add_addresses("10.99.0.1");
    duet::v1::ChangeResponse resp;
    auto s = repo->AddNode(&ctx, req, &resp);
    if (!s.ok()) return "nodes add " + std::string(kTargetNode) + ": " + s.error_message();
  }
  auto mon = duet::v1::Monitoring::NewStub(ch);
  for (int i = 0; i < count; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    duet::v1::PutMonitorRequest req;
    req.set_create_only(true);
    auto* d = req.mutable_monitor();
    d->set_name("bench-" + std::to_string(i));
    d->set_kind("command");
    d->set_node(kTargetNode);
    d->set_interval_s(60);
    d->set_enabled(true);
    (*d->mutable_params())["command"] = "true";
    d->mutable_judgement()->set_info_range("0:100");
    duet::v1::MonitorChangeResponse resp;
    auto s = mon->PutMonitor(&ctx, req, &resp);
    if (!s.ok()) return "monitors add " + d->name() + ": " + s.error_message();
  }
  return std::nullopt;
}

struct Sample {
  Steady::time_point at;
  double master_cpu = 0, standby_cpu = 0, self_cpu = 0;
  long master_rss_kb = 0, standby_rss_kb = 0;
};

double mb(long kb) { return static_cast<double>(kb) / 1024.0; }

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on: every lock
  // gRPC takes goes through a global lock-order graph. The load generator
  // should cost as little CPU as it can (it shares the machine with the
  // pair), so it turns that off for itself; the managers are left as built.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"agents_bench: simulated agents against a real manager pair (JSON)"};
  Options o;
  o.bin = fs::path(argv[0]).parent_path().parent_path().string();
  app.add_option("--agents", o.agents, "simulated agents")->check(CLI::Range(1, 100000));
  app.add_option("--items", o.items, "results per minute, all agents together")
      ->check(CLI::Range(1L, 10'000'000L));
  app.add_option("--minutes", o.minutes, "measured minutes (warm-up excluded)")
      ->check(CLI::Range(0.1, 60.0));
  app.add_option("--warmup-s", o.warmup_s, "after the last agent is welcomed, before measuring")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--drain-s", o.drain_s, "longest wait for the last acknowledgements")
      ->check(CLI::Range(1.0, 600.0));
  app.add_option("--connect-rate", o.connect_rate, "new sessions per second while ramping up")
      ->check(CLI::Range(1.0, 100000.0));
  app.add_option("--channels", o.channels, "gRPC connections the agents share")
      ->check(CLI::Range(1, 20000));
  app.add_option("--port", o.port)->check(CLI::Range(1024, 65000));
  app.add_option("--bin", o.bin, "build directory holding manager/duet-manager");
  app.add_option("--dir", o.dir, "where the stores go (a fresh directory inside)");
  app.add_flag("--json", o.json_only, "print only the JSON (no progress on stderr)");
  app.add_flag("--keep", o.keep, "keep the stores and logs");
  CLI11_PARSE(app, argc, argv);
  if (!fs::exists(o.bin + "/manager/duet-manager")) {
    die("no " + o.bin + "/manager/duet-manager (give --bin)");
  }

  std::string tmpl = o.dir + "/duet-agentbench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) die("cannot create a directory under " + o.dir);
  const fs::path dir = tmpl;
  std::optional<ManagerPair> pair;
  pair.emplace(o.bin, dir, o.port);
  const int m = pair->start();
  if (m < 0) {
    pair->kill();
    die("the pair did not form within 30 s (logs in " + dir.string() + ")");
  }
  Node& master = pair->node(m);
  Node& standby = pair->node(1 - m);
  progress(o, "master " + master.name + " (" + master.grpc + "), standby " + standby.name);

  duet::bench::SimFleetOptions fo;
  fo.target = master.grpc;
  fo.agents = o.agents;
  fo.items_per_minute = o.items;
  fo.channels = std::min(o.channels, o.agents);
  fo.connect_rate = o.connect_rate;
  SimFleet fleet(fo);
  if (auto e = define_monitors(master.channel, fleet.max_items_per_agent())) {
    pair->kill();
    die(*e + " (logs in " + dir.string() + ")");
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));

  auto sample = [&] {
    Sample s;
    s.at = Steady::now();
    s.master_cpu = duet::bench::cpu_seconds(master.pid);
    s.standby_cpu = duet::bench::cpu_seconds(standby.pid);
    s.self_cpu = duet::bench::cpu_seconds(getpid());
    s.master_rss_kb = duet::bench::status_kb(master.pid, "VmRSS");
    s.standby_rss_kb = duet::bench::status_kb(standby.pid, "VmRSS");
    return s;
  };
  json timeline = json::array();
  Sample last = sample();
  const Sample before = last;
  auto tick = [&](const char* phase) {
    const Sample now = sample();
    const double wall = secs(now.at - last.at);
    if (wall < 1.0) return;  // too short to say anything about CPU
    const auto c = fleet.counters();
    json t;
    t["t_s"] = std::round(secs(now.at - before.at) * 10) / 10;
    t["phase"] = phase;
    t["welcomed"] = c.welcomed_agents;
    t["produced"] = c.produced;
    t["acked"] = c.acked;
    t["unacked"] = c.produced - c.acked;
    t["master_cores"] = wall > 0 ? (now.master_cpu - last.master_cpu) / wall : 0;
    t["standby_cores"] = wall > 0 ? (now.standby_cpu - last.standby_cpu) / wall : 0;
    t["bench_cores"] = wall > 0 ? (now.self_cpu - last.self_cpu) / wall : 0;
    t["master_rss_mb"] = mb(now.master_rss_kb);
    timeline.push_back(t);
    progress(o, t.dump());
    last = now;
  };
  // Runs `tick` every 10 s until `done()` or `until`.
  auto run_until = [&](Steady::time_point until, const char* phase, auto done) {
    auto next = Steady::now() + std::chrono::seconds(10);
    while (Steady::now() < until && !done()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Steady::now() >= next) {
        tick(phase);
        next += std::chrono::seconds(10);
      }
    }
  };

  // Ramp-up.
  fleet.start();
  const auto ramp_start = Steady::now();
  const auto ramp_limit =
      ramp_start + std::chrono::milliseconds(static_cast<long>(
                       1000.0 * (static_cast<double>(o.agents) / o.connect_rate + 60.0)));
  run_until(ramp_limit, "ramp", [&] { return fleet.all_welcomed_after_s() >= 0; });
  const double connect_s = fleet.all_welcomed_after_s();
  const Sample ramp_end = sample();
  tick("ramp");
  if (connect_s < 0) {
    progress(o,
             "not every agent was welcomed: " + std::to_string(fleet.counters().welcomed_agents) +
                 " of " + std::to_string(o.agents));
  }
  // Warm-up, then the measured window.
  run_until(Steady::now() + std::chrono::milliseconds(static_cast<long>(o.warmup_s * 1000)),
            "warmup", [] { return false; });
  const Sample m0 = sample();
  fleet.set_measuring(true);
  tick("warmup");
  run_until(m0.at + std::chrono::milliseconds(static_cast<long>(o.minutes * 60'000)), "measure",
            [] { return false; });
  fleet.set_measuring(false);
  const Sample m1 = sample();
  tick("measure");
  const auto mc = fleet.counters();
  // Drain: no new results; wait for the acknowledgements of the rest.
  fleet.stop();
  run_until(Steady::now() + std::chrono::milliseconds(static_cast<long>(o.drain_s * 1000)), "drain",
            [&] {
              const auto c = fleet.counters();
              return c.acked >= c.produced;
            });
  tick("drain");
  const auto c = fleet.counters();
  const int master_at_end = pair->master();
  const long rows_master = metric_rows(master.db);
  const long rows_standby = metric_rows(standby.db);
  const long threads_master = duet::bench::thread_count(master.pid);
  pair->kill();
  const bool closed = fleet.wait_closed(std::chrono::seconds(10));

  // The report.
  const double window = secs(m1.at - m0.at);
  const double ramp_wall = secs(ramp_end.at - before.at);
  std::vector<double> lat;
  for (float v : fleet.latencies_ms()) lat.push_back(v);
  const double p50 = duet::bench::percentile(lat, 0.50);
  const double p99 = duet::bench::percentile(lat, 0.99);
  const double p999 = duet::bench::percentile(lat, 0.999);
  const double mx = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  const double master_cores = (m1.master_cpu - m0.master_cpu) / window;
  const double standby_cores = (m1.standby_cpu - m0.standby_cpu) / window;
  const double per_agent_kb =
      static_cast<double>(m1.master_rss_kb - before.master_rss_kb) / o.agents;

  json out;
  out["bench"] = "agents_bench";
  out["machine"] = {{"cpu", duet::bench::cpu_model()},
                    {"nproc", std::thread::hardware_concurrency()}};
  out["settings"] = {{"agents", o.agents},
                     {"items_per_minute", o.items},
                     {"items_per_agent_max", fleet.max_items_per_agent()},
                     {"minutes", o.minutes},
                     {"warmup_s", o.warmup_s},
                     {"drain_s", o.drain_s},
                     {"connect_rate", o.connect_rate},
                     {"channels", fo.channels},
                     {"tls", false},
                     {"store", "sqlite, synchronous=FULL, in " + o.dir},
                     {"replication", "sync (defaults)"}};
  out["agents"] = o.agents;
  out["items_per_minute"] = o.items;
  out["connect_seconds"] = connect_s >= 0 ? json(connect_s) : json(nullptr);
  out["welcomed"] = c.welcomed_agents;
  out["sent"] = c.produced;
  out["written"] = c.written;
  out["acked"] = c.acked;
  out["lost"] = c.produced - c.acked;
  out["resent"] = c.resent;
  out["measured"] = {{"seconds", window},
                     {"produced", mc.produced_measured},
                     {"acked", c.acked_measured},
                     {"acked_per_minute",
                      window > 0 ? 60.0 * static_cast<double>(c.acked_measured) / window : 0.0}};
  out["latency_ms"] = {
      {"p50", p50}, {"p99", p99}, {"p999", p999}, {"max", mx}, {"samples", lat.size()}};
  out["master_cpu_cores"] = master_cores;
  out["standby_cpu_cores"] = standby_cores;
  out["bench_cpu_cores"] = (m1.self_cpu - m0.self_cpu) / window;
  out["ramp_cpu_cores"] = {{"master", (ramp_end.master_cpu - before.master_cpu) / ramp_wall},
                           {"standby", (ramp_end.standby_cpu - before.standby_cpu) / ramp_wall},
                           {"seconds", ramp_wall}};
  out["master_rss_mb"] = {{"before", mb(before.master_rss_kb)},
                          {"after", mb(m1.master_rss_kb)},
                          {"measure_start", mb(m0.master_rss_kb)}};
  out["standby_rss_mb"] = {{"before", mb(before.standby_rss_kb)}, {"after", mb(m1.standby_rss_kb)}};
  out["memory_per_agent_kb"] = per_agent_kb;
  out["standby_memory_per_agent_kb"] =
      static_cast<double>(m1.standby_rss_kb - before.standby_rss_kb) / o.agents;
  out["master_threads"] = threads_master;
  out["metrics_rows"] = {{"master", rows_master}, {"standby", rows_standby}};
  out["sessions"] = {{"opened", c.sessions_opened},      {"broken", c.sessions_broken},
                     {"not_master", c.not_master},       {"stats_sent", c.stats_sent},
                     {"acks_received", c.acks_received}, {"write_queue_max", c.write_queue_max}};
  json errors = json::array();
  for (const auto& e : fleet.errors()) errors.push_back(e);
  out["session_errors"] = errors;
  out["pair_at_end"] = master_at_end == m ? "same master + standby" : "changed or not formed";
  out["goal"] = {{"agents", 10000},
                 {"items_per_minute", 100000},
                 {"master_cpu_cores_below", 1.0},
                 {"latency_p99_ms_at_most", 1000},
                 {"met", o.agents >= 10000 && o.items >= 100000 && master_cores < 1.0 &&
                             p99 <= 1000 && c.produced == c.acked && c.acked > 0}};
  out["timeline"] = timeline;
  std::cout << out.dump(2) << std::endl;

  if (!o.keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    std::cerr << "agents_bench: stores and logs kept in " << dir.string() << "\n";
  }
  const int rc = c.produced == c.acked && c.acked > 0 ? 0 : 1;
  if (!closed) std::_Exit(rc);  // sessions still open: do not wait on gRPC's teardown
  pair.reset();
  return rc;
}
