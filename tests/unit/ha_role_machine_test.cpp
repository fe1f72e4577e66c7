// The HA role machine, step by step with a manual clock.

#include <catch2/catch.hpp>

#include "ha/role_machine.h"

using namespace std::chrono_literals;
using duet::ManualClock;
using duet::ha::AcquireLease;
using duet::ha::Action;
using duet::ha::Actions;
using duet::ha::Beat;
using duet::ha::GuardMode;
using duet::ha::LogPosition;
using duet::ha::Promote;
using duet::ha::ReleaseLease;
using duet::ha::Role;
using duet::ha::RoleMachine;
using duet::ha::StartActing;
using duet::ha::StopActing;

namespace {

template <typename T>
const T* find(const Actions& actions) {
  for (const auto& a : actions) {
    if (const auto* p = std::get_if<T>(&a)) return p;
  }
  return nullptr;
}

RoleMachine::Options opts(const std::string& name, GuardMode guard = GuardMode::kReference) {
  RoleMachine::Options o;
  o.name = name;
  o.guard = guard;
  o.timing.interval = 500ms;
  o.timing.timeout = 3000ms;
  return o;
}

Beat beat(const std::string& from, Role role, duet::ha::Epoch epoch, LogPosition pos = {},
          bool acting = false, bool healthy = true, std::int64_t priority = 0) {
  Beat b;
  b.from = from;
  b.role = role;
  b.epoch = epoch;
  b.position = pos;
  b.acting = acting;
  b.healthy = healthy;
  b.priority = priority;
  return b;
}

// Delivers the peer's beat `b` as an answer to a beat `rm` sends now: it
// echoes that beat, so `rm` has confirmed contact.
Actions hear(RoleMachine& rm, ManualClock& clock, Beat b) {
  static std::uint64_t peer_seq = 0;
  const Beat mine = rm.next_beat(clock.now());
  b.incarnation = 4242;
  b.seq = ++peer_seq;
  b.echo_incarnation = mine.incarnation;
  b.echo_seq = mine.seq;
  return rm.on_beat(clock.now(), b);
}

// Two machines trade beats both ways.
void exchange(RoleMachine& x, RoleMachine& y, ManualClock& clock) {
  (void)y.on_beat(clock.now(), x.next_beat(clock.now()));
  (void)x.on_beat(clock.now(), y.next_beat(clock.now()));
}

// Completes a Promote the way the runner does: persist, then on_promoted.
Actions promoted(RoleMachine& rm, ManualClock& clock, const Actions& actions) {
  const auto* p = find<Promote>(actions);
  REQUIRE(p != nullptr);
  return rm.on_promoted(clock.now(), p->epoch);
}

// A standby in epoch 3 following master "b".
RoleMachine standby(ManualClock& clock, GuardMode guard = GuardMode::kReference) {
  RoleMachine rm(opts("a", guard));
  (void)rm.on_start(clock.now(), 3, {3, 10}, true);
  (void)hear(rm, clock, beat("b", Role::kMaster, 3, {3, 10}, true));
  (void)rm.on_caught_up(clock.now());
  REQUIRE(rm.role() == Role::kStandby);
  return rm;
}

// A master in epoch 4 with standby "b".
RoleMachine master(ManualClock& clock, GuardMode guard = GuardMode::kReference) {
  RoleMachine rm(opts("a", guard));
  (void)rm.on_start(clock.now(), 3, {3, 10}, true);
  auto acts = hear(rm, clock, beat("b", Role::kSyncing, 3, {3, 5}));
  (void)promoted(rm, clock, acts);
  (void)hear(rm, clock, beat("b", Role::kStandby, 4, {3, 10}));
  REQUIRE(rm.role() == Role::kMaster);
  REQUIRE(rm.epoch() == 4);
  REQUIRE(rm.may_act(clock.now()));
  return rm;
}

}  // namespace

TEST_CASE("without a peer a node promotes itself at start with a new epoch", "[role]") {
  ManualClock clock;
  auto o = opts("solo");
  o.has_peer = false;
  RoleMachine rm(o);
  auto acts = rm.on_start(clock.now(), 7, {7, 100}, true);
  const auto* p = find<Promote>(acts);
  REQUIRE(p != nullptr);
  CHECK(p->epoch == 8);
  CHECK_FALSE(rm.may_act(clock.now()));  // not before the epoch is persisted
  acts = rm.on_promoted(clock.now(), 8);
  CHECK(find<StartActing>(acts) != nullptr);
  CHECK(rm.role() == Role::kMaster);
  clock.advance(1h);
  CHECK(rm.may_act(clock.now()));
}

TEST_CASE("wait-for-all: a node that never heard its peer never promotes by itself", "[role]") {
  ManualClock clock;
  RoleMachine rm(opts("a"));
  CHECK(rm.on_start(clock.now(), 5, {5, 50}, true).empty());
  for (int i = 0; i < 200; ++i) {
    clock.advance(500ms);
    CHECK(find<Promote>(rm.on_guard(clock.now(), true, clock.now() + 3s, "ok")) == nullptr);
    CHECK(find<Promote>(rm.on_tick(clock.now())) == nullptr);
  }
  CHECK(rm.role() == Role::kSyncing);
  auto acts = rm.on_force_promote(clock.now());
  REQUIRE(find<Promote>(acts) != nullptr);
  CHECK(find<Promote>(acts)->epoch == 6);
}

TEST_CASE("two nodes starting together elect one master by journal, priority, then name",
          "[role]") {
  ManualClock clock;
  SECTION("the more advanced journal wins over priority and name") {
    RoleMachine b(opts("b"));
    (void)b.on_start(clock.now(), 3, {3, 20}, true);
    auto acts = hear(b, clock, beat("a", Role::kSyncing, 3, {3, 19}, false, true, 9));
    REQUIRE(find<Promote>(acts) != nullptr);
    CHECK(find<Promote>(acts)->epoch == 4);
    RoleMachine a(opts("a"));
    (void)a.on_start(clock.now(), 3, {3, 19}, true);
    CHECK(find<Promote>(hear(a, clock, beat("b", Role::kSyncing, 3, {3, 20}))) == nullptr);
  }
  SECTION("a record from a later epoch beats a longer journal") {
    RoleMachine a(opts("a"));
    (void)a.on_start(clock.now(), 4, {4, 12}, true);
    CHECK(find<Promote>(hear(a, clock, beat("b", Role::kSyncing, 3, {3, 90}))) != nullptr);
  }
  SECTION("equal journals: priority, then the smaller name") {
    auto ob = opts("b");
    ob.priority = 1;
    RoleMachine b(ob);
    (void)b.on_start(clock.now(), 3, {3, 20}, true);
    CHECK(find<Promote>(hear(b, clock, beat("a", Role::kSyncing, 3, {3, 20}))) != nullptr);
    RoleMachine a(opts("a"));
    (void)a.on_start(clock.now(), 3, {3, 20}, true);
    CHECK(find<Promote>(hear(a, clock, beat("b", Role::kSyncing, 3, {3, 20}))) != nullptr);
    RoleMachine b2(opts("b"));
    (void)b2.on_start(clock.now(), 3, {3, 20}, true);
    CHECK(find<Promote>(hear(b2, clock, beat("a", Role::kSyncing, 3, {3, 20}))) == nullptr);
  }
  SECTION("an unhealthy node never wins; a healthy one holding at least its journal does") {
    RoleMachine a(opts("a"));
    (void)a.on_start(clock.now(), 3, {3, 99}, true);
    CHECK(find<Promote>(hear(a, clock, beat("b", Role::kSyncing, 3, {3, 99}, false, false))) !=
          nullptr);
  }
  SECTION("a syncing node behind an unhealthy peer waits: it may lack what the peer acknowledged") {
    RoleMachine a(opts("a"));
    (void)a.on_start(clock.now(), 3, {3, 1}, true);
    CHECK(find<Promote>(hear(a, clock, beat("b", Role::kSyncing, 3, {3, 99}, false, false))) ==
          nullptr);
    CHECK(a.role() == Role::kSyncing);
    CHECK(find<Promote>(a.on_force_promote(clock.now())) != nullptr);  // the operator may
  }
  SECTION("a node joins an existing master instead of electing") {
    RoleMachine a(opts("a"));
    (void)a.on_start(clock.now(), 3, {3, 99}, true);
    CHECK(hear(a, clock, beat("b", Role::kMaster, 3, {3, 10}, true)).empty());
    CHECK(a.following(clock.now()));
    (void)a.on_caught_up(clock.now());
    CHECK(a.role() == Role::kStandby);
  }
}

TEST_CASE("a standby takes over after the timeout, and only with the guard", "[role]") {
  ManualClock clock;
  RoleMachine rm = standby(clock);
  (void)rm.on_guard(clock.now(), true, clock.now() + 3s, "gateway ok");
  clock.advance(2900ms);
  CHECK(find<Promote>(rm.on_tick(clock.now())) == nullptr);

  SECTION("guard allows: promotes with max(epochs) + 1") {
    (void)rm.on_epoch_seen(clock.now(), 6);  // heard of epoch 6 somewhere
    clock.advance(100ms);
    auto acts = rm.on_guard(clock.now(), true, clock.now() + 3s, "gateway ok");
    const auto* p = find<Promote>(acts);
    REQUIRE(p != nullptr);
    CHECK(p->epoch == 7);
    CHECK_FALSE(rm.may_act(clock.now()));
    acts = promoted(rm, clock, acts);
    CHECK(find<StartActing>(acts) != nullptr);
    CHECK(rm.may_act(clock.now()));
  }
  SECTION("guard refuses: no promotion, however long") {
    for (int i = 0; i < 100; ++i) {
      clock.advance(500ms);
      CHECK(find<Promote>(rm.on_guard(clock.now(), false, clock.now(), "gateway down")) == nullptr);
    }
    CHECK(rm.role() == Role::kStandby);
  }
  SECTION("a stale guard verdict does not count") {
    clock.advance(5s);  // the last verdict expired at +3 s
    CHECK(find<Promote>(rm.on_tick(clock.now())) == nullptr);
  }
}

TEST_CASE("a syncing node never takes over on silence", "[role]") {
  ManualClock clock;
  RoleMachine rm(opts("a"));
  (void)rm.on_start(clock.now(), 3, {3, 5}, true);
  (void)hear(rm, clock, beat("b", Role::kMaster, 3, {3, 10}, true));
  REQUIRE(rm.role() == Role::kSyncing);
  clock.advance(10s);
  CHECK(find<Promote>(rm.on_guard(clock.now(), true, clock.now() + 3s, "ok")) == nullptr);
}

TEST_CASE("a master cut off from peer and guard stops acting before the standby may promote",
          "[role]") {
  ManualClock clock;
  RoleMachine rm = master(clock);
  (void)rm.on_guard(clock.now(), true, clock.now() + 1s, "gateway ok");

  SECTION("peer silent, guard lost: fenced at fence_after (2 s)") {
    clock.advance(1999ms);
    (void)rm.on_guard(clock.now(), false, clock.now(), "gateway down");
    CHECK(rm.may_act(clock.now()));
    clock.advance(1ms);
    CHECK_FALSE(rm.may_act(clock.now()));  // the gate closes with no event at all
    auto acts = rm.on_tick(clock.now());
    CHECK(find<StopActing>(acts) != nullptr);
    CHECK(rm.role() == Role::kFenced);
  }
  SECTION("peer silent, guard holds: keeps acting alone") {
    for (int i = 0; i < 20; ++i) {
      clock.advance(500ms);
      (void)rm.on_guard(clock.now(), true, clock.now() + 3s, "gateway ok");
      CHECK(rm.on_tick(clock.now()).empty());
      CHECK(rm.may_act(clock.now()));
    }
  }
  SECTION("guard lost, peer heard: keeps acting (losing the guard alone never moves the master)") {
    for (int i = 0; i < 20; ++i) {
      clock.advance(500ms);
      (void)rm.on_guard(clock.now(), false, clock.now(), "witness unreachable");
      (void)hear(rm, clock, beat("b", Role::kStandby, 4, {4, 10}));
      CHECK(rm.may_act(clock.now()));
    }
    CHECK(rm.role() == Role::kMaster);
  }
}

TEST_CASE("a master resumed after a long stop does not act before it processes anything",
          "[role]") {
  ManualClock clock;
  RoleMachine rm = master(clock);
  (void)rm.on_guard(clock.now(), true, clock.now() + 1s, "ok");
  clock.advance(30s);  // SIGSTOP ... SIGCONT: no event was processed meanwhile
  CHECK_FALSE(rm.may_act(clock.now()));
  SECTION("it then hears the new master and learns why") {
    auto acts = hear(rm, clock, beat("b", Role::kMaster, 5, {5, 12}, true));
    CHECK(rm.role() == Role::kFenced);
    CHECK_THAT(rm.reason(), Catch::Contains("higher epoch"));
    (void)acts;
  }
  SECTION("a fresh guard verdict processed first does not make it act again") {
    auto acts = rm.on_guard(clock.now(), true, clock.now() + 1s, "ok");
    CHECK(find<StopActing>(acts) != nullptr);
    CHECK(rm.role() == Role::kFenced);
    CHECK_FALSE(rm.may_act(clock.now()));
    CHECK_THAT(rm.reason(), Catch::Contains("cut off from the peer"));
  }
}

TEST_CASE("a master steps down at once when it sees a higher epoch", "[role]") {
  ManualClock clock;
  SECTION("in a heartbeat") {
    RoleMachine rm = master(clock);
    auto acts = hear(rm, clock, beat("b", Role::kStandby, 9, {4, 10}));
    CHECK(find<StopActing>(acts) != nullptr);
    CHECK(rm.role() == Role::kFenced);
    CHECK_FALSE(rm.may_act(clock.now()));
  }
  SECTION("in any message") {
    RoleMachine rm = master(clock);
    auto acts = rm.on_epoch_seen(clock.now(), 5);
    CHECK(find<StopActing>(acts) != nullptr);
    CHECK(rm.role() == Role::kFenced);
  }
  SECTION("a fenced-by-epoch node waits for failback, even when nobody is master") {
    RoleMachine rm = master(clock);
    (void)rm.on_epoch_seen(clock.now(), 5);
    clock.advance(1s);
    CHECK(find<Promote>(hear(rm, clock, beat("b", Role::kSyncing, 5, {4, 1}))) == nullptr);
    (void)rm.on_failback(clock.now());
    CHECK(rm.role() == Role::kSyncing);
    // b holds a record of epoch 4 (a's own last is from epoch 3): b leads.
    CHECK(find<Promote>(hear(rm, clock, beat("b", Role::kSyncing, 5, {4, 1}))) == nullptr);
    // b is behind: a leads (once eligible again), with an epoch above all it has seen.
    CHECK(find<Promote>(hear(rm, clock, beat("b", Role::kSyncing, 5, {3, 1}))) == nullptr);
    clock.advance(4s);  // timeout + 2 x interval after the failback
    auto acts = hear(rm, clock, beat("b", Role::kSyncing, 5, {3, 1}));
    REQUIRE(find<Promote>(acts) != nullptr);
    CHECK(find<Promote>(acts)->epoch == 6);
  }
}

TEST_CASE("a master whose store fails hands over at once", "[role]") {
  ManualClock clock;
  RoleMachine m = master(clock);
  auto acts = m.on_health(clock.now(), false, "disk full");
  CHECK(find<StopActing>(acts) != nullptr);
  CHECK(m.role() == Role::kFenced);
  const Beat from_master = m.next_beat(clock.now());
  CHECK_FALSE(from_master.acting);
  CHECK_FALSE(from_master.healthy);

  RoleMachine s = standby(clock);
  auto sacts = hear(s, clock, from_master);  // no timeout, no guard needed
  REQUIRE(find<Promote>(sacts) != nullptr);
  CHECK(find<Promote>(sacts)->epoch == 5);
}

TEST_CASE("with a witness the standby takes the lease before it promotes", "[role]") {
  ManualClock clock;
  RoleMachine rm = standby(clock, GuardMode::kWitness);
  clock.advance(3s);
  auto acts = rm.on_tick(clock.now());
  const auto* lease = find<AcquireLease>(acts);
  REQUIRE(lease != nullptr);
  CHECK(lease->epoch == 4);
  CHECK(find<Promote>(acts) == nullptr);

  SECTION("lease granted: promote, and keep the lease as master") {
    acts = rm.on_guard(clock.now(), true, clock.now() + 5s, "lease until +5s");
    REQUIRE(find<Promote>(acts) != nullptr);
    acts = promoted(rm, clock, acts);
    CHECK(find<StartActing>(acts) != nullptr);
    CHECK(rm.may_act(clock.now()));
    clock.advance(5s);
    CHECK_FALSE(rm.may_act(clock.now()));  // the lease ran out and the peer is silent
  }
  SECTION("lease refused: no promotion") {
    CHECK(find<Promote>(rm.on_guard(clock.now(), false, clock.now(), "held by b")) == nullptr);
  }
  SECTION("the peer comes back: the wanted lease is released") {
    acts = hear(rm, clock, beat("b", Role::kMaster, 3, {3, 10}, true));
    CHECK(find<ReleaseLease>(acts) != nullptr);
    CHECK(rm.role() == Role::kStandby);
  }
}

TEST_CASE("switchover: the master stops, the standby takes over at the same LSN", "[role]") {
  ManualClock clock;
  RoleMachine m = master(clock);  // "a", epoch 4
  auto ob = opts("b");
  ob.incarnation = 2;
  RoleMachine s(ob);
  (void)s.on_start(clock.now(), 4, {4, 29}, true);
  exchange(m, s, clock);
  (void)s.on_caught_up(clock.now());
  REQUIRE(s.role() == Role::kStandby);
  exchange(m, s, clock);  // m learns that s is a standby now

  m.on_position({4, 30});
  auto acts = m.begin_switchover(clock.now());
  CHECK(find<StopActing>(acts) != nullptr);
  CHECK(m.switching_over());
  CHECK_FALSE(m.may_act(clock.now()));
  const Beat handing = m.next_beat(clock.now());
  CHECK(handing.role == Role::kMaster);  // still master: the standby must not elect
  CHECK(s.on_beat(clock.now(), handing).empty());

  CHECK(s.on_handover(clock.now(), 30).empty());  // not caught up yet: no
  s.on_position({4, 30});
  acts = s.on_handover(clock.now(), 30);
  REQUIRE(find<Promote>(acts) != nullptr);
  CHECK(find<Promote>(acts)->epoch == 5);
  (void)promoted(s, clock, acts);

  (void)m.on_beat(clock.now(), s.next_beat(clock.now()));
  CHECK(m.role() == Role::kSyncing);  // follows the new master; not fenced
  CHECK_FALSE(m.switching_over());
  CHECK(m.following(clock.now()));
}

TEST_CASE("a switchover that fails lets the master act again", "[role]") {
  ManualClock clock;
  RoleMachine m = master(clock);
  (void)m.begin_switchover(clock.now());
  auto acts = m.end_switchover(clock.now(), false);
  CHECK(find<StartActing>(acts) != nullptr);
  CHECK(m.may_act(clock.now()));
}

TEST_CASE("divergence fences a follower until failback", "[role]") {
  ManualClock clock;
  RoleMachine s = standby(clock);
  (void)s.on_diverged(clock.now(), "LSN 9 from epoch 2 here, epoch 3 there");
  CHECK(s.role() == Role::kFenced);
  CHECK_FALSE(s.beat(clock.now()).healthy);  // never electable with suspect data
  (void)s.on_failback(clock.now());
  CHECK(s.role() == Role::kSyncing);
}

TEST_CASE("a failed promotion changes nothing", "[role]") {
  ManualClock clock;
  RoleMachine rm = standby(clock);
  clock.advance(3s);
  auto acts = rm.on_guard(clock.now(), true, clock.now() + 3s, "ok");
  REQUIRE(find<Promote>(acts) != nullptr);
  (void)rm.on_promote_failed(clock.now(), "disk full");
  CHECK(rm.role() == Role::kStandby);
  CHECK_FALSE(rm.may_act(clock.now()));
  CHECK_THAT(rm.reason(), Catch::Contains("disk full"));
}

TEST_CASE("a reordered older beat does not bring back the peer's old role", "[role]") {
  // a was master and fenced itself when cut off; b took over in epoch 5.
  // When the link comes back, a hears b's newest beat (master, acting) and
  // then an older one that waited in a socket (b still standby). a must go
  // on following b, never elect itself.
  ManualClock clock;
  RoleMachine rm = master(clock);
  (void)rm.on_guard(clock.now(), false, clock.now(), "cut");
  clock.advance(3000ms);
  (void)rm.on_tick(clock.now());
  REQUIRE(rm.role() == Role::kFenced);
  clock.advance(1000ms);
  const Beat mine = rm.next_beat(clock.now());
  Beat stale = beat("b", Role::kStandby, 4, {4, 10});
  stale.incarnation = 777;
  stale.seq = 10;
  Beat fresh = beat("b", Role::kMaster, 5, {4, 10}, /*acting=*/true);
  fresh.incarnation = 777;
  fresh.seq = 11;
  fresh.echo_incarnation = stale.echo_incarnation = mine.incarnation;
  fresh.echo_seq = stale.echo_seq = mine.seq;
  (void)rm.on_beat(clock.now(), fresh);
  for (int i = 0; i < 20; ++i) {
    auto acts = rm.on_beat(clock.now(), stale);
    CHECK(find<Promote>(acts) == nullptr);
    CHECK(rm.peer()->role == Role::kMaster);
    CHECK(rm.peer()->acting);
    clock.advance(100ms);
    const Beat again = rm.next_beat(clock.now());
    stale.echo_seq = again.seq;  // it even confirms fresh contact
    CHECK(find<Promote>(rm.on_tick(clock.now())) == nullptr);
  }
  CHECK(rm.role() != Role::kMaster);
}

TEST_CASE("the two nodes of a pair take epochs of different parity", "[role]") {
  ManualClock clock;
  auto with_peer = [](const std::string& name, const std::string& peer) {
    auto o = opts(name);
    o.peer_name = peer;
    return o;
  };
  SECTION("the node whose name sorts first takes the odd ones") {
    RoleMachine a(with_peer("a", "b"));
    (void)a.on_start(clock.now(), 0, {}, true);
    CHECK(find<Promote>(a.on_force_promote(clock.now()))->epoch == 1);
    RoleMachine b(with_peer("b", "a"));
    (void)b.on_start(clock.now(), 0, {}, true);
    CHECK(find<Promote>(b.on_force_promote(clock.now()))->epoch == 2);
    RoleMachine b3(with_peer("b", "a"));
    (void)b3.on_start(clock.now(), 3, {3, 7}, true);
    CHECK(find<Promote>(b3.on_force_promote(clock.now()))->epoch == 4);
  }
  SECTION("a standby that never heard of the master's newest epoch still takes a fresh one") {
    // a promoted to 9 just as the a->b link was cut: b still knows 8 only.
    RoleMachine b(with_peer("b", "a"));
    (void)b.on_start(clock.now(), 8, {8, 10}, true);
    (void)hear(b, clock, beat("a", Role::kMaster, 8, {8, 10}, true));
    (void)b.on_caught_up(clock.now());
    REQUIRE(b.role() == Role::kStandby);
    clock.advance(3s);
    const auto acts = b.on_guard(clock.now(), true, clock.now() + 3s, "reachable");
    const auto* p = find<Promote>(acts);
    REQUIRE(p != nullptr);
    CHECK(p->epoch == 10);  // never 9: that number is a's
  }
  SECTION("without a peer name: the next number") {
    RoleMachine b(opts("b"));
    (void)b.on_start(clock.now(), 0, {}, true);
    CHECK(find<Promote>(b.on_force_promote(clock.now()))->epoch == 1);
  }
}

TEST_CASE("a master acknowledges alone only once the standby heard it, or is silent", "[role]") {
  ManualClock clock;
  RoleMachine m = master(clock);
  CHECK_FALSE(m.next_beat(clock.now()).alone);

  m.set_alone_wanted(true);
  CHECK_FALSE(m.alone_allowed(clock.now()));
  const Beat says = m.next_beat(clock.now());
  CHECK(says.alone);
  // The standby answers a beat it sent before: not yet.
  Beat old = beat("b", Role::kStandby, 4, {3, 10});
  old.incarnation = 4242;
  old.seq = 1000;
  old.echo_incarnation = says.incarnation;
  old.echo_seq = says.seq - 1;
  (void)m.on_beat(clock.now(), old);
  CHECK_FALSE(m.alone_allowed(clock.now()));
  // It echoes the beat that said so.
  Beat heard = old;
  heard.seq = 1001;
  heard.role = Role::kSyncing;
  heard.echo_seq = says.seq;
  (void)m.on_beat(clock.now(), heard);
  CHECK(m.alone_allowed(clock.now()));
  CHECK(m.alone_announced());

  SECTION("a new round must be announced anew") {
    m.set_alone_wanted(false);
    CHECK_FALSE(m.next_beat(clock.now()).alone);
    m.set_alone_wanted(true);
    CHECK_FALSE(m.alone_allowed(clock.now()));
  }
  SECTION("a standby silent for the failover timeout allows it without an echo") {
    m.set_alone_wanted(false);
    m.set_alone_wanted(true);
    (void)m.next_beat(clock.now());
    clock.advance(2999ms);
    CHECK_FALSE(m.alone_allowed(clock.now()));
    clock.advance(1ms);
    CHECK(m.alone_allowed(clock.now()));
    CHECK_FALSE(m.alone_announced());
  }
}

TEST_CASE("a standby hearing that the master runs alone drops to syncing until it is back",
          "[role]") {
  ManualClock clock;
  RoleMachine s = standby(clock);
  Beat alone = beat("b", Role::kMaster, 3, {3, 40}, true);
  alone.alone = true;
  (void)hear(s, clock, alone);
  CHECK(s.role() == Role::kSyncing);
  CHECK(s.following(clock.now()));  // it keeps replicating
  // Silence now does not make it take over.
  clock.advance(4s);
  CHECK(find<Promote>(s.on_guard(clock.now(), true, clock.now() + 3s, "reachable")) == nullptr);
  CHECK(find<Promote>(s.on_tick(clock.now())) == nullptr);

  // Back in contact; caught up, but the master still says alone: still syncing.
  (void)hear(s, clock, alone);
  (void)s.on_caught_up(clock.now());
  CHECK(s.role() == Role::kSyncing);
  // The master saw the standby's ack of its last LSN and stopped running alone.
  (void)hear(s, clock, beat("b", Role::kMaster, 3, {3, 40}, true));
  CHECK(s.role() == Role::kStandby);

  SECTION("a caught-up report is forgotten when the stream is lost again") {
    (void)hear(s, clock, alone);
    CHECK(s.role() == Role::kSyncing);
    (void)s.on_lost_sync(clock.now(), "behind the master");
    (void)hear(s, clock, beat("b", Role::kMaster, 3, {3, 60}, true));
    CHECK(s.role() == Role::kSyncing);
    (void)s.on_caught_up(clock.now());
    CHECK(s.role() == Role::kStandby);
  }
}
