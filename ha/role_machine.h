#pragma once

// RoleMachine: the decisions of one manager of a pair, as a pure core.
//
// It takes events (a heartbeat from the peer, a timer tick, a guard verdict,
// the store's health, an operator command) together with the current time,
// and returns the actions the runner must carry out (persist a new epoch and
// promote, start or stop side effects, take or release the witness lease).
// It owns no sockets, threads or timers and never reads a clock, so tests
// drive it step by step with a manual clock and a simulated network.
//
// Thread-compatible: one owner (the HA strand) calls it.
//
// The rules (docs/ha.md explains them for operators):
// - Wait-for-all at start: a node that has not heard its peer never promotes
//   itself, unless the operator forces it.
// - No master in sight and both nodes talking: the node with the most
//   advanced journal (epoch of its last record, then LSN) wins, then the
//   higher priority, then the smaller name. Both compute the same answer:
//   none of these change while there is no master. A node that is not
//   eligible (unhealthy store, or history in doubt: fenced by a higher epoch,
//   diverged) never wins; one that becomes eligible again waits
//   timeout + 2 x interval first, so the peer's election made while it was
//   ineligible has been announced by then. A fenced node only uses beats
//   heard after it was fenced. A node elects itself only while the peer
//   confirms hearing it (a beat of ours sent within 2 x interval echoed back):
//   a peer that does not may be taking over on silence at that very moment.
//   After a promotion the runner sends a beat at once.
// - "Contact with the peer" for a master is confirmed contact: the send time
//   of the newest beat of ours the peer echoed. A beat that waited in a
//   socket (a process resumed after SIGSTOP) confirms nothing new.
// - A standby promotes when the peer has been silent for `timeout` and the
//   guard allows it, or at once when the peer says it stopped acting (disk
//   failure, switchover hand-over).
// - A master stops acting when cut off from its peer for `fence_after`
//   (earlier than the standby may promote) and its guard does not hold;
//   when its store is unwritable; or when it sees a higher epoch.
// - may_act() is the gate for every side effect: it is false the moment the
//   conditions above fail, even before the next tick is processed (a process
//   resumed after SIGSTOP must not act on stale beliefs).
// - A promotion takes epoch max(own, peer's) + 1; the runner persists it and
//   then calls on_promoted(). Nothing acts in the new epoch before that.
// - Timing changes at run time (set_timing) are safe at every moment without
//   any agreement step. Each beat advertises the sender's target timing. A
//   node waits for silence for the longer of its own timeout and the one the
//   peer advertised in its newest beat; it beats at the fastest interval of
//   its own target, the peer's advertised one, and any target of its own the
//   peer may still hold (advertised since the newest beat the peer echoed).
//   As master it relies on confirmed contact (sent at C) until, over every
//   target T it advertised that the peer may hold, first carried by a beat
//   sent at S: min(max(C, S) + T) - 2 x beat interval (contact_until()):
//   the peer heard us at C or later, and shortened its wait to T only on a
//   beat sent at S or later. Without a change this is C + fence_after().
//   Hence: growing, the master keeps the old (short) fence and fast beats
//   until the standby confirms it holds the long timeout; shrinking, the
//   master beats fast at once and counts the short fence from its first beat
//   saying so, the only thing that shortens the standby's wait. A reference
//   verdict is cut at that beat to its send time + the new timeout.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"

namespace duet::ha {

using Epoch = std::uint64_t;
using Lsn = std::uint64_t;

enum class Role : std::uint8_t {
  kSyncing,  // catching up with a master, or waiting for the peer at start
  kStandby,  // in sync with the master, may take over
  kMaster,
  kFenced,  // stopped acting; waits for failback
};
const char* role_name(Role role);

enum class GuardMode : std::uint8_t { kNone, kReference, kWitness };

struct Timing {
  Duration interval{std::chrono::milliseconds(500)};
  Duration timeout{std::chrono::milliseconds(3000)};
  // A master that hears nothing for this long and has no guard stops acting:
  // two heartbeat intervals before the standby may promote.
  Duration fence_after() const { return timeout - 2 * interval; }
  bool operator==(const Timing&) const = default;
};

// Where a node's journal ends: the epoch of its last record, then its LSN.
struct LogPosition {
  Epoch last_epoch = 0;
  Lsn last_lsn = 0;
  auto operator<=>(const LogPosition&) const = default;
};

// What a heartbeat says about its sender.
struct Beat {
  std::string from;
  Role role = Role::kSyncing;
  Epoch epoch = 0;
  LogPosition position;
  bool healthy = true;  // eligible to lead: healthy long enough, history not in doubt
  bool acting = false;  // master and may_act() at the time of sending
  // Round-trip confirmation: the sender's incarnation and beat number, and
  // the highest beat number it received from the receiver's incarnation.
  // The receiver knows when it sent that beat, so it knows the peer heard
  // it at or after then, whatever the clocks of the two hosts say and
  // however long the beat waited in a socket.
  std::uint64_t incarnation = 0;
  std::uint64_t seq = 0;
  std::uint64_t echo_incarnation = 0;
  std::uint64_t echo_seq = 0;
  std::int64_t priority = 0;
  // A master in sync mode that acknowledges changes without the standby, or
  // is about to (see set_alone_wanted). A standby that hears it no longer
  // holds every acknowledged change: it drops to syncing.
  bool alone = false;
  // The sender's target timing; unset from a sender that does not say.
  std::optional<Timing> timing;
};

// ---- actions ----

// Persist `epoch`, then call on_promoted(epoch) (or on_promote_failed).
struct Promote {
  Epoch epoch = 0;
  std::string reason;
  bool fence_peer = false;  // run ha.fence_command against the old master first
};
struct StartActing {};
struct StopActing {
  std::string reason;
};
// Witness: acquire and keep renewing the lease for `epoch`.
struct AcquireLease {
  Epoch epoch = 0;
};
struct ReleaseLease {};

using Action = std::variant<Promote, StartActing, StopActing, AcquireLease, ReleaseLease>;
using Actions = std::vector<Action>;

class RoleMachine {
 public:
  struct Options {
    std::string name;
    std::int64_t priority = 0;
    bool has_peer = true;
    GuardMode guard = GuardMode::kReference;
    bool fence_command = false;  // ha.fence_command is configured
    Timing timing;
    std::uint64_t incarnation = 1;  // differs at every start (the runner picks it at random)
    // The peer's name. When set, the two nodes take epochs of different
    // parity (the node whose name sorts first the odd ones), so a promotion
    // that did not hear of the peer's newest epoch still takes a number the
    // peer never used: one epoch, one history.
    std::string peer_name;
  };

  explicit RoleMachine(Options options);

  // The store is open: the node's persisted epoch and journal position.
  Actions on_start(TimePoint now, Epoch epoch, LogPosition position, bool healthy);
  Actions on_beat(TimePoint now, const Beat& beat);
  Actions on_tick(TimePoint now);
  Actions on_guard(TimePoint now, bool ok, TimePoint valid_until, const std::string& detail);
  Actions on_health(TimePoint now, bool healthy, const std::string& detail);
  // The journal moved (a commit, an apply, a restore).
  void on_position(LogPosition position) { position_ = position; }
  // The epoch persisted for a Promote; the node now acts as master.
  Actions on_promoted(TimePoint now, Epoch epoch);
  // The epoch could not be persisted; the node counts as unhealthy until on_health(true).
  Actions on_promote_failed(TimePoint now, const std::string& reason);
  // Any message (journal, agent, notification) carried this epoch.
  Actions on_epoch_seen(TimePoint now, Epoch epoch);
  // A follower persisted a higher epoch it saw (invariant 1: it never acts
  // at or below an epoch it has seen); it becomes the node's epoch.
  void on_epoch_adopted(Epoch epoch) {
    if (role_ != Role::kMaster && epoch > epoch_) epoch_ = epoch;
  }

  // Replication reports: caught up with the master (syncing -> standby); lost
  // sync (standby -> syncing); histories diverged (-> fenced, needs failback).
  Actions on_caught_up(TimePoint now);
  Actions on_lost_sync(TimePoint now, const std::string& reason);
  Actions on_diverged(TimePoint now, const std::string& reason);

  // Operator commands.
  Actions on_force_promote(TimePoint now);
  // Failback on the recovering node: forget the fence and catch up again.
  Actions on_failback(TimePoint now);
  // Switchover, master side: stop acting so the standby can catch up.
  Actions begin_switchover(TimePoint now);
  // Switchover ended: the peer took over (-> syncing), or it failed (-> act again).
  Actions end_switchover(TimePoint now, bool peer_took_over);
  // Switchover, standby side: the master stopped at `lsn` and hands over.
  Actions on_handover(TimePoint now, Lsn lsn);
  // Sync mode, master side: the journal shipper wants to acknowledge changes
  // without the standby (its stream is gone, or it lags past the bound).
  // Beats say so from now on. The standby that hears it drops to syncing; it
  // becomes standby again only once caught up and the master says it stopped.
  void set_alone_wanted(bool wanted);
  // Whether the master may now acknowledge without the standby: the standby
  // echoed a beat that said so (it no longer counts itself in sync), or it
  // has been silent for the failover timeout, or there is no peer.
  bool alone_allowed(TimePoint now) const;
  // ...because the standby heard it (not merely silent).
  bool alone_announced() const { return alone_first_seq_ && echoed_seq_ >= *alone_first_seq_; }
  bool alone_wanted() const { return alone_wanted_; }
  // This node's target timing changed (replicated setting, or back to the
  // config file's). May be called before on_start. The caller checked the
  // bounds (timeout >= 3 x interval).
  Actions set_timing(TimePoint now, Timing target);

  // ---- timing in force (see "Timing changes" above) ----
  const Timing& timing() const { return target_; }
  // The peer's target as advertised in its newest beat.
  const std::optional<Timing>& peer_timing() const { return peer_timing_; }
  // How often to send a beat (and tick).
  Duration beat_interval() const;
  // How long the peer must be silent before it counts as gone.
  Duration silence_timeout() const;
  // The earliest the peer may promote after the last beat of ours it heard:
  // the shortest timeout this node advertised that the peer may still hold.
  Duration peer_may_promote_after() const;
  // Cut off from the peer this long (and without its guard) a master stops
  // acting, once the timing is settled (for status; contact_until() decides).
  Duration fence_after() const { return peer_may_promote_after() - 2 * beat_interval(); }
  // Until when confirmed contact lets a master act without its guard.
  std::optional<TimePoint> contact_until() const;
  // Both nodes use the same target and the peer confirmed holding ours.
  bool timing_settled() const;

  // ---- state ----
  Role role() const { return role_; }
  Epoch epoch() const { return epoch_; }
  LogPosition position() const { return position_; }
  bool healthy() const { return healthy_; }
  // The gate for every side effect (see the rules above).
  bool may_act(TimePoint now) const;
  // The beat to send now; numbers it and remembers when it was sent.
  Beat next_beat(TimePoint now);
  // What this node would say now (status display); sends nothing.
  Beat beat(TimePoint now) const;
  // Send time of the newest beat of ours the peer confirmed receiving.
  std::optional<TimePoint> confirmed_at() const { return confirmed_at_; }
  // The peer as last heard, and whether it was heard within `timeout`.
  const std::optional<Beat>& peer() const { return peer_; }
  bool peer_alive(TimePoint now) const;
  std::optional<Duration> peer_age(TimePoint now) const;
  // True while the peer acts as master and this node should replicate from it.
  bool following(TimePoint now) const;
  bool switching_over() const { return switching_; }
  bool guard_holds(TimePoint now) const { return guard_ok_ && guard_valid_until_ > now; }
  const std::string& guard_detail() const { return guard_detail_; }
  // Why the node is fenced or not acting; empty when all is well.
  const std::string& reason() const { return reason_; }
  const Options& options() const { return options_; }

 private:
  Actions evaluate(TimePoint now);
  Actions fence(TimePoint now, const std::string& reason, bool by_higher_epoch);
  // Witness: ask for the lease of `epoch` (0: release it).
  void want_lease(Epoch epoch, Actions& out);
  Actions promote(TimePoint now, const std::string& reason, bool fence_peer);
  // Election between this node and the peer when neither is master.
  bool wins_election(TimePoint now) const;
  bool eligible(TimePoint now) const;
  void set_eligibility(TimePoint now);
  bool peer_is_acting_master(TimePoint now) const;
  Epoch highest_epoch_known() const;
  // The longer of the two nodes' intervals (election and eligibility waits).
  Duration slowest_interval() const;

  Options options_;
  Timing target_;
  // Targets this node advertised that the peer may still hold, oldest first,
  // each with the first beat that carried it; the front is the one of the
  // newest beat the peer echoed.
  struct Advertised {
    std::uint64_t seq = 0;
    TimePoint sent{};
    Timing timing;
  };
  std::vector<Advertised> advertised_;
  std::optional<Timing> peer_timing_;
  Role role_ = Role::kSyncing;
  Epoch epoch_ = 0;
  LogPosition position_;
  bool started_ = false;
  bool healthy_ = true;
  bool acting_ = false;
  bool switching_ = false;
  bool fenced_by_higher_epoch_ = false;
  TimePoint fenced_at_{};
  std::optional<TimePoint> eligible_since_;  // healthy and history not in doubt since
  std::string reason_;

  std::optional<Beat> peer_;
  TimePoint last_heard_{};
  std::uint64_t next_seq_ = 1;
  std::vector<std::pair<std::uint64_t, TimePoint>> sent_;  // recent beats: (seq, send time)
  std::uint64_t peer_incarnation_ = 0;
  std::uint64_t peer_max_seq_ = 0;
  std::optional<TimePoint> confirmed_at_;
  bool contact_holds(TimePoint now) const {
    const auto until = contact_until();
    return until && now < *until;
  }
  // A master in this state stops acting (not while switching over: the
  // hand-over ends its acting).
  bool cut_off(TimePoint now) const {
    return options_.has_peer && !switching_ && !contact_holds(now) && !guard_holds(now);
  }
  static constexpr const char* kCutOff = "cut off from the peer and from the split-brain guard";
  bool confirmed_recently(TimePoint now, Duration within) const {
    return confirmed_at_ && now - *confirmed_at_ < within;
  }
  Epoch peer_epoch_max_ = 0;

  bool guard_ok_ = false;
  TimePoint guard_valid_until_{};
  std::string guard_detail_;

  bool alone_wanted_ = false;
  std::optional<std::uint64_t> alone_first_seq_;  // first beat that said alone, this round
  std::uint64_t echoed_seq_ = 0;  // newest beat of ours the peer echoed (this incarnation)
  bool caught_up_ = false;        // syncing: the follower reported caught up with the master
  // The epoch a promotion takes now.
  Epoch next_epoch() const;

  std::optional<Epoch> promoting_;     // Promote emitted, awaiting on_promoted
  std::optional<Epoch> lease_wanted_;  // AcquireLease emitted for this epoch
};

}  // namespace duet::ha
