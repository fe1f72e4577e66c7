#pragma once

// A simulated manager pair for deterministic HA tests: two RoleMachines on a
// ManualClock, a scriptable network between them (and to a simulated
// witness), simulated stores with a journal, replication and sync acks, and
// the faults the real system meets: crash and restart, SIGSTOP/SIGCONT, a
// failed disk, cut, lossy, duplicating and slow links, a lost reference, and
// a replication stream that breaks while heartbeats still flow.
//
// The replication stream is modelled like the runner's JournalFollower and
// drive_replication(): a following node opens a stream when it has none; the
// stream counts as connected once the master's first batch arrived on it (a
// first batch that shows the node behind reports lost sync, as the follower
// does). A master whose standby lags past sync_bound wants to run alone; it
// acknowledges alone only once the role machine allows it (the standby
// echoed a beat saying so, or is silent), as the JournalShipper does. A
// standby hearing that drops to syncing (lost_sync_drops counts the
// standby -> syncing changes).
//
// Everything is driven by one seeded random generator and the manual clock,
// so a run is reproducible from its seed. run_for() advances time in 1 ms
// steps and checks the invariants after every step:
//  - at most one node may act at a time (witness mode), or never two acting
//    in the same epoch (reference mode, where an A-B cut with both reaching
//    the reference can briefly give two masters in different epochs);
//  - a node that becomes master holds every change acknowledged in sync mode,
//    and (unless forced) every change acknowledged alone after it heard so;
//  - no epoch is taken by both nodes;
//  - a master's fence_after() ends before its standby may promote (also while
//    the timing changes).
// A violation is recorded in `violations` with the time and what happened.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "ha/role_machine.h"

namespace duet::testing {

struct SimConfig {
  ha::GuardMode guard = ha::GuardMode::kReference;
  ha::Timing timing;
  Duration latency_min = std::chrono::milliseconds(1);
  Duration latency_max = std::chrono::milliseconds(4);
  bool sync = true;
  Duration sync_bound = std::chrono::milliseconds(2000);
  Duration write_every = std::chrono::milliseconds(20);  // zero: no writes
  Duration lease = std::chrono::milliseconds(6000);
  std::uint64_t seed = 1;
  std::int64_t priority_a = 0;
  std::int64_t priority_b = 0;
  bool fence_command = false;
};

class SimPair {
 public:
  explicit SimPair(SimConfig config);

  // ---- control ----
  void start(const std::string& node);  // boot (or reboot after crash) a node
  void start_both() {
    start("a");
    start("b");
  }
  void crash(const std::string& node);   // kill -9: state in memory lost, store kept
  void wipe(const std::string& node);    // the store is emptied too (a new disk)
  void pause(const std::string& node);   // SIGSTOP
  void resume(const std::string& node);  // SIGCONT
  void set_disk(const std::string& node, bool ok);
  void set_reference(const std::string& node, bool reachable);
  // Links are directional; "w" is the witness.
  void cut(const std::string& from, const std::string& to);
  void heal(const std::string& from, const std::string& to);
  void partition_peers() {
    cut("a", "b");
    cut("b", "a");
  }
  void heal_all();
  // The replication stream between the nodes breaks (both directions, at
  // once: the connection is reset); heartbeats are not affected. While cut, no
  // stream can be opened and no journal batch or acknowledgement passes.
  void partition_replication();
  void heal_replication();
  void set_loss(const std::string& from, const std::string& to, double probability);
  void set_duplicates(double probability) { duplicate_probability_ = probability; }
  void drop_next(const std::string& from, const std::string& to) { drop_next_.insert({from, to}); }

  // Operator commands.
  // The operator changes the timing (the replicated setting, or the config
  // file as the node reads it at boot): the node's core takes it at once,
  // and again at every later boot.
  void set_timing(const std::string& node, ha::Timing timing);
  void force_promote(const std::string& node);
  void failback(const std::string& node);
  bool switchover();  // on the current master; true if it began

  void run_for(Duration d);

  // ---- observation ----
  ha::RoleMachine& rm(const std::string& node) { return *node_(node).rm; }
  bool up(const std::string& node) { return node_(node).up; }
  ha::Role role(const std::string& node) { return node_(node).rm->role(); }
  bool acting(const std::string& node);
  std::optional<std::string> acting_master();
  ha::Epoch persisted_epoch(const std::string& node) { return node_(node).persisted_epoch; }
  std::size_t journal_size(const std::string& node) { return node_(node).journal.size(); }
  std::uint64_t sync_acked() const { return sync_acked_.size(); }
  std::uint64_t alone_acked() const { return alone_acked_; }
  std::uint64_t writes() const { return writes_; }
  // As master: acknowledging without the standby (it lags past the bound).
  bool running_alone(const std::string& node) { return node_(node).alone; }
  // As follower: the replication stream is up (the master's first batch arrived).
  bool replication_connected(const std::string& node) { return node_(node).stream_connected; }
  // Standby -> syncing because the stream was down for the silence timeout.
  std::uint64_t lost_sync_drops(const std::string& node) { return node_(node).lost_sync_drops; }
  // Role changes seen between simulated milliseconds (a change and its undo
  // within one handler, as on a reconnect that catches up at once, is not seen).
  std::uint64_t role_changes(const std::string& node) { return node_(node).role_changes; }
  ManualClock& clock() { return clock_; }
  std::vector<std::string> violations;
  std::vector<std::string> events;  // a readable trace, for failure messages
  std::string trace(std::size_t last = 40) const;

 private:
  struct Append {
    ha::Epoch epoch;
    std::uint64_t seq = 0;  // per sender; a stream delivers in order, so older copies are stale
    std::vector<std::pair<ha::Lsn, ha::Epoch>> records;  // (lsn, epoch)
    ha::Lsn master_last;
    std::uint64_t stream = 0;  // the follower's stream it was sent on (0: none open)
  };
  struct Ack {
    ha::Lsn lsn;
    ha::Epoch epoch;
  };
  struct LeaseRequest {
    ha::Epoch epoch;  // 0: release
    TimePoint sent;
  };
  struct LeaseReply {
    bool granted;
    ha::Epoch epoch;
    TimePoint sent;
  };
  struct Handover {
    ha::Lsn lsn;
  };
  // The master's end of a replication stream closed (crash, stopped acting).
  struct StreamEnd {
    std::uint64_t stream = 0;
    std::string why;
  };
  using Payload =
      std::variant<ha::Beat, Append, Ack, LeaseRequest, LeaseReply, Handover, StreamEnd>;

  struct Node {
    std::string name;
    std::int64_t priority = 0;
    std::unique_ptr<ha::RoleMachine> rm;
    bool up = false;
    bool paused = false;
    bool disk_ok = true;
    bool reference_ok = true;
    std::uint64_t generation = 0;  // bumps at each boot: stale timers die
    // The store: journal[i] is the epoch of LSN i + 1.
    std::vector<ha::Epoch> journal;
    ha::Epoch persisted_epoch = 0;
    std::deque<std::pair<std::string, Payload>> inbox;  // while paused
    // As master: replication and sync-ack bookkeeping.
    ha::Lsn peer_acked = 0;
    std::map<ha::Lsn, TimePoint> pending;  // written, waiting for the standby
    bool alone_wanted = false;    // the shipper wants to acknowledge alone (lag past the bound)
    bool alone = false;           // ...and does (the role machine allowed it)
    bool alone_via_echo = false;  // allowed because the standby heard it (not silence)
    std::optional<ha::Epoch> lease_epoch;  // lease wanted (witness mode)
    bool failback_requested = false;
    std::uint64_t send_seq = 0;
    std::pair<ha::Epoch, std::uint64_t> last_append{0, 0};  // newest Append applied
    std::optional<ha::Timing> timing;                       // set by set_timing; survives reboots
    // As follower: the replication stream (JournalFollower).
    bool stream_open = false;       // running: ensure() started it
    bool stream_connected = false;  // the master's first batch arrived on it
    std::uint64_t stream_id = 0;
    std::uint64_t lost_sync_drops = 0;
    ha::Role seen_role = ha::Role::kSyncing;  // as of the last simulated millisecond
    std::uint64_t role_changes = 0;
  };

  Node& node_(const std::string& name) { return name == "a" ? a_ : b_; }
  Node& other(const Node& n) { return n.name == "a" ? b_ : a_; }
  ha::LogPosition position(const Node& n) const;
  void schedule_tick(Node& n);
  void schedule_writes();
  void send(const std::string& from, const std::string& to, Payload payload);
  void deliver(const std::string& from, const std::string& to, Payload payload);
  void handle(Node& n, const std::string& from, Payload payload);
  void handle_witness(const std::string& from, const LeaseRequest& req);
  void apply_actions(Node& n, const ha::Actions& actions);
  void on_append(Node& n, const Append& msg);
  void on_ack(Node& n, const Ack& msg);
  // The shipper's running alone (go_alone, recheck_alone): after each tick and heartbeat.
  void drive_alone(Node& n);
  // The runner's drive_replication(): after each tick and each heartbeat.
  void drive_replication(Node& n);
  // The follower's stream ended or could not start (its stream_ended hook).
  void end_stream(Node& n, const std::string& why);
  // The master closes the streams it serves (crash, stopped acting).
  void close_served_streams(Node& master, const std::string& why);
  void write(Node& n);
  void poll_switchover(Node& m, std::uint64_t gen, TimePoint started);
  void check_invariants();
  void check_fence_rule(Node& master, Node& standby);
  void log(const std::string& line);

  SimConfig config_;
  ManualClock clock_;
  std::mt19937_64 rng_;
  Node a_;
  Node b_;
  std::set<std::pair<std::string, std::string>> cut_;
  bool replication_cut_ = false;
  std::map<std::pair<std::string, std::string>, double> loss_;
  std::set<std::pair<std::string, std::string>> drop_next_;
  double duplicate_probability_ = 0;
  // The witness.
  std::string lease_holder_;
  ha::Epoch lease_epoch_ = 0;
  ha::Epoch witness_highest_ = 0;
  TimePoint lease_expires_{};
  // Acknowledged changes: (lsn, epoch).
  std::set<std::pair<ha::Lsn, ha::Epoch>> sync_acked_;
  std::uint64_t alone_acked_ = 0;
  // Acknowledged alone after the standby heard it (so it stopped counting
  // itself in sync): a node that takes over without the operator's force must
  // hold these too.
  std::set<std::pair<ha::Lsn, ha::Epoch>> alone_known_;
  std::uint64_t writes_ = 0;
  std::map<ha::Epoch, std::string> actors_by_epoch_;
};

}  // namespace duet::testing
