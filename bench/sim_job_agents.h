#pragma once

// SimJobAgents: a few simulated job agents in one process, for jobs_bench.
//
// Each agent opens an Agent.Session stream to the master as node
// "<prefix><i>" (its own gRPC channel), says hello, and answers every
// JobStart at once with a no-op run: one AgentResult of kind "job" whose
// payload is a JobRunResult{run_id, started=false, end_value=0, at_ms} (no
// separate "started" result). Results are numbered 1, 2, 3... per agent and
// wait in the agent's in-memory outbox until a ResultAck covers them. A
// JobStart for a run id the agent already has is ignored (the master sends
// dispatching runs again when an agent reconnects); JobKill is ignored (the
// runs end at once). A broken session is reopened after about a second; the
// Welcome says what the master holds, and everything after it is written
// again, in order.
//
// Per run the agent records when it received the JobStart, when it first
// wrote the end result to the stream ("sent") and when an ack covered it.
//
// Threads: a housekeeping thread reopens broken sessions and sends the
// keepalive stats; gRPC's threads run the reactions. An agent's state is
// guarded by its own mutex, and no reaction holds two. stop() ends the
// housekeeping; the sessions end when the managers go away (the bench kills
// them), and wait_closed() waits for that, bounded.

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

struct SimJobAgentsOptions {
  std::string target;  // the master's host:port
  int agents = 10;
  std::string node_prefix = "sim-";
};

class SimJobAgents {
 public:
  using Steady = std::chrono::steady_clock;

  // One run an agent was given.
  struct Run {
    std::string run_id;
    std::uint64_t session = 0;
    std::string unit;  // path in its net
    int agent = 0;
    Steady::time_point received{};  // the JobStart arrived
    Steady::time_point sent{};      // the end result was first written; {} if never
    Steady::time_point acked{};     // a ResultAck covered it; {} if never
  };

  struct Counters {
    long welcomed_agents = 0;  // agents welcomed at least once
    long open_sessions = 0;
    long job_starts = 0;        // JobStart messages with a new run id
    long duplicate_starts = 0;  // JobStart for a run id already had (ignored)
    long kills = 0;             // JobKill messages (ignored)
    long written = 0;           // results written (first time)
    long resent = 0;            // results written again after a reconnection
    long acked = 0;             // results acknowledged
    long sessions_opened = 0;
    long sessions_broken = 0;  // ended while the agents ran
    long not_master = 0;
  };

  explicit SimJobAgents(SimJobAgentsOptions options);
  ~SimJobAgents();
  SimJobAgents(const SimJobAgents&) = delete;
  SimJobAgents& operator=(const SimJobAgents&) = delete;

  // Opens every session and starts the housekeeping thread.
  void start();
  // True once every agent has been welcomed, within `limit`.
  bool wait_welcomed(std::chrono::milliseconds limit) const;
  // True once every result produced so far is acknowledged, within `limit`.
  bool wait_acked(std::chrono::milliseconds limit) const;
  // Stops reopening sessions and sending keepalives; joins the thread.
  void stop();
  // Waits until no session is open, at most `limit`; true if none is.
  bool wait_closed(std::chrono::milliseconds limit) const;

  Counters counters() const;
  // Every run received so far, of every agent (a copy).
  std::vector<Run> runs() const;
  // The first few reasons sessions ended with, for the report.
  std::vector<std::string> errors() const;

  struct Agent;   // one simulated agent (sim_job_agents.cpp)
  class Session;  // one Agent.Session call

 private:
  friend class Session;
  template <typename, typename, typename>
  friend class SimSession;
  void housekeeping_loop();
  void open_session(int index);
  void session_ended(int index, bool broken);
  void note_error(const std::string& what);

  SimJobAgentsOptions o_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<duet::v1::Agent::Stub>> stubs_;
  std::vector<std::unique_ptr<Agent>> agents_;

  std::atomic<bool> stopping_{false};
  std::thread housekeeping_;

  ReopenQueue reopen_;
  mutable std::mutex error_mu_;
  std::vector<std::string> errors_;

  std::atomic<long> welcomed_{0}, open_{0}, starts_{0}, duplicates_{0}, kills_{0};
  std::atomic<long> written_{0}, resent_{0}, acked_{0}, opened_{0}, broken_{0}, not_master_{0};
};

}  // namespace duet::bench
