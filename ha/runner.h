#pragma once

// Runner: the glue around the RoleMachine in a running manager. It owns the
// heartbeat timer and the gRPC client to the peer, feeds the core with
// heartbeats (sent and answered), guard verdicts and store health, and carries
// out the core's actions: run the fence command, persist the new epoch, then
// promote; start and stop side effects; take or release the witness lease.
//
// Threads: constructed, used and destroyed on one executor (the manager's
// strand). gRPC replies arrive on gRPC threads and are posted to the
// executor; after stop() none is processed. Hooks are called on the
// executor, never under a lock.
//
// Replication: as master it owns a JournalShipper (serves the standby's
// Replicate and FetchSnapshot streams; commit() waits for the standby's ack in
// sync mode); while the core says following(), a JournalFollower streams the
// master's journal and reports caught up / lost sync / diverged to the core.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/result.h"
#include "duet/v1/admin.pb.h"
#include "duet/v1/peer.grpc.pb.h"
#include "ha/guard.h"
#include "ha/journal_follower.h"
#include "ha/journal_shipper.h"
#include "ha/role_machine.h"
#include "ha/timing_setting.h"
#include "store/store.h"

namespace duet::ha {

struct RunnerOptions {
  NodeConfig node;
  std::optional<NodeConfig> peer;
  HaConfig ha;
  TlsConfig tls;              // client side of the link to the peer
  std::string data_dir;       // SQLite: checked for free space; empty otherwise
  std::uint64_t incarnation;  // random per process start
};

class Runner {
 public:
  struct Hooks {
    std::function<void(Epoch)> start_acting;
    std::function<void(const std::string& reason)> stop_acting;
  };

  // `guard` may be null only without a peer. `clock` and `store` outlive the runner.
  Runner(boost::asio::any_io_executor executor, Clock& clock, RunnerOptions options,
         store::Store& store, std::unique_ptr<Guard> guard, Hooks hooks);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Creates the peer channel (TLS material errors come back here) and starts.
  Status start();
  void stop();

  // Peer.Heartbeat: takes the peer's beat, returns ours.
  duet::v1::Beat answer(const duet::v1::Beat& from_peer);

  // A change made on this node (the caller checked may_act()): commits it,
  // ships it, and calls `done` on the executor once it is acknowledged by the
  // standby (sync mode), or at once (async mode, running alone, no peer).
  struct Committed {
    store::Lsn lsn = 0;
    Epoch epoch = 0;
    bool replicated = false;
  };
  void commit(const store::WriteBatch& batch, std::function<void(Result<Committed>)> done);

  // The master side of replication, for the Peer service (null without a peer
  // or after stop()).
  JournalShipper* shipper() { return stopped_ ? nullptr : shipper_.get(); }
  const JournalFollower* follower() const { return follower_.get(); }

  // Operator commands; the string tells the operator what happened.
  Result<std::string> force_promote();
  Result<std::string> failback();
  // Planned role swap, on the master: stop acting, wait until the standby
  // has acknowledged every record, hand over, and report (on the executor)
  // once the peer acts as master. On failure or timeout this node acts again.
  void switchover(std::function<void(Result<std::string>)> done);
  // Its first step; waits (re-trying each interval) until `wait_until` for a
  // peer that is alive but not yet a healthy standby.
  void start_switchover(std::function<void(Result<std::string>)> done, TimePoint wait_until);
  // Peer.Handover on the standby.
  duet::v1::HandoverResponse on_handover(const duet::v1::HandoverRequest& req);

  // Reads the replicated ha.timing setting and hands a change to the core
  // (also done on every tick, which is how a standby learns of it).
  void refresh_timing();
  const ResolvedTiming& timing() const { return timing_; }

  // The gate for every side effect.
  bool may_act() const;
  const RoleMachine& machine() const { return rm_; }
  void fill_status(duet::v1::StatusResponse& r) const;

 private:
  struct Life;  // shared with gRPC callbacks that may outlive the runner

  void schedule_tick();
  void tick();
  void send_beat();
  void on_peer_beat(const duet::v1::Beat& beat);
  void apply(const Actions& actions);
  // Opens or closes the replication stream as the core's following() says.
  void drive_replication();
  void log_role_change(Role before);
  void promote(const Promote& p);
  void finish_promotion(Epoch epoch);
  void probe_health();
  duet::v1::Beat outgoing_beat();
  void refresh_position();
  void poll_switchover();
  void end_switchover(Result<std::string> outcome);
  // Ticks at the core's beat interval (sooner when it just got shorter), and
  // the guard checks at it.
  void retime();

  boost::asio::any_io_executor executor_;
  Clock& clock_;
  RunnerOptions options_;
  store::Store& store_;
  std::unique_ptr<Guard> guard_;
  Hooks hooks_;
  RoleMachine rm_;
  std::shared_ptr<Life> life_;
  std::unique_ptr<duet::v1::Peer::Stub> stub_;
  std::optional<TimerId> tick_timer_;
  Duration tick_interval_{};
  ResolvedTiming timing_;
  std::pair<Duration, Duration> guard_timing_{};  // last given to guard_->set_timing
  bool beat_in_flight_ = false;
  std::string peer_error_;
  std::string health_detail_;
  bool healthy_ = true;
  bool promoting_ = false;
  std::string last_fence_result_;
  std::unique_ptr<JournalShipper> shipper_;
  std::unique_ptr<JournalFollower> follower_;
  bool reseed_allowed_ = false;  // set by failback until caught up
  bool stopped_ = false;
  // A switchover in progress (master side).
  struct Switching {
    std::function<void(Result<std::string>)> done;
    TimePoint deadline;
    bool handed_over = false;
    bool handover_in_flight = false;
    std::string last_error;
  };
  std::optional<Switching> switching_;
};

// The guard a manager's configuration asks for (null without a peer).
std::unique_ptr<Guard> make_guard(boost::asio::any_io_executor executor, const Clock& clock,
                                  const ManagerConfig& config);

// Runs `command` with /bin/sh -c, with `env` added, killing it after
// `timeout`; returns "exit N", "killed by signal N" or "timed out".
std::string run_fence_command(const std::string& command,
                              const std::vector<std::pair<std::string, std::string>>& env,
                              Duration timeout, const Clock& clock);

}  // namespace duet::ha
