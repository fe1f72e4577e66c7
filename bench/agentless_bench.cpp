// agentless_bench: agentless pings from a real manager pair (issue 5).
//
// Goal: "Agentless: 20,000 ping targets per minute from the manager
// (loopback addresses), all results in within the minute."
//
// Starts two duet-manager processes on 127.0.0.11 / 127.0.0.12 (plaintext
// gRPC, fresh SQLite stores in a directory under --dir, sync replication),
// waits for master + standby, then through the master:
//   - Repository.Apply: YAML documents of --apply-chunk nodes each (one
//     transaction each) with the scope "bench-ping" and --targets nodes
//     "ping-000000".. each with one loopback address (127.1.0.1, 127.1.0.2,
//     ...; all of 127/8 answers on Linux loopback); then it waits for
//     master + standby again (a long apply can fail the pair over);
//   - Monitoring.PutMonitor: "bench-ping", kind ping, scope bench-ping,
//     runs_on manager, every 60 s, params count=--count, judged on
//     loss_percent (info 0:0, warning 0:50).
// The first runs fall at random over the first interval, so minute 0 (from
// just before PutMonitor) is warm-up; minutes 1..--minutes are measured.
//
// Measured, from the stores themselves (each result is one row of `metrics`,
// keyed "node\x1fmonitor\x1f<at_ms>\x1f<seq>", at_ms = when the check
// started): both SQLite files are opened read-only and polled every
// --poll-ms for rows past the last rowid seen (each poll is one short read
// transaction; WAL lets the managers write meanwhile). Per minute window of
// at_ms:
//   - coverage: targets with at least one result / targets (goal 1.0);
//   - results, results with loss_percent > 0, results that could not measure;
//   - commit latency: from at_ms to the master's commit of the result (the
//     journal's committed_at_ms of the status row written with it);
//   - seen latency: from at_ms to the poll that first saw the row (an upper
//     bound, within one poll interval), on the master and on the standby
//     (replicated);
// and CPU of master and standby in cores (/proc/<pid>/stat), the master's
// busiest threads, its RSS, and the host's ICMP counters (/proc/net/snmp:
// echo requests in = replies out, rate-limited, drops on raw ICMP sockets).
// At the end the coverage is counted again with SQL on both stores, and the
// gaps between each target's consecutive runs are summarised (less 60 s): a
// run late by d ms just before a minute boundary leaves that minute without
// a result, while the target still had one within 60 s + d.
// Prints one JSON object.
//
//   agentless_bench --bin build/release --targets 20000 --minutes 3 --count 1
//
// Bounded: the pair must form within 30 s; the apply and PutMonitor calls
// have deadlines; the run ends --settle-s after the last measured minute;
// both managers are killed at the end.

#include <grpcpp/create_channel.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "bench/manager_pair.h"
#include "bench/proc_util.h"
#include "duet/v1/admin.grpc.pb.h"
#include "duet/v1/monitoring.grpc.pb.h"
#include "duet/v1/repository.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Steady = std::chrono::steady_clock;

constexpr const char* kScope = "bench-ping";
constexpr const char* kMonitor = "bench-ping";
constexpr std::int64_t kMinuteMs = 60'000;

struct Options {
  int targets = 20000;
  int minutes = 3;
  int count = 1;
  int apply_chunk = 5000;
  int poll_ms = 200;
  double settle_s = 10;
  int port = 17720;
  std::string bin;
  std::string dir = "/var/tmp";
  bool json_only = false;
  bool keep = false;
};

void progress(const Options& o, const std::string& line) {
  if (!o.json_only) std::cerr << "agentless_bench: " << line << "\n";
}

// The managers started so far: die() kills them before it exits.
std::vector<pid_t> g_started;

[[noreturn]] void die(const std::string& why) {
  std::cerr << "agentless_bench: " << why << "\n";
  for (pid_t pid : g_started) duet::bench::kill_and_reap(pid);
  std::_Exit(1);
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// The kernel's ICMP counters (the "Icmp:" lines of /proc/net/snmp), for the
// whole host: InEchos / OutEchoReps say whether every request was answered.
std::map<std::string, long> icmp_counters() {
  std::ifstream in("/proc/net/snmp");
  std::string names, values;
  while (std::getline(in, names)) {
    if (names.rfind("Icmp:", 0) == 0 && std::getline(in, values)) break;
    names.clear();
  }
  std::map<std::string, long> out;
  std::istringstream n(names), v(values);
  std::string name, value;
  n >> name;
  v >> value;  // the "Icmp:" labels
  while (n >> name && v >> value) out[name] = std::stol(value);
  return out;
}

// Drops counted on the host's raw ICMP sockets (/proc/net/raw, protocol 1).
long raw_icmp_drops() {
  std::ifstream in("/proc/net/raw");
  std::string line;
  long drops = 0;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, field;
    f >> sl >> local;
    if (local.size() < 5 || local.substr(local.size() - 5) != ":0001") continue;
    std::string last;
    while (f >> field) last = field;
    if (!last.empty()) drops += std::stol(last);
  }
  return drops;
}

// ---- the pair ----

using duet::bench::ManagerPair;
using Node = ManagerPair::Node;

// ---- the targets and the monitor ----

std::string target_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ping-%06d", i);
  return buf;
}

// 127.1.0.1, 127.1.0.2, ... 127.1.0.254, 127.1.1.1, ...: never 127.0.x.x
// (the managers' own addresses), never .0 or .255 in the last byte.
std::string target_address(int i) {
  const int a = 1 + i / (256 * 254);
  const int b = (i / 254) % 256;
  const int c = 1 + i % 254;
  return "127." + std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c);
}

// The target index of "ping-NNNNNN", or -1.
int target_index(std::string_view node) {
  if (node.size() != 11 || node.substr(0, 5) != "ping-") return -1;
  int v = 0;
  for (char ch : node.substr(5)) {
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  return v;
}

// Targets [from, to) and the scope, as one repository document.
std::string repository_yaml(int from, int to) {
  std::string y;
  y.reserve(static_cast<std::size_t>(to - from) * 64 + 128);
  y += "scopes:\n  - name: " + std::string(kScope) + "\n    description: agentless_bench\n";
  y += "nodes:\n";
  for (int i = from; i < to; ++i) {
    y += "  - {name: " + target_name(i) + ", addresses: [" + target_address(i) + "], scopes: [" +
         kScope + "]}\n";
  }
  return y;
}

// Applies the targets in documents of `chunk` nodes (one transaction each,
// and each holds the master's strand while it is applied); the seconds of
// each apply.
std::vector<double> apply_repository(const std::shared_ptr<grpc::Channel>& ch, int targets,
                                     int chunk) {
  auto repo = duet::v1::Repository::NewStub(ch);
  std::vector<double> took;
  for (int from = 0; from < targets; from += chunk) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
    duet::v1::ApplyRequest req;
    req.set_file("agentless_bench.yaml");
    req.set_yaml(repository_yaml(from, std::min(targets, from + chunk)));
    duet::v1::ChangeResponse resp;
    const auto t0 = Steady::now();
    auto s = repo->Apply(&ctx, req, &resp);
    if (!s.ok()) die("apply: " + s.error_message().substr(0, 2000));
    if (!resp.committed()) die("apply: nothing committed");
    took.push_back(std::chrono::duration<double>(Steady::now() - t0).count());
  }
  return took;
}

void put_monitor(const std::shared_ptr<grpc::Channel>& ch, int count) {
  auto mon = duet::v1::Monitoring::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  duet::v1::PutMonitorRequest req;
  req.set_create_only(true);
  auto* d = req.mutable_monitor();
  d->set_name(kMonitor);
  d->set_kind("ping");
  d->set_scope(kScope);
  d->set_runs_on("manager");
  d->set_interval_s(60);
  d->set_enabled(true);
  (*d->mutable_params())["count"] = std::to_string(count);
  d->mutable_judgement()->set_metric("loss_percent");
  d->mutable_judgement()->set_info_range("0:0");
  d->mutable_judgement()->set_warning_range("0:50");
  duet::v1::MonitorChangeResponse resp;
  auto s = mon->PutMonitor(&ctx, req, &resp);
  if (!s.ok()) die("monitors add " + d->name() + ": " + s.error_message());
}

// ---- reading the stores ----

// Per minute window of at_ms (0 = warm-up).
struct Window {
  std::vector<std::uint8_t> seen;  // per target
  long results = 0, lossy = 0, failed = 0;
  std::vector<double> latency_ms;  // at_ms → first seen by a poll
};

// One store, read-only: each poll reads the `metrics` rows past the last
// rowid seen (at most 50,000), one short read transaction.
class StoreReader {
 public:
  StoreReader(std::string path, int targets, int windows, std::int64_t t0_ms)
      : path_(std::move(path)), t0_ms_(t0_ms), windows_(static_cast<std::size_t>(windows)) {
    for (auto& w : windows_) w.seen.assign(static_cast<std::size_t>(targets), 0);
    runs_.resize(static_cast<std::size_t>(targets));
    commits_.resize(static_cast<std::size_t>(targets));
  }
  ~StoreReader() {
    sqlite3_finalize(journal_);
    sqlite3_finalize(stmt_);
    sqlite3_close(db_);
  }
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  // Reads what is new; false if the store cannot be read (yet).
  bool poll() {
    if (db_ == nullptr && !open()) return false;
    const std::int64_t now = wall_ms();
    sqlite3_bind_int64(stmt_, 1, last_rowid_);
    int rc = 0;
    while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
      last_rowid_ = sqlite3_column_int64(stmt_, 0);
      const auto* k = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, 1));
      const std::string_view key(k == nullptr ? "" : k);
      const std::int64_t at = sqlite3_column_int64(stmt_, 2);
      const auto* blob = sqlite3_column_blob(stmt_, 3);
      const int blob_n = sqlite3_column_bytes(stmt_, 3);
      take(key, at, blob, blob_n, now);
    }
    sqlite3_reset(stmt_);  // ends the read transaction
    ++polls_;
    if (rc != SQLITE_DONE) {
      ++poll_errors_;
      return false;
    }
    // The commit times of the results: each result also writes its
    // (monitor, node) status in the same transaction, journaled with the
    // master's commit time (committed_at_ms; replicated as is).
    sqlite3_bind_int64(journal_, 1, last_lsn_);
    while ((rc = sqlite3_step(journal_)) == SQLITE_ROW) {
      last_lsn_ = sqlite3_column_int64(journal_, 0);
      const auto* k = reinterpret_cast<const char*>(sqlite3_column_text(journal_, 1));
      const std::string_view key(k == nullptr ? "" : k);
      const std::string prefix = std::string(kMonitor) + '\x1f';
      if (key.substr(0, prefix.size()) != prefix) continue;
      const int target = target_index(key.substr(prefix.size()));
      if (target < 0 || static_cast<std::size_t>(target) >= commits_.size()) continue;
      commits_[static_cast<std::size_t>(target)].push_back(sqlite3_column_int64(journal_, 2));
    }
    sqlite3_reset(journal_);
    if (rc != SQLITE_DONE) {
      ++poll_errors_;
      return false;
    }
    return true;
  }

  const std::vector<Window>& windows() const { return windows_; }
  const std::vector<std::vector<std::int64_t>>& runs() const { return runs_; }
  const std::vector<std::vector<std::int64_t>>& commits() const { return commits_; }
  long rows() const { return rows_; }
  long other_rows() const { return other_rows_; }
  long late_rows() const { return late_rows_; }
  long polls() const { return polls_; }
  long poll_errors() const { return poll_errors_; }
  const std::map<std::string, long>& errors() const { return errors_; }

  // COUNT(DISTINCT node) of the monitor's rows with at_ms in [from, to), by SQL; -1 on error.
  long distinct_nodes(std::int64_t from, std::int64_t to) {
    if (db_ == nullptr && !open()) return -1;
    sqlite3_stmt* st = nullptr;
    long n = -1;
    const char* sql =
        "SELECT COUNT(DISTINCT substr(key, 1, instr(key, char(31)) - 1)) FROM metrics "
        "WHERE at_ms >= ? AND at_ms < ? AND instr(key, char(31) || ? || char(31)) > 0";
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, from);
      sqlite3_bind_int64(st, 2, to);
      sqlite3_bind_text(st, 3, kMonitor, -1, SQLITE_STATIC);
      if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
  }

 private:
  bool open() {
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
      return false;
    }
    sqlite3_busy_timeout(db_, 2000);
    if (sqlite3_prepare_v2(db_,
                           "SELECT rowid, key, at_ms, point FROM metrics WHERE rowid > ? "
                           "ORDER BY rowid LIMIT 50000",
                           -1, &stmt_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_,
                           "SELECT lsn, key, committed_at_ms FROM duet_journal WHERE lsn > ? "
                           "AND tbl = 'monitor_status' ORDER BY lsn LIMIT 50000",
                           -1, &journal_, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt_);
      sqlite3_close(db_);
      db_ = nullptr;
      stmt_ = nullptr;
      journal_ = nullptr;
      return false;
    }
    return true;
  }

  void take(std::string_view key, std::int64_t at, const void* blob, int blob_n, std::int64_t now) {
    ++rows_;
    const auto s1 = key.find('\x1f');
    const auto s2 = s1 == std::string_view::npos ? s1 : key.find('\x1f', s1 + 1);
    if (s2 == std::string_view::npos || key.substr(s1 + 1, s2 - s1 - 1) != kMonitor) {
      ++other_rows_;
      return;
    }
    const int target = target_index(key.substr(0, s1));
    if (target < 0 || static_cast<std::size_t>(target) >= runs_.size()) {
      ++other_rows_;
      return;
    }
    runs_[static_cast<std::size_t>(target)].push_back(at);
    const std::int64_t w = at < t0_ms_ ? 0 : (at - t0_ms_) / kMinuteMs;
    if (w >= static_cast<std::int64_t>(windows_.size())) {
      ++late_rows_;
      return;
    }
    Window& win = windows_[static_cast<std::size_t>(w)];
    ++win.results;
    win.seen[static_cast<std::size_t>(target)] = 1;
    win.latency_ms.push_back(static_cast<double>(now - at));
    duet::v1::MetricPoint p;
    if (blob_n <= 0 || !p.ParseFromArray(blob, blob_n)) {
      ++win.failed;
      ++errors_["point not readable"];
      return;
    }
    if (!p.ok()) {
      ++win.failed;
      if (errors_.size() < 20 || errors_.count(p.error()) != 0) ++errors_[p.error()];
      return;
    }
    for (const auto& m : p.metrics()) {
      if (m.name() == "loss_percent" && m.value() > 0) ++win.lossy;
    }
  }

  std::string path_;
  std::int64_t t0_ms_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3_stmt* journal_ = nullptr;
  std::int64_t last_rowid_ = 0, last_lsn_ = 0;
  std::vector<Window> windows_;
  std::vector<std::vector<std::int64_t>> runs_;     // at_ms of each target's results, in order seen
  std::vector<std::vector<std::int64_t>> commits_;  // commit times of each target's results
  long rows_ = 0, other_rows_ = 0, late_rows_ = 0, polls_ = 0, poll_errors_ = 0;
  std::map<std::string, long> errors_;
};

// ---- CPU ----

struct ThreadCpu {
  std::string comm;
  long ticks = 0;
};

std::map<int, ThreadCpu> thread_cpu(pid_t pid) {
  std::map<int, ThreadCpu> out;
  std::error_code ec;
  const fs::path dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::ifstream in(e.path() / "stat");
    std::string s;
    std::getline(in, s);
    const auto open = s.find('('), close = s.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    ThreadCpu t;
    t.comm = s.substr(open + 1, close - open - 1);
    std::istringstream rest(s.substr(close + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stol(field);
      if (i == 15) stime = std::stol(field);
    }
    t.ticks = utime + stime;
    out[std::stoi(e.path().filename().string())] = t;
  }
  return out;
}

// The busiest threads between two snapshots, in cores.
json busiest_threads(const std::map<int, ThreadCpu>& before, const std::map<int, ThreadCpu>& after,
                     double wall_s) {
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::vector<std::pair<double, std::string>> threads;
  for (const auto& [tid, t] : after) {
    long b = 0;
    if (auto it = before.find(tid); it != before.end()) b = it->second.ticks;
    const double s = static_cast<double>(t.ticks - b) / hz;
    if (s > 0) threads.emplace_back(s, t.comm + "/" + std::to_string(tid));
  }
  std::sort(threads.rbegin(), threads.rend());
  json list = json::array();
  for (std::size_t i = 0; i < threads.size() && i < 6; ++i) {
    list.push_back(
        {{"thread", threads[i].second}, {"cores", wall_s > 0 ? threads[i].first / wall_s : 0.0}});
  }
  return list;
}

struct Sample {
  std::int64_t at_ms = 0;
  double master_cpu = 0, standby_cpu = 0, self_cpu = 0;
  long master_rss_kb = 0, standby_rss_kb = 0;
  std::map<int, ThreadCpu> master_threads;
};

double mb(long kb) { return static_cast<double>(kb) / 1024.0; }
double round3(double v) { return std::round(v * 1000) / 1000; }

json latency_json(std::vector<double> v) {
  if (v.empty()) return nullptr;
  const double mx = *std::max_element(v.begin(), v.end());
  return {{"p50", duet::bench::percentile(v, 0.50)},
          {"p99", duet::bench::percentile(v, 0.99)},
          {"max", mx},
          {"samples", v.size()}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"agentless_bench: agentless pings of many loopback targets from a real pair (JSON)"};
  Options o;
  o.bin = fs::path(argv[0]).parent_path().parent_path().string();
  app.add_option("--targets", o.targets, "nodes to ping, one loopback address each")
      ->check(CLI::Range(1, 500000));
  app.add_option("--minutes", o.minutes, "measured minutes (after the warm-up minute)")
      ->check(CLI::Range(1, 60));
  app.add_option("--count", o.count, "echo requests per check (1 s apart)")
      ->check(CLI::Range(1, 10));
  app.add_option("--apply-chunk", o.apply_chunk, "nodes per repository document (transaction)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--poll-ms", o.poll_ms, "how often the stores are read")
      ->check(CLI::Range(20, 5000));
  app.add_option("--settle-s", o.settle_s, "after the last measured minute, for the last commits")
      ->check(CLI::Range(1.0, 300.0));
  app.add_option("--port", o.port)->check(CLI::Range(1024, 65000));
  app.add_option("--bin", o.bin, "build directory holding manager/duet-manager");
  app.add_option("--dir", o.dir, "where the stores go (a fresh directory inside)");
  app.add_flag("--json", o.json_only, "print only the JSON (no progress on stderr)");
  app.add_flag("--keep", o.keep, "keep the stores and logs");
  CLI11_PARSE(app, argc, argv);
  if (!fs::exists(o.bin + "/manager/duet-manager")) {
    die("no " + o.bin + "/manager/duet-manager (give --bin)");
  }

  std::string tmpl = o.dir + "/duet-agentless-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) die("cannot create a directory under " + o.dir);
  const fs::path dir = tmpl;
  std::optional<ManagerPair> pair;
  pair.emplace(o.bin, dir, o.port);
  const int first_master = pair->start();
  g_started = {pair->node(0).pid, pair->node(1).pid};
  if (first_master < 0) die("the pair did not form within 30 s (logs in " + dir.string() + ")");
  progress(o, "master " + pair->node(first_master).name);

  const auto apply_took =
      apply_repository(pair->node(first_master).channel, o.targets, o.apply_chunk);
  double apply_s = 0;
  for (double t : apply_took) apply_s += t;
  const double apply_max_s = *std::max_element(apply_took.begin(), apply_took.end());
  progress(o, std::to_string(o.targets) + " nodes applied in " + std::to_string(apply_s) +
                  " s (longest document " + std::to_string(apply_max_s) + " s)");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // A long apply can hold the master's strand past the failover timeout.
  const int m = pair->wait_formed(std::chrono::seconds(60));
  if (m < 0) die("no master + standby within 60 s of the apply (logs in " + dir.string() + ")");
  if (m != first_master) progress(o, "the pair failed over during the apply");
  Node& master = pair->node(m);
  Node& standby = pair->node(1 - m);
  progress(o, "master " + master.name + " (" + master.grpc + "), standby " + standby.name);

  auto sample = [&] {
    Sample s;
    s.at_ms = wall_ms();
    s.master_cpu = duet::bench::cpu_seconds(master.pid);
    s.standby_cpu = duet::bench::cpu_seconds(standby.pid);
    s.self_cpu = duet::bench::cpu_seconds(getpid());
    s.master_rss_kb = duet::bench::status_kb(master.pid, "VmRSS");
    s.standby_rss_kb = duet::bench::status_kb(standby.pid, "VmRSS");
    s.master_threads = thread_cpu(master.pid);
    return s;
  };
  const Sample before = sample();
  const auto icmp_before = icmp_counters();
  const long raw_drops_before = raw_icmp_drops();

  // Minute 0 starts just before the monitor exists: every first run falls after it.
  const std::int64_t t0 = wall_ms();
  const auto put_start = Steady::now();
  put_monitor(master.channel, o.count);
  const double put_s = std::chrono::duration<double>(Steady::now() - put_start).count();
  progress(o, "monitor added (" + std::to_string(put_s) + " s); minute 0 is warm-up");

  const int windows = o.minutes + 1;
  StoreReader on_master(master.db, o.targets, windows, t0);
  StoreReader on_standby(standby.db, o.targets, windows, t0);
  std::vector<Sample> at_minute;  // at t0 + 60 s * k, k = 1..windows
  json timeline = json::array();
  const std::int64_t end_ms = t0 + windows * kMinuteMs;
  const std::int64_t stop_ms = end_ms + static_cast<std::int64_t>(o.settle_s * 1000);
  std::int64_t next_tick = t0 + 10'000;
  Sample last = before;
  while (true) {  // bounded: ends at stop_ms
    const std::int64_t now = wall_ms();
    if (now >= stop_ms) break;
    (void)on_master.poll();
    (void)on_standby.poll();
    if (static_cast<int>(at_minute.size()) < windows &&
        now >= t0 + kMinuteMs * static_cast<std::int64_t>(at_minute.size() + 1)) {
      at_minute.push_back(sample());
    }
    if (now >= next_tick) {
      const Sample s = sample();
      const double wall = static_cast<double>(s.at_ms - last.at_ms) / 1000.0;
      json t;
      t["t_s"] = static_cast<double>(s.at_ms - t0) / 1000.0;
      t["rows_master"] = on_master.rows();
      t["rows_standby"] = on_standby.rows();
      t["master_cores"] = round3(wall > 0 ? (s.master_cpu - last.master_cpu) / wall : 0);
      t["standby_cores"] = round3(wall > 0 ? (s.standby_cpu - last.standby_cpu) / wall : 0);
      t["master_rss_mb"] = mb(s.master_rss_kb);
      timeline.push_back(t);
      progress(o, t.dump());
      last = s;
      next_tick += 10'000;
    }
    const std::int64_t left = stop_ms - wall_ms();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::clamp<std::int64_t>(left, 0, o.poll_ms)));
  }
  (void)on_master.poll();
  (void)on_standby.poll();
  const int master_at_end = pair->master();
  const auto icmp_after = icmp_counters();
  const long raw_drops_after = raw_icmp_drops();
  const long threads_master = duet::bench::thread_count(master.pid);
  const long hwm_master = duet::bench::status_kb(master.pid, "VmHWM");

  // SQL counts per window, both stores.
  json sql_counts = json::array();
  for (int w = 0; w < windows; ++w) {
    const std::int64_t from = t0 + w * kMinuteMs;
    sql_counts.push_back({{"minute", w},
                          {"master", on_master.distinct_nodes(from, from + kMinuteMs)},
                          {"standby", on_standby.distinct_nodes(from, from + kMinuteMs)}});
  }
  pair->kill();

  // From check start (at_ms) to the master's commit of the result: the first
  // commit of the target's status at or after at_ms (runs are 60 s apart).
  std::vector<std::vector<double>> commit_lat(static_cast<std::size_t>(windows));
  long without_commit = 0;
  for (std::size_t i = 0; i < on_master.runs().size(); ++i) {
    auto commits = on_master.commits()[i];
    std::sort(commits.begin(), commits.end());
    for (std::int64_t at : on_master.runs()[i]) {
      const std::int64_t w = at < t0 ? 0 : (at - t0) / kMinuteMs;
      if (w >= windows) continue;
      auto it = std::lower_bound(commits.begin(), commits.end(), at);
      if (it == commits.end()) {
        ++without_commit;
        continue;
      }
      commit_lat[static_cast<std::size_t>(w)].push_back(static_cast<double>(*it - at));
    }
  }
  std::vector<double> commit_lat_measured;
  for (int w = 1; w < windows; ++w) {
    const auto& v = commit_lat[static_cast<std::size_t>(w)];
    commit_lat_measured.insert(commit_lat_measured.end(), v.begin(), v.end());
  }

  // Per-minute figures.
  auto minutes_json = [&](const StoreReader& r, std::vector<double>* coverage_out,
                          std::vector<double>* latency_all, bool with_commit) {
    json out = json::array();
    for (int w = 0; w < windows; ++w) {
      const Window& win = r.windows()[static_cast<std::size_t>(w)];
      long covered = 0;
      for (auto s : win.seen) covered += s;
      const double cov = static_cast<double>(covered) / o.targets;
      json j;
      j["minute"] = w;
      j["warmup"] = w == 0;
      j["targets_with_result"] = covered;
      j["coverage"] = cov;
      j["results"] = win.results;
      j["results_beyond_one_per_target"] = win.results - covered;
      j["results_with_loss"] = win.lossy;
      j["results_failed"] = win.failed;
      if (with_commit) {
        j["commit_latency_ms"] = latency_json(commit_lat[static_cast<std::size_t>(w)]);
      }
      j["seen_latency_ms"] = latency_json(win.latency_ms);
      if (w > 0) {
        if (coverage_out) coverage_out->push_back(cov);
        if (latency_all) {
          latency_all->insert(latency_all->end(), win.latency_ms.begin(), win.latency_ms.end());
        }
      }
      out.push_back(j);
    }
    return out;
  };
  std::vector<double> coverage, latency_master, coverage_standby, latency_standby;
  json per_minute = minutes_json(on_master, &coverage, &latency_master, true);
  json per_minute_standby = minutes_json(on_standby, &coverage_standby, &latency_standby, false);
  long measured_results = 0, measured_lossy = 0, measured_failed = 0;
  for (int w = 1; w < windows; ++w) {
    const Window& win = on_master.windows()[static_cast<std::size_t>(w)];
    measured_results += win.results;
    measured_lossy += win.lossy;
    measured_failed += win.failed;
  }

  // Each target's period: the gap between consecutive runs, less 60 s.
  std::vector<double> drift;
  long gaps_over_61s = 0;  // a target without a result for over 61 s (boundary-proof coverage)
  json missing = json::array();
  for (std::size_t i = 0; i < on_master.runs().size(); ++i) {
    auto runs = on_master.runs()[i];
    std::sort(runs.begin(), runs.end());
    for (std::size_t k = 1; k < runs.size(); ++k) {
      drift.push_back(static_cast<double>(runs[k] - runs[k - 1] - kMinuteMs));
      if (runs[k] - runs[k - 1] > kMinuteMs + 1000) ++gaps_over_61s;
    }
    bool gap = false;
    for (int w = 1; w < windows; ++w) {
      if (on_master.windows()[static_cast<std::size_t>(w)].seen[i] == 0) gap = true;
    }
    if (gap && missing.size() < 10) {
      json offs = json::array();
      for (auto r : runs) offs.push_back(static_cast<double>(r - t0) / 1000.0);
      missing.push_back({{"target", target_name(static_cast<int>(i))},
                         {"address", target_address(static_cast<int>(i))},
                         {"runs_at_s", offs}});
    }
  }
  json drift_json = nullptr;
  if (!drift.empty()) {
    drift_json = {{"p50", duet::bench::percentile(drift, 0.5)},
                  {"p99", duet::bench::percentile(drift, 0.99)},
                  {"max", *std::max_element(drift.begin(), drift.end())},
                  {"min", *std::min_element(drift.begin(), drift.end())},
                  {"gaps", drift.size()},
                  {"gaps_over_61s", gaps_over_61s}};
  }

  // CPU over the measured minutes: from t0 + 60 s to the end of the last.
  json cpu = nullptr;
  if (static_cast<int>(at_minute.size()) == windows) {
    const Sample& a = at_minute.front();
    const Sample& b = at_minute.back();
    const double wall = static_cast<double>(b.at_ms - a.at_ms) / 1000.0;
    cpu = {{"seconds", wall},
           {"master_cores", round3((b.master_cpu - a.master_cpu) / wall)},
           {"standby_cores", round3((b.standby_cpu - a.standby_cpu) / wall)},
           {"bench_cores", round3((b.self_cpu - a.self_cpu) / wall)},
           {"master_threads", busiest_threads(a.master_threads, b.master_threads, wall)}};
  }
  const Sample& m_end = at_minute.empty() ? before : at_minute.back();
  const double warm_wall =
      at_minute.empty() ? 0 : static_cast<double>(at_minute.front().at_ms - before.at_ms) / 1000.0;

  const double median_cov = duet::bench::percentile(coverage, 0.5);
  const double median_cov_standby = duet::bench::percentile(coverage_standby, 0.5);
  const double min_cov = coverage.empty() ? 0 : *std::min_element(coverage.begin(), coverage.end());

  json out;
  out["bench"] = "agentless_bench";
  out["machine"] = {{"cpu", duet::bench::cpu_model()},
                    {"nproc", std::thread::hardware_concurrency()}};
  out["settings"] = {{"targets", o.targets},
                     {"minutes", o.minutes},
                     {"count", o.count},
                     {"interval_s", 60},
                     {"poll_ms", o.poll_ms},
                     {"settle_s", o.settle_s},
                     {"tls", false},
                     {"store", "sqlite, synchronous=FULL, in " + o.dir},
                     {"replication", "sync (defaults)"},
                     {"addresses", target_address(0) + " .. " + target_address(o.targets - 1)}};
  out["host"] = {{"ping_group_range", read_line("/proc/sys/net/ipv4/ping_group_range")},
                 {"icmp_ratelimit", read_line("/proc/sys/net/ipv4/icmp_ratelimit")},
                 {"icmp_msgs_per_sec", read_line("/proc/sys/net/ipv4/icmp_msgs_per_sec")},
                 {"icmp_echo_ignore_all", read_line("/proc/sys/net/ipv4/icmp_echo_ignore_all")},
                 {"load_at_start", read_line("/proc/loadavg")}};
  json icmp = json::object();
  for (const char* k : {"InEchos", "OutEchoReps", "InEchoReps", "OutEchos", "InErrors", "OutErrors",
                        "OutRateLimitGlobal", "OutRateLimitHost"}) {
    auto a = icmp_after.find(k);
    auto b = icmp_before.find(k);
    if (a != icmp_after.end() && b != icmp_before.end()) icmp[k] = a->second - b->second;
  }
  icmp["raw_socket_drops"] = raw_drops_after - raw_drops_before;
  out["host_icmp_during_run"] = icmp;
  out["apply_s"] = apply_s;
  out["apply_documents"] = apply_took.size();
  out["apply_longest_document_s"] = apply_max_s;
  out["apply_each_s"] = apply_took;
  out["failed_over_during_apply"] = m != first_master;
  out["put_monitor_s"] = put_s;
  out["coverage_median"] = median_cov;
  out["coverage_min"] = min_cov;
  out["coverage_median_standby"] = median_cov_standby;
  out["measured"] = {{"results", measured_results},
                     {"results_per_minute", static_cast<double>(measured_results) / o.minutes},
                     {"results_with_loss", measured_lossy},
                     {"results_failed", measured_failed}};
  out["latency_ms"] = {{"check_start_to_master_commit", latency_json(commit_lat_measured)},
                       {"results_without_commit_time", without_commit},
                       {"check_start_to_seen_on_master", latency_json(latency_master)},
                       {"check_start_to_seen_on_standby", latency_json(latency_standby)},
                       {"seen_resolution_ms", o.poll_ms}};
  out["per_minute"] = per_minute;
  out["per_minute_standby"] = per_minute_standby;
  out["sql_distinct_targets"] = sql_counts;
  out["period_minus_60s_ms"] = drift_json;
  out["targets_missing_a_minute"] = missing;
  json errors = json::object();
  for (const auto& [e, n] : on_master.errors()) errors[e] = n;
  out["errors"] = errors;
  out["cpu_measured"] = cpu;
  out["cpu_warmup_cores"] =
      warm_wall > 0
          ? json{{"master", round3((at_minute.front().master_cpu - before.master_cpu) / warm_wall)},
                 {"standby",
                  round3((at_minute.front().standby_cpu - before.standby_cpu) / warm_wall)}}
          : json(nullptr);
  out["master_rss_mb"] = {{"before_monitor", mb(before.master_rss_kb)},
                          {"end", mb(m_end.master_rss_kb)},
                          {"peak", mb(hwm_master)}};
  out["standby_rss_mb"] = {{"before_monitor", mb(before.standby_rss_kb)},
                           {"end", mb(m_end.standby_rss_kb)}};
  out["master_threads"] = threads_master;
  out["rows"] = {{"master", on_master.rows()},
                 {"standby", on_standby.rows()},
                 {"other_monitors", on_master.other_rows()},
                 {"after_the_last_minute", on_master.late_rows()},
                 {"polls", on_master.polls()},
                 {"poll_errors", on_master.poll_errors() + on_standby.poll_errors()}};
  out["pair_at_end"] = master_at_end == m ? "same master + standby" : "changed or not formed";
  const bool met = o.targets >= 20000 && median_cov >= 1.0;
  out["goal"] = {{"targets_per_minute", 20000},
                 {"coverage_median", 1.0},
                 {"ratio", static_cast<double>(o.targets) * median_cov / 20000.0},
                 {"met", met}};
  out["timeline"] = timeline;
  std::cout << out.dump(2) << std::endl;

  if (!o.keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    std::cerr << "agentless_bench: stores and logs kept in " << dir.string() << "\n";
  }
  return median_cov >= 1.0 ? 0 : 1;
}
