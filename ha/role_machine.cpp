#include "ha/role_machine.h"

#include <algorithm>
#include <tuple>

namespace duet::ha {

const char* role_name(Role role) {
  switch (role) {
    case Role::kSyncing:
      return "syncing";
    case Role::kStandby:
      return "standby";
    case Role::kMaster:
      return "master";
    case Role::kFenced:
      return "fenced";
  }
  return "unknown";
}

namespace {
// "Long ago" for a node eligible at start: beyond any timeout + 2 x interval.
constexpr Duration kEligibleAtStart = std::chrono::hours(1);
}  // namespace

RoleMachine::RoleMachine(Options options)
    : options_(std::move(options)), target_(options_.timing) {}

Actions RoleMachine::on_start(TimePoint now, Epoch epoch, LogPosition position, bool healthy) {
  started_ = true;
  epoch_ = epoch;
  position_ = position;
  healthy_ = healthy;
  role_ = Role::kSyncing;
  // At start a node is eligible at once: nothing was decided on an older view of it.
  if (healthy_) eligible_since_ = now - kEligibleAtStart;
  if (!options_.has_peer) {
    if (!healthy_) return {};
    return promote(now, "standalone: no peer configured", false);
  }
  reason_ = "waiting for the peer";
  return evaluate(now);
}

Actions RoleMachine::on_beat(TimePoint now, const Beat& beat) {
  if (beat.incarnation != peer_incarnation_) {
    peer_incarnation_ = beat.incarnation;
    peer_max_seq_ = 0;
    peer_timing_.reset();
  }
  // The peer's state is the one of its newest beat: a reordered older beat (a
  // heartbeat call that waited in a socket while a link was cut) must not
  // bring back a role, an epoch or a timeout the peer has left behind. It
  // still shows the peer alive and may confirm contact (its echo).
  const bool newest = beat.seq >= peer_max_seq_;
  if (newest) peer_timing_ = beat.timing;
  peer_max_seq_ = std::max(peer_max_seq_, beat.seq);
  if (beat.echo_incarnation == options_.incarnation) {
    echoed_seq_ = std::max(echoed_seq_, beat.echo_seq);
    for (const auto& [seq, sent] : sent_) {
      if (seq == beat.echo_seq && (!confirmed_at_ || sent > *confirmed_at_)) confirmed_at_ = sent;
    }
    // The peer holds the timing of that beat or of a later one: older
    // advertised targets can no longer be in use there.
    std::size_t keep = 0;
    for (std::size_t i = 0; i < advertised_.size(); ++i) {
      if (advertised_[i].seq <= beat.echo_seq) keep = i;
    }
    advertised_.erase(advertised_.begin(), advertised_.begin() + static_cast<std::ptrdiff_t>(keep));
  }
  if (newest || !peer_) peer_ = beat;
  last_heard_ = now;
  peer_epoch_max_ = std::max(peer_epoch_max_, beat.epoch);
  Actions out;
  if (role_ == Role::kMaster && beat.epoch > epoch_) {
    if (switching_ && beat.role == Role::kMaster) {
      // The standby took over as planned: follow it.
      switching_ = false;
      role_ = Role::kSyncing;
      reason_.clear();
      if (lease_wanted_) want_lease(0, out);
      return out;
    }
    return fence(now,
                 "peer " + beat.from + " is in a higher epoch (" + std::to_string(beat.epoch) + ")",
                 true);
  }
  if (role_ == Role::kMaster && beat.role == Role::kMaster && beat.acting && beat.epoch == epoch_ &&
      !wins_election(now)) {
    // Two masters in one epoch cannot arise from the rules; if it ever does,
    // the election order settles it the same way on both sides.
    return fence(now, "peer " + beat.from + " is master in the same epoch and wins the election",
                 true);
  }
  return evaluate(now);
}

Actions RoleMachine::on_tick(TimePoint now) { return evaluate(now); }

Actions RoleMachine::on_guard(TimePoint now, bool ok, TimePoint valid_until,
                              const std::string& detail) {
  // A master already cut off from both its peer and its guard stopped acting
  // at that moment (may_act() said so). A verdict processed later does not
  // make it act again: a process resumed after SIGSTOP may see its guard
  // answer before the beats that tell it the standby took over.
  Actions out;
  if (started_ && !promoting_ && role_ == Role::kMaster && cut_off(now)) {
    out = fence(now, kCutOff, false);
  }
  guard_ok_ = ok;
  guard_valid_until_ = valid_until;
  guard_detail_ = detail;
  for (auto& a : evaluate(now)) out.push_back(std::move(a));
  return out;
}

Actions RoleMachine::on_health(TimePoint now, bool healthy, const std::string& detail) {
  healthy_ = healthy;
  if (!healthy) reason_ = detail;
  set_eligibility(now);
  return evaluate(now);
}

Actions RoleMachine::on_promoted(TimePoint now, Epoch epoch) {
  Actions out;
  if (!promoting_ || *promoting_ != epoch) return out;
  promoting_.reset();
  epoch_ = epoch;
  role_ = Role::kMaster;
  fenced_by_higher_epoch_ = false;
  switching_ = false;
  reason_.clear();
  if (options_.guard == GuardMode::kWitness && lease_wanted_ != epoch) want_lease(epoch, out);
  if (healthy_) {
    acting_ = true;
    out.emplace_back(StartActing{});
  }
  auto more = evaluate(now);
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

Actions RoleMachine::on_promote_failed(TimePoint now, const std::string& reason) {
  promoting_.reset();
  // The epoch could not be persisted: the store is not writable. No new
  // attempt until the runner reports it healthy again (on_health).
  healthy_ = false;
  set_eligibility(now);
  reason_ = "promotion failed: " + reason;
  return evaluate(now);
}

Actions RoleMachine::on_epoch_seen(TimePoint now, Epoch epoch) {
  peer_epoch_max_ = std::max(peer_epoch_max_, epoch);
  if (role_ == Role::kMaster && epoch > epoch_) {
    return fence(
        now,
        "saw epoch " + std::to_string(epoch) + ", above this master's " + std::to_string(epoch_),
        true);
  }
  return {};
}

Actions RoleMachine::on_caught_up(TimePoint now) {
  if (role_ == Role::kSyncing && following(now)) {
    caught_up_ = true;
    // A master still acknowledging alone may have acknowledged more since the
    // batch that caught us up: standby only once it says it stopped (evaluate).
    if (!peer_->alone) {
      role_ = Role::kStandby;
      reason_.clear();
    } else {
      reason_ = "caught up; waiting for the master to leave running alone";
    }
  }
  return evaluate(now);
}

Actions RoleMachine::on_lost_sync(TimePoint now, const std::string& reason) {
  caught_up_ = false;
  if (role_ == Role::kStandby) {
    role_ = Role::kSyncing;
    reason_ = reason;
  }
  return evaluate(now);
}

Actions RoleMachine::on_diverged(TimePoint now, const std::string& reason) {
  if (role_ == Role::kMaster) return {};
  return fence(now, "diverged from the master: " + reason + "; run duetctl failback", true);
}

Actions RoleMachine::on_force_promote(TimePoint now) {
  if (role_ == Role::kMaster || promoting_) return {};
  return promote(now, "forced by the operator", options_.fence_command);
}

Actions RoleMachine::on_failback(TimePoint now) {
  if (role_ == Role::kMaster) return {};
  role_ = Role::kSyncing;
  caught_up_ = false;
  fenced_by_higher_epoch_ = false;
  set_eligibility(now);
  reason_ = "failback: catching up with the master";
  return evaluate(now);
}

Actions RoleMachine::begin_switchover(TimePoint now) {
  if (role_ != Role::kMaster || switching_ || !peer_alive(now) || peer_->role != Role::kStandby ||
      !peer_->healthy) {
    return {};
  }
  switching_ = true;
  Actions out;
  if (acting_) {
    acting_ = false;
    out.emplace_back(StopActing{"switchover: handing over to " + peer_->from});
  }
  return out;
}

Actions RoleMachine::end_switchover(TimePoint now, bool peer_took_over) {
  if (!switching_) return {};
  switching_ = false;
  Actions out;
  if (peer_took_over) {
    role_ = Role::kSyncing;
    if (lease_wanted_) want_lease(0, out);
    return out;
  }
  if (role_ == Role::kMaster && healthy_) {
    acting_ = true;
    out.emplace_back(StartActing{});
  }
  auto more = evaluate(now);
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

void RoleMachine::set_alone_wanted(bool wanted) {
  if (wanted && !alone_wanted_) alone_first_seq_.reset();  // a new round: announce it anew
  alone_wanted_ = wanted;
}

bool RoleMachine::alone_allowed(TimePoint now) const {
  if (!options_.has_peer) return true;
  return alone_announced() || !peer_alive(now);
}

Actions RoleMachine::set_timing(TimePoint now, Timing target) {
  target_ = target;
  // Nothing is relied on differently until a beat carries it (next_beat).
  return evaluate(now);
}

Duration RoleMachine::beat_interval() const {
  Duration d = target_.interval;
  for (const auto& a : advertised_) d = std::min(d, a.timing.interval);
  if (peer_timing_) d = std::min(d, peer_timing_->interval);
  return d;
}

Duration RoleMachine::silence_timeout() const {
  return peer_timing_ ? std::max(target_.timeout, peer_timing_->timeout) : target_.timeout;
}

Duration RoleMachine::peer_may_promote_after() const {
  Duration d = target_.timeout;
  for (const auto& a : advertised_) d = std::min(d, a.timing.timeout);
  return d;
}

bool RoleMachine::timing_settled() const {
  const bool own = advertised_.size() == 1 && advertised_.front().timing == target_;
  return own && (!options_.has_peer || (peer_timing_ && *peer_timing_ == target_));
}

std::optional<TimePoint> RoleMachine::contact_until() const {
  if (!confirmed_at_ || advertised_.empty()) return std::nullopt;
  std::optional<TimePoint> until;
  for (const auto& a : advertised_) {
    const TimePoint t = std::max(*confirmed_at_, a.sent) + a.timing.timeout;
    if (!until || t < *until) until = t;
  }
  return *until - 2 * beat_interval();
}

Duration RoleMachine::slowest_interval() const {
  return peer_timing_ ? std::max(target_.interval, peer_timing_->interval) : target_.interval;
}

Actions RoleMachine::on_handover(TimePoint now, Lsn lsn) {
  if (role_ != Role::kStandby || !healthy_ || promoting_ || position_.last_lsn != lsn) return {};
  return promote(now, "switchover: the master handed over at LSN " + std::to_string(lsn), false);
}

bool RoleMachine::may_act(TimePoint now) const {
  if (role_ != Role::kMaster || !acting_ || !healthy_ || switching_ || promoting_) return false;
  if (!options_.has_peer) return true;
  return contact_holds(now) || guard_holds(now);
}

Beat RoleMachine::beat(TimePoint now) const {
  Beat b;
  b.from = options_.name;
  b.role = role_;
  b.epoch = epoch_;
  b.position = position_;
  b.healthy = eligible(now);
  b.acting = may_act(now);
  b.priority = options_.priority;
  b.incarnation = options_.incarnation;
  b.echo_incarnation = peer_incarnation_;
  b.echo_seq = peer_max_seq_;
  b.timing = target_;
  b.alone = alone_wanted_ && role_ == Role::kMaster;
  return b;
}

Beat RoleMachine::next_beat(TimePoint now) {
  Beat b = beat(now);
  b.seq = next_seq_++;
  sent_.emplace_back(b.seq, now);
  if (b.alone && !alone_first_seq_) alone_first_seq_ = b.seq;
  if (advertised_.empty() || advertised_.back().timing != target_) {
    // The peer may shorten its wait to this timeout from this beat on: a
    // reference verdict (valid for the timeout the peer may use) given under
    // a longer one must not outlive it. A witness lease is exclusive at the
    // witness and needs no such cut.
    if (options_.guard == GuardMode::kReference && !advertised_.empty()) {
      guard_valid_until_ = std::min(guard_valid_until_, now + target_.timeout);
    }
    advertised_.push_back(Advertised{b.seq, now, target_});
  }
  // Beats older than the failover timeout can no longer confirm anything useful.
  while (!sent_.empty() && now - sent_.front().second > 2 * silence_timeout()) {
    sent_.erase(sent_.begin());
  }
  return b;
}

bool RoleMachine::peer_alive(TimePoint now) const {
  return peer_ && now - last_heard_ < silence_timeout();
}

std::optional<Duration> RoleMachine::peer_age(TimePoint now) const {
  if (!peer_) return std::nullopt;
  return now - last_heard_;
}

bool RoleMachine::peer_is_acting_master(TimePoint now) const {
  return peer_alive(now) && peer_->role == Role::kMaster && peer_->epoch >= epoch_;
}

bool RoleMachine::following(TimePoint now) const {
  return (role_ == Role::kSyncing || role_ == Role::kStandby) && peer_is_acting_master(now);
}

Epoch RoleMachine::highest_epoch_known() const { return std::max(epoch_, peer_epoch_max_); }

bool RoleMachine::eligible(TimePoint now) const {
  return eligible_since_ && now - *eligible_since_ >= silence_timeout() + 2 * slowest_interval();
}

void RoleMachine::set_eligibility(TimePoint now) {
  const bool ok = healthy_ && !fenced_by_higher_epoch_;
  if (!ok) {
    eligible_since_.reset();
  } else if (!eligible_since_) {
    eligible_since_ = now;
  }
}

bool RoleMachine::wins_election(TimePoint now) const {
  if (!eligible(now)) return false;
  if (!peer_) return true;
  const Beat& p = *peer_;
  // An ineligible peer (its store failed, its history in doubt) does not
  // compete - but a node that is catching up (syncing) may lack what that
  // peer acknowledged: it takes over only holding at least the peer's journal.
  if (!p.healthy) return role_ == Role::kStandby || position_ >= p.position;
  // The most advanced journal, then priority, then the smaller name: the
  // peer computes the mirror image, so exactly one wins.
  const auto self_key = std::make_tuple(position_, options_.priority);
  const auto peer_key = std::make_tuple(p.position, p.priority);
  if (self_key != peer_key) return self_key > peer_key;
  return options_.name < p.from;
}

void RoleMachine::want_lease(Epoch epoch, Actions& out) {
  // A verdict belongs to the lease it answered: whatever was heard before
  // this change says nothing about the new one.
  guard_ok_ = false;
  guard_valid_until_ = {};
  if (epoch == 0) {
    lease_wanted_.reset();
    out.emplace_back(ReleaseLease{});
  } else {
    lease_wanted_ = epoch;
    out.emplace_back(AcquireLease{epoch});
  }
}

Actions RoleMachine::fence(TimePoint now, const std::string& reason, bool by_higher_epoch) {
  Actions out;
  if (acting_) out.emplace_back(StopActing{reason});
  acting_ = false;
  switching_ = false;
  if (role_ != Role::kFenced) fenced_at_ = now;
  role_ = Role::kFenced;
  fenced_by_higher_epoch_ = fenced_by_higher_epoch_ || by_higher_epoch;
  if (fenced_by_higher_epoch_) eligible_since_.reset();
  reason_ = reason;
  if (lease_wanted_) want_lease(0, out);
  return out;
}

Epoch RoleMachine::next_epoch() const {
  Epoch epoch = highest_epoch_known() + 1;
  if (!options_.peer_name.empty() && options_.peer_name != options_.name) {
    const Epoch parity = options_.name < options_.peer_name ? 1 : 0;
    if (epoch % 2 != parity) ++epoch;
  }
  return epoch;
}

Actions RoleMachine::promote(TimePoint /*now*/, const std::string& reason, bool fence_peer) {
  const Epoch epoch = next_epoch();
  promoting_ = epoch;
  reason_ = reason;
  return {Promote{epoch, reason, fence_peer}};
}

Actions RoleMachine::evaluate(TimePoint now) {
  Actions out;
  if (!started_ || promoting_) return out;

  if (role_ == Role::kMaster) {
    if (!healthy_) return fence(now, "this node's store is unhealthy: " + reason_, false);
    return cut_off(now) ? fence(now, kCutOff, false) : out;
  }

  // Not master: may this node take over?
  if (!following(now)) caught_up_ = false;  // a caught-up report is about the master followed
  if (!healthy_ || !options_.has_peer) return out;
  if (role_ == Role::kFenced && fenced_by_higher_epoch_) return out;  // waits for failback

  if (peer_alive(now)) {
    if (lease_wanted_) want_lease(0, out);  // the peer came back before the lease did
    const Beat& p = *peer_;
    if (p.role == Role::kMaster && p.epoch >= epoch_) {  // follow it
      if (role_ == Role::kStandby && p.alone) {
        // The master acknowledges (or is about to) without this node: it
        // no longer holds every acknowledged change, so it may not take over.
        role_ = Role::kSyncing;
        caught_up_ = false;
        reason_ = "the master acknowledges changes without this node";
      } else if (role_ == Role::kSyncing && caught_up_ && !p.alone) {
        role_ = Role::kStandby;
        reason_.clear();
      }
      return out;
    }
    if (p.acting) return out;
    // A fenced node decides only on contact confirmed after it was fenced.
    if (role_ == Role::kFenced && (!confirmed_at_ || *confirmed_at_ <= fenced_at_)) return out;
    // A peer that does not hear us may be taking over on silence right now.
    if (!confirmed_recently(now, 2 * slowest_interval())) return out;
    // Nobody is master and both nodes talk: the same election on both sides.
    if (wins_election(now)) {
      auto promoted = promote(now, "elected: no master, and this node leads the election", false);
      out.insert(out.end(), promoted.begin(), promoted.end());
    }
    return out;
  }

  // The peer has been silent for the failover timeout. Only an in-sync
  // standby takes over; a node that is catching up, or that never heard its
  // peer since it started (wait-for-all), does not.
  if (role_ != Role::kStandby) return out;
  switch (options_.guard) {
    case GuardMode::kNone:
      return out;
    case GuardMode::kReference:
      if (guard_holds(now)) {
        return promote(now, "peer silent for the failover timeout; reference reachable",
                       options_.fence_command);
      }
      return out;
    case GuardMode::kWitness: {
      const Epoch target = next_epoch();
      if (lease_wanted_ != target) {
        want_lease(target, out);
        return out;
      }
      if (guard_holds(now)) {
        return promote(now, "peer silent for the failover timeout; witness lease granted",
                       options_.fence_command);
      }
      return out;
    }
  }
  return out;
}

}  // namespace duet::ha
