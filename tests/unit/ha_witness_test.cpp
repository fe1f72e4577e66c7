// The witness: the lease table (pure core, explicit times), its state-file
// text, the holder-side validity arithmetic, and WitnessGuard driven through
// a fake link with a manual clock.

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/errors.h"
#include "ha/lease_table.h"
#include "ha/witness_guard.h"

using namespace std::chrono_literals;
using duet::Duration;
using duet::TimePoint;
using duet::ha::EpochState;
using duet::ha::LeaseAnswer;
using duet::ha::LeaseAsk;
using duet::ha::LeaseOutcome;
using duet::ha::LeaseTable;
using duet::ha::PairEpoch;
using duet::ha::Refusal;

namespace {

constexpr std::int64_t kMaxLeaseMs = 10000;
const TimePoint kStart = TimePoint(std::chrono::hours(1));
const TimePoint kQuietEnd = kStart + 10s;  // quiet period = max_lease_ms on a first start

LeaseAsk ask(const std::string& node, std::uint64_t epoch, std::int64_t ms = 6000,
             const std::string& pair = "a/b") {
  return LeaseAsk{pair, node, epoch, ms};
}

// A table on a first start, recording every persisted state.
struct Fixture {
  std::vector<EpochState> persisted;
  bool fail_persist = false;
  LeaseTable table{EpochState{}, kMaxLeaseMs, kStart, [this](const EpochState& s) -> duet::Status {
                     if (fail_persist) {
                       return duet::make_error(duet::CommonErrc::kIo, "disk full");
                     }
                     persisted.push_back(s);
                     return duet::ok_status();
                   }};
};

}  // namespace

// ---- LeaseTable ----

TEST_CASE("witness grants a free lease, renews it for its holder, and it expires", "[witness]") {
  Fixture f;
  const TimePoint t = kQuietEnd;
  LeaseAnswer a = f.table.acquire(ask("a", 1), t);
  CHECK(a.granted);
  CHECK(a.outcome == LeaseOutcome::kGranted);
  CHECK(a.holder == "a");
  CHECK(a.holder_epoch == 1);
  CHECK(a.highest_epoch == 1);
  CHECK(a.granted_ms == 6000);

  a = f.table.acquire(ask("a", 1), t + 5s);  // renewed before expiry: now runs to t+11s
  CHECK(a.granted);
  CHECK(a.outcome == LeaseOutcome::kRenewed);

  // Still held by a at t+10.999s (renewal counted from t+5s), free at t+11s.
  CHECK(f.table.acquire(ask("a", 0), t + 11s - 1ms).holder == "a");
  a = f.table.acquire(ask("a", 0), t + 11s);
  CHECK(a.holder.empty());
  CHECK(a.highest_epoch == 1);
  CHECK(a.reason == "no lease held");

  // The same node takes it back in the same epoch once it has expired: a new grant.
  a = f.table.acquire(ask("a", 1), t + 20s);
  CHECK(a.granted);
  CHECK(a.outcome == LeaseOutcome::kGranted);
  CHECK(f.persisted.size() == 1);  // only the first grant raised the epoch
}

TEST_CASE("witness refuses a second node while the first holds the lease", "[witness]") {
  Fixture f;
  const TimePoint t = kQuietEnd;
  REQUIRE(f.table.acquire(ask("a", 1), t).granted);
  for (std::uint64_t epoch : {1, 2, 100}) {
    const LeaseAnswer a = f.table.acquire(ask("b", epoch), t + 5999ms);
    CHECK_FALSE(a.granted);
    CHECK(a.refusal == Refusal::kHeld);
    CHECK(a.holder == "a");
    CHECK(a.holder_epoch == 1);
    CHECK(a.reason == "lease held by a in epoch 1 for 1 ms");
  }
  CHECK(f.table.state().pairs.at("a/b") == PairEpoch{1, "a"});
}

TEST_CASE("witness grants to another node after expiry only with a higher epoch", "[witness]") {
  Fixture f;
  const TimePoint t = kQuietEnd;
  REQUIRE(f.table.acquire(ask("a", 3), t).granted);
  const TimePoint later = t + 6s;  // a's lease has just expired

  LeaseAnswer a = f.table.acquire(ask("b", 3), later);
  CHECK_FALSE(a.granted);
  CHECK(a.refusal == Refusal::kStaleEpoch);
  CHECK(a.reason == "stale epoch: 3 was granted to a; b needs a higher epoch");

  a = f.table.acquire(ask("b", 4), later);
  CHECK(a.granted);
  CHECK(a.holder == "b");
  CHECK(a.highest_epoch == 4);
  CHECK(f.table.state().pairs.at("a/b") == PairEpoch{4, "b"});

  // The old holder, once b's lease has gone, is below the highest now.
  a = f.table.acquire(ask("a", 3), later + 7s);
  CHECK_FALSE(a.granted);
  CHECK(a.refusal == Refusal::kStaleEpoch);
}

TEST_CASE("witness refuses a stale epoch, also from the holder", "[witness]") {
  Fixture f;
  const TimePoint t = kQuietEnd;
  REQUIRE(f.table.acquire(ask("a", 5), t).granted);
  LeaseAnswer a = f.table.acquire(ask("a", 4), t + 1s);
  CHECK_FALSE(a.granted);
  CHECK(a.refusal == Refusal::kStaleEpoch);
  CHECK(a.reason == "stale epoch: 4 is below the highest granted (5)");
  CHECK(a.holder == "a");  // the running lease is untouched
  CHECK(a.holder_epoch == 5);

  // The holder may move up: a new epoch, persisted first, the lease carries on.
  a = f.table.acquire(ask("a", 6), t + 2s);
  CHECK(a.granted);
  CHECK(a.outcome == LeaseOutcome::kGranted);
  CHECK(f.persisted.back().pairs.at("a/b") == PairEpoch{6, "a"});
}

TEST_CASE("witness ends a lease at once when its holder releases it", "[witness]") {
  Fixture f;
  const TimePoint t = kQuietEnd;
  REQUIRE(f.table.acquire(ask("a", 1), t).granted);

  // Only the holder, in its epoch, can release.
  LeaseAnswer a = f.table.release(ask("b", 1), t + 1s);
  CHECK(a.outcome == LeaseOutcome::kAnswered);
  CHECK(a.refusal == Refusal::kNotHolder);
  CHECK(a.holder == "a");
  a = f.table.release(ask("a", 2), t + 1s);
  CHECK(a.refusal == Refusal::kNotHolder);
  CHECK(a.holder == "a");

  a = f.table.release(ask("a", 1), t + 1s);
  CHECK(a.outcome == LeaseOutcome::kReleased);
  CHECK(a.holder.empty());
  CHECK(a.highest_epoch == 1);

  // Free at once for the other node with a higher epoch (a planned switchover).
  a = f.table.acquire(ask("b", 2), t + 1s);
  CHECK(a.granted);
  CHECK(a.holder == "b");

  // Releasing twice changes nothing.
  CHECK(f.table.release(ask("a", 1), t + 2s).refusal == Refusal::kNotHolder);
}

TEST_CASE("witness grants nothing during the quiet period after it starts", "[witness]") {
  Fixture f;
  LeaseAnswer a = f.table.acquire(ask("a", 1), kStart);
  CHECK_FALSE(a.granted);
  CHECK(a.refusal == Refusal::kQuietPeriod);
  a = f.table.acquire(ask("b", 7), kQuietEnd - 1ms);
  CHECK_FALSE(a.granted);
  CHECK(a.refusal == Refusal::kQuietPeriod);
  CHECK(f.table.in_quiet_period(kQuietEnd - 1ms));
  CHECK_FALSE(f.table.in_quiet_period(kQuietEnd));
  CHECK(f.persisted.empty());

  // A probe answers during the quiet period.
  a = f.table.acquire(ask("a", 0), kStart + 4s);
  CHECK(a.outcome == LeaseOutcome::kAnswered);
  CHECK(a.reason == "quiet period after witness start: no grants for 6000 ms");

  CHECK(f.table.acquire(ask("a", 1), kQuietEnd).granted);
}

TEST_CASE("witness after a restart: highest epochs kept, renewals refused while quiet",
          "[witness]") {
  // The previous run granted epoch 7 to b and could grant leases of 20 s.
  EpochState restored;
  restored.lease_bound_ms = 20000;
  restored.pairs["a/b"] = PairEpoch{7, "b"};
  std::vector<EpochState> persisted;
  LeaseTable table(restored, kMaxLeaseMs, kStart, [&](const EpochState& s) {
    persisted.push_back(s);
    return duet::ok_status();
  });
  // The quiet period is the longer of the old bound and our own maximum.
  CHECK(table.quiet_until() == kStart + 20s);
  CHECK(table.state().lease_bound_ms == 20000);

  // b, which held epoch 7 before the restart, cannot renew during the quiet period.
  LeaseAnswer a = table.acquire(ask("b", 7), kStart + 19s);
  CHECK_FALSE(a.granted);
  CHECK(a.refusal == Refusal::kQuietPeriod);
  CHECK(a.highest_epoch == 7);

  // After it: b renews in its epoch (it is the node epoch 7 was granted to);
  // a with epoch 7 or lower is stale.
  CHECK(table.acquire(ask("a", 7), kStart + 20s).refusal == Refusal::kStaleEpoch);
  a = table.acquire(ask("b", 7), kStart + 20s);
  CHECK(a.granted);
  CHECK(persisted.empty());  // epoch 7 was already on disk

  // The first persist after the quiet period records this run's own bound.
  CHECK(table.release(ask("b", 7), kStart + 21s).outcome == LeaseOutcome::kReleased);
  REQUIRE(table.acquire(ask("a", 8), kStart + 21s).granted);
  REQUIRE(persisted.size() == 1);
  CHECK(persisted[0].lease_bound_ms == kMaxLeaseMs);

  // A smaller configured bound never shortens the quiet period below our maximum.
  EpochState small;
  small.lease_bound_ms = 100;
  LeaseTable t2(small, kMaxLeaseMs, kStart, [](const EpochState&) { return duet::ok_status(); });
  CHECK(t2.quiet_until() == kQuietEnd);
}

TEST_CASE("witness persists a raised epoch before granting it", "[witness]") {
  std::vector<std::string> events;
  LeaseTable* self = nullptr;
  bool fail = false;
  LeaseTable table(EpochState{}, kMaxLeaseMs, kStart, [&](const EpochState& next) -> duet::Status {
    // Called before the table changes anything: it still has the old state.
    const auto& now_state = self->state();
    const std::uint64_t before =
        now_state.pairs.count("a/b") != 0 ? now_state.pairs.at("a/b").epoch : 0;
    events.push_back("persist " + std::to_string(next.pairs.at("a/b").epoch) + " over " +
                     std::to_string(before));
    if (fail) return duet::make_error(duet::CommonErrc::kIo, "disk full");
    return duet::ok_status();
  });
  self = &table;
  const TimePoint t = kQuietEnd;

  LeaseAnswer a = table.acquire(ask("a", 1), t);
  events.push_back(a.granted ? "granted 1" : "refused 1");
  a = table.acquire(ask("a", 1), t + 1s);  // renewal: nothing to persist
  events.push_back(a.granted ? "renewed 1" : "refused 1");

  fail = true;
  a = table.acquire(ask("a", 2), t + 2s);
  CHECK(a.refusal == Refusal::kPersistFailed);
  CHECK(a.reason == "cannot record epoch 2: disk full");
  CHECK(a.holder == "a");  // the running lease in epoch 1 is untouched
  CHECK(a.holder_epoch == 1);
  CHECK(table.state().pairs.at("a/b").epoch == 1);
  events.push_back(a.granted ? "granted 2" : "refused 2");

  fail = false;
  a = table.acquire(ask("a", 2), t + 3s);
  events.push_back(a.granted ? "granted 2" : "refused 2");

  CHECK(events == std::vector<std::string>{"persist 1 over 0", "granted 1", "renewed 1",
                                           "persist 2 over 1", "refused 2", "persist 2 over 1",
                                           "granted 2"});
}

TEST_CASE("witness keeps pairs independent", "[witness]") {
  Fixture f;
  const TimePoint t = kQuietEnd;
  REQUIRE(f.table.acquire(ask("a", 5, 6000, "a/b"), t).granted);
  // Another pair, same node names on one side, lower epoch: its own lease and epochs.
  LeaseAnswer a = f.table.acquire(ask("b", 1, 6000, "b/c"), t);
  CHECK(a.granted);
  CHECK(a.highest_epoch == 1);
  a = f.table.acquire(ask("x", 1, 6000, "x/y"), t);
  CHECK(a.granted);
  CHECK(f.table.acquire(ask("y", 2, 6000, "x/y"), t).refusal == Refusal::kHeld);
  CHECK(f.table.release(ask("x", 1, 6000, "x/y"), t + 1s).outcome == LeaseOutcome::kReleased);
  CHECK(f.table.acquire(ask("a", 0, 0, "a/b"), t + 1s).holder == "a");
  CHECK(f.table.acquire(ask("c", 0, 0, "b/c"), t + 1s).holder == "b");
  CHECK(f.table.state().pairs.size() == 3);
}

TEST_CASE("witness caps the duration at max_lease_ms and rejects malformed requests", "[witness]") {
  Fixture f;
  const TimePoint t = kQuietEnd;
  LeaseAnswer a = f.table.acquire(ask("a", 1, 60000), t);
  CHECK(a.granted);
  CHECK(a.granted_ms == kMaxLeaseMs);
  CHECK(f.table.acquire(ask("b", 0), t + 10s - 1ms).holder == "a");
  CHECK(f.table.acquire(ask("b", 0), t + 10s).holder.empty());

  for (const auto& bad : {ask("a", 2, 0), ask("a", 2, -5), ask("c", 2), ask("a", 2, 10, "b/a"),
                          ask("a", 2, 10, "a/a"), ask("a", 2, 10, "ab"), ask("a", 2, 10, "a/"),
                          ask("", 2, 10, "/b"), ask("a", 2, 10, "a/b c")}) {
    a = f.table.acquire(bad, t + 20s);
    CHECK_FALSE(a.granted);
    CHECK(a.refusal == Refusal::kInvalid);
  }
  CHECK(f.table.release(ask("c", 1), t).refusal == Refusal::kInvalid);
  CHECK(f.persisted.size() == 1);
  CHECK(duet::ha::make_pair_id("node-b", "node-a") == "node-a/node-b");
}

// ---- State file text ----

TEST_CASE("witness state text round-trips and detects damage", "[witness]") {
  EpochState s;
  s.lease_bound_ms = 30000;
  s.pairs["a/b"] = PairEpoch{7, "b"};
  s.pairs["mgr-1/mgr-2"] = PairEpoch{18446744073709551615ULL, "mgr-1"};
  const std::string text = duet::ha::format_epoch_state(s);
  auto back = duet::ha::parse_epoch_state(text);
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK(duet::ha::parse_epoch_state(duet::ha::format_epoch_state(EpochState{})).ok());

  auto damaged = [&](std::string t) {
    auto r = duet::ha::parse_epoch_state(t);
    if (r.ok()) return std::string("parsed");
    return r.error().to_string();
  };
  std::string flipped = text;
  flipped[flipped.find("a/b 7") + 4] = '9';
  CHECK(damaged(flipped) == "line 5: checksum mismatch: the file was damaged or edited");
  CHECK(damaged("") == "line 1: the file is empty");
  CHECK(damaged(text.substr(0, text.size() - 1)).find("truncated") != std::string::npos);
  CHECK(damaged(text.substr(0, text.find("checksum"))).find("checksum") != std::string::npos);
  CHECK(damaged("garbage\n").find("line 1: expected 'duet-witness-state 1'") == 0);
  CHECK(damaged(std::string(1000, '\0') + "\n").find("line 1") == 0);

  // Wrong content under a valid checksum is refused too.
  EpochState wrong;
  wrong.pairs["a/b"] = PairEpoch{1, "c"};
  CHECK(damaged(duet::ha::format_epoch_state(wrong)) ==
        "line 3: node 'c' is not one of pair 'a/b'");
  wrong.pairs["a/b"] = PairEpoch{0, "a"};
  CHECK(damaged(duet::ha::format_epoch_state(wrong)) ==
        "line 3: epoch '0' is not a positive number");
}

// ---- Holder-side validity ----

TEST_CASE("witness lease margin: drift share plus a fixed part", "[witness]") {
  using duet::ha::lease_safety_margin;
  using duet::ha::lease_valid_until;
  CHECK(lease_safety_margin(6000ms) == 60ms + 200ms);
  CHECK(lease_safety_margin(30000ms) == 300ms + 200ms);
  CHECK(lease_safety_margin(Duration(1)) == Duration(1) + 200ms);  // rounded up
  const TimePoint sent = TimePoint(std::chrono::hours(2));
  CHECK(lease_valid_until(sent, 6000ms) == sent + 5740ms);
  CHECK_FALSE(lease_valid_until(sent, 200ms).has_value());  // no longer than its margin
  CHECK(lease_valid_until(sent, 203ms) == sent + 203ms - 2030us - 200ms);
}

TEST_CASE("witness validity ends strictly before the witness-side expiry under the drift bound",
          "[witness]") {
  // Real time in seconds (long double). The holder sends at real time 0; the
  // witness receives at `transit` and counts `granted` on its clock, which
  // runs at rate w (witness seconds per real second); the holder counts on a
  // clock of rate h. The bound: h / w >= 1 - kMaxClockDriftPpm / 10^6.
  const long double bound = 1.0L - duet::ha::kMaxClockDriftPpm / 1e6L;
  const std::vector<std::int64_t> leases_ms = {300, 1000, 6000, 30000, 600000};
  const std::vector<std::pair<long double, long double>> rates = {
      {1.0L, 1.0L},                    // perfect clocks
      {1.0L + 0.005L, 1.0L - 0.005L},  // witness fast, holder slow: at the bound
      {1.0L, bound},                   // exactly the bound
      {1.0L - 0.005L, 1.0L + 0.005L},  // the harmless direction
      {1.0L + 0.0001L, 1.0L},
  };
  for (std::int64_t ms : leases_ms) {
    const Duration granted = std::chrono::milliseconds(ms);
    const TimePoint sent = TimePoint(std::chrono::hours(3));
    const auto until = duet::ha::lease_valid_until(sent, granted);
    REQUIRE(until.has_value());
    const long double relied_s = std::chrono::duration<long double>(*until - sent).count();
    const long double granted_s = std::chrono::duration<long double>(granted).count();
    for (auto [w, h] : rates) {
      REQUIRE(h / w >= bound - 1e-15L);
      for (long double transit : {0.0L, 0.05L, 2.0L}) {
        const long double holder_stops = relied_s / h;                // real time
        const long double witness_expires = transit + granted_s / w;  // real time
        INFO("lease " << ms << " ms, w " << static_cast<double>(w) << ", h "
                      << static_cast<double>(h) << ", transit " << static_cast<double>(transit));
        // Strictly before, with at least the fixed margin (less the drift) to spare.
        CHECK(holder_stops < witness_expires);
        CHECK(witness_expires - holder_stops > 0.19L);
      }
    }
  }
  // Without the margin, a slow holder clock would outlive the witness's lease.
  const long double w = 1.005L;
  const long double h = 0.995L;
  CHECK(6.0L / h > 6.0L / w);
}

// ---- WitnessGuard with a fake link ----

namespace {

class FakeLink final : public duet::ha::WitnessLink {
 public:
  struct Call {
    bool acquire = true;
    duet::v1::LeaseRequest request;
    Done done;
  };
  void acquire(const duet::v1::LeaseRequest& r, Duration, Done done) override {
    calls.push_back({true, r, std::move(done)});
  }
  void release(const duet::v1::LeaseRequest& r, Duration, Done done) override {
    calls.push_back({false, r, std::move(done)});
  }
  std::vector<Call> calls;
};

duet::ha::WitnessLink::Answer granted(const std::string& node, std::uint64_t epoch,
                                      std::int64_t ms) {
  duet::ha::WitnessLink::Answer a;
  a.reached = true;
  a.reply.set_granted(true);
  a.reply.set_holder(node);
  a.reply.set_holder_epoch(epoch);
  a.reply.set_highest_epoch(epoch);
  a.reply.set_granted_ms(ms);
  return a;
}

duet::ha::WitnessLink::Answer refused(const std::string& reason) {
  duet::ha::WitnessLink::Answer a;
  a.reached = true;
  a.reply.set_reason(reason);
  return a;
}

duet::ha::WitnessLink::Answer unreachable() {
  duet::ha::WitnessLink::Answer a;
  a.error = "failed to connect";
  return a;
}

struct GuardFixture {
  boost::asio::io_context io;
  duet::ManualClock clock;
  std::shared_ptr<FakeLink> link = std::make_shared<FakeLink>();
  std::vector<duet::ha::GuardVerdict> verdicts;
  std::unique_ptr<duet::ha::WitnessGuard> guard;

  GuardFixture() {
    duet::WitnessClientConfig config;
    config.address = duet::HostPort{"127.0.0.13", 7430};
    config.lease_ms = 6000;
    // A long interval: the test drives every exchange; no tick fires.
    guard = std::make_unique<duet::ha::WitnessGuard>(io.get_executor(), clock, config, link, "a",
                                                     "a/b", std::chrono::hours(1));
  }
  void run() {
    io.restart();
    io.poll();
  }
  // Completes call `i` with `answer` (as a gRPC thread would), then runs the executor.
  void answer(std::size_t i, duet::ha::WitnessLink::Answer answer) {
    REQUIRE(i < link->calls.size());
    link->calls[i].done(std::move(answer));
    run();
  }
};

}  // namespace

TEST_CASE("WitnessGuard probes, acquires, and relies on a lease from its send time", "[witness]") {
  GuardFixture f;
  f.guard->start([&](const duet::ha::GuardVerdict& v) { f.verdicts.push_back(v); });
  CHECK(f.guard->describe() == "witness 127.0.0.13:7430");
  REQUIRE(f.link->calls.size() == 1);
  CHECK(f.link->calls[0].request.epoch() == 0);  // no lease wanted: a probe
  CHECK(f.link->calls[0].request.pair() == "a/b");
  CHECK(f.link->calls[0].request.node() == "a");

  f.answer(0, refused("no lease held"));
  REQUIRE(f.verdicts.size() == 1);
  CHECK_FALSE(f.verdicts[0].ok);
  CHECK(f.verdicts[0].detail ==
        "witness 127.0.0.13:7430 reachable (no lease wanted): no lease held");

  f.guard->want_lease(5);  // sent at once
  REQUIRE(f.link->calls.size() == 2);
  CHECK(f.link->calls[1].request.epoch() == 5);
  CHECK(f.link->calls[1].request.duration_ms() == 6000);
  const TimePoint sent = f.clock.now();
  f.clock.advance(300ms);  // the reply takes 300 ms; the lease still counts from `sent`
  f.answer(1, granted("a", 5, 6000));
  REQUIRE(f.verdicts.size() == 2);
  CHECK(f.verdicts[1].ok);
  CHECK(f.verdicts[1].valid_until == sent + 6000ms - duet::ha::lease_safety_margin(6000ms));
  const TimePoint held_until = f.verdicts[1].valid_until;

  // Unreachable: not ok, and the earlier lease is not extended.
  f.guard->want_lease(5);  // unchanged: nothing sent
  CHECK(f.link->calls.size() == 2);
  f.clock.advance(1s);
  f.guard->want_lease(6);
  REQUIRE(f.link->calls.size() == 3);
  f.guard->want_lease(5);      // back to 5 while 6 is in flight: re-sent after the reply
  f.answer(2, unreachable());  // the reply for 6 gives no verdict (5 is wanted); 5 is re-sent
  CHECK(f.verdicts.size() == 2);
  REQUIRE(f.link->calls.size() == 4);
  CHECK(f.link->calls[3].request.epoch() == 5);
  f.answer(3, unreachable());
  REQUIRE(f.verdicts.size() == 3);
  CHECK_FALSE(f.verdicts[2].ok);
  CHECK(f.verdicts[2].valid_until == held_until);
  CHECK(f.verdicts[2].detail ==
        "witness 127.0.0.13:7430 unreachable: failed to connect; lease not renewed");
}

TEST_CASE("WitnessGuard reports a refusal and never extends the lease on one", "[witness]") {
  GuardFixture f;
  f.guard->want_lease(3);  // before start: remembered
  f.guard->start([&](const duet::ha::GuardVerdict& v) { f.verdicts.push_back(v); });
  REQUIRE(f.link->calls.size() == 1);
  CHECK(f.link->calls[0].request.epoch() == 3);
  f.answer(0, granted("a", 3, 6000));
  REQUIRE(f.verdicts.size() == 1);
  const TimePoint held_until = f.verdicts[0].valid_until;

  f.clock.advance(1s);
  f.guard->want_lease(4);
  f.answer(1, refused("quiet period after witness start: no grants for 900 ms"));
  REQUIRE(f.verdicts.size() == 2);
  CHECK_FALSE(f.verdicts[1].ok);
  CHECK(f.verdicts[1].valid_until == TimePoint{});  // the lease held was for epoch 3
  CHECK(f.verdicts[1].detail ==
        "witness 127.0.0.13:7430 refused epoch 4: quiet period after witness start: no "
        "grants for 900 ms");

  // A grant that names another holder is not relied on.
  f.guard->want_lease(3);
  f.answer(2, granted("b", 3, 6000));
  REQUIRE(f.verdicts.size() == 3);
  CHECK_FALSE(f.verdicts[2].ok);
  CHECK(f.verdicts[2].valid_until == held_until);

  // A reply that arrives after the lease minus its margin has run out is not relied on.
  f.guard->want_lease(7);
  f.clock.advance(6s);
  f.answer(3, granted("a", 7, 6000));
  REQUIRE(f.verdicts.size() == 4);
  CHECK_FALSE(f.verdicts[3].ok);
  CHECK(f.verdicts[3].detail.find("too late") != std::string::npos);
}

TEST_CASE("WitnessGuard releases on want_lease(0) and stop(), and is silent after stop",
          "[witness]") {
  GuardFixture f;
  f.guard->start([&](const duet::ha::GuardVerdict& v) { f.verdicts.push_back(v); });
  f.guard->want_lease(2);  // the probe is in flight: sent after it
  CHECK(f.link->calls.size() == 1);
  f.answer(0, refused("no lease held"));  // a probe reply while 2 is wanted: no verdict
  CHECK(f.verdicts.empty());
  REQUIRE(f.link->calls.size() == 2);
  f.answer(1, granted("a", 2, 6000));
  REQUIRE(f.verdicts.size() == 1);
  CHECK(f.verdicts[0].ok);

  f.guard->want_lease(0);
  REQUIRE(f.link->calls.size() == 4);
  CHECK_FALSE(f.link->calls[2].acquire);  // release of epoch 2
  CHECK(f.link->calls[2].request.epoch() == 2);
  CHECK(f.link->calls[3].acquire);  // then a probe
  CHECK(f.link->calls[3].request.epoch() == 0);
  f.answer(2, refused("released"));
  f.answer(3, refused("no lease held"));
  REQUIRE(f.verdicts.size() == 2);
  CHECK_FALSE(f.verdicts[1].ok);

  // A grant that arrives after the lease stopped being wanted is given back.
  f.guard->want_lease(3);
  REQUIRE(f.link->calls.size() == 5);
  f.guard->want_lease(0);
  f.answer(4, granted("a", 3, 6000));
  REQUIRE(f.link->calls.size() == 7);
  CHECK_FALSE(f.link->calls[5].acquire);
  CHECK(f.link->calls[5].request.epoch() == 3);
  CHECK(f.verdicts.size() == 2);
  f.answer(6, refused("no lease held"));
  CHECK(f.verdicts.size() == 3);

  // stop(): the held lease is released; later replies reach nobody.
  f.guard->want_lease(4);
  f.answer(7, granted("a", 4, 6000));
  REQUIRE(f.verdicts.size() == 4);
  f.guard->want_lease(5);
  REQUIRE(f.link->calls.size() == 9);
  f.guard->stop();
  REQUIRE(f.link->calls.size() == 10);
  CHECK_FALSE(f.link->calls[9].acquire);
  CHECK(f.link->calls[9].request.epoch() == 4);
  f.guard.reset();  // destroying a stopped guard is fine, even with a reply still due
  f.link->calls[8].done(granted("a", 5, 6000));
  f.run();
  CHECK(f.verdicts.size() == 4);
}
