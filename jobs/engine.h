#pragma once

// The job-net engine: a pure core. It holds every open session (the state of
// each unit of each running net) and, given what happened and the time,
// decides what to do: which runs to dispatch (with run ids it issues), which
// to kill, what to tell operators, and which unit states changed.
//
// Contract:
// - Single-threaded: the caller serialises every call (the manager's job
//   runner strand). No clock, no sockets, no sleeping: `now` is an argument
//   and tick() is called at next_wakeup().
// - Every call's effects are collected until take(): the changed units and
//   sessions (to commit, with the journal, in one transaction) and the
//   actions. The caller commits the changes *before* carrying out the
//   actions (a run id is persisted before dispatch: invariant 6), and drops
//   the engine and restores it from the store if the commit fails.
// - A run is dispatched once per attempt. After restore() on a new master
//   every run still "dispatching" is dispatched again with the same run id;
//   the agent starts a run id at most once, so a run the agent already has
//   is not started twice.
// - Multiplicity: at most `limit` runs at once on a node (JobNodeLimit, else
//   the default) and per named queue. Runs past a limit wait as "queued",
//   first come first served.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/priority.h"
#include "common/result.h"
#include "duet/v1/jobs.pb.h"
#include "jobs/plan.h"

namespace duet::jobs {

// What the engine asks of the repository: the nodes of a scope, and which
// nodes have an agent connected now (for "any one node of a scope").
class NodeDirectory {
 public:
  virtual ~NodeDirectory() = default;
  // Sorted; sub-scopes included; empty when the scope has no node.
  virtual std::vector<std::string> nodes_in(const std::string& scope) const = 0;
  virtual bool available(const std::string& node) const = 0;
  // The node a monitor is defined on ("" when unknown), for a monitor job
  // that names no node.
  virtual std::string node_of_monitor(const std::string& monitor) const = 0;
  // The node's variables from the repository: "node.name", "node.address"
  // (its first), "node.os" and "node.ATTRIBUTE" for each attribute.
  virtual std::map<std::string, std::string> node_variables(const std::string& node) const {
    (void)node;
    return {};
  }
};

// One run for an agent to start. `env` holds the DUET_* variables; `command`
// has ${VAR} replaced.
struct Dispatch {
  std::uint64_t session = 0;
  std::string unit;  // path
  duet::v1::JobRun run;
  std::string kind;  // command, transfer, monitor
  std::string command, user, directory;
  std::map<std::string, std::string> env;
  std::uint32_t time_limit_s = 0;
  const duet::v1::JobUnitDef* spec = nullptr;  // transfer, monitor: what to do
  std::string from_path, to_path;              // transfer: with ${VAR} replaced
};

struct Kill {
  std::string run_id;
  std::string node;
  std::string reason;
};

// Something an operator should hear about: a start or end delay, a session
// that ended. The caller raises it as an event (and so notifications see it).
struct Notice {
  std::uint64_t session = 0;
  std::string net, unit;
  Priority priority = Priority::kInfo;
  std::string message;
};

struct EngineOutput {
  std::vector<Dispatch> dispatch;
  std::vector<Kill> kill;
  std::vector<Notice> notices;
  std::vector<duet::v1::JobOperation> operations;  // to record
  // Changed: (session, unit index) -> state, and sessions.
  std::map<std::pair<std::uint64_t, std::uint32_t>, duet::v1::JobUnitState> units;
  std::map<std::uint64_t, duet::v1::JobSessionInfo> sessions;
  std::vector<std::uint64_t> closed;  // sessions that ended (and left the engine)
  bool empty() const {
    return dispatch.empty() && kill.empty() && notices.empty() && operations.empty() &&
           units.empty() && sessions.empty() && closed.empty();
  }
};

// An agent's report of a run.
struct RunReport {
  std::string run_id;
  bool started = false;  // started only (an end comes later)
  std::int64_t at_ms = 0;
  std::int64_t end_value = 0;
  std::string error;  // failed to start, killed: why
  std::string stdout_tail, stderr_tail;
  std::map<std::string, std::string> set_variables;  // "::duet-set NAME=VALUE" lines
};

// An operator's operation on a session or one of its units.
struct Operation {
  std::uint64_t session = 0;
  std::string unit;  // path; empty: the session (its root net)
  // hold, release, skip, unskip, stop, suspend, resume, force-end, rerun,
  // approve, reject
  std::string op;
  std::string status;          // force-end: normal, warning, abnormal
  std::int64_t value = 0;      // force-end: the end value
  std::string rerun = "from";  // rerun: from, after, top, warning
  std::string by;
};

struct EngineLimits {
  std::uint32_t default_node_limit = 16;
  std::map<std::string, std::uint32_t> nodes;   // per-node limits
  std::map<std::string, std::uint32_t> queues;  // per-queue limits (a queue not named: 1)
};

class Engine {
 public:
  Engine(const NodeDirectory& nodes, std::uint64_t epoch);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void set_limits(EngineLimits limits);

  // A new session: `info` has id, net, version, trigger, params, business
  // day; the engine sets the rest. Its root net starts now.
  void start(duet::v1::JobSessionInfo info, std::shared_ptr<const Plan> plan, std::int64_t now);
  // An open session from the store (a new master): states as committed.
  // Runs still dispatching are dispatched again.
  void restore(duet::v1::JobSessionInfo info, std::shared_ptr<const Plan> plan,
               std::vector<duet::v1::JobUnitState> units, std::int64_t now);

  void report(const RunReport& r, std::int64_t now);
  // An operation; an error (unknown session or unit, not possible in the
  // unit's state) says why, and nothing changes.
  Status operate(const Operation& op, std::int64_t now);
  // Time conditions, retries, delays, and anything queued that now fits.
  void tick(std::int64_t now);
  // Agents came or went: runs waiting for "any node" may now fit.
  void nodes_changed(std::int64_t now);

  std::optional<std::int64_t> next_wakeup() const;
  EngineOutput take();

  // An agent (re)connected: the runs it should have and may not (dispatched
  // while it was away, or before a failover), and the kills it may have
  // missed. Sending them again is safe: the agent starts a run id at most
  // once, and a kill of an ended run does nothing.
  struct Undelivered {
    std::vector<Dispatch> dispatch;
    std::vector<Kill> kill;
  };
  Undelivered undelivered(const std::string& node) const;
  // An open run (dispatching or running) by its id, as it was dispatched:
  // a transfer's fetches are checked against it.
  std::optional<Dispatch> find_run(const std::string& run_id) const;
  // A node's agent lost what it ran (a rebuilt host, a new outbox): its runs
  // that had started end as failed to start (−1, `why`), since their ends
  // can never come. Runs still dispatching are sent to it again.
  void runs_lost(const std::string& node, const std::string& why, std::int64_t now);

  // Reading (for the Jobs service and tests).
  bool has(std::uint64_t session) const { return sessions_.count(session) != 0; }
  const duet::v1::JobSessionInfo* session(std::uint64_t id) const;
  const duet::v1::JobUnitState* unit(std::uint64_t session, std::string_view path) const;
  std::vector<std::uint64_t> open_sessions() const;
  std::size_t running_on(const std::string& node) const;
  std::size_t open_runs() const { return runs_.size(); }

  struct Session;  // opaque (jobs/engine_session.h)

 private:
  struct RunRef {
    std::uint64_t session = 0;
    std::uint32_t unit = 0;
    std::string run_id;
  };
  enum class Tri : std::uint8_t { kFalse, kTrue, kPending };
  enum class Wake : std::uint8_t { kCondition, kRetry, kStartDelay, kEndDelay };
  struct WakeKey {
    std::uint64_t session;
    std::uint32_t unit;
    Wake what;
    auto operator<=>(const WakeKey&) const = default;
  };

  Session* find(std::uint64_t id);
  duet::v1::JobUnitState& touch(Session& s, std::uint32_t unit);
  void touch_session(Session& s);
  void wake_at(Session& s, std::uint32_t unit, Wake what, std::int64_t at);

  // Unit lifecycle.
  void evaluate(Session& s, std::uint32_t unit, std::int64_t now);
  Tri condition(Session& s, std::uint32_t unit, std::int64_t now);
  Tri one(Session& s, const PlanCondition& c, std::int64_t now);
  void begin(Session& s, std::uint32_t unit, std::int64_t now);
  void start_attempt(Session& s, std::uint32_t unit, std::int64_t now);
  void set_state(Session& s, std::uint32_t unit, const char* state);
  void finish(Session& s, std::uint32_t unit, const char* state, EndStatus status,
              std::int64_t value, std::int64_t now);
  void after_final(Session& s, std::uint32_t unit, std::int64_t now);
  void job_runs_done(Session& s, std::uint32_t unit, std::int64_t now);
  void net_maybe_done(Session& s, std::uint32_t net, std::int64_t now);
  void end_session(Session& s, std::int64_t now);
  void arm_delays(Session& s, std::uint32_t unit, std::int64_t now);
  void fire(const WakeKey& k, std::int64_t now);

  // Runs and multiplicity.
  void enqueue(const RunRef& ref, const std::string& node);
  void admit(std::int64_t now);
  std::uint32_t node_limit(const std::string& node) const;
  bool fits(const std::string& node, const std::string& queue) const;
  duet::v1::JobRun* run_of(const RunRef& ref, Session** session);
  const duet::v1::JobRun* run_of(const RunRef& ref, const Session** session) const;
  void launch(Session& s, std::uint32_t unit, duet::v1::JobRun& run, std::int64_t now);
  Dispatch make_dispatch(const Session& s, std::uint32_t unit, const duet::v1::JobRun& run) const;
  void occupy(const std::string& node, const std::string& queue, int delta);
  // Kills the unit's open runs; true when none is left open (a queued run
  // just ends; a dispatched one ends when its agent reports).
  bool kill_runs(Session& s, std::uint32_t unit, const std::string& reason, std::int64_t now);
  const std::string& queue_of(const Session& s, std::uint32_t unit) const;

  // Operations.
  Status stop(Session& s, std::uint32_t unit, const Operation& op, std::int64_t now);
  Status force_end(Session& s, std::uint32_t unit, EndStatus status, std::int64_t value,
                   std::int64_t now);
  Status rerun(Session& s, std::uint32_t unit, const std::string& how, std::int64_t now);
  void reset(Session& s, std::uint32_t unit);
  void reopen(Session& s, std::uint32_t unit, std::int64_t now);
  void record(const Session& s, std::uint32_t unit, const Operation& op, std::int64_t now);

  std::map<std::string, std::string> variables(const Session& s, std::uint32_t unit,
                                               const duet::v1::JobRun& run) const;

  const NodeDirectory& nodes_;
  std::uint64_t epoch_;
  EngineLimits limits_;
  std::map<std::uint64_t, std::unique_ptr<Session>> sessions_;
  std::map<std::string, RunRef> runs_;  // open runs (queued, dispatching, running) by run id
  // Queued runs, first come first served, per node ("" : any node of a
  // scope); the nodes to look at again (a slot freed or a run came).
  std::map<std::string, std::deque<RunRef>> queued_;
  std::set<std::string> recheck_;
  bool recheck_all_ = false;
  std::map<std::string, std::uint32_t> node_busy_, queue_busy_;
  std::set<std::pair<std::uint64_t, std::uint32_t>> dirty_units_;
  std::set<std::uint64_t> dirty_sessions_, closing_;
  std::set<std::pair<std::int64_t, WakeKey>> wakeups_;
  EngineOutput out_;
};

// The state names (JobUnitState.state).
namespace unit_state {
inline constexpr const char* kWaiting = "waiting";
inline constexpr const char* kHeld = "held";
inline constexpr const char* kQueued = "queued";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kStopping = "stopping";
inline constexpr const char* kRetryWait = "retry-wait";
inline constexpr const char* kEnded = "ended";
inline constexpr const char* kSkipped = "skipped";
inline constexpr const char* kNotRun = "not-run";
inline constexpr const char* kStopped = "stopped";
bool final(std::string_view state);
}  // namespace unit_state

}  // namespace duet::jobs
