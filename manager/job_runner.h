#pragma once

// JobRunner: the master's glue around the job-net engine (jobs/engine.h;
// invariants 1, 4, 6 and 7).
//
// Every change the engine decides (unit states, sessions, run ids, recorded
// operations, events for start/end delays and ended sessions) is committed
// in one transaction with what caused it:
// - an agent's job result: in AgentHub's batch that takes the result and
//   moves the agent's high-water mark (report_into, then take_into);
// - a time that came (tick), an operator's operation: in a batch of its own;
// - manual starts: those that come together share one batch, or ride in the
//   next batch of results, whichever commits first (commit_soon).
// Triggers (schedules, file checks, events) are in job_triggers.cpp.
// Only when that batch is replicated does committed() carry out the actions:
// JobStart / JobKill to the agents (a run id is so persisted before it is
// dispatched). A failed commit reloads the engine from the store.
//
// A new master (start_acting) takes a new Engine with its epoch, restores
// every open session from the store, and sends again what the old master
// may not have delivered; an agent that connects later gets what is its
// (agent_connected). Agents start a run id at most once, so nothing runs
// twice.
//
// Threads: everything here runs on the manager's strand.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "duet/v1/agent.pb.h"
#include "duet/v1/jobs.pb.h"
#include "ha/runner.h"
#include "jobs/engine.h"
#include "jobs/schedule.h"
#include "manager/event_intake.h"
#include "manager/notifier.h"
#include "store/store.h"

namespace duet::manager {

class JobRunner {
 public:
  using Commit = std::function<void(const store::WriteBatch&,
                                    std::function<void(Result<ha::Runner::Committed>)>)>;
  struct Hooks {
    std::function<store::Store*()> store;
    std::function<std::uint64_t()> epoch;
    Commit commit;
    // Sends to a node's agent when it has a session; false when it has none.
    std::function<bool(const std::string& node, duet::v1::ManagerMessage)> send;
    std::function<bool(const std::string& node)> connected;
    std::function<std::vector<std::string>(const std::string& scope)> nodes_in;
    std::function<std::optional<duet::v1::MonitorDef>(const std::string& monitor)> monitor;
    std::function<std::map<std::string, std::string>(const std::string& node)> node_variables;
    std::function<EventIntake*()> intake;  // null: notices are only logged
    std::function<Notifier*()> notifier;
    std::function<void()> watches_changed;  // the agents' assignments anew
  };
  struct Options {
    std::string node_name;
    std::uint32_t default_node_limit = 16;
    // A schedule's time missed by more than this (no master acting then) is
    // not run late; a warning event says so.
    std::int64_t catch_up_ms = 3'600'000;
  };

  JobRunner(boost::asio::any_io_executor strand, Clock& clock, Options options, Hooks hooks);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  void start_acting();
  void stop_acting();
  bool acting() const { return engine_ != nullptr; }
  // The definitions changed (after an apply's commit).
  void reload();

  // What a batch carried for the engine; give it to committed().
  struct Changes {
    jobs::EngineOutput out;
    std::map<std::string, std::int64_t> counted;  // events raised (EventIntake::uncount)
    Notifier::Changes notes;
    // Manual starts that ride in this batch: told its LSN, or the error.
    std::vector<std::function<void(Result<std::uint64_t>)>> waiting;
    bool empty() const { return out.empty() && waiting.empty(); }
  };
  // AgentHub, for a result of kind "job" in the batch it is building.
  void report_into(const std::string& node, const duet::v1::JobRunResult& result);
  // Everything the engine decided since the last take, into `batch`.
  void take_into(store::WriteBatch& batch, Changes& changes);
  // After the batch's commit: `ok` (replicated) sends its actions; else the
  // engine is dropped and restored from the store a second later.
  void committed(Changes changes, bool ok, std::uint64_t lsn = 0);
  // An agent said hello: what it should have, again. `new_outbox`: its host
  // was rebuilt (Engine::runs_lost).
  void agent_connected(const std::string& node, bool new_outbox = false);
  // Transfer jobs (manager/transfer_relay.h): the source of the open
  // transfer run `run_id` that `node` runs; an error says why there is none.
  struct TransferSource {
    std::string node, path;
  };
  Result<TransferSource> transfer_source(const std::string& run_id, const std::string& node) const;

  // File-check triggers: what `node`'s agent watches (its assignments), and
  // what to do when it reports a change (AgentHub, in the batch it builds).
  std::vector<duet::v1::FileWatch> watches_for(const std::string& node) const;
  void file_into(const std::string& node, const duet::v1::FileEvent& event);

  // Event triggers: whether any net starts on events, and on this one.
  bool wants_events() const { return acting() && !event_triggers_.empty(); }
  bool wants_event(const notify::Occurrence& event) const;
  // EventIntake and AgentHub, for the events of the batch they are building:
  // each trigger that matches starts its net, in that batch (then take_into).
  void events_into(const std::vector<notify::Occurrence>& events, store::WriteBatch& batch);

  // The Jobs service (strand, master).
  using Done = std::function<void(Result<std::uint64_t>)>;  // the LSN
  void start_session(const std::string& net, std::map<std::string, std::string> params,
                     const std::string& business_day, const std::string& trigger,
                     std::function<void(Result<std::pair<std::uint64_t, std::uint64_t>>)> done);
  void operate(jobs::Operation op, Done done);

  // The plan of (net, version), from the cache or the store; null when none.
  std::shared_ptr<const jobs::Plan> plan(const std::string& net, std::uint64_t version);

 private:
  class Directory;
  struct Schedule {
    std::string net, key;
    jobs::NetSchedule schedule;
    std::int64_t last_ms = 0;  // every time up to here is handled
    std::optional<jobs::ScheduledStart> next;
    bool dirty = false;  // last_ms to persist
  };
  struct EventTrigger {
    std::string net;
    std::set<std::string> sources, scopes;
    std::set<Priority> priorities;
    std::optional<std::regex> pattern;
    bool matches(const notify::Occurrence& o) const;  // all of the criteria given
  };
  void load_triggers(std::int64_t now);
  // Starts a session of `net` into the engine (the caller commits); its id.
  Result<std::uint64_t> start_into(const std::string& net,
                                   std::map<std::string, std::string> params,
                                   const std::string& business_day, const std::string& trigger,
                                   store::WriteBatch& batch, std::int64_t now);
  void check_schedules(std::int64_t now, store::WriteBatch& batch);
  void restore_all();
  void load_definitions();
  Status restore_session(std::uint64_t id);
  void arm_timer();
  void on_timer();
  // Takes, commits, and carries out what the engine decided.
  void commit_output(std::function<void(Result<std::uint64_t>)> done);
  // The same, with `batch` holding what the caller already wrote.
  void commit_output(store::WriteBatch batch, std::function<void(Result<std::uint64_t>)> done);
  void send(const jobs::Dispatch& d);
  void send(const jobs::Kill& k);
  std::uint64_t next_counter(const char* key, store::WriteBatch& batch);

  boost::asio::any_io_executor strand_;
  Clock& clock_;
  Options options_;
  Hooks hooks_;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<jobs::Engine> engine_;  // while acting
  std::map<std::string, duet::v1::JobNetDef> nets_;
  std::map<std::string, duet::v1::JobCalendarDef> calendars_;
  std::map<std::pair<std::string, std::uint64_t>, std::shared_ptr<const jobs::Plan>> plans_;
  std::map<std::string, std::uint64_t> counters_;  // job_meta, as committed or in flight
  std::vector<Schedule> schedules_;
  std::vector<EventTrigger> event_triggers_;
  std::vector<jobs::Notice> skipped_;  // triggers that started nothing, to raise as events
  struct FileStart {
    std::string net, trigger;
    std::int64_t at_ms = 0;
  };
  std::vector<FileStart> file_starts_;  // reported by agents, started at the next take
  std::optional<TimerId> timer_;
  std::optional<TimerId> recover_timer_;  // after a failed commit
  // Manual starts not committed yet: their writes and whom to tell.
  store::WriteBatch waiting_;
  std::vector<std::function<void(Result<std::uint64_t>)>> waiting_done_;
  std::optional<TimerId> soon_timer_;
  void commit_soon();
  void drop_waiting(const std::string& why);
  std::int64_t timer_at_ = 0;
  std::uint64_t generation_ = 0;  // bumped on each change of role
};

}  // namespace duet::manager
