// notify_bench: notifications through a real manager pair to a local webhook
// receiver (issue 6).
//
// Starts two duet-manager processes (bench/manager_pair.h) with syslog UDP
// receivers, applies one webhook channel to an HTTP receiver in this process
// (Boost.Beast, keep-alive, one thread per connection) and one notification
// (every syslog event "nb-..." notifies, repeat always), then sends syslog
// datagrams "nb-SEQ-SENT_US" to both managers at --rate.
//
//   throughput  --seconds of sending, then a drain of up to 30 s. Reports the
//               rate delivered (unique notifications / from the first send to
//               the last receipt), event-to-notification latency (datagram
//               sent -> webhook received, per notification's first arrival:
//               p50/p90/p99/max), lost, duplicates, the master's CPU.
//   failover    --trials, each: --rate (100) for --seconds (6), with SIGKILL
//               of the master after a third of it; the survivor takes over;
//               after the drain the killed one is restarted and the pair made
//               whole (Admin.Failback). Reports per trial and in total: lost,
//               duplicates (by sequence number; each duplicate's idempotency
//               key is checked to be its original's), the takeover time and
//               the longest gap between receipts.
//
// Prints one JSON object. Bounded: every wait has a limit; the pair is
// killed at the end.
//
//   notify_bench --bin build/release --mode throughput --rate 1000 --seconds 20
//   notify_bench --bin build/release --mode failover --trials 20

#include <absl/synchronization/mutex.h>
#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/bench_util.h"
#include "bench/manager_pair.h"
#include "duet/v1/notify.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::ordered_json;
using Steady = std::chrono::steady_clock;

struct Options {
  std::string mode = "throughput";
  double rate = 1000;
  double seconds = 20;
  int trials = 20;
  int port = 17700;
  int workers = 4;
  std::string bin;
  std::string dir = "/var/tmp";
  bool json_only = false;
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "notify_bench: " << why << "\n";
  std::_Exit(1);
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The webhook receiver: every POST's sequence number, key and arrival.
class Receiver {
 public:
  struct Hit {
    std::int64_t seq = 0, sent_us = 0, at_us = 0;
    std::string key;
  };

  explicit Receiver(int port)
      : acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                     static_cast<unsigned short>(port))) {
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~Receiver() {
    stopping_ = true;
    boost::system::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocking accept()
    acceptor_.close(ec);
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    for (auto& s : sockets_) s->shutdown(tcp::socket::shutdown_both, ec);
    for (auto& t : conns_) t.join();
  }

  std::vector<Hit> hits() {
    std::lock_guard lock(mu_);
    return hits_;
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return hits_.size();
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      auto sock = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*sock, ec);
      if (ec) return;
      std::lock_guard lock(mu_);
      sockets_.push_back(sock);
      conns_.emplace_back([this, sock] { serve(*sock); });
    }
  }

  void serve(tcp::socket& sock) {
    beast::flat_buffer buf;
    while (true) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(sock, buf, req, ec);
      if (ec) return;
      const std::int64_t at = now_us();
      Hit h;
      h.at_us = at;
      h.key = std::string(req["Idempotency-Key"]);
      // Body {"m": "nb-SEQ-SENT_US"}.
      const auto& body = req.body();
      const auto p = body.find("nb-");
      if (p != std::string::npos) {
        h.seq = std::atoll(body.c_str() + p + 3);
        const auto dash = body.find('-', p + 3);
        if (dash != std::string::npos) h.sent_us = std::atoll(body.c_str() + dash + 1);
        std::lock_guard lock(mu_);
        hits_.push_back(std::move(h));
      }
      http::response<http::empty_body> res{http::status::ok, req.version()};
      res.keep_alive(req.keep_alive());
      res.content_length(0);
      http::write(sock, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> conns_;
  std::vector<Hit> hits_;
};

// Syslog datagrams to both managers.
class Sender {
 public:
  Sender(int port) : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    if (fd_ < 0) die("socket");
    for (const char* ip : {"127.0.0.11", "127.0.0.12"}) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      inet_pton(AF_INET, ip, &a.sin_addr);
      to_.push_back(a);
    }
  }
  ~Sender() { close(fd_); }
  void send(std::int64_t seq) {
    const std::string m =
        "<13>Oct 11 22:14:15 host app: nb-" + std::to_string(seq) + "-" + std::to_string(now_us());
    for (const auto& a : to_) {
      sendto(fd_, m.data(), m.size(), 0, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    }
  }
  // Sends seq from..from+n-1 at `rate`/s; `at(i)` runs before the i-th.
  template <typename Fn>
  void paced(std::int64_t from, std::int64_t n, double rate, Fn at) {
    const auto start = Steady::now();
    for (std::int64_t i = 0; i < n; ++i) {
      at(i);
      std::this_thread::sleep_until(start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                                static_cast<double>(i) * 1e9 / rate)));
      send(from + i);
    }
  }

 private:
  int fd_;
  std::vector<sockaddr_in> to_;
};

void apply_definitions(const std::shared_ptr<grpc::Channel>& ch, int hook_port) {
  const std::string yaml =
      "channels:\n"
      "  - name: hook\n"
      "    kind: webhook\n"
      "    params: { url: \"http://127.0.0.1:" +
      std::to_string(hook_port) +
      "/hook\", body: '{\"m\": \"{{message}}\"}' }\n"
      "    retry: { attempts: 10, backoff: 100ms, max_backoff: 1s }\n"
      "notifications:\n"
      "  - name: bench\n"
      "    monitors: [syslog]\n"
      "    pattern: \"^nb-\"\n"
      "    channels: [hook]\n";
  auto stub = duet::v1::Notify::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  duet::v1::ApplyNotifyRequest req;
  req.set_yaml(yaml);
  req.set_file("bench.yaml");
  duet::v1::ChangeResponse resp;
  auto s = stub->Apply(&ctx, req, &resp);
  if (!s.ok()) die("apply: " + s.error_message());
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Tally {
  std::int64_t lost = 0, dups = 0, key_mismatch = 0, unique = 0;
  std::vector<double> latency_ms;  // first arrival of each
  std::int64_t first_at = 0, last_at = 0, max_gap_us = 0;
};

// Over seq in [from, to): who arrived, how often, with which key.
Tally tally(const std::vector<Receiver::Hit>& hits, std::int64_t from, std::int64_t to) {
  Tally t;
  std::map<std::int64_t, std::vector<const Receiver::Hit*>> by_seq;
  std::vector<std::int64_t> arrivals;
  for (const auto& h : hits) {
    if (h.seq < from || h.seq >= to) continue;
    by_seq[h.seq].push_back(&h);
    arrivals.push_back(h.at_us);
  }
  for (auto& [seq, list] : by_seq) {
    ++t.unique;
    t.dups += static_cast<std::int64_t>(list.size()) - 1;
    for (const auto* h : list) {
      if (h->key != list.front()->key) ++t.key_mismatch;
    }
    t.latency_ms.push_back(static_cast<double>(list.front()->at_us - list.front()->sent_us) /
                           1000.0);
  }
  t.lost = (to - from) - t.unique;
  std::sort(arrivals.begin(), arrivals.end());
  if (!arrivals.empty()) {
    t.first_at = arrivals.front();
    t.last_at = arrivals.back();
  }
  for (std::size_t i = 1; i < arrivals.size(); ++i) {
    t.max_gap_us = std::max(t.max_gap_us, arrivals[i] - arrivals[i - 1]);
  }
  return t;
}

json latency_json(const std::vector<double>& v) {
  return {{"p50", percentile(v, 0.5)},
          {"p90", percentile(v, 0.9)},
          {"p99", percentile(v, 0.99)},
          {"max", v.empty() ? 0.0 : *std::max_element(v.begin(), v.end())}};
}

bool drained(Receiver& r, std::int64_t want, std::chrono::seconds limit) {
  const auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    // Unique count is what matters; hits include duplicates, so compare loosely first.
    if (static_cast<std::int64_t>(r.count()) >= want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"notify_bench: notifications through a real pair to a local webhook (JSON)"};
  Options o;
  app.add_option("--bin", o.bin, "build directory with manager/duet-manager")->required();
  app.add_option("--mode", o.mode)->check(CLI::IsMember({"throughput", "failover"}));
  app.add_option("--rate", o.rate, "events (and notifications) per second");
  app.add_option("--seconds", o.seconds, "sending time (per trial)");
  app.add_option("--trials", o.trials, "failover: kills of the master");
  app.add_option("--port", o.port, "gRPC port; +1 syslog, +3 the webhook receiver");
  app.add_option("--workers", o.workers, "the managers' notifications.workers");
  app.add_option("--dir", o.dir, "where the stores go");
  app.add_flag("--json-only", o.json_only);
  CLI11_PARSE(app, argc, argv);
  if (o.mode == "failover" && app.count("--rate") == 0) o.rate = 100;
  if (o.mode == "failover" && app.count("--seconds") == 0) o.seconds = 6;

  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "%s/notify-bench-XXXXXX", o.dir.c_str());
  if (::mkdtemp(tmpl) == nullptr) die("cannot create a directory under " + o.dir);
  const fs::path dir = tmpl;
  const int syslog_port = o.port + 1;
  duet::bench::ManagerPair pair(
      o.bin, dir, o.port,
      [&](const std::string&, const std::string& ip) {
        return "receivers: { syslog: { udp: \"" + ip + ":" + std::to_string(syslog_port) +
               "\" } }\nnotifications: { workers: " + std::to_string(o.workers) + " }\n";
      },
      "interval_ms: 200, timeout_ms: 1000, guard: reference, reference: [\"icmp:127.0.0.1\"]");
  int master = pair.start();
  if (master < 0) die("the pair did not form");
  Receiver receiver(o.port + 3);
  apply_definitions(pair.node(master).channel, o.port + 3);
  Sender sender(syslog_port);
  auto say = [&](const std::string& s) {
    if (!o.json_only) std::cerr << "notify_bench: " << s << "\n";
  };
  json out{{"tool", "notify_bench"},
           {"mode", o.mode},
           {"rate", o.rate},
           {"seconds", o.seconds},
           {"workers", o.workers}};

  if (o.mode == "throughput") {
    const auto n = static_cast<std::int64_t>(o.rate * o.seconds);
    const double cpu0 = duet::bench::cpu_seconds(pair.node(master).pid);
    const auto t0 = Steady::now();
    const std::int64_t send_start = now_us();
    sender.paced(1, n, o.rate, [](std::int64_t) {});
    const double send_s = std::chrono::duration<double>(Steady::now() - t0).count();
    drained(receiver, n, std::chrono::seconds(30));
    const double cpu1 = duet::bench::cpu_seconds(pair.node(master).pid);
    const double all_s = std::chrono::duration<double>(Steady::now() - t0).count();
    Tally t = tally(receiver.hits(), 1, n + 1);
    const double span_s = static_cast<double>(t.last_at - send_start) / 1e6;
    out["sent"] = n;
    out["send_s"] = send_s;
    out["delivered"] = t.unique;
    out["delivered_per_s"] = span_s > 0 ? static_cast<double>(t.unique) / span_s : 0;
    out["lost"] = t.lost;
    out["duplicates"] = t.dups;
    out["latency_ms"] = latency_json(t.latency_ms);
    out["master_cpu_cores"] = (cpu1 - cpu0) / all_s;
    say("delivered " + std::to_string(t.unique) + " of " + std::to_string(n));
  } else {
    json trials = json::array();
    std::int64_t seq = 1, lost = 0, dups = 0, mismatched = 0;
    std::vector<double> gaps;
    for (int trial = 0; trial < o.trials; ++trial) {
      master = pair.master();
      if (master < 0) master = pair.wait_formed(std::chrono::seconds(30));
      if (master < 0) die("trial " + std::to_string(trial) + ": the pair is not whole");
      const int survivor = 1 - master;
      const auto n = static_cast<std::int64_t>(o.rate * o.seconds);
      const std::int64_t from = seq;
      sender.paced(from, n, o.rate, [&](std::int64_t i) {
        if (i == n / 3) pair.kill_node(master);
      });
      seq += n;
      if (!pair.wait_master(survivor, std::chrono::seconds(20))) die("no takeover");
      drained(receiver, seq - 1, std::chrono::seconds(30));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // late duplicates
      Tally t = tally(receiver.hits(), from, seq);
      lost += t.lost;
      dups += t.dups;
      mismatched += t.key_mismatch;
      gaps.push_back(static_cast<double>(t.max_gap_us) / 1000.0);
      trials.push_back({{"trial", trial},
                        {"killed", pair.node(master).name},
                        {"sent", n},
                        {"lost", t.lost},
                        {"duplicates", t.dups},
                        {"longest_gap_ms", static_cast<double>(t.max_gap_us) / 1000.0},
                        {"latency_ms", latency_json(t.latency_ms)}});
      say("trial " + std::to_string(trial) + ": lost " + std::to_string(t.lost) + ", duplicates " +
          std::to_string(t.dups) + ", longest gap " +
          std::to_string(static_cast<double>(t.max_gap_us) / 1000.0) + " ms");
      // The killed one back as standby.
      if (!pair.start_node(master)) die("cannot restart " + pair.node(master).name);
      if (!pair.failback(survivor, std::chrono::seconds(60))) {
        die("trial " + std::to_string(trial) + ": failback did not make the pair whole");
      }
    }
    out["trials"] = o.trials;
    out["sent"] = seq - 1;
    out["lost"] = lost;
    out["duplicates"] = dups;
    out["duplicates_with_another_key"] = mismatched;
    out["longest_gap_ms"] = {
        {"median", percentile(gaps, 0.5)},
        {"max", gaps.empty() ? 0.0 : *std::max_element(gaps.begin(), gaps.end())}};
    out["per_trial"] = trials;
  }
  pair.kill();
  std::error_code ec;
  fs::remove_all(dir, ec);
  std::cout << out.dump(2) << std::endl;
  return 0;
}
