// failover_bench: failover of a real manager pair. Each trial starts two
// duet-manager processes on 127.0.0.11 / 127.0.0.12 with fresh stores, waits
// until they are master + standby, then either kills the master with SIGKILL
// (unplanned) or asks it for a switchover (--switchover, planned), and
// measures until the other node's own status says it is master and acting.
// Prints JSON: every trial, the median, min and max.
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
  std::vector<double> seconds;
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
      std::optional<double> took;
      while (clock.now() - t0 < std::chrono::seconds(30)) {
        auto v = self_view(*stubs[survivor]);
        if (v && v->first == "master" && v->second) {
          took = std::chrono::duration<double>(clock.now() - t0).count();
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      run[switchover ? "from" : "killed"] = nodes[master].name;
      if (took) {
        run["seconds"] = *took;
        seconds.push_back(*took);
      } else {
        run["error"] = "no takeover within 30 s";
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
      {"measured", "SIGKILL of the master -> survivor's own status: master, acting"}};
  if (!seconds.empty()) {
    out["median_s"] = median(seconds);
    out["min_s"] = *std::min_element(seconds.begin(), seconds.end());
    out["max_s"] = *std::max_element(seconds.begin(), seconds.end());
  }
  out["completed"] = seconds.size();
  out["runs"] = runs;
  std::cout << out.dump(2) << "\n";
  return seconds.size() == static_cast<std::size_t>(trials) ? 0 : 1;
}
