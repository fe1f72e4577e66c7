#pragma once

// A pair of real duet-manager processes for the benchmarks: a on 127.0.0.11,
// b on 127.0.0.12, plaintext gRPC on one port, SQLite stores under a
// directory, reference guard icmp:127.0.0.1. Each benchmark adds its own
// config (receivers, timing) through `extra`. Killed on destruction; every
// wait is bounded.

#include <grpcpp/create_channel.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "bench/proc_util.h"
#include "duet/v1/admin.grpc.pb.h"

namespace duet::bench {

// (role, is master) as a manager sees itself; nullopt when it does not answer.
inline std::optional<std::pair<std::string, bool>> self_view(
    const std::shared_ptr<grpc::Channel>& ch) {
  auto stub = duet::v1::Admin::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  duet::v1::StatusResponse r;
  if (!stub->Status(&ctx, duet::v1::StatusRequest(), &r).ok()) return std::nullopt;
  for (const auto& n : r.nodes()) {
    if (n.self()) return std::make_pair(n.role(), r.has_master() && r.master() == n.name());
  }
  return std::nullopt;
}

class ManagerPair {
 public:
  struct Node {
    std::string name, ip, grpc, db;
    pid_t pid = -1;
    int starts = 0;
    std::shared_ptr<grpc::Channel> channel;
  };
  // (name, ip) -> YAML appended to that node's config.
  using Extra = std::function<std::string(const std::string&, const std::string&)>;

  ManagerPair(std::string bin, std::filesystem::path dir, int port, Extra extra = {},
              std::string ha = "guard: reference, reference: [\"icmp:127.0.0.1\"]")
      : bin_(std::move(bin)), dir_(std::move(dir)) {
    const char* names[2] = {"a", "b"};
    const char* ips[2] = {"127.0.0.11", "127.0.0.12"};
    for (int i = 0; i < 2; ++i) {
      nodes_[i].name = names[i];
      nodes_[i].ip = ips[i];
      nodes_[i].grpc = std::string(ips[i]) + ":" + std::to_string(port);
      nodes_[i].db = (dir_ / nodes_[i].name / (nodes_[i].name + ".db")).string();
    }
    for (int i = 0; i < 2; ++i) {
      const Node& n = nodes_[i];
      const Node& p = nodes_[1 - i];
      std::ofstream(dir_ / (n.name + ".yaml"))
          << "node: { name: " << n.name << ", address: \"" << n.grpc << "\" }\n"
          << "peer: { name: " << p.name << ", address: \"" << p.grpc << "\" }\n"
          << "store: { sqlite: \"" << n.db << "\" }\n"
          << "tls: { insecure: true }\n"
          << "log: { level: warn }\n"
          << "ha: { " << ha << " }\n"
          << (extra ? extra(n.name, n.ip) : std::string());
    }
  }
  ~ManagerPair() { kill(); }
  ManagerPair(const ManagerPair&) = delete;
  ManagerPair& operator=(const ManagerPair&) = delete;

  void kill() {
    for (int i = 0; i < 2; ++i) kill_node(i);
  }
  void kill_node(int i) {
    kill_and_reap(nodes_[i].pid);
    nodes_[i].pid = -1;
  }

  // Starts node `i` (its log: NAME.N.log); false if it cannot be spawned.
  bool start_node(int i) {
    Node& n = nodes_[i];
    const std::string manager = bin_ + "/manager/duet-manager";
    ++n.starts;
    n.pid = spawn_logged({manager, "--config", (dir_ / (n.name + ".yaml")).string()},
                         (dir_ / (n.name + "." + std::to_string(n.starts) + ".log")).string());
    if (!n.channel) n.channel = grpc::CreateChannel(n.grpc, grpc::InsecureChannelCredentials());
    return n.pid > 0;
  }

  // Starts both; the index of the master, or -1 after 30 s.
  int start() {
    if (!start_node(0) || !start_node(1)) return -1;
    return wait_formed(std::chrono::seconds(30));
  }

  // The node that is master with the other standby, or -1.
  int master() {
    auto v0 = self_view(nodes_[0].channel);
    auto v1 = self_view(nodes_[1].channel);
    if (v0 && v1) {
      if (v0->second && v1->first == "standby") return 0;
      if (v1->second && v0->first == "standby") return 1;
    }
    return -1;
  }

  // The index of the master once there are master + standby, or -1 after `limit`.
  int wait_formed(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (int m = master(); m >= 0) return m;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  // True once node `i` says it is master (whatever the other says), within `limit`.
  bool wait_master(int i, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto v = self_view(nodes_[i].channel); v && v->second) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Admin.Failback on node `i` (the master): the pair whole again.
  bool failback(int i, std::chrono::seconds limit) {
    auto stub = duet::v1::Admin::NewStub(nodes_[i].channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + limit);
    duet::v1::FailbackRequest req;
    duet::v1::CommandReply resp;
    return stub->Failback(&ctx, req, &resp).ok() && wait_formed(limit) >= 0;
  }

  Node& node(int i) { return nodes_[i]; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::string bin_;
  std::filesystem::path dir_;
  Node nodes_[2];
};

}  // namespace duet::bench
