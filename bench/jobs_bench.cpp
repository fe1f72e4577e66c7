// jobs_bench: job nets through a real manager pair with simulated job agents
// (issue 7).
//
// Starts two duet-manager processes (bench/manager_pair.h: 127.0.0.11 /
// 127.0.0.12, plaintext gRPC, fresh SQLite stores, sync replication), then
// --nodes simulated job agents "sim-0".."sim-{n-1}" in this process
// (bench/sim_job_agents.h), each answering every JobStart at once with a
// no-op end result (end value 0). Every job is a command job on one of those
// nodes; node_limits lifts each node's limit to 10,000.
//
//   shapes     Airflow's published 1,000-task shapes: (a) 100 nets x a chain
//              of 10, (b) 10 nets x a chain of 100, (c) one binary tree of
//              1,000 (job i waits for job (i-1)/2). All three applied in one
//              Jobs.Apply; then per shape every net is started at once
//              (Jobs.Start, asynchronously) and the bench waits until every
//              session has ended (Jobs.Sessions every 50 ms). Per job, its
//              dependency lag = the agent received its JobStart - its
//              condition became true: the moment the agent sent its
//              predecessor's end result, or for a first job the moment the
//              bench sent the Start call. Reported per shape: the sum of the
//              lags, their p50/p99/max (the hand-off latency), wall time
//              (first Start sent -> last session's ended_at), jobs/s.
//              Goal: sum <= 2 s per shape, p99 <= 50 ms.
//              Then, as "hand_off_floor" (no goal): one chain of 200, where
//              no job ever waits behind another; its lag per job is the least
//              a hand-off costs on this pair, and x 1,000 the least any
//              1,000-job shape can total.
//   sustained  One net of --jobs-per-net independent jobs (max_sessions 100), started
//              --rate / --jobs-per-net times per second for --seconds, so
//              that --rate jobs start per second; meanwhile Admin.Status (what
//              `duetctl status` calls) every 100 ms on its own connection.
//              Reported: job starts per second (JobStarts the agents received,
//              per whole second of the window: median, min; and overall),
//              Status latency p50/p99/max, the master's CPU.
//              Goal: >= 200 starts/s with Status p99 <= 100 ms.
//   sizes      A net of 100 jobs in one level, one of 10,000 in one level, and
//              one 30 levels deep (nested nets, --deep-jobs jobs at each
//              level), none waiting on another. For each: Jobs.Apply of that
//              net alone (load time) and scheduling throughput (jobs / (Start
//              sent -> session ended_at)); ratios against the 100-job net.
//              Goal: within 2x.
//
// Prints one JSON object. Bounded: every wait has a limit; the pair is killed
// at the end (and on any failure).
//
// Diagnostics: --solo runs the master alone (node a promoted by force, no
// standby), which takes the replication round trip out of every commit;
// --dump-runs FILE writes every run (session, unit, agent, received / sent /
// acked in microseconds of the steady clock) as CSV.
//
//   jobs_bench --bin build/helper-jobsbench --mode shapes
//   jobs_bench --bin build/helper-jobsbench --mode sustained --rate 200 --seconds 60
//   jobs_bench --bin build/helper-jobsbench --mode sizes

#include <absl/synchronization/mutex.h>
#include <grpcpp/create_channel.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "bench/bench_util.h"
#include "bench/manager_pair.h"
#include "bench/proc_util.h"
#include "bench/sim_job_agents.h"
#include "duet/v1/admin.grpc.pb.h"
#include "duet/v1/jobs.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Steady = std::chrono::steady_clock;
using duet::bench::ManagerPair;
using duet::bench::SimJobAgents;

struct Options {
  std::string mode = "shapes";
  std::string bin;
  std::string dir;  // empty: a temporary one, removed at the end
  int port = 17720;
  int nodes = 10;
  double rate = 200;
  double seconds = 60;
  int jobs_per_net = 20;
  int deep_levels = 30;
  int deep_jobs = 20;
  bool json_only = false;
  bool solo = false;      // diagnostic: the master alone, no standby (no replication wait)
  std::string dump_runs;  // diagnostic: every run as CSV into this file
};

ManagerPair* g_pair = nullptr;  // killed by die()

[[noreturn]] void die(const std::string& why) {
  std::cerr << "jobs_bench: " << why << "\n";
  if (g_pair != nullptr) g_pair->kill();
  std::_Exit(1);
}

double secs(Steady::duration d) { return std::chrono::duration<double>(d).count(); }
double ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

json summary(const std::vector<double>& v) {
  return {{"p50", duet::bench::percentile(v, 0.50)},
          {"p99", duet::bench::percentile(v, 0.99)},
          {"max", v.empty() ? 0.0 : *std::max_element(v.begin(), v.end())},
          {"n", v.size()}};
}

// ---------------------------------------------------------------- definitions

struct Job {
  std::string name;
  int pred = -1;  // index of the job it waits for; -1: none
  int node = 0;
};

struct Net {
  std::string name;
  std::vector<Job> jobs;
  int max_sessions = 1;  // open at once (a Start beyond it is refused)
};

std::string node_limits_yaml(int nodes) {
  std::string y = "node_limits:\n";
  for (int i = 0; i < nodes; ++i) {
    y += "  - {node: sim-" + std::to_string(i) + ", limit: 10000}\n";
  }
  return y;
}

std::string job_yaml(const std::string& indent, const std::string& name, int node,
                     const std::string& after) {
  std::string y = indent + "- {name: " + name + ", command: {run: \"true\", node: sim-" +
                  std::to_string(node) + "}";
  if (!after.empty()) y += ", after: [" + after + "]";
  return y + "}\n";
}

std::string nets_yaml(const std::vector<Net>& nets) {
  std::string y = "jobnets:\n";
  for (const auto& n : nets) {
    y += "  - name: " + n.name + "\n";
    if (n.max_sessions != 1) y += "    max_sessions: " + std::to_string(n.max_sessions) + "\n";
    y += "    units:\n";
    for (const auto& j : n.jobs) {
      y += job_yaml("      ", j.name, j.node,
                    j.pred < 0 ? std::string() : n.jobs[static_cast<std::size_t>(j.pred)].name);
    }
  }
  return y;
}

std::string name_of(const char* prefix, int i, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%0*d", prefix, width, i);
  return buf;
}

// `count` nets "<prefix>NNN", each a chain of `length` jobs, spread over the nodes.
std::vector<Net> chains(const std::string& prefix, int count, int length, int nodes) {
  std::vector<Net> out;
  for (int n = 0; n < count; ++n) {
    Net net;
    net.name = name_of(prefix.c_str(), n, 3);
    for (int k = 0; k < length; ++k) {
      net.jobs.push_back(Job{name_of("j", k, 3), k - 1, (n + k) % nodes});
    }
    out.push_back(std::move(net));
  }
  return out;
}

// One net of `count` jobs, job i waiting for its parent (i-1)/2.
Net binary_tree(const std::string& name, int count, int nodes) {
  Net net;
  net.name = name;
  for (int i = 0; i < count; ++i) {
    net.jobs.push_back(Job{name_of("t", i, 4), i == 0 ? -1 : (i - 1) / 2, i % nodes});
  }
  return net;
}

// One net of `count` jobs waiting for nothing.
Net flat(const std::string& name, int count, int nodes) {
  Net net;
  net.name = name;
  for (int i = 0; i < count; ++i) net.jobs.push_back(Job{name_of("f", i, 5), -1, i % nodes});
  return net;
}

// A net `levels` deep: each level `per_level` jobs and (but the last) the next
// level's net, none waiting on another.
std::string deep_yaml(const std::string& name, int levels, int per_level, int nodes) {
  std::string y = "jobnets:\n  - name: " + name + "\n    units:\n";
  std::string indent = "      ";
  int job = 0;
  for (int level = 1; level <= levels; ++level) {
    for (int k = 0; k < per_level; ++k) {
      y += job_yaml(indent, name_of("d", level * 1000 + k, 5), job++ % nodes, "");
    }
    if (level < levels) {
      y += indent + "- name: " + name_of("l", level + 1, 2) + "\n";
      y += indent + "  units:\n";
      indent += "    ";
    }
  }
  return y;
}

// ---------------------------------------------------------------- the Jobs service

struct Applied {
  bool ok = false;
  double ms = 0;
  std::string error;
};

Applied apply_yaml(const std::shared_ptr<grpc::Channel>& ch, const std::string& yaml) {
  auto stub = duet::v1::Jobs::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  duet::v1::ApplyJobsRequest req;
  req.set_yaml(yaml);
  req.set_file("jobs_bench.yaml");
  duet::v1::ChangeResponse resp;
  const auto t0 = Steady::now();
  const auto s = stub->Apply(&ctx, req, &resp);
  Applied a;
  a.ms = ms(Steady::now() - t0);
  a.ok = s.ok() && resp.committed();
  if (!s.ok()) a.error = s.error_message();
  if (s.ok() && !resp.committed()) a.error = "not committed (nothing changed?)";
  return a;
}

// Jobs.Start calls issued without waiting for each other.
class Starter {
 public:
  struct Call {
    std::string net;
    grpc::ClientContext ctx;
    duet::v1::StartJobRequest req;
    duet::v1::StartJobResponse resp;
    grpc::Status status;
    Steady::time_point sent{}, done{};
    std::int64_t sent_wall_ms = 0;
  };

  explicit Starter(std::shared_ptr<grpc::Channel> ch) : stub_(duet::v1::Jobs::NewStub(ch)) {}
  ~Starter() { (void)wait_all(std::chrono::seconds(30)); }
  Starter(const Starter&) = delete;
  Starter& operator=(const Starter&) = delete;

  void start(const std::string& net) {
    auto c = std::make_unique<Call>();
    Call* call = c.get();
    call->net = net;
    call->req.set_net(net);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    {
      std::lock_guard lock(mu_);
      calls_.push_back(std::move(c));
      ++issued_;
    }
    call->sent_wall_ms = wall_ms();
    call->sent = Steady::now();
    stub_->async()->Start(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status s) {
      const auto now = Steady::now();
      std::lock_guard lock(mu_);
      call->status = std::move(s);
      call->done = now;
      ++done_;
      cv_.notify_all();
    });
  }

  long pending() {
    std::lock_guard lock(mu_);
    return issued_ - done_;
  }

  bool wait_all(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return done_ == issued_; });
  }

  // After wait_all() returned true.
  const std::vector<std::unique_ptr<Call>>& calls() const { return calls_; }

 private:
  std::unique_ptr<duet::v1::Jobs::Stub> stub_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Call>> calls_;
  long issued_ = 0, done_ = 0;
};

// The newest `limit` sessions (of `net` and in `state` when given).
std::optional<std::vector<duet::v1::JobSessionInfo>> sessions(
    const std::shared_ptr<grpc::Channel>& ch, std::uint32_t limit, const std::string& state = "") {
  auto stub = duet::v1::Jobs::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  duet::v1::ListSessionsRequest req;
  req.set_limit(limit);
  req.set_state(state);
  duet::v1::ListSessionsResponse resp;
  if (!stub->Sessions(&ctx, req, &resp).ok()) return std::nullopt;
  return std::vector<duet::v1::JobSessionInfo>(resp.sessions().begin(), resp.sessions().end());
}

// Waits until every session of `ids` has ended (they are the newest), polling
// every 50 ms, at most `limit`. Their infos; fewer than `ids` on a timeout.
std::map<std::uint64_t, duet::v1::JobSessionInfo> wait_ended(
    const std::shared_ptr<grpc::Channel>& ch, const std::set<std::uint64_t>& ids,
    std::chrono::seconds limit) {
  std::map<std::uint64_t, duet::v1::JobSessionInfo> ended;
  const auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    if (auto list = sessions(ch, static_cast<std::uint32_t>(ids.size()))) {
      for (const auto& s : *list) {
        if (ids.count(s.id()) != 0 && s.state() == "ended") ended[s.id()] = s;
      }
      if (ended.size() == ids.size()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ended;
}

// Admin.Status latencies, one call every 100 ms (the next right away when
// one takes longer), on a connection of its own, until stopped.
class StatusProbe {
 public:
  explicit StatusProbe(const std::string& target) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("duet.bench.status", 1);
    stub_ = duet::v1::Admin::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
    thread_ = std::thread([this] { loop(); });
  }
  ~StatusProbe() { stop(); }
  StatusProbe(const StatusProbe&) = delete;
  StatusProbe& operator=(const StatusProbe&) = delete;

  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // After stop().
  const std::vector<double>& latencies_ms() const { return latencies_; }
  long failures() const { return failures_; }

 private:
  void loop() {
    auto next = Steady::now();
    while (!stopping_) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      duet::v1::StatusResponse r;
      const auto t0 = Steady::now();
      const bool ok = stub_->Status(&ctx, duet::v1::StatusRequest(), &r).ok();
      const double took = ms(Steady::now() - t0);
      if (ok) {
        latencies_.push_back(took);
      } else {
        ++failures_;
      }
      next += std::chrono::milliseconds(100);
      if (next < Steady::now()) next = Steady::now();
      std::this_thread::sleep_until(next);
    }
  }

  std::unique_ptr<duet::v1::Admin::Stub> stub_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<double> latencies_;
  long failures_ = 0;
};

// Every run as CSV: times in microseconds of the steady clock.
void dump_runs(const std::string& path, const std::vector<SimJobAgents::Run>& runs) {
  std::ofstream out(path);
  auto us = [](Steady::time_point t) {
    return t == Steady::time_point{}
               ? std::int64_t{-1}
               : std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch())
                     .count();
  };
  out << "session,unit,agent,run_id,received_us,sent_us,acked_us\n";
  for (const auto& r : runs) {
    out << r.session << "," << r.unit << "," << r.agent << "," << r.run_id << "," << us(r.received)
        << "," << us(r.sent) << "," << us(r.acked) << "\n";
  }
}

// Admin.Promote with force on a node that answers within 30 s; true if accepted.
bool force_promote(const std::shared_ptr<grpc::Channel>& ch) {
  auto stub = duet::v1::Admin::NewStub(ch);
  const auto end = Steady::now() + std::chrono::seconds(30);
  while (Steady::now() < end) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    duet::v1::PromoteRequest req;
    req.set_force(true);
    duet::v1::CommandReply resp;
    if (stub->Promote(&ctx, req, &resp).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

// ---------------------------------------------------------------- the modes

struct Context {
  const Options& o;
  ManagerPair& pair;
  int master;
  SimJobAgents& agents;
  std::shared_ptr<grpc::Channel> ch() { return pair.node(master).channel; }
  void say(const std::string& s) const {
    if (!o.json_only) std::cerr << "jobs_bench: " << s << "\n";
  }
  double master_cpu() { return duet::bench::cpu_seconds(pair.node(master).pid); }
  double standby_cpu() { return duet::bench::cpu_seconds(pair.node(1 - master).pid); }
  static double self_cpu() { return duet::bench::cpu_seconds(getpid()); }
};

using RunIndex = std::map<std::pair<std::uint64_t, std::string>, const SimJobAgents::Run*>;

RunIndex index_runs(const std::vector<SimJobAgents::Run>& runs) {
  RunIndex idx;
  for (const auto& r : runs) idx[{r.session, r.unit}] = &r;
  return idx;
}

json run_shape(Context& c, const std::string& label, const std::vector<Net>& nets) {
  long jobs = 0;
  for (const auto& n : nets) jobs += static_cast<long>(n.jobs.size());
  c.say("shape " + label + ": " + std::to_string(nets.size()) + " nets, " + std::to_string(jobs) +
        " jobs");
  const double cpu0 = c.master_cpu(), scpu0 = c.standby_cpu(), bcpu0 = c.self_cpu();
  const std::string load0 = load_average();
  Starter starter(c.ch());
  for (const auto& n : nets) starter.start(n.name);
  if (!starter.wait_all(std::chrono::seconds(60))) die(label + ": Jobs.Start calls did not finish");
  std::set<std::uint64_t> ids;
  std::map<std::string, const Starter::Call*> by_net;
  std::vector<double> start_rpc_ms;
  for (const auto& call : starter.calls()) {
    if (!call->status.ok())
      die(label + ": start " + call->net + ": " + call->status.error_message());
    ids.insert(call->resp.session());
    by_net[call->net] = call.get();
    start_rpc_ms.push_back(ms(call->done - call->sent));
  }
  auto ended = wait_ended(c.ch(), ids, std::chrono::seconds(300));
  const double cpu1 = c.master_cpu(), scpu1 = c.standby_cpu(), bcpu1 = c.self_cpu();
  if (ended.size() != ids.size()) {
    die(label + ": " + std::to_string(ids.size() - ended.size()) +
        " sessions did not end in 300 s");
  }
  (void)c.agents.wait_acked(std::chrono::seconds(30));
  const auto runs = c.agents.runs();
  const auto idx = index_runs(runs);

  std::vector<double> lag_ms, root_ms, handoff_ms, ack_ms;
  long missing = 0, not_normal = 0;
  std::int64_t first_sent = INT64_MAX, last_end = 0;
  Steady::time_point first_sent_steady = Steady::time_point::max(), last_result{};
  for (const auto& n : nets) {
    const Starter::Call* call = by_net.at(n.name);
    const std::uint64_t session = call->resp.session();
    const auto& info = ended.at(session);
    if (info.end_status() != "normal") ++not_normal;
    first_sent = std::min(first_sent, call->sent_wall_ms);
    first_sent_steady = std::min(first_sent_steady, call->sent);
    last_end = std::max(last_end, info.ended_at_ms());
    for (const auto& j : n.jobs) {
      auto it = idx.find({session, j.name});
      if (it == idx.end()) {
        ++missing;
        continue;
      }
      const auto* r = it->second;
      last_result = std::max(last_result, r->sent);
      if (r->acked != Steady::time_point{}) ack_ms.push_back(ms(r->acked - r->sent));
      Steady::time_point ready = call->sent;
      if (j.pred >= 0) {
        auto p = idx.find({session, n.jobs[static_cast<std::size_t>(j.pred)].name});
        if (p == idx.end()) {
          ++missing;
          continue;
        }
        ready = p->second->sent;
      }
      const double lag = ms(r->received - ready);
      lag_ms.push_back(lag);
      (j.pred < 0 ? root_ms : handoff_ms).push_back(lag);
    }
  }
  double total_lag_s = 0;
  for (double v : lag_ms) total_lag_s += v / 1000.0;
  const double wall_s = static_cast<double>(last_end - first_sent) / 1000.0;
  const double p99 = duet::bench::percentile(lag_ms, 0.99);
  json out;
  out["shape"] = label;
  out["nets"] = nets.size();
  out["jobs"] = jobs;
  out["total_lag_s"] = total_lag_s;
  out["lag_ms"] = summary(lag_ms);
  out["lag_ms_first_jobs"] = summary(root_ms);
  out["lag_ms_after_predecessor"] = summary(handoff_ms);
  out["result_to_ack_ms"] = summary(ack_ms);
  out["start_rpc_ms"] = summary(start_rpc_ms);
  out["wall_s"] = wall_s;
  out["jobs_per_s"] = wall_s > 0 ? static_cast<double>(jobs) / wall_s : 0.0;
  out["agent_side_wall_s"] = secs(last_result - first_sent_steady);
  out["missing_runs"] = missing;
  out["sessions_not_normal"] = not_normal;
  out["master_cpu_cores"] = wall_s > 0 ? (cpu1 - cpu0) / wall_s : 0.0;
  out["standby_cpu_cores"] = wall_s > 0 ? (scpu1 - scpu0) / wall_s : 0.0;
  // CPU seconds (clock ticks of 10 ms): the shapes last well under a second.
  out["cpu_s"] = {{"master", cpu1 - cpu0}, {"standby", scpu1 - scpu0}, {"bench", bcpu1 - bcpu0}};
  out["load_average_before"] = load0;
  out["goal"] = {{"total_lag_s_at_most", 2.0},
                 {"lag_p99_ms_at_most", 50.0},
                 {"met", total_lag_s <= 2.0 && p99 <= 50.0 && missing == 0}};
  c.say(label + ": total lag " + std::to_string(total_lag_s) + " s, p99 " + std::to_string(p99) +
        " ms, wall " + std::to_string(wall_s) + " s");
  return out;
}

json mode_shapes(Context& c) {
  const int nodes = c.o.nodes;
  const auto a = chains("a", 100, 10, nodes);
  const auto b = chains("b", 10, 100, nodes);
  const std::vector<Net> t{binary_tree("tree", 1000, nodes)};
  // Not one of the shapes: a single chain, one job ready at a time, so no
  // job waits behind another. Its lag is the least a hand-off costs (the
  // result in, the commit, its replication, the JobStart out); 1,000 jobs
  // lag at least 1,000 times that, whatever the shape.
  const auto floor = chains("one", 1, 200, nodes);
  std::vector<Net> all = a;
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), t.begin(), t.end());
  all.insert(all.end(), floor.begin(), floor.end());
  const std::string yaml = node_limits_yaml(nodes) + nets_yaml(all);
  const auto applied = apply_yaml(c.ch(), yaml);
  if (!applied.ok) die("apply: " + applied.error);
  c.say("applied " + std::to_string(all.size()) + " nets in " + std::to_string(applied.ms) + " ms");
  json out;
  out["apply_ms"] = applied.ms;
  out["apply_yaml_bytes"] = yaml.size();
  json shapes = json::array();
  shapes.push_back(run_shape(c, "100 nets x chain of 10", a));
  shapes.push_back(run_shape(c, "10 nets x chain of 100", b));
  shapes.push_back(run_shape(c, "binary tree of 1000", t));
  out["shapes"] = shapes;
  bool met = true;
  for (const auto& s : shapes) met = met && s["goal"]["met"].get<bool>();
  out["goal_met"] = met;
  json one = run_shape(c, "1 net x chain of 200 (hand-off floor)", floor);
  one.erase("goal");
  one["total_lag_s_per_1000_jobs"] = one["total_lag_s"].get<double>() * 1000.0 / 200.0;
  out["hand_off_floor"] = one;
  return out;
}

json mode_sustained(Context& c) {
  const int k = std::max(1, c.o.jobs_per_net);
  Net net = flat("steady", k, c.o.nodes);
  net.max_sessions = 100;  // the most allowed: sessions may overlap
  const auto applied = apply_yaml(c.ch(), node_limits_yaml(c.o.nodes) + nets_yaml({net}));
  if (!applied.ok) die("apply: " + applied.error);
  const double net_rate = c.o.rate / k;  // sessions per second
  const auto starts = static_cast<long>(net_rate * c.o.seconds);
  c.say("sustained: " + std::to_string(starts) + " sessions of " + std::to_string(k) + " jobs, " +
        std::to_string(net_rate) + " per second, for " + std::to_string(c.o.seconds) + " s");
  Starter starter(c.ch());
  StatusProbe probe(c.pair.node(c.master).grpc);
  const std::string load0 = load_average();
  const double cpu0 = c.master_cpu(), scpu0 = c.standby_cpu(), bcpu0 = c.self_cpu();
  const auto t0 = Steady::now();
  long skipped = 0;
  for (long i = 0; i < starts; ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                           static_cast<double>(i) * 1e9 / net_rate)));
    // Bounded: a master that falls far behind is not sent more.
    if (starter.pending() > 1000) {
      ++skipped;
      continue;
    }
    starter.start(net.name);
  }
  const auto t1 = t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(c.o.seconds * 1e9));
  std::this_thread::sleep_until(t1);
  probe.stop();
  const double cpu1 = c.master_cpu(), scpu1 = c.standby_cpu(), bcpu1 = c.self_cpu();
  const std::string load1 = load_average();
  c.say("sustained: window over; draining");
  const bool all_answered = starter.wait_all(std::chrono::seconds(60));
  // Drain: no session running any more.
  const auto drain_end = Steady::now() + std::chrono::seconds(120);
  bool drained = false;
  while (Steady::now() < drain_end) {
    auto running = sessions(c.ch(), 1, "running");
    if (running && running->empty()) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  (void)c.agents.wait_acked(std::chrono::seconds(30));
  const double drain_s = secs(Steady::now() - t1);

  // Job starts per whole second of the window, as the agents received them.
  const auto runs = c.agents.runs();
  const int whole = static_cast<int>(c.o.seconds);
  std::vector<double> per_second(static_cast<std::size_t>(std::max(whole, 1)), 0.0);
  long in_window = 0;
  std::map<std::uint64_t, Steady::time_point> session_sent;
  std::vector<double> start_rpc_ms;
  long failed = 0;
  if (all_answered) {
    for (const auto& call : starter.calls()) {
      if (!call->status.ok()) {
        ++failed;
        continue;
      }
      session_sent[call->resp.session()] = call->sent;
      start_rpc_ms.push_back(ms(call->done - call->sent));
    }
  }
  std::vector<double> start_to_job_ms;
  for (const auto& r : runs) {
    const double at = secs(r.received - t0);
    if (at >= 0 && at < whole) {
      per_second[static_cast<std::size_t>(at)] += 1;
      ++in_window;
    }
    if (auto it = session_sent.find(r.session); it != session_sent.end()) {
      start_to_job_ms.push_back(ms(r.received - it->second));
    }
  }
  const double median_per_s = duet::bench::percentile(per_second, 0.5);
  const double min_per_s = *std::min_element(per_second.begin(), per_second.end());
  const auto& status = probe.latencies_ms();
  const double status_p99 = duet::bench::percentile(status, 0.99);
  json out;
  out["jobs_per_net"] = k;
  out["sessions_per_s"] = net_rate;
  out["sessions_started"] = starter.calls().size();
  out["sessions_skipped_master_behind"] = skipped;
  out["start_calls_failed"] = failed;
  out["start_rpc_ms"] = summary(start_rpc_ms);
  out["job_starts"] = {{"in_window", in_window},
                       {"total", runs.size()},
                       {"per_s_overall", static_cast<double>(in_window) / whole},
                       {"per_s_median", median_per_s},
                       {"per_s_min", min_per_s}};
  out["start_to_job_ms"] = summary(start_to_job_ms);
  out["status_ms"] = summary(status);
  out["status_failures"] = probe.failures();
  out["master_cpu_cores"] = (cpu1 - cpu0) / c.o.seconds;
  out["standby_cpu_cores"] = (scpu1 - scpu0) / c.o.seconds;
  out["bench_cpu_cores"] = (bcpu1 - bcpu0) / c.o.seconds;
  out["drained"] = drained;
  out["drain_s"] = drain_s;
  out["load_average"] = {{"before", load0}, {"after", load1}};
  out["goal"] = {{"starts_per_s_at_least", 200.0},
                 {"status_p99_ms_at_most", 100.0},
                 {"met", median_per_s >= 200.0 && status_p99 <= 100.0 && drained}};
  c.say("sustained: median " + std::to_string(median_per_s) + " starts/s, status p99 " +
        std::to_string(status_p99) + " ms");
  return out;
}

json run_size(Context& c, const std::string& name, const std::string& yaml, long jobs) {
  c.say("size " + name + ": " + std::to_string(jobs) + " jobs");
  const auto applied = apply_yaml(c.ch(), yaml);
  if (!applied.ok) die(name + ": apply: " + applied.error);
  const double cpu0 = c.master_cpu();
  Starter starter(c.ch());
  starter.start(name);
  if (!starter.wait_all(std::chrono::seconds(120))) die(name + ": Jobs.Start did not finish");
  const auto& call = *starter.calls().front();
  if (!call.status.ok()) die(name + ": start: " + call.status.error_message());
  const std::uint64_t id = call.resp.session();
  auto ended = wait_ended(c.ch(), {id}, std::chrono::seconds(600));
  if (ended.empty()) die(name + ": the session did not end in 600 s");
  const double cpu1 = c.master_cpu();
  (void)c.agents.wait_acked(std::chrono::seconds(60));
  const auto& info = ended.at(id);
  const auto runs = c.agents.runs();
  long got = 0;
  Steady::time_point first = Steady::time_point::max(), last{};
  for (const auto& r : runs) {
    if (r.session != id) continue;
    ++got;
    first = std::min(first, r.received);
    last = std::max(last, r.sent);
  }
  const double wall_s = static_cast<double>(info.ended_at_ms() - call.sent_wall_ms) / 1000.0;
  json out;
  out["net"] = name;
  out["jobs"] = jobs;
  out["runs_received"] = got;
  out["end_status"] = info.end_status();
  out["apply_ms"] = applied.ms;
  out["apply_us_per_job"] = 1000.0 * applied.ms / static_cast<double>(jobs);
  out["yaml_bytes"] = yaml.size();
  out["start_rpc_ms"] = ms(call.done - call.sent);
  out["first_job_after_ms"] = got > 0 ? ms(first - call.sent) : 0.0;
  out["wall_s"] = wall_s;
  out["jobs_per_s"] = wall_s > 0 ? static_cast<double>(jobs) / wall_s : 0.0;
  out["master_cpu_s"] = cpu1 - cpu0;
  c.say(name + ": apply " + std::to_string(applied.ms) + " ms, " + std::to_string(wall_s) + " s, " +
        std::to_string(out["jobs_per_s"].get<double>()) + " jobs/s");
  return out;
}

json mode_sizes(Context& c) {
  const auto limits = apply_yaml(c.ch(), node_limits_yaml(c.o.nodes));
  if (!limits.ok) die("apply node limits: " + limits.error);
  json nets = json::array();
  nets.push_back(run_size(c, "size-100", nets_yaml({flat("size-100", 100, c.o.nodes)}), 100));
  nets.push_back(
      run_size(c, "size-10000", nets_yaml({flat("size-10000", 10000, c.o.nodes)}), 10000));
  const long deep_jobs = static_cast<long>(c.o.deep_levels) * c.o.deep_jobs;
  nets.push_back(run_size(c, "size-deep",
                          deep_yaml("size-deep", c.o.deep_levels, c.o.deep_jobs, c.o.nodes),
                          deep_jobs));
  const auto& base = nets[0];
  bool met = true;
  for (auto& n : nets) {
    const double load_ratio =
        n["apply_us_per_job"].get<double>() / base["apply_us_per_job"].get<double>();
    const double rate_ratio = base["jobs_per_s"].get<double>() / n["jobs_per_s"].get<double>();
    // Above 1: worse than the 100-job net (slower per job to load, fewer jobs/s).
    n["load_per_job_vs_100"] = load_ratio;
    n["throughput_slowdown_vs_100"] = rate_ratio;
    met = met && load_ratio <= 2.0 && rate_ratio <= 2.0 &&
          n["runs_received"].get<long>() == n["jobs"].get<long>();
  }
  json out;
  out["deep_levels"] = c.o.deep_levels;
  out["deep_jobs_per_level"] = c.o.deep_jobs;
  out["nets"] = nets;
  out["goal"] = {{"ratio_at_most", 2.0}, {"met", met}};
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // As agents_bench: the load generator turns abseil's deadlock detection off
  // for itself; the managers are left as built.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"jobs_bench: job nets through a real pair with simulated job agents (JSON)"};
  Options o;
  o.bin = fs::path(argv[0]).parent_path().parent_path().string();
  app.add_option("--mode", o.mode)->check(CLI::IsMember({"shapes", "sustained", "sizes"}));
  app.add_option("--bin", o.bin, "build directory holding manager/duet-manager");
  app.add_option("--dir", o.dir,
                 "work directory (stores, logs; kept); default a temporary one under /var/tmp");
  app.add_option("--port", o.port, "gRPC port of both managers")->check(CLI::Range(1024, 65000));
  app.add_option("--nodes", o.nodes, "simulated job agents sim-0..")->check(CLI::Range(1, 100));
  app.add_option("--rate", o.rate, "sustained: job starts per second")
      ->check(CLI::Range(1.0, 100000.0));
  app.add_option("--seconds", o.seconds, "sustained: length of the window")
      ->check(CLI::Range(1.0, 3600.0));
  app.add_option("--jobs-per-net", o.jobs_per_net, "sustained: jobs of the net started")
      ->check(CLI::Range(1, 10000));
  app.add_option("--deep-levels", o.deep_levels, "sizes: levels of the deep net")
      ->check(CLI::Range(1, 64));
  app.add_option("--deep-jobs", o.deep_jobs, "sizes: jobs at each level of the deep net")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--json", o.json_only, "print only the JSON (no progress on stderr)");
  app.add_option("--dump-runs", o.dump_runs,
                 "diagnostic: write every run (session, unit, agent, times in us) as CSV");
  app.add_flag("--solo", o.solo,
               "diagnostic: run the master alone (no standby, so no replication wait)");
  CLI11_PARSE(app, argc, argv);
  if (!fs::exists(o.bin + "/manager/duet-manager")) {
    die("no " + o.bin + "/manager/duet-manager (give --bin)");
  }

  fs::path dir;
  const bool temporary = o.dir.empty();
  if (temporary) {
    std::string tmpl = "/var/tmp/duet-jobsbench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) die("cannot create a temporary directory");
    dir = tmpl;
  } else {
    dir = o.dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_empty(dir, ec)) die(o.dir + " is not empty");
  }
  std::optional<ManagerPair> pair;
  pair.emplace(o.bin, dir, o.port);
  g_pair = &*pair;
  int m = -1;
  if (o.solo) {
    // Only a, promoted by force (a node that never saw its peer does not take
    // over by itself): it acknowledges commits without waiting for a standby.
    if (pair->start_node(0) && force_promote(pair->node(0).channel) &&
        pair->wait_master(0, std::chrono::seconds(30))) {
      m = 0;
    }
    if (m < 0) die("a alone did not become master (logs in " + dir.string() + ")");
  } else {
    m = pair->start();
    if (m < 0) die("the pair did not form within 30 s (logs in " + dir.string() + ")");
  }

  duet::bench::SimJobAgentsOptions ao;
  ao.target = pair->node(m).grpc;
  ao.agents = o.nodes;
  SimJobAgents agents(ao);
  agents.start();
  if (!agents.wait_welcomed(std::chrono::seconds(20))) {
    die("the simulated agents were not all welcomed within 20 s (logs in " + dir.string() + ")");
  }
  Context c{o, *pair, m, agents};
  c.say("master " + pair->node(m).name + "; " + std::to_string(o.nodes) + " agents welcomed");

  json out;
  out["bench"] = "jobs_bench";
  out["mode"] = o.mode;
  out["machine"] = {{"cpu", duet::bench::cpu_model()},
                    {"nproc", std::thread::hardware_concurrency()},
                    {"load_average_at_start", load_average()}};
  out["settings"] = {{"nodes", o.nodes},
                     {"node_limit", 10000},
                     {"tls", false},
                     {"pair", o.solo ? "master alone (--solo)" : "master + standby"},
                     {"store", "sqlite, synchronous=FULL"},
                     {"replication", "sync (defaults)"}};
  if (o.mode == "shapes") {
    out["result"] = mode_shapes(c);
  } else if (o.mode == "sustained") {
    out["settings"]["rate"] = o.rate;
    out["settings"]["seconds"] = o.seconds;
    out["result"] = mode_sustained(c);
  } else {
    out["result"] = mode_sizes(c);
  }
  if (!o.dump_runs.empty()) dump_runs(o.dump_runs, agents.runs());
  const auto counters = agents.counters();
  out["agents"] = {{"job_starts", counters.job_starts},
                   {"duplicate_starts_ignored", counters.duplicate_starts},
                   {"kills", counters.kills},
                   {"results_written", counters.written},
                   {"results_resent", counters.resent},
                   {"results_acked", counters.acked},
                   {"sessions_opened", counters.sessions_opened},
                   {"sessions_broken", counters.sessions_broken},
                   {"not_master", counters.not_master}};
  json errors = json::array();
  for (const auto& e : agents.errors()) errors.push_back(e);
  out["agents"]["session_errors"] = errors;
  if (o.solo) {
    auto v = duet::bench::self_view(pair->node(m).channel);
    out["pair_at_end"] = v && v->second ? "a master alone" : "a no longer master";
  } else {
    out["pair_at_end"] = pair->master() == m ? "same master + standby" : "changed or not formed";
  }
  out["machine"]["load_average_at_end"] = load_average();

  agents.stop();
  pair->kill();
  const bool closed = agents.wait_closed(std::chrono::seconds(10));
  std::cout << out.dump(2) << std::endl;
  if (temporary) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  if (!closed) std::_Exit(0);  // sessions still open: do not wait on gRPC's teardown
  g_pair = nullptr;
  pair.reset();
  return 0;
}
