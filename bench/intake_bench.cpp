// intake_bench: event intake of a real manager pair under load (issue 4).
// Each trial starts two duet-manager processes on 127.0.0.11 / 127.0.0.12
// (insecure TLS, fresh SQLite stores in a temp dir, syslog UDP+TCP and SNMP
// receivers on each node's own address), waits for master + standby, then
// sends --count distinct messages, each carrying a sequence number
// ("duetbench-seq-N"), to BOTH managers at --rate messages/s, and measures:
//
//   - the send rate achieved, and the sending thread's CPU (send_cpu_s;
//     it includes the kernel's loopback delivery to both managers);
//   - the time until all of them are stored on the master (its SQLite file,
//     read-only, polled every 100 ms by the highest event id, a lookup, and
//     confirmed by one count: the Events API scans the whole table on the
//     manager's strand, and so would a count(*) every 100 ms; poll_cpu_s is
//     what the polling cost);
//   - stored events/s = count / (all stored - first send);
//   - kernel receive-buffer drops (Events.IntakeCounters on each node, and
//     the "drops" column of /proc/net/udp for the receiving sockets);
//   - exactly `count` events on the master: every sequence number once;
//   - CPU seconds per thread of each manager during the trial.
//
// Modes:
//   udp       syslog over UDP, sendmmsg batches of --batch messages to each
//             manager, from one connected socket per manager (same port)
//   tcp       syslog over TCP, one connection per manager, octet counting
//   snmp-v2c  SNMPv2c traps, pre-encoded with snmp/notification.h
//   snmp-v3   SNMPv3 authPriv (SHA/AES) traps with the sender's engine id
//   failover  syslog UDP at a steady --rate; the master gets SIGKILL half-way;
//             every sequence number must be on the survivor exactly once;
//             reports the longest stall of the stored-event count on the
//             survivor and the longest gap in received_at_ms.
//
// --rsyslog (udp mode): the same datagrams at the same rate to a throwaway
// rsyslogd (imudp -> omfile, its own config, pid file and work dir) on
// 127.0.0.13, lines written counted; reports the ratio.
//
//   intake_bench --mode udp --count 300000 --rate 50000,100000 --repeat 3 --rsyslog
//   intake_bench --mode failover --count 20000 --rate 2000
//
// Bounded: each trial gives up 60 s (--settle-s of no progress) after its
// last send, and every process it started is killed at the end of its trial.

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "duet/v1/admin.grpc.pb.h"
#include "duet/v1/events.grpc.pb.h"
#include "snmp/notification.h"
#include "snmp/oid.h"
#include "snmp/pdu.h"
#include "snmp/usm.h"
#include "snmp/usm_user.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kSeqTag = "duetbench-seq-";
constexpr const char* kEngineId = "8000000001020304";  // the trap sender's (v3)
constexpr const char* kAuthPass = "authpass123";
constexpr const char* kPrivPass = "privpass123";

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The calling thread's CPU time, in seconds.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, copy[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

void kill_and_reap(pid_t pid, int sig = SIGKILL) {
  if (pid <= 0) return;
  kill(pid, sig);
  if (sig != SIGKILL) {
    // Give it 5 s to stop on its own.
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid, SIGKILL);
  }
  waitpid(pid, nullptr, 0);
}

// ---- per-thread CPU from /proc/<pid>/task/*/stat ----

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

// CPU seconds per thread between two snapshots, busiest first.
json cpu_diff(const std::map<int, ThreadCpu>& before, const std::map<int, ThreadCpu>& after,
              double wall_s) {
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::vector<std::pair<double, std::string>> threads;
  double total = 0;
  for (const auto& [tid, t] : after) {
    long b = 0;
    if (auto it = before.find(tid); it != before.end()) b = it->second.ticks;
    const double s = static_cast<double>(t.ticks - b) / hz;
    total += s;
    if (s > 0) threads.emplace_back(s, t.comm + "/" + std::to_string(tid));
  }
  std::sort(threads.rbegin(), threads.rend());
  json j;
  j["cpu_s"] = total;
  j["cores_busy"] = wall_s > 0 ? total / wall_s : 0;
  json list = json::array();
  for (std::size_t i = 0; i < threads.size() && i < 8; ++i) {
    list.push_back({{"thread", threads[i].second}, {"cpu_s", threads[i].first}});
  }
  j["threads"] = list;
  return j;
}

// ---- /proc/net/udp drops of the socket bound to ip:port ----

std::optional<long> proc_udp_drops(const std::string& ip, int port) {
  in_addr a{};
  inet_pton(AF_INET, ip.c_str(), &a);
  char want[32];
  std::snprintf(want, sizeof want, "%08X:%04X", a.s_addr, port);
  std::ifstream in("/proc/net/udp");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string slot, local;
    ls >> slot >> local;
    if (local != want) continue;
    std::string last, f;
    while (ls >> f) last = f;
    return std::stol(last);
  }
  return std::nullopt;
}

// ---- the store, read-only ----

class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
      return;
    }
    sqlite3_busy_timeout(db_, 2000);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Exact, but a scan of the whole table (events has no other index).
  long count() { return scalar("SELECT count(*) FROM events"); }
  // The highest event id: one lookup at the end of the table. Ids are
  // issued one by one as events are emitted, so while one master stores
  // events it is the count; a count confirms it.
  long max_id() { return scalar("SELECT coalesce(max(id), 0) FROM events"); }

  long scalar(const char* sql) {
    if (db_ == nullptr) return -1;
    sqlite3_stmt* st = nullptr;
    long n = -1;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
  }

  struct Ev {
    long seq;
    std::int64_t received_at_ms;
    std::string node;
    std::int64_t epoch;
  };
  // Every event; seq -1 for one that carries no sequence number.
  std::vector<Ev> events() {
    std::vector<Ev> out;
    if (db_ == nullptr) return out;
    sqlite3_stmt* st = nullptr;
    // A syslog event keeps its message only in raw (EventIntake::emit).
    if (sqlite3_prepare_v2(
            db_,
            "SELECT CASE WHEN message <> '' THEN message ELSE CAST(raw AS TEXT) END, "
            "received_at_ms, node, epoch FROM events",
            -1, &st, nullptr) != SQLITE_OK) {
      return out;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char* m = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      Ev e{-1, sqlite3_column_int64(st, 1),
           reinterpret_cast<const char*>(sqlite3_column_text(st, 2)), sqlite3_column_int64(st, 3)};
      if (m != nullptr) {
        if (const char* p = std::strstr(m, kSeqTag)) e.seq = std::strtol(p + 14, nullptr, 10);
      }
      out.push_back(std::move(e));
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

struct Verdict {
  long stored = 0, lost = 0, duplicated = 0, other = 0;
};

Verdict verify(const std::vector<Db::Ev>& evs, long n) {
  Verdict v;
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  for (const auto& e : evs) {
    ++v.stored;
    if (e.seq < 0 || e.seq >= n) {
      ++v.other;
      continue;
    }
    if (++seen[static_cast<std::size_t>(e.seq)] > 1) ++v.duplicated;
  }
  for (int s : seen) v.lost += s == 0 ? 1 : 0;
  return v;
}

// ---- the pair ----

struct Options {
  std::string mode = "udp";
  long count = 200000;
  std::vector<double> rates{100000};
  int repeat = 1;
  std::string bin;
  int port = 17640;  // gRPC; syslog +1, SNMP +2, rsyslog +3
  bool rsyslog = false;
  bool master_only = false;
  double settle_s = 10;
  int batch = 32;
  int interval_ms = 500;  // the production defaults: intake load must not fail the pair over
  int timeout_ms = 3000;
  int batch_delay_ms = 0;  // events.batch_delay_ms of both managers; 0: their default
  long rcvbuf_bytes = 0;   // receivers.syslog.udp_receive_buffer_bytes; 0: their default
  long coalesce_us = -1;   // receivers.syslog.udp_coalesce_us; -1: their default
  int msg_bytes = 120;
  bool keep = false;
};

struct Node {
  std::string name, ip, grpc;
  pid_t pid = -1;
  std::string db;
  std::unique_ptr<duet::v1::Admin::Stub> admin;
  std::unique_ptr<duet::v1::Events::Stub> events;
};

std::optional<std::pair<std::string, bool>> self_view(duet::v1::Admin::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  duet::v1::StatusResponse r;
  if (!stub.Status(&ctx, duet::v1::StatusRequest(), &r).ok()) return std::nullopt;
  for (const auto& n : r.nodes()) {
    if (n.self()) return std::make_pair(n.role(), r.has_master() && r.master() == n.name());
  }
  return std::nullopt;
}

class Pair {
 public:
  Pair(const Options& o, const fs::path& dir) : o_(o), dir_(dir) {
    fs::create_directories(dir);
    nodes_[0].name = "a";
    nodes_[0].ip = "127.0.0.11";
    nodes_[1].name = "b";
    nodes_[1].ip = "127.0.0.12";
    for (int i = 0; i < 2; ++i) {
      Node& n = nodes_[i];
      n.grpc = n.ip + ":" + std::to_string(o.port);
      n.db = (dir / (n.name + ".db")).string();
    }
    for (int i = 0; i < 2; ++i) {
      const Node& n = nodes_[i];
      const Node& p = nodes_[1 - i];
      std::ofstream(dir / (n.name + ".yaml"))
          << "node: { name: " << n.name << ", address: \"" << n.grpc << "\" }\n"
          << "peer: { name: " << p.name << ", address: \"" << p.grpc << "\" }\n"
          << "store: { sqlite: \"" << n.db << "\" }\n"
          << "tls: { insecure: true }\n"
          << "log: { level: warn }\n"
          << "ha: { interval_ms: " << o.interval_ms << ", timeout_ms: " << o.timeout_ms
          << ", guard: reference, reference: [\"icmp:127.0.0.1\"] }\n"
          << (o.batch_delay_ms > 0
                  ? "events: { batch_delay_ms: " + std::to_string(o.batch_delay_ms) + " }\n"
                  : std::string())
          << "receivers:\n"
          << "  syslog: { udp: \"" << n.ip << ":" << o.port + 1 << "\", tcp: \"" << n.ip << ":"
          << o.port + 1 << "\""
          << (o.rcvbuf_bytes > 0 ? ", udp_receive_buffer_bytes: " + std::to_string(o.rcvbuf_bytes)
                                 : std::string())
          << (o.coalesce_us >= 0 ? ", udp_coalesce_us: " + std::to_string(o.coalesce_us)
                                 : std::string())
          << " }\n"
          << "  snmp:\n"
          << "    udp: \"" << n.ip << ":" << o.port + 2 << "\"\n"
          << "    communities: [public]\n"
          << "    users:\n"
          << "      - { name: bench, auth: sha, auth_key: " << kAuthPass
          << ", priv: aes, priv_key: " << kPrivPass << ", engine_id: \"" << kEngineId << "\" }\n";
    }
  }
  ~Pair() {
    for (auto& n : nodes_) kill_and_reap(n.pid);
    if (!o_.keep) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  // Starts both managers; the index of the master, or -1 after 30 s.
  int start() {
    const std::string manager = o_.bin + "/manager/duet-manager";
    for (auto& n : nodes_) {
      n.pid = spawn({manager, "--config", (dir_ / (n.name + ".yaml")).string()},
                    (dir_ / (n.name + ".log")).string());
      auto ch = grpc::CreateChannel(n.grpc, grpc::InsecureChannelCredentials());
      n.admin = duet::v1::Admin::NewStub(ch);
      n.events = duet::v1::Events::NewStub(ch);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto v0 = self_view(*nodes_[0].admin);
      auto v1 = self_view(*nodes_[1].admin);
      if (v0 && v1) {
        if (v0->second && v1->first == "standby") return 0;
        if (v1->second && v0->first == "standby") return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  Node& node(int i) { return nodes_[i]; }

  json counters(int i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    duet::v1::IntakeCountersResponse r;
    if (!nodes_[i].events->IntakeCounters(&ctx, duet::v1::IntakeCountersRequest(), &r).ok()) {
      return nullptr;
    }
    json j;
    j["role"] = r.role();
    j["held"] = r.held();
    j["store_failures"] = r.store_failures();
    j["expired"] = r.expired();
    j["held_bytes"] = r.held_bytes();
    j["peer_lost"] = r.peer_lost();
    j["unpaired"] = r.unpaired();
    j["unpaired_dropped"] = r.unpaired_dropped();
    for (const auto& p : r.protocols()) {
      if (p.received() == 0) continue;
      json pj = {{"received", p.received()},   {"parsed", p.parsed()},
                 {"malformed", p.malformed()}, {"deduplicated", p.deduplicated()},
                 {"emitted", p.emitted()},     {"kernel_drops", p.kernel_drops()}};
      j[p.protocol()] = pj;
    }
    return j;
  }

  std::optional<std::uint64_t> count_events(int i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    duet::v1::CountEventsResponse r;
    if (!nodes_[i].events->CountEvents(&ctx, duet::v1::CountEventsRequest(), &r).ok()) {
      return std::nullopt;
    }
    return r.total();
  }

 private:
  const Options& o_;
  fs::path dir_;
  Node nodes_[2];
};

// ---- payloads ----

std::vector<std::string> syslog_payloads(long n, int bytes) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    std::string s = "<134>Oct 11 22:14:15 benchhost app[4242]: ";
    s += kSeqTag + std::to_string(i) + " link state changed on port 17, interface up";
    while (static_cast<int>(s.size()) < bytes) s += '.';
    out.push_back(std::move(s));
  }
  return out;
}

template <typename T>
T must(duet::Result<T> r, const char* what) {
  if (!r.ok()) {
    std::cerr << "intake_bench: " << what << ": " << r.error().message << "\n";
    std::exit(1);
  }
  return std::move(r).value();
}

std::vector<std::string> snmp_payloads(long n, bool v3) {
  using namespace duet::snmp;
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  const Oid trap_oid{1, 3, 6, 1, 6, 3, 1, 1, 5, 3};
  const Oid seq_oid{1, 3, 6, 1, 4, 1, 8072, 9999, 1};
  const Oid if_index{1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 17};
  std::optional<UsmKeys> keys;
  Bytes engine;
  if (v3) {
    UsmUserConfig user;
    user.name = "bench";
    user.auth = must(parse_auth_protocol("SHA"), "auth");
    user.auth_password = kAuthPass;
    user.priv = must(parse_priv_protocol("AES"), "priv");
    user.priv_password = kPrivPass;
    engine = must(parse_hex(kEngineId), "engine id");
    keys = must(localize_user(user, engine), "localize");
  }
  const uint64_t salt0 = random_salt();
  for (long i = 0; i < n; ++i) {
    auto vbs =
        notification_varbinds(static_cast<uint32_t>(1000 + i), trap_oid,
                              {Varbind{if_index, Integer32{17}},
                               Varbind{seq_oid, OctetString::from(kSeqTag + std::to_string(i))}});
    Bytes b;
    if (!v3) {
      b = must(build_v2c_notification("public", PduType::kTrapV2, static_cast<int32_t>(i + 1),
                                      std::move(vbs)),
               "v2c");
    } else {
      SealParams p;
      p.msg_id = static_cast<int32_t>(i + 1);
      p.level = keys->level();
      p.engine_id = engine;
      p.engine_boots = 1;
      p.engine_time = 100;
      p.salt = salt0 + static_cast<uint64_t>(i);
      b = must(build_v3_notification(p, *keys, PduType::kTrapV2, static_cast<int32_t>(i + 1),
                                     std::move(vbs)),
               "v3");
    }
    out.emplace_back(b.begin(), b.end());
  }
  return out;
}

// ---- senders ----

sockaddr_in addr_of(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

struct SendResult {
  double seconds = 0;  // first send to last send
  long errors = 0;
  double cpu_s = 0;  // the sending thread's CPU (with the kernel's loopback delivery)
};

// Sends payloads[i] to every destination, at `rate` messages/s, `batch`
// messages per sendmmsg. `at_index` is called before message `hook_at`.
// One socket per destination, connected to it (the kernel looks the route up
// once, not for every datagram) and all bound to the same source port, as a
// device sending to both managers from one port would be.
SendResult send_udp(const std::vector<std::string>& payloads, const std::vector<sockaddr_in>& dests,
                    double rate, int batch, Clock::time_point t0, long hook_at = -1,
                    const std::function<void()>& hook = {}) {
  SendResult r;
  const double cpu0 = thread_cpu_s();
  std::vector<int> fds;
  sockaddr_in src = addr_of("127.0.0.1", 0);
  for (const auto& dest : dests) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    const int sndbuf = 4 << 20;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        connect(fd, reinterpret_cast<const sockaddr*>(&dest), sizeof dest) != 0) {
      ++r.errors;
    }
    socklen_t len = sizeof src;
    getsockname(fd, reinterpret_cast<sockaddr*>(&src), &len);  // the next binds this port
    fds.push_back(fd);
  }
  const long n = static_cast<long>(payloads.size());
  std::vector<mmsghdr> msgs(static_cast<std::size_t>(batch));
  std::vector<iovec> iov(msgs.size());
  for (long i = 0; i < n; i += batch) {
    const long end = std::min(n, i + batch);
    if (hook && hook_at >= i && hook_at < end) hook();
    const auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(i) / rate));
    std::this_thread::sleep_until(due);
    const auto k = static_cast<std::size_t>(end - i);
    for (std::size_t m = 0; m < k; ++m) {
      const std::string& p = payloads[static_cast<std::size_t>(i) + m];
      iov[m] = iovec{const_cast<char*>(p.data()), p.size()};
      std::memset(&msgs[m], 0, sizeof(mmsghdr));
      msgs[m].msg_hdr.msg_iov = &iov[m];
      msgs[m].msg_hdr.msg_iovlen = 1;
    }
    for (const int fd : fds) {
      std::size_t done = 0;
      while (done < k) {
        const int s = sendmmsg(fd, msgs.data() + done, static_cast<unsigned>(k - done), 0);
        if (s > 0) {
          done += static_cast<std::size_t>(s);
        } else if (errno == ECONNREFUSED) {
          ++r.errors;  // an ICMP error from an earlier datagram (a manager gone): send again
        } else {
          ++r.errors;
          if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) ++done;  // skip it
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      }
    }
  }
  r.seconds = secs(Clock::now() - t0);
  r.cpu_s = thread_cpu_s() - cpu0;
  for (const int fd : fds) close(fd);
  return r;
}

// One TCP connection to `dest`, octet-counted frames, paced at `rate`.
SendResult send_tcp(const std::vector<std::string>& payloads, sockaddr_in dest, double rate,
                    int batch, Clock::time_point t0) {
  SendResult r;
  const double cpu0 = thread_cpu_s();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src = addr_of("127.0.0.1", 0);
  bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
  if (connect(fd, reinterpret_cast<sockaddr*>(&dest), sizeof dest) != 0) {
    r.errors = 1;
    close(fd);
    return r;
  }
  const long n = static_cast<long>(payloads.size());
  std::string buf;
  for (long i = 0; i < n && r.errors == 0; i += batch) {
    const long end = std::min(n, i + batch);
    const auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(i) / rate));
    std::this_thread::sleep_until(due);
    buf.clear();
    for (long j = i; j < end; ++j) {
      const std::string& p = payloads[static_cast<std::size_t>(j)];
      buf += std::to_string(p.size());
      buf += ' ';
      buf += p;
    }
    std::size_t off = 0;
    while (off < buf.size()) {
      const ssize_t w = write(fd, buf.data() + off, buf.size() - off);
      if (w <= 0) {
        if (errno == EINTR) continue;
        r.errors = 1;
        break;
      }
      off += static_cast<std::size_t>(w);
    }
  }
  r.seconds = secs(Clock::now() - t0);
  r.cpu_s = thread_cpu_s() - cpu0;
  shutdown(fd, SHUT_WR);
  // Keep the connection until the receiver has read it all (it closes or idles).
  char tmp[256];
  struct timeval tv {
    5, 0
  };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)read(fd, tmp, sizeof tmp);
  close(fd);
  return r;
}

// ---- trials ----

// Waits until `db` holds `n` events, or no progress for settle_s, or the
// deadline. Returns the time all were stored (or nullopt).
std::optional<Clock::time_point> wait_stored(Db& db, long n, double settle_s,
                                             const std::atomic<bool>& sending, long* last_count,
                                             double* poll_cpu_s) {
  long last = -1;
  auto last_change = Clock::now();
  const auto hard = Clock::now() + std::chrono::minutes(10);
  const double cpu0 = thread_cpu_s();
  struct Spent {
    double cpu0;
    double* out;
    ~Spent() {
      if (out != nullptr) *out = thread_cpu_s() - cpu0;
    }
  } spent{cpu0, poll_cpu_s};
  // Polled by the highest id, a lookup: a count(*) every 100 ms scans the
  // whole table, costs this machine a growing share of a core as the table
  // grows, and holds a read snapshot on the master's WAL most of the time.
  // Once the ids reach n, a count confirms; if ids were skipped, counts
  // follow, once a second.
  bool confirming = false;
  while (Clock::now() < hard) {
    long c = confirming ? db.count() : db.max_id();
    if (!confirming && c >= n) {
      confirming = true;
      c = db.count();
    }
    const auto now = Clock::now();
    if (c != last) {
      last = c;
      last_change = now;
    }
    *last_count = last;
    if (c >= n) return now;
    if (!sending.load() && secs(now - last_change) > settle_s) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(confirming ? 1000 : 100));
  }
  return std::nullopt;
}

json run_trial(const Options& o, double rate, int trial) {
  json t;
  t["rate"] = rate;
  t["trial"] = trial;
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  t["loadavg_1m_at_start"] = load[0];
  const fs::path dir = fs::temp_directory_path() /
                       ("duet-intake-" + std::to_string(getpid()) + "-" + std::to_string(trial));
  std::vector<std::string> payloads;
  const bool snmp = o.mode.rfind("snmp", 0) == 0;
  const auto prep0 = Clock::now();
  if (snmp) {
    payloads = snmp_payloads(o.count, o.mode == "snmp-v3");
  } else {
    payloads = syslog_payloads(o.count, o.msg_bytes);
  }
  t["encode_s"] = secs(Clock::now() - prep0);
  Pair pair(o, dir);
  const int master = pair.start();
  if (master < 0) {
    t["error"] = "the pair did not form within 30 s";
    return t;
  }
  const int standby = 1 - master;
  t["master"] = pair.node(master).name;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // settle
  const int port = o.port + (snmp ? 2 : 1);
  std::vector<sockaddr_in> dests;
  dests.push_back(addr_of(pair.node(master).ip, port));
  if (!o.master_only) dests.push_back(addr_of(pair.node(standby).ip, port));

  Db master_db(pair.node(master).db);
  Db standby_db(pair.node(standby).db);
  const auto cpu_m0 = thread_cpu(pair.node(master).pid);
  const auto cpu_s0 = thread_cpu(pair.node(standby).pid);
  std::atomic<bool> sending{true};
  SendResult sent;
  const auto t0 = Clock::now() + std::chrono::milliseconds(20);

  // Failover: the survivor's count, every 10 ms, for the stall.
  std::vector<std::pair<double, long>> timeline;
  std::atomic<bool> polling{o.mode == "failover"};
  std::optional<double> kill_at_s;
  std::thread poller;
  if (o.mode == "failover") {
    poller = std::thread([&] {
      while (polling.load()) {
        timeline.emplace_back(secs(Clock::now() - t0), standby_db.count());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }

  std::thread sender([&] {
    if (o.mode == "tcp") {
      SendResult a, b;
      std::thread tb;
      if (!o.master_only)
        tb = std::thread([&] { b = send_tcp(payloads, dests[1], rate, o.batch, t0); });
      a = send_tcp(payloads, dests[0], rate, o.batch, t0);
      if (tb.joinable()) tb.join();
      sent.seconds = std::max(a.seconds, b.seconds);
      sent.errors = a.errors + b.errors;
      sent.cpu_s = a.cpu_s + b.cpu_s;
    } else if (o.mode == "failover") {
      const pid_t victim = pair.node(master).pid;
      sent = send_udp(payloads, dests, rate, o.batch, t0, o.count / 2, [&] {
        kill(victim, SIGKILL);
        kill_at_s = secs(Clock::now() - t0);
      });
    } else {
      sent = send_udp(payloads, dests, rate, o.batch, t0);
    }
    sending = false;
  });

  long last_count = 0;
  double poll_cpu_s = 0;  // this thread's CPU while it waited for the events
  std::optional<Clock::time_point> stored;
  std::optional<double> promoted_s;
  if (o.mode == "failover") {
    // Wait for the kill, then for the survivor to act, then for all events.
    while (!kill_at_s && sending.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    waitpid(pair.node(master).pid, nullptr, 0);
    pair.node(master).pid = -1;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto v = self_view(*pair.node(standby).admin);
      if (v && v->first == "master" && v->second) {
        promoted_s = secs(Clock::now() - t0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stored = wait_stored(standby_db, o.count, o.settle_s, sending, &last_count, nullptr);
  } else {
    stored = wait_stored(master_db, o.count, o.settle_s, sending, &last_count, &poll_cpu_s);
  }
  sender.join();
  polling = false;
  if (poller.joinable()) poller.join();
  const double wall = secs(Clock::now() - t0);

  t["sent"] = o.count;
  t["destinations"] = dests.size();
  t["send_s"] = sent.seconds;
  t["send_rate"] = static_cast<double>(o.count) / sent.seconds;
  t["send_errors"] = sent.errors;
  t["send_cpu_s"] = sent.cpu_s;
  t["poll_cpu_s"] = poll_cpu_s;
  if (stored) {
    const double s = secs(*stored - t0);
    t["stored_s"] = s;
    t["stored_per_s"] = static_cast<double>(o.count) / s;
    t["drain_after_last_send_s"] = s - sent.seconds;
  } else {
    t["stored_s"] = nullptr;
    t["stored_when_stopped"] = last_count;
  }
  const int check = o.mode == "failover" ? standby : master;
  // The kernel counts drops on the sockets, whatever the manager saw.
  for (int i = 0; i < 2; ++i) {
    if (pair.node(i).pid < 0) continue;
    json c = pair.counters(i);
    if (auto d = proc_udp_drops(pair.node(i).ip, port)) c["proc_net_udp_drops"] = *d;
    t[i == master ? "master_counters" : "standby_counters"] = c;
  }
  if (o.mode != "failover" && t["master_counters"].is_object() &&
      t["master_counters"].value("role", "") != "master") {
    t["error"] = "the master lost its role during the trial (heartbeats starved?)";
  }
  getloadavg(load, 3);
  t["loadavg_1m_at_end"] = load[0];
  t["cpu_master"] = cpu_diff(cpu_m0, thread_cpu(pair.node(master).pid), wall);
  if (pair.node(standby).pid > 0) {
    t["cpu_standby"] = cpu_diff(cpu_s0, thread_cpu(pair.node(standby).pid), wall);
  }
  Db& vdb = check == master ? master_db : standby_db;
  const auto evs = vdb.events();
  const Verdict v = verify(evs, o.count);
  t["verified_on"] = pair.node(check).name;
  t["stored"] = v.stored;
  t["lost"] = v.lost;
  t["duplicated"] = v.duplicated;
  t["other_events"] = v.other;
  if (auto c = pair.count_events(check)) t["events_count_api"] = *c;
  if (o.mode == "failover") {
    t["killed"] = pair.node(master).name;
    if (kill_at_s) t["kill_at_s"] = *kill_at_s;
    if (promoted_s) t["survivor_master_after_kill_s"] = *promoted_s - kill_at_s.value_or(0);
    // The longest stretch in which the survivor's stored count did not move,
    // between 1 s before the kill and the last send.
    double longest = 0, at = 0;
    double prev_t = -1;
    long prev_c = -2;
    for (const auto& [ts, c] : timeline) {
      if (kill_at_s && ts < *kill_at_s - 1) continue;
      if (ts > sent.seconds) break;
      if (c != prev_c) {
        if (prev_t >= 0 && ts - prev_t > longest) {
          longest = ts - prev_t;
          at = prev_t;
        }
        prev_t = ts;
        prev_c = c;
      }
    }
    t["longest_stored_stall_s"] = longest;
    if (kill_at_s) t["stall_starts_after_kill_s"] = at - *kill_at_s;
    // Gaps in received_at_ms: sorted by receipt time, and between consecutive seqs.
    std::vector<std::int64_t> at_ms;
    std::vector<std::pair<long, std::int64_t>> by_seq;
    std::map<std::string, long> by_node_epoch;
    for (const auto& e : evs) {
      at_ms.push_back(e.received_at_ms);
      if (e.seq >= 0) by_seq.emplace_back(e.seq, e.received_at_ms);
      ++by_node_epoch["received by " + e.node + ", epoch " + std::to_string(e.epoch)];
    }
    std::sort(at_ms.begin(), at_ms.end());
    std::sort(by_seq.begin(), by_seq.end());
    std::int64_t g1 = 0, g2 = 0;
    for (std::size_t i = 1; i < at_ms.size(); ++i) g1 = std::max(g1, at_ms[i] - at_ms[i - 1]);
    for (std::size_t i = 1; i < by_seq.size(); ++i) {
      g2 = std::max(g2, std::abs(by_seq[i].second - by_seq[i - 1].second));
    }
    t["longest_received_at_gap_ms"] = g1;
    t["longest_received_at_gap_consecutive_seq_ms"] = g2;
    t["events_by"] = by_node_epoch;
  }
  if (o.keep) t["dir"] = dir.string();
  return t;
}

// rsyslogd -n on 127.0.0.13: imudp -> omfile; the same datagrams at the same rate.
json run_rsyslog(const Options& o, double rate, int trial) {
  json t;
  t["rate"] = rate;
  t["trial"] = trial;
  const std::string rsyslogd = "/usr/sbin/rsyslogd";
  if (!fs::exists(rsyslogd)) {
    t["error"] = "no /usr/sbin/rsyslogd (apt-get install rsyslog)";
    return t;
  }
  const fs::path dir = fs::temp_directory_path() /
                       ("duet-rsyslog-" + std::to_string(getpid()) + "-" + std::to_string(trial));
  fs::create_directories(dir / "work");
  const int port = o.port + 3;
  const std::string out = (dir / "out.log").string();
  std::ofstream(dir / "rsyslog.conf")
      << "global(workDirectory=\"" << (dir / "work").string() << "\" maxMessageSize=\"8k\")\n"
      << "module(load=\"imudp\")\n"
      // 4m, doubled by the kernel: the managers' 8 MB asked, capped at rmem_max (4 MB), doubled.
      << "input(type=\"imudp\" address=\"127.0.0.13\" port=\"" << port << "\" rcvbufSize=\"4m\")\n"
      << "*.* action(type=\"omfile\" file=\"" << out << "\")\n";
  const auto payloads = syslog_payloads(o.count, o.msg_bytes);
  const pid_t pid = spawn({rsyslogd, "-n", "-f", (dir / "rsyslog.conf").string(), "-i",
                           (dir / "rsyslogd.pid").string()},
                          (dir / "rsyslogd.log").string());
  // Ready when its socket is bound.
  const auto ready = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < ready && !proc_udp_drops("127.0.0.13", port)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto cpu0 = thread_cpu(pid);
  const auto t0 = Clock::now() + std::chrono::milliseconds(20);
  std::atomic<bool> sending{true};
  SendResult sent;
  std::thread sender([&] {
    sent = send_udp(payloads, {addr_of("127.0.0.13", port)}, rate, o.batch, t0);
    sending = false;
  });
  auto lines = [&] {
    std::ifstream in(out);
    long n = 0;
    std::string l;
    while (std::getline(in, l)) ++n;
    return n;
  };
  long last = -1;
  auto last_change = Clock::now();
  std::optional<double> done_s;
  while (true) {
    const long c = lines();
    const auto now = Clock::now();
    if (c != last) {
      last = c;
      last_change = now;
    }
    if (c >= o.count) {
      done_s = secs(now - t0);
      break;
    }
    if (!sending.load() && secs(now - last_change) > o.settle_s) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sender.join();
  t["cpu"] = cpu_diff(cpu0, thread_cpu(pid), secs(Clock::now() - t0));
  if (auto d = proc_udp_drops("127.0.0.13", port)) t["proc_net_udp_drops"] = *d;
  kill_and_reap(pid, SIGTERM);
  t["sent"] = o.count;
  t["send_rate"] = static_cast<double>(o.count) / sent.seconds;
  t["lines_written"] = last;
  t["lost"] = o.count - last;
  if (done_s) {
    t["written_s"] = *done_s;
    t["written_per_s"] = static_cast<double>(o.count) / *done_s;
  }
  std::error_code ec;
  if (!o.keep) fs::remove_all(dir, ec);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"intake_bench: syslog/SNMP intake of a real pair under load (JSON)"};
  Options o;
  o.bin = fs::path(argv[0]).parent_path().parent_path().string();
  std::string rates = "100000";
  app.add_option("--mode", o.mode)
      ->check(CLI::IsMember({"udp", "tcp", "snmp-v2c", "snmp-v3", "failover"}));
  app.add_option("--count", o.count, "distinct messages per trial")
      ->check(CLI::Range(1L, 5000000L));
  app.add_option("--rate", rates, "messages/s to each manager; a comma list sweeps");
  app.add_option("--repeat", o.repeat, "trials per rate")->check(CLI::Range(1, 20));
  app.add_option("--bin", o.bin, "build directory holding manager/duet-manager");
  app.add_option("--port", o.port, "gRPC port; syslog +1, SNMP +2, rsyslog +3")
      ->check(CLI::Range(1024, 65000));
  app.add_flag("--rsyslog", o.rsyslog, "udp: also measure rsyslogd (imudp -> omfile)");
  app.add_flag("--master-only", o.master_only, "send to the master only (diagnosis)");
  app.add_option("--settle-s", o.settle_s, "give up after this long without progress");
  app.add_option("--batch", o.batch, "messages per sendmmsg / TCP write")
      ->check(CLI::Range(1, 512));
  app.add_option("--msg-bytes", o.msg_bytes, "syslog message length (padded)");
  app.add_option("--batch-delay-ms", o.batch_delay_ms,
                 "the managers' events.batch_delay_ms (default: theirs)");
  app.add_option("--rcvbuf-bytes", o.rcvbuf_bytes,
                 "the managers' receivers.syslog.udp_receive_buffer_bytes (default: theirs)");
  app.add_option("--coalesce-us", o.coalesce_us,
                 "the managers' receivers.syslog.udp_coalesce_us (default: theirs)");
  app.add_option("--interval-ms", o.interval_ms);
  app.add_option("--timeout-ms", o.timeout_ms);
  app.add_flag("--keep", o.keep, "keep the temp dirs (logs, stores)");
  CLI11_PARSE(app, argc, argv);
  o.rates.clear();
  std::stringstream rs(rates);
  for (std::string r; std::getline(rs, r, ',');) o.rates.push_back(std::stod(r));
  if (o.mode == "failover" && app.count("--rate") == 0) o.rates = {2000};
  if (!fs::exists(o.bin + "/manager/duet-manager")) {
    std::cerr << "intake_bench: no " << o.bin << "/manager/duet-manager (give --bin)\n";
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  json out;
  out["bench"] = "intake_bench";
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  out["machine"] = {{"cpu", duet::bench::cpu_model()},
                    {"nproc", std::thread::hardware_concurrency()},
                    {"loadavg_at_start", {load[0], load[1], load[2]}}};
  out["settings"] = {
      {"mode", o.mode},
      {"count", o.count},
      {"rates", o.rates},
      {"repeat", o.repeat},
      {"batch", o.batch},
      {"msg_bytes", o.mode == "udp" || o.mode == "tcp" || o.mode == "failover" ? json(o.msg_bytes)
                                                                               : json(nullptr)},
      {"destinations", o.master_only ? "master" : "both managers"},
      {"udp_receive_buffer_bytes", o.rcvbuf_bytes > 0 ? json(o.rcvbuf_bytes) : json("default")},
      {"udp_coalesce_us", o.coalesce_us >= 0 ? json(o.coalesce_us) : json("default")},
      {"ha", {{"interval_ms", o.interval_ms}, {"timeout_ms", o.timeout_ms}}}};
  json trials = json::array();
  json summary = json::array();
  bool all_ok = true;
  int trial_no = 0;
  for (double rate : o.rates) {
    std::vector<double> stored_rates, send_rates;
    long lost = 0, dup = 0, drops = 0;
    int complete = 0;
    for (int r = 0; r < o.repeat; ++r) {
      json t = run_trial(o, rate, trial_no++);
      std::cerr << "intake_bench: " << t.dump() << "\n";
      if (t.contains("stored_per_s")) {
        stored_rates.push_back(t["stored_per_s"].get<double>());
        ++complete;
      }
      if (t.contains("send_rate")) send_rates.push_back(t["send_rate"].get<double>());
      lost += t.value("lost", 0L);
      dup += t.value("duplicated", 0L);
      for (const char* k : {"master_counters", "standby_counters"}) {
        if (!t.contains(k) || t[k].is_null()) continue;
        for (auto& [name, p] : t[k].items()) {
          if (p.is_object() && p.contains("kernel_drops")) drops += p["kernel_drops"].get<long>();
        }
        drops = std::max(drops, t[k].value("proc_net_udp_drops", 0L));
      }
      if (t.contains("error") || t.value("lost", 1L) != 0 || t.value("duplicated", 1L) != 0) {
        all_ok = false;
      }
      trials.push_back(std::move(t));
    }
    json s = {{"rate", rate},
              {"trials", o.repeat},
              {"complete", complete},
              {"median_send_rate", median(send_rates)},
              {"median_stored_per_s", median(stored_rates)},
              {"lost_total", lost},
              {"duplicated_total", dup},
              {"kernel_drops_max_seen", drops}};
    if (o.rsyslog && o.mode == "udp") {
      std::vector<double> rs_rates;
      long rs_lost = 0;
      json rs = json::array();
      for (int r = 0; r < o.repeat; ++r) {
        json t = run_rsyslog(o, rate, trial_no++);
        std::cerr << "intake_bench: rsyslog " << t.dump() << "\n";
        if (t.contains("written_per_s")) rs_rates.push_back(t["written_per_s"].get<double>());
        rs_lost += t.value("lost", 0L);
        rs.push_back(t);
      }
      s["rsyslog_median_written_per_s"] = median(rs_rates);
      s["rsyslog_lost_total"] = rs_lost;
      if (!rs_rates.empty() && !stored_rates.empty()) {
        s["ratio_duet_to_rsyslog"] = median(stored_rates) / median(rs_rates);
      }
      s["rsyslog_trials"] = rs;
    }
    summary.push_back(s);
  }
  out["summary"] = summary;
  out["trials"] = trials;
  std::cout << out.dump(2) << "\n";
  return all_ok ? 0 : 1;
}
