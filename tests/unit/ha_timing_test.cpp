// Run-time timing changes: the core's transition rule step by step
// ("[role]"), the pair in simulation while the timing changes under faults
// ("[sim]"), and the ha.timing setting's parsing and bounds.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <random>

#include "ha/role_machine.h"
#include "ha/timing_setting.h"
#include "tests/support/ha_sim.h"

using namespace std::chrono_literals;
using duet::Duration;
using duet::HaConfig;
using duet::ManualClock;
using duet::ha::Actions;
using duet::ha::Beat;
using duet::ha::GuardMode;
using duet::ha::Promote;
using duet::ha::Role;
using duet::ha::RoleMachine;
using duet::ha::StopActing;
using duet::ha::Timing;
using duet::ha::TimingMs;
using duet::testing::SimConfig;
using duet::testing::SimPair;

namespace {

template <typename T>
bool has(const Actions& actions) {
  for (const auto& a : actions) {
    if (std::holds_alternative<T>(a)) return true;
  }
  return false;
}

RoleMachine::Options opts(const std::string& name, Timing timing, std::uint64_t incarnation) {
  RoleMachine::Options o;
  o.name = name;
  o.timing = timing;
  o.incarnation = incarnation;
  return o;
}

// A master "a" and a standby "b" that talk, both at `timing`.
struct Pair {
  ManualClock clock;
  RoleMachine a;
  RoleMachine b;
  explicit Pair(Timing timing) : a(opts("a", timing, 11)), b(opts("b", timing, 22)) {
    (void)a.on_start(clock.now(), 0, {0, 5}, true);
    (void)b.on_start(clock.now(), 0, {0, 1}, true);
    for (int i = 0; i < 4 && a.role() != Role::kMaster; ++i) {
      Actions acts = a.on_beat(clock.now(), b.next_beat(clock.now()));
      (void)b.on_beat(clock.now(), a.next_beat(clock.now()));
      acts = a.on_beat(clock.now(), b.next_beat(clock.now()));
      for (const auto& act : acts) {
        if (const auto* p = std::get_if<Promote>(&act)) (void)a.on_promoted(clock.now(), p->epoch);
      }
    }
    REQUIRE(a.role() == Role::kMaster);
    a_to_b();
    (void)b.on_caught_up(clock.now());
    REQUIRE(b.role() == Role::kStandby);
    b_to_a();
  }
  Beat a_sends() { return a.next_beat(clock.now()); }
  void a_to_b() { (void)b.on_beat(clock.now(), a.next_beat(clock.now())); }
  void b_to_a() { (void)a.on_beat(clock.now(), b.next_beat(clock.now())); }
};

const Timing kDefault{500ms, 3000ms};
const Timing kSlow{1000ms, 6000ms};
const Timing kFast{200ms, 1000ms};

}  // namespace

// ---- the core ----

TEST_CASE("timing: each beat advertises the sender's target", "[role][timing]") {
  Pair p(kDefault);
  CHECK(p.a_sends().timing == kDefault);
  (void)p.a.set_timing(p.clock.now(), kFast);
  CHECK(p.a_sends().timing == kFast);
  CHECK(p.a.timing() == kFast);
}

TEST_CASE("timing: the standby waits for the longer of its own and the master's timeout",
          "[role][timing]") {
  Pair p(kDefault);
  CHECK(p.b.silence_timeout() == 3000ms);
  (void)p.a.set_timing(p.clock.now(), kSlow);
  p.a_to_b();
  CHECK(p.b.silence_timeout() == 6000ms);  // before its own setting arrives
  (void)p.b.set_timing(p.clock.now(), kFast);
  CHECK(p.b.silence_timeout() == 6000ms);  // still the master's longer one
  (void)p.a.set_timing(p.clock.now(), kFast);
  p.a_to_b();
  CHECK(p.b.silence_timeout() == 1000ms);
}

TEST_CASE(
    "timing: growing, the master keeps the short fence and fast beats until the standby "
    "confirms the long timeout",
    "[role][timing]") {
  Pair p(kDefault);
  CHECK(p.a.fence_after() == 2000ms);
  (void)p.a.set_timing(p.clock.now(), kSlow);
  // Not yet sent, then sent but not echoed: the standby may still use 3 s.
  CHECK(p.a.peer_may_promote_after() == 3000ms);
  CHECK(p.a.beat_interval() == 500ms);
  const Beat carrying = p.a_sends();
  CHECK(p.a.peer_may_promote_after() == 3000ms);
  CHECK(p.a.fence_after() == 2000ms);
  (void)p.b.on_beat(p.clock.now(), carrying);
  CHECK(p.b.silence_timeout() == 6000ms);
  p.b_to_a();  // echoes the beat carrying 6 s
  CHECK(p.a.peer_may_promote_after() == 6000ms);
  // The standby still advertises 500 ms: both keep beating that fast.
  CHECK(p.a.beat_interval() == 500ms);
  CHECK(p.a.fence_after() == 5000ms);
  CHECK(p.b.beat_interval() == 500ms);
  (void)p.b.set_timing(p.clock.now(), kSlow);
  p.b_to_a();
  p.a_to_b();
  p.b_to_a();
  CHECK(p.a.beat_interval() == 1000ms);
  CHECK(p.b.beat_interval() == 1000ms);
  CHECK(p.a.fence_after() == 4000ms);
  CHECK(p.a.timing_settled());
  CHECK(p.b.timing_settled());
}

TEST_CASE("timing: shrinking, the master fences and beats on the new values at once",
          "[role][timing]") {
  Pair p(kDefault);
  const auto acts = p.a.set_timing(p.clock.now(), kFast);
  CHECK_FALSE(has<StopActing>(acts));
  CHECK(p.a.peer_may_promote_after() == 1000ms);
  CHECK(p.a.beat_interval() == 200ms);
  CHECK(p.a.fence_after() == 600ms);
  // The standby shortens its wait only on a beat saying so, and only to
  // the longer of its own target and that.
  CHECK(p.b.silence_timeout() == 3000ms);
  p.a_to_b();
  CHECK(p.b.silence_timeout() == 3000ms);  // its own target is still 3 s
  (void)p.b.set_timing(p.clock.now(), kFast);
  CHECK(p.b.silence_timeout() == 1000ms);
  CHECK(p.b.beat_interval() == 200ms);
}

TEST_CASE(
    "timing: shrinking, a master without fresh contact counts the new fence from its "
    "first beat carrying it",
    "[role][timing]") {
  Pair p(kDefault);
  p.clock.advance(1500ms);  // no contact for 1.5 s: fine under 2 s, not under 600 ms
  CHECK(p.a.may_act(p.clock.now()));
  // The standby still waits 3 s from the last beat it heard: no cut yet.
  CHECK_FALSE(has<StopActing>(p.a.set_timing(p.clock.now(), kFast)));
  CHECK(p.a.may_act(p.clock.now()));
  (void)p.a_sends();  // lost; the standby might have heard it
  p.clock.advance(599ms);
  CHECK(p.a.may_act(p.clock.now()));
  p.clock.advance(1ms);
  CHECK_FALSE(p.a.may_act(p.clock.now()));
  CHECK(has<StopActing>(p.a.on_tick(p.clock.now())));
}

TEST_CASE("timing: shrinking cuts a reference verdict given under the longer timeout",
          "[role][timing]") {
  Pair p(kSlow);
  (void)p.a.on_guard(p.clock.now(), true, p.clock.now() + 6000ms, "reachable");
  (void)p.a.set_timing(p.clock.now(), kFast);
  p.clock.advance(3000ms);
  CHECK(p.a.guard_holds(p.clock.now()));  // no beat said 1 s yet
  (void)p.a_sends();
  p.clock.advance(999ms);
  CHECK(p.a.guard_holds(p.clock.now()));
  p.clock.advance(1ms);
  CHECK_FALSE(p.a.guard_holds(p.clock.now()));
  CHECK_FALSE(p.a.may_act(p.clock.now()));
}

TEST_CASE("timing: a change back before the standby confirmed keeps the shortest fence",
          "[role][timing]") {
  Pair p(kFast);
  (void)p.a.set_timing(p.clock.now(), kSlow);
  const Beat slow = p.a_sends();
  (void)p.a.set_timing(p.clock.now(), kFast);
  const Beat fast = p.a_sends();
  (void)p.a.set_timing(p.clock.now(), kSlow);
  CHECK(p.a.peer_may_promote_after() == 1000ms);
  (void)p.b.on_beat(p.clock.now(), slow);
  (void)p.b.on_beat(p.clock.now(), fast);
  p.b_to_a();  // echoes `fast`: the standby may hold 1 s or anything after
  CHECK(p.a.peer_may_promote_after() == 1000ms);
  p.a_to_b();
  p.b_to_a();
  CHECK(p.a.peer_may_promote_after() == 6000ms);
}

TEST_CASE("timing: a reordered older beat does not shorten the standby's wait", "[role][timing]") {
  Pair p(kDefault);
  const Beat old_beat = p.a_sends();  // advertises 3 s
  (void)p.a.set_timing(p.clock.now(), kSlow);
  p.a_to_b();
  CHECK(p.b.silence_timeout() == 6000ms);
  (void)p.b.on_beat(p.clock.now(), old_beat);  // arrives late
  CHECK(p.b.silence_timeout() == 6000ms);
}

TEST_CASE("timing: a beat that does not say keeps the standby on its own target",
          "[role][timing]") {
  Pair p(kSlow);
  Beat b = p.a_sends();
  b.timing.reset();
  (void)p.b.on_beat(p.clock.now(), b);
  CHECK(p.b.silence_timeout() == 6000ms);
}

// ---- the pair in simulation ----

namespace {

SimConfig sim_config(GuardMode guard, std::uint64_t seed, Timing timing) {
  SimConfig c;
  c.guard = guard;
  c.seed = seed;
  c.timing = timing;
  c.latency_max = 8ms;  // some reordering
  return c;
}

std::string settle_master(SimPair& sim) {
  for (int i = 0; i < 200; ++i) {
    sim.run_for(100ms);
    auto m = sim.acting_master();
    if (m && sim.role(*m == "a" ? "b" : "a") == Role::kStandby) return *m;
  }
  FAIL("the pair did not settle\n" << sim.trace());
  return {};
}

#define REQUIRE_CLEAN(sim)                                   \
  do {                                                       \
    INFO("trace:\n" << (sim).trace());                       \
    REQUIRE((sim).violations == std::vector<std::string>{}); \
  } while (false)

}  // namespace

TEST_CASE("sim: changing the timing of a running pair moves no role, in any order and delay",
          "[sim][timing]") {
  const std::vector<std::pair<Timing, Timing>> changes{{kDefault, kSlow},
                                                       {kSlow, kDefault},
                                                       {kDefault, kFast},
                                                       {Timing{100ms, 600ms}, kSlow},
                                                       {Timing{1500ms, 9000ms}, kFast},
                                                       {kFast, Timing{1500ms, 9000ms}}};
  const std::vector<Duration> delays{0ms, 3ms, 700ms, 4s};
  for (GuardMode guard : {GuardMode::kReference, GuardMode::kWitness}) {
    for (const auto& [from, to] : changes) {
      for (const Duration delay : delays) {
        for (bool master_first : {true, false}) {
          INFO("guard " << (guard == GuardMode::kWitness ? "witness" : "reference") << ", from "
                        << from.interval.count() / 1000000 << "/" << from.timeout.count() / 1000000
                        << " to " << to.interval.count() / 1000000 << "/"
                        << to.timeout.count() / 1000000 << " ms, delay " << delay.count() / 1000000
                        << " ms" << (master_first ? ", master first" : ", standby first"));
          SimPair sim(sim_config(guard, 7, from));
          sim.start_both();
          const std::string m = settle_master(sim);
          const std::string s = m == "a" ? "b" : "a";
          const auto epoch = sim.rm(m).epoch();
          sim.set_timing(master_first ? m : s, to);
          for (Duration t = 0ms; t < delay; t += 1ms) {
            sim.run_for(1ms);
            if (!sim.acting(m)) FAIL("the master stopped acting\n" << sim.trace());
          }
          sim.set_timing(master_first ? s : m, to);
          for (int i = 0; i < 2000; ++i) {
            sim.run_for(5ms);
            if (!sim.acting(m)) FAIL("the master stopped acting\n" << sim.trace());
          }
          CHECK(sim.rm(m).epoch() == epoch);
          CHECK(sim.role(s) == Role::kStandby);
          CHECK(sim.rm(m).timing_settled());
          CHECK(sim.rm(s).timing_settled());
          CHECK(sim.rm(s).silence_timeout() == to.timeout);
          REQUIRE_CLEAN(sim);
        }
      }
    }
  }
}

TEST_CASE("sim: kill -9 of the master in the middle of a change: the standby still takes over",
          "[sim][timing]") {
  for (const auto& [from, to] :
       std::vector<std::pair<Timing, Timing>>{{kDefault, kSlow}, {kDefault, kFast}}) {
    for (bool master_first : {true, false}) {
      SimPair sim(sim_config(GuardMode::kReference, 3, from));
      sim.start_both();
      const std::string m = settle_master(sim);
      const std::string s = m == "a" ? "b" : "a";
      sim.set_timing(master_first ? m : s, to);
      sim.run_for(2ms);
      sim.crash(m);
      const Duration longest = std::max(from.timeout, to.timeout);
      sim.run_for(longest + 2 * std::max(from.interval, to.interval) + 100ms);
      CHECK(sim.acting_master() == s);
      REQUIRE_CLEAN(sim);
    }
  }
}

TEST_CASE("sim: a master cut off from everything during a change stops before the standby acts",
          "[sim][timing]") {
  for (const auto& [from, to] :
       std::vector<std::pair<Timing, Timing>>{{kDefault, kSlow}, {kSlow, kFast}, {kFast, kSlow}}) {
    for (int when = 0; when < 6; ++when) {
      SimPair sim(sim_config(GuardMode::kReference, 5, from));
      sim.start_both();
      const std::string m = settle_master(sim);
      const std::string s = m == "a" ? "b" : "a";
      sim.set_timing(m, to);
      sim.run_for(std::chrono::milliseconds(when * 150));
      sim.set_timing(s, to);
      sim.run_for(std::chrono::milliseconds(when * 40));
      sim.set_reference(m, false);
      sim.partition_peers();
      for (int i = 0; i < 12000; ++i) {
        sim.run_for(1ms);
        if (sim.acting("a") && sim.acting("b")) FAIL("two masters\n" << sim.trace());
      }
      CHECK(sim.acting_master() == s);
      REQUIRE_CLEAN(sim);
    }
  }
}

TEST_CASE("sim: a standby down during the change comes back on its old timing, then converges",
          "[sim][timing]") {
  SimPair sim(sim_config(GuardMode::kReference, 9, kFast));
  sim.start_both();
  const std::string m = settle_master(sim);
  const std::string s = m == "a" ? "b" : "a";
  sim.crash(s);
  sim.set_timing(m, kSlow);
  sim.run_for(3s);
  sim.start(s);  // its store still says 200 ms / 1 s
  REQUIRE(settle_master(sim) == m);
  CHECK(sim.rm(s).silence_timeout() == 6000ms);  // the master's longer one
  sim.run_for(20s);
  CHECK(sim.acting_master() == m);
  sim.set_timing(s, kSlow);  // replication brought the setting
  sim.run_for(5s);
  CHECK(sim.rm(m).timing_settled());
  CHECK(sim.rm(s).timing_settled());
  REQUIRE_CLEAN(sim);
}

TEST_CASE("sim: random timing changes under random faults keep the invariants", "[sim][timing]") {
  const char* env = std::getenv("DUET_SIM_SEEDS");
  const std::uint64_t seeds = env != nullptr ? std::strtoull(env, nullptr, 10) : 12;
  const std::vector<Timing> timings{kDefault, kSlow, kFast, Timing{100ms, 600ms},
                                    Timing{1500ms, 9000ms}};
  for (GuardMode guard : {GuardMode::kWitness, GuardMode::kReference}) {
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
      std::mt19937_64 rng(seed * 104729);
      auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
      SimPair sim(sim_config(guard, seed, timings[static_cast<std::size_t>(pick(5))]));
      sim.start_both();
      sim.run_for(4s);
      for (int step = 0; step < 30; ++step) {
        const std::string n = pick(2) == 0 ? "a" : "b";
        const std::string o = n == "a" ? "b" : "a";
        switch (pick(6)) {
          case 0:
          case 1:
          case 2: {
            const Timing t = timings[static_cast<std::size_t>(pick(5))];
            sim.set_timing(n, t);
            sim.run_for(std::chrono::milliseconds(pick(800)));
            sim.set_timing(o, t);
            break;
          }
          case 3:
            sim.crash(n);
            sim.run_for(std::chrono::milliseconds(500 + pick(6000)));
            sim.start(n);
            break;
          case 4:
            sim.partition_peers();
            if (pick(2) == 0) sim.set_reference(n, false);
            sim.run_for(std::chrono::milliseconds(200 + pick(8000)));
            sim.heal_all();
            sim.set_reference(n, true);
            break;
          default:
            sim.set_loss(n, o, 0.1 * pick(5));
            break;
        }
        sim.run_for(std::chrono::milliseconds(100 + pick(3000)));
        if (!sim.violations.empty()) break;
      }
      INFO("guard " << (guard == GuardMode::kWitness ? "witness" : "reference") << ", seed "
                    << seed);
      REQUIRE_CLEAN(sim);
    }
  }
}

// ---- the setting ----

TEST_CASE("timing setting: format and parse round-trip; malformed text is refused", "[timing]") {
  const TimingMs t{200, 1000};
  CHECK(duet::ha::format_timing_setting(t) == "interval_ms=200 timeout_ms=1000");
  auto back = duet::ha::parse_timing_setting("interval_ms=200 timeout_ms=1000");
  REQUIRE(back.ok());
  CHECK(*back == t);
  for (const char* bad : {"", "200/1000", "interval_ms=200", "interval_ms=x timeout_ms=1",
                          "interval_ms=200 timeout_ms=1000 more", "timeout_ms=1 interval_ms=2"}) {
    CHECK_FALSE(duet::ha::parse_timing_setting(bad).ok());
  }
}

TEST_CASE("timing setting: the bounds are the config file's, and the refusal names them",
          "[timing]") {
  HaConfig ha;
  CHECK_FALSE(duet::ha::timing_refusal({200, 1000}, ha));
  CHECK(*duet::ha::timing_refusal({20, 1000}, ha) ==
        "interval 20 ms is below the minimum of 50 ms");
  CHECK(*duet::ha::timing_refusal({70000, 600000}, ha) ==
        "interval 70000 ms is above the maximum of 60000 ms");
  CHECK(*duet::ha::timing_refusal({50, 100}, ha) ==
        "timeout 100 ms is below the minimum of 150 ms");
  CHECK(*duet::ha::timing_refusal({500, 700000}, ha) ==
        "timeout 700000 ms is above the maximum of 600000 ms");
  CHECK(*duet::ha::timing_refusal({500, 1000}, ha) ==
        "timeout 1000 ms must be at least 3 x interval (1500 ms)");
}

TEST_CASE("timing setting: with a witness, the lease must outlast a renewal", "[timing]") {
  HaConfig ha;
  ha.guard = HaConfig::Guard::kWitness;
  ha.witness = duet::WitnessClientConfig{};
  ha.witness->lease_follows_timeout = true;
  // The lease follows the timeout: 150 ms minus its 201 ms margin is nothing.
  auto why = duet::ha::timing_refusal({50, 150}, ha);
  REQUIRE(why);
  CHECK_THAT(*why, Catch::Contains("safety margin (201 ms)"));
  CHECK_FALSE(duet::ha::timing_refusal({100, 400}, ha));
  CHECK(duet::ha::witness_lease_ms({100, 400}, ha) == 400);
  // A lease set in the file stays, and must be at least 2 x interval.
  ha.witness->lease_follows_timeout = false;
  ha.witness->lease_ms = 3000;
  CHECK(duet::ha::witness_lease_ms({100, 400}, ha) == 3000);
  why = duet::ha::timing_refusal({2000, 6000}, ha);
  REQUIRE(why);
  CHECK(*why ==
        "ha.witness.lease_ms (3000 ms, from the config file) must be at least 2 x "
        "interval (4000 ms)");
}

TEST_CASE("timing setting: the setting wins over the file; an unusable one is ignored",
          "[timing]") {
  HaConfig ha;
  auto r = duet::ha::resolve_timing(ha, std::nullopt);
  CHECK(r.value == TimingMs{500, 3000});
  CHECK_FALSE(r.from_setting);
  r = duet::ha::resolve_timing(ha, std::string("interval_ms=200 timeout_ms=1000"));
  CHECK(r.value == TimingMs{200, 1000});
  CHECK(r.from_setting);
  r = duet::ha::resolve_timing(ha, std::string("interval_ms=900 timeout_ms=1000"));
  CHECK(r.value == TimingMs{500, 3000});
  CHECK_FALSE(r.from_setting);
  CHECK_THAT(r.problem, Catch::Contains("at least 3 x interval"));
}
