#pragma once

// AgentHub: the master's side of agents and monitors (invariants 4 and 6).
//
// Sessions. An agent's Session call says hello; a node that is not the
// acting master answers NotMaster (naming the master it knows) and ends the
// call. The master welcomes it with the highest result number it holds for
// that agent and the monitors assigned to it, and takes its results.
//
// Results, exactly once. Each result carries (agent, seq). A result at or
// below the highest number taken is dropped. Results are committed in
// batches through the HA runner together with the agent's new high-water
// mark (`agents.acked_up_to`), so after a failover the new master knows
// exactly where each agent stands; the agent is acknowledged (ResultAck)
// only when the batch is replicated. A failed commit ends the agent's
// session: it reconnects and sends again what was not acknowledged.
//
// Judgement. Each result is judged by its monitor's judgement
// (monitors/judge.h). A change of priority per (monitor, node) raises an
// event through the event rules (EventIntake::raise_into) in the same
// transaction as the status change, so it is raised exactly once; a log
// line that matched is an event of its own. Every result is kept as a
// point of its node's monitor series (table `metrics`).
//
// Liveness. The master sees each agent's messages (results, and stats at
// least every keepalive). An agent without a session for `unreachable_after`
// raises "agent unreachable" once (the agent's row remembers it, so a new
// master does not raise it again); its return raises "agent reachable
// again". A new master counts an agent's silence from when it took over.
//
// Threads: everything here runs on the manager's strand; AgentLink::send
// may be called from it at any time (the gRPC reactor queues the write).

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/enrolment.h"
#include "duet/v1/agent.pb.h"
#include "duet/v1/monitoring.pb.h"
#include "ha/runner.h"
#include "manager/event_intake.h"
#include "manager/job_runner.h"
#include "manager/notifier.h"
#include "manager/transfer_relay.h"
#include "monitors/judge.h"
#include "repository/model.h"
#include "store/store.h"

namespace duet::manager {

// One agent session, as the hub sees it. Thread-safe.
class AgentLink {
 public:
  virtual ~AgentLink() = default;
  virtual void send(duet::v1::ManagerMessage message) = 0;
  // Ends the call with `status` after the queued messages.
  virtual void finish(grpc::Status status) = 0;
  virtual std::string peer_address() const = 0;
  // The names in the agent's client certificate; empty when TLS is off.
  virtual std::vector<std::string> certificate_names() const = 0;
};

class AgentHub {
 public:
  using Commit = std::function<void(const store::WriteBatch&,
                                    std::function<void(Result<ha::Runner::Committed>)>)>;
  struct Hooks {
    std::function<store::Store*()> store;  // null until open
    std::function<bool()> may_act;
    std::function<std::uint64_t()> epoch;
    std::function<duet::v1::NotMaster()> not_master;
    std::function<std::string()> not_master_text;
    Commit commit;
    std::function<EventIntake*()> intake;  // null: events are not raised
    std::function<Notifier*()> notifier;   // null: nothing is notified
    std::function<JobRunner*()> jobs;      // null: job results are not taken
  };
  struct Options {
    std::string node_name;
    std::int64_t unreachable_after_ms = 60'000;
    std::int64_t batch_delay_ms = 5;
    std::uint32_t keepalive_ms = 10'000;
    std::size_t max_batch = 5'000;  // results per transaction at most
    // Retention: raw results, then hourly points (see maintain_metrics).
    std::int64_t raw_keep_ms = 7LL * 24 * 3600 * 1000;
    std::int64_t hourly_keep_ms = 400LL * 24 * 3600 * 1000;
    std::int64_t maintain_every_ms = 60'000;
    std::size_t maintain_series = 200;        // series looked at per pass at most
    std::size_t maintain_rows = 20'000;       // raw rows rolled up per pass at most
    std::optional<CertificateIssuer> issuer;  // enrolment; none: refused
  };

  AgentHub(boost::asio::any_io_executor strand, Clock& clock, Options options, Hooks hooks);
  ~AgentHub();
  AgentHub(const AgentHub&) = delete;
  AgentHub& operator=(const AgentHub&) = delete;

  // Sessions (strand).
  void on_hello(const std::shared_ptr<AgentLink>& link, const duet::v1::AgentHello& hello);
  void on_result(const std::shared_ptr<AgentLink>& link, duet::v1::AgentResult result);
  void on_stats(const std::shared_ptr<AgentLink>& link, const duet::v1::AgentStats& stats);
  void on_closed(const std::shared_ptr<AgentLink>& link);
  // Transfer jobs: a receiving agent's fetch, a sending agent's piece (TransferRelay).
  void on_fetch(const std::shared_ptr<AgentLink>& link, const duet::v1::FetchRequest& request);
  void on_chunk(const std::shared_ptr<AgentLink>& link, duet::v1::FileChunk chunk);
  const TransferRelay& transfers() const { return relay_; }
  // Sends to a node's agent over its session; false when it has none.
  bool send_to(const std::string& node, duet::v1::ManagerMessage m);
  bool connected(const std::string& node) const;
  // For job nets: the nodes of a scope (sub-scopes included), a monitor's definition.
  std::vector<std::string> nodes_within(const std::string& scope) const {
    return repo_.nodes_within(scope);
  }
  std::optional<duet::v1::MonitorDef> monitor_def(const std::string& name) const;
  // A node's repository variables for job commands (jobs/engine.h NodeDirectory).
  std::map<std::string, std::string> node_variables(const std::string& node) const;
  // A result the manager measured itself (an agentless check).
  void on_local_result(duet::v1::MonitorResult result);

  // The HA runner's hooks (strand).
  void start_acting();
  void stop_acting();
  // Monitors or the repository changed: definitions and assignments anew.
  void reload();
  // Called after each reload (the agentless runner takes its targets anew).
  void on_reload(std::function<void()> fn) { on_reload_ = std::move(fn); }

  // The Monitoring service (strand). Writes: master only.
  Result<duet::v1::ListAgentsResponse> list_agents() const;
  using Done = std::function<void(grpc::Status)>;
  void put_monitor(const duet::v1::PutMonitorRequest& req, duet::v1::MonitorChangeResponse* resp,
                   Done done);
  void remove_monitor(const std::string& name, duet::v1::MonitorChangeResponse* resp, Done done);
  void set_enabled(const std::string& name, bool enabled, duet::v1::MonitorChangeResponse* resp,
                   Done done);
  Result<duet::v1::ListMonitorsResponse> list_monitors() const;
  Result<duet::v1::QueryMetricsResponse> query_metrics(
      const duet::v1::QueryMetricsRequest& req) const;
  void issue_token(const duet::v1::IssueTokenRequest& req, duet::v1::IssueTokenResponse* resp,
                   Done done);
  // Agent.Enrol (master): a valid, unexpired token for the node is consumed
  // (deleted, replicated) and the CSR signed; the token works once.
  void enrol(const duet::v1::EnrolRequest& req, duet::v1::EnrolResponse* resp, Done done);

  // Manager-run monitors and their targets (for the agentless runner).
  struct Target {
    duet::v1::MonitorDef def;
    std::string node;
    std::string address;
  };
  std::vector<Target> manager_targets() const;

  // Retention (master; every maintain_every_ms, also callable by tests): for
  // some series (node, monitor) at a time, the raw results of each whole hour
  // older than raw_keep_ms become one hourly point (mean, min, max and count
  // per metric, merged into the hour's point if it exists) and go; hourly
  // points older than hourly_keep_ms go. One transaction per pass. Returns
  // the raw rows rolled up.
  std::size_t maintain_metrics();

  // The (monitor, node) status key and a metrics row key.
  static std::string status_key(const std::string& monitor, const std::string& node);
  static std::string metrics_key(const std::string& node, const std::string& monitor,
                                 std::int64_t at_ms, std::uint64_t seq);

 private:
  struct Agent {
    std::string node;
    std::shared_ptr<AgentLink> link;
    std::uint64_t stored = 0;     // committed, replicated and acknowledged up to
    std::uint64_t committed = 0;  // in a batch handed to commit (awaiting replication)
    std::uint64_t taken = 0;      // highest result taken (pending or committed)
    std::int64_t last_seen_ms = 0;
    bool reachable = true;
    bool in_store = false;
    std::int64_t enrolled_at_ms = 0;
    std::string version, address;
    std::uint64_t outbox_pending = 0, outbox_dropped = 0;
    std::uint64_t outbox_identity = 0;  // of the outbox whose numbers `stored` counts
    std::string assignments;            // serialized, as last sent
    std::size_t monitors = 0;
  };
  struct Pending {
    std::string node;  // agent; empty for a local result
    std::uint64_t seq = 0;
    duet::v1::MonitorResult result;
    std::optional<duet::v1::JobRunResult> job;  // a result of kind "job" instead
    std::optional<duet::v1::FileEvent> file;    // a result of kind "file" instead
  };
  struct Monitor {
    duet::v1::MonitorDef def;
    std::optional<monitors::Judgement> judgement;
  };
  struct Status {
    std::string priority;
    std::int64_t since_ms = 0;
    std::int64_t last_at_ms = 0;
    std::string message;
  };

  Agent& agent(const std::string& node);  // loads its row when first seen
  // The agent whose current session `link` is; null for a replaced session
  // or one that never said hello. O(1): at 10,000 agents a walk over all of
  // them per result took most of the strand (agents_bench).
  Agent* agent_of(const std::shared_ptr<AgentLink>& link);
  duet::v1::ManagerMessage message() const;
  duet::v1::Assignments assignments_for(const std::string& node) const;
  void send_assignments(Agent& a, bool force);
  // After batch_delay_ms; `soon`: once the strand has taken what is queued.
  void schedule_flush(bool soon = false);
  // Results (agent_hub_results.cpp): up to max_batch of the pending ones are
  // judged and committed in one transaction with the agents' marks.
  void flush();
  std::vector<Pending> take_pending();
  void liveness_tick();
  void schedule_maintenance();
  void add_agent_row(store::WriteBatch& batch, const Agent& a, std::int64_t now_ms) const;
  // What a batch did besides its rows: event counts (EventIntake::uncount on
  // failure) and notifications (Notifier::committed).
  struct Effects {
    std::map<std::string, std::int64_t> counted;
    Notifier::Changes notes;
    JobRunner::Changes jobs;
  };
  // Raises an event of `protocol` about `node` into `batch`; its id (0: discarded).
  // An "agent" event is also passed to the notifications (a monitor's are, per
  // result, by flush()).
  std::uint64_t raise(store::WriteBatch& batch, Effects& effects, const std::string& protocol,
                      const std::string& node, Priority priority, std::string message,
                      std::map<std::string, std::string> fields, std::int64_t at_ms);
  // What one flush gathers before it commits.
  struct ResultBatch {
    std::int64_t now_ms = 0;
    Notifier* notifier = nullptr;
    JobRunner* jobs = nullptr;
    store::WriteBatch batch;
    Effects effects;
    std::vector<store::Row> metric_rows;
    std::map<std::string, std::uint64_t> up_to;   // agent -> highest seq in this batch
    std::map<std::string, Status> status_before;  // as before the batch, by status key
    std::set<std::string> status_changed;
    std::vector<notify::Occurrence> job_events;  // monitor events that start nets
  };
  // A monitor result: its metric point, status, event and what it notifies.
  void judge_into(const Pending& p, ResultBatch& rb);
  // What a flush committed: acknowledged once stored, undone if not.
  struct Taken {
    struct Mark {
      std::uint64_t seq = 0;
      std::uint64_t outbox_identity = 0;  // the outbox the numbers are of
    };
    std::map<std::string, Mark> up_to;  // by agent
    std::map<std::string, Status> status_before;
    std::size_t results = 0;
    std::uint64_t epoch = 0;
  };
  void results_stored(const Taken& taken);
  void results_not_stored(const Taken& taken, const Error& why);
  // After a commit: the effects kept or undone.
  void settle(Effects effects, bool ok, std::uint64_t lsn = 0);
  void commit_simple(store::WriteBatch batch, Effects effects, std::string what);
  // The node's scopes and every scope above them; "unregistered" for an unknown node.
  std::vector<std::string> enclosing_scopes(const std::string& node) const;
  void load_status();
  void change(const std::string& what, std::function<Result<store::WriteBatch>(std::string&)> plan,
              duet::v1::MonitorChangeResponse* resp, Done done);
  std::string address_of(const std::string& node) const;

  boost::asio::any_io_executor strand_;
  Clock& clock_;
  Options options_;
  Hooks hooks_;
  bool acting_ = false;
  std::int64_t acting_since_ms_ = 0;
  std::map<std::string, Agent> agents_;
  std::unordered_map<const AgentLink*, std::string> link_nodes_;  // session → node, until closed
  std::map<std::string, Monitor> monitors_;
  repository::State repo_;
  std::map<std::string, Status> status_;  // by status_key
  std::vector<Pending> pending_;
  std::optional<TimerId> flush_timer_;
  bool flush_soon_ = false;  // flush_timer_ is the soon one
  std::optional<TimerId> liveness_timer_;
  std::optional<TimerId> maintain_timer_;
  std::string maintain_cursor_;  // the status key the next pass starts after
  std::uint64_t local_seq_ = 0;  // tells apart local results of the same millisecond
  std::uint64_t commit_failures_ = 0;
  std::function<void()> on_reload_;
  TransferRelay relay_;
};

}  // namespace duet::manager
