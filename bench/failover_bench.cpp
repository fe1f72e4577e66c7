// failover_bench: failover of a real manager pair. Each trial starts two
// duet-manager processes on 127.0.0.11 / 127.0.0.12 with fresh stores, waits
// until they are master + standby, then either kills the master with SIGKILL
// (unplanned) or asks it for a switchover (--switchover, planned), and
// measures until the other node accepts a write (an acknowledged SetSetting),
// and on the way until its own status says it is master and acting. Twenty
// writes acknowledged just before the failure must all be on the survivor.
// Prints JSON: every trial, the medians, min and max, and writes lost.
//
//   failover_bench [--trials 20] [--interval-ms 500] [--timeout-ms 3000]
//                  [--switchover] [--bin DIR] [--port 17620]
//
// Bounded: each trial gives up after 30 s, and every process is killed at
// the end of its trial.

#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "common/clock.h"
#include "duet/v1/admin.grpc.pb.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

struct Node {
  std::string name;
  std::string address;
  pid_t pid = -1;
};

pid_t spawn(const std::string& binary, const std::string& config, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> args{binary, "--config", config};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// The node's own view: its role, and whether it names itself master.
std::optional<std::pair<std::string, bool>> self_view(duet::v1::Admin::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  duet::v1::StatusResponse r;
  if (!stub.Status(&ctx, duet::v1::StatusRequest(), &r).ok()) return std::nullopt;
  for (const auto& n : r.nodes()) {
    if (n.self()) return std::make_pair(n.role(), r.has_master() && r.master() == n.name());
  }
  return std::nullopt;
}

// One write through the Admin API, as a producer would make it.
bool write_setting(duet::v1::Admin::Stub& stub, const std::string& key, const std::string& value) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  duet::v1::SetSettingRequest req;
  req.set_key(key);
  req.set_value(value);
  duet::v1::SetSettingResponse resp;
  return stub.SetSetting(&ctx, req, &resp).ok();
}

std::optional<std::string> read_setting(duet::v1::Admin::Stub& stub, const std::string& key) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  duet::v1::GetSettingRequest req;
  req.set_key(key);
  duet::v1::GetSettingResponse resp;
  if (!stub.GetSetting(&ctx, req, &resp).ok() || !resp.has_setting()) return std::nullopt;
  return resp.setting().value();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"failover_bench: kill -9 of the master of a real pair (JSON)"};
  int trials = 20;
  int interval_ms = 500;
  int timeout_ms = 3000;
  int port = 17620;
  std::string bin = fs::path(argv[0]).parent_path().parent_path().string();
  app.add_option("--trials", trials)->check(CLI::Range(1, 200));
  app.add_option("--interval-ms", interval_ms)->check(CLI::Range(50, 10000));
  app.add_option("--timeout-ms", timeout_ms)->check(CLI::Range(150, 60000));
  app.add_option("--port", port)->check(CLI::Range(1024, 65000));
  app.add_option("--bin", bin, "build directory holding manager/duet-manager");
  bool switchover = false;
  app.add_flag("--switchover", switchover, "planned switchover instead of kill -9");
  CLI11_PARSE(app, argc, argv);
  const std::string manager = bin + "/manager/duet-manager";
  if (!fs::exists(manager)) {
    std::cerr << "failover_bench: no " << manager << " (give --bin)\n";
    return 1;
  }

  duet::SystemClock clock;
  std::mt19937 rng(std::random_device{}());
  std::vector<double> seconds;         // until the survivor accepts a write
  std::vector<double> acting_seconds;  // until its status says master, acting
  int lost = 0;
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (int t = 0; t < trials; ++t) {
    const fs::path dir = fs::temp_directory_path() /
                         ("duet-failover-" + std::to_string(getpid()) + "-" + std::to_string(t));
    fs::create_directories(dir);
    std::vector<Node> nodes{{"a", "127.0.0.11:" + std::to_string(port)},
                            {"b", "127.0.0.12:" + std::to_string(port)}};
    for (int i = 0; i < 2; ++i) {
      const Node& n = nodes[i];
      const Node& p = nodes[1 - i];
      std::ofstream(dir / (n.name + ".yaml"))
          << "node: { name: " << n.name << ", address: \"" << n.address << "\" }\n"
          << "peer: { name: " << p.name << ", address: \"" << p.address << "\" }\n"
          << "store: { sqlite: \"" << (dir / (n.name + ".db")).string() << "\" }\n"
          << "tls: { insecure: true }\n"
          << "log: { level: warn }\n"
          << "ha: { interval_ms: " << interval_ms << ", timeout_ms: " << timeout_ms
          << ", guard: reference, reference: [\"icmp:127.0.0.1\"] }\n";
    }
    for (auto& n : nodes) {
      n.pid =
          spawn(manager, (dir / (n.name + ".yaml")).string(), (dir / (n.name + ".log")).string());
    }
    std::vector<std::unique_ptr<duet::v1::Admin::Stub>> stubs;
    for (auto& n : nodes) {
      stubs.push_back(duet::v1::Admin::NewStub(
          grpc::CreateChannel(n.address, grpc::InsecureChannelCredentials())));
    }
    // Wait for master + standby.
    int master = -1;
    const auto ready_deadline = clock.now() + std::chrono::seconds(30);
    while (clock.now() < ready_deadline && master < 0) {
      auto v0 = self_view(*stubs[0]);
      auto v1 = self_view(*stubs[1]);
      if (v0 && v1) {
        if (v0->second && v1->first == "standby") master = 0;
        if (v1->second && v0->first == "standby") master = 1;
      }
      if (master < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Settle, then kill at a random phase of the heartbeat cycle: a fixed
    // delay would always kill just before (or after) a heartbeat and bias
    // the result.
    std::uniform_int_distribution<int> phase(0, interval_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * interval_ms + phase(rng)));
    nlohmann::ordered_json run;
    run["trial"] = t;
    // Acknowledged writes before the failure; each must be on the survivor.
    int acked = 0;
    if (master >= 0) {
      for (int i = 0; i < 20; ++i) {
        if (write_setting(*stubs[master], "bench.before." + std::to_string(i), "v")) ++acked;
      }
    }
    if (master < 0) {
      run["error"] = "the pair did not form within 30 s";
    } else {
      const int survivor = 1 - master;
      const auto t0 = clock.now();
      if (switchover) {
        // The reply comes once the other node acts as master; its own status
        // then confirms it below.
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        duet::v1::CommandReply reply;
        (void)stubs[master]->Switchover(&ctx, duet::v1::SwitchoverRequest(), &reply);
      } else {
        kill_and_reap(nodes[master].pid);
        nodes[master].pid = -1;
      }
      // Two moments: the survivor's own status says master and acting, and
      // the first write it accepts (what a producer sees).
      std::optional<double> acting;
      std::optional<double> writable;
      int attempt = 0;
      while (clock.now() - t0 < std::chrono::seconds(30) && !writable) {
        if (!acting) {
          auto v = self_view(*stubs[survivor]);
          if (v && v->first == "master" && v->second) {
            acting = std::chrono::duration<double>(clock.now() - t0).count();
          }
        }
        if (write_setting(*stubs[survivor], "bench.after", std::to_string(++attempt))) {
          writable = std::chrono::duration<double>(clock.now() - t0).count();
          if (!acting) acting = writable;
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
      run[switchover ? "from" : "killed"] = nodes[master].name;
      int missing = 0;
      for (int i = 0; i < 20; ++i) {
        if (!read_setting(*stubs[survivor], "bench.before." + std::to_string(i))) ++missing;
      }
      run["acked_before"] = acked;
      run["missing_after"] = missing;
      lost += missing;
      if (acting) {
        run["acting_s"] = *acting;
        acting_seconds.push_back(*acting);
      }
      if (writable) {
        run["seconds"] = *writable;
        seconds.push_back(*writable);
      } else {
        run["error"] = "no accepted write within 30 s";
      }
    }
    runs.push_back(run);
    for (auto& n : nodes) kill_and_reap(n.pid);
    fs::remove_all(dir);
  }

  nlohmann::ordered_json out;
  out["bench"] = "failover_bench";
  out["settings"] = {
      {"trials", trials},
      {"interval_ms", interval_ms},
      {"timeout_ms", timeout_ms},
      {"guard", "reference icmp:127.0.0.1"},
      {"measured", std::string(switchover ? "Switchover RPC" : "SIGKILL of the master") +
                       " -> the survivor accepts a write (SetSetting acknowledged)"}};
  if (!seconds.empty()) {
    out["median_s"] = median(seconds);
    out["min_s"] = *std::min_element(seconds.begin(), seconds.end());
    out["max_s"] = *std::max_element(seconds.begin(), seconds.end());
  }
  if (!acting_seconds.empty()) {
    out["acting_median_s"] = median(acting_seconds);
    out["acting_max_s"] = *std::max_element(acting_seconds.begin(), acting_seconds.end());
  }
  out["acknowledged_writes_lost"] = lost;
  out["completed"] = seconds.size();
  out["runs"] = runs;
  std::cout << out.dump(2) << "\n";
  return seconds.size() == static_cast<std::size_t>(trials) && lost == 0 ? 0 : 1;
}
