#pragma once

// SimFleet: many simulated agents in one process, each with its own
// Agent.Session bidi stream to the master (gRPC callback API), sharing a few
// channels (each channel its own HTTP/2 connection).
//
// Each agent says hello as node "sim-<i>", and once welcomed produces its
// results on a fixed schedule: agent i runs items 0..k_i-1 (monitors
// "<prefix>0".."<prefix>{k_i-1}"), each once per minute, the fleet's
// results spread evenly over the minute (a result every 60 s / slots). A
// result is a duet.v1.MonitorResult with one metric, with the next sequence
// number. Results wait in the agent's in-memory outbox until a ResultAck
// covers them; the time from production to that ack is the result's
// latency ("result to stored": the master acknowledges only what is
// committed and replicated). A broken session is reopened after about a
// second and resends what was not acknowledged, as the real agent does.
//
// Threads: a connector thread opens sessions at `connect_rate` per second
// (then reopens broken ones); a scheduler thread produces results and the
// keepalive stats; gRPC's threads run the reactions. An agent's state is
// guarded by its own mutex; a reaction never holds two of them. stop()
// ends both threads; the sessions end when the managers go away (the bench
// kills them), and wait_closed() waits for that, bounded.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/sim_session.h"
#include "duet/v1/agent.grpc.pb.h"

namespace duet::bench {

struct SimFleetOptions {
  std::string target;  // the master's host:port
  int agents = 10000;
  long items_per_minute = 100000;  // across all agents
  int channels = 16;
  double connect_rate = 500;  // new sessions per second while ramping up
  std::string monitor_prefix = "bench-";
};

class SimFleet {
 public:
  using Steady = std::chrono::steady_clock;

  explicit SimFleet(SimFleetOptions options);
  ~SimFleet();
  SimFleet(const SimFleet&) = delete;
  SimFleet& operator=(const SimFleet&) = delete;

  // The most items one agent runs (monitors <prefix>0 .. <prefix>{n-1} must exist).
  int max_items_per_agent() const { return max_items_; }

  // Starts the connector and the scheduler (results begin at once for the
  // agents welcomed so far).
  void start();
  // Results produced from now on count towards the latency figures (or stop counting).
  void set_measuring(bool on) { measuring_ = on; }
  // Stops producing results and reopening sessions; joins both threads.
  void stop();
  // Waits until no session is open, at most `limit`; true if none is.
  bool wait_closed(std::chrono::milliseconds limit) const;

  struct Counters {
    long welcomed_agents = 0;  // agents welcomed at least once
    long open_sessions = 0;
    long produced = 0;  // results produced
    long written = 0;   // results written to a stream (first time)
    long acked = 0;     // results acknowledged
    long produced_measured = 0, acked_measured = 0;
    long resent = 0;  // results written again after a reconnection
    long sessions_opened = 0;
    long sessions_broken = 0;  // ended while the fleet ran
    long not_master = 0;
    long stats_sent = 0;
    long acks_received = 0;    // ResultAck messages
    long write_queue_max = 0;  // most results one agent had produced but not yet written
  };
  Counters counters() const;
  // Latencies (ms) of the measured results acknowledged so far.
  std::vector<float> latencies_ms() const;
  // When every agent had been welcomed (since start()); negative while not.
  double all_welcomed_after_s() const;
  // The first few reasons sessions ended with, for the report.
  std::vector<std::string> errors() const;

  struct Agent;   // one simulated agent (sim_agents.cpp)
  class Session;  // one Agent.Session call

 private:
  friend class Session;
  template <typename, typename, typename>
  friend class SimSession;
  void connector_loop();
  void scheduler_loop();
  void open_session(int index);
  void produce(int index, int item);
  void keepalive_sweep();
  void record_latencies(const std::vector<float>& ms);
  void note_error(const std::string& what);
  void session_ended(int index, bool broken);

  SimFleetOptions o_;
  int max_items_ = 1;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<duet::v1::Agent::Stub>> stubs_;
  std::vector<std::unique_ptr<Agent>> agents_;
  Steady::time_point started_{};

  std::atomic<bool> stopping_{false};
  std::atomic<bool> measuring_{false};
  std::thread connector_, scheduler_;

  ReopenQueue reopen_;

  mutable std::mutex latency_mu_;
  std::vector<float> latencies_;
  mutable std::mutex error_mu_;
  std::vector<std::string> errors_;

  std::atomic<long> welcomed_{0}, open_{0}, produced_{0}, written_{0}, acked_{0};
  std::atomic<long> produced_measured_{0}, acked_measured_{0}, resent_{0};
  std::atomic<long> opened_{0}, broken_{0}, not_master_{0}, stats_{0}, ack_msgs_{0};
  std::atomic<long> queue_max_{0};
  std::atomic<std::int64_t> all_welcomed_ns_{-1};
};

}  // namespace duet::bench
