#include <catch2/catch.hpp>
#include <random>

#include "common/clock.h"
#include "intake/pair_dedup.h"

using duet::ManualClock;
using duet::intake::dedup_key;
using duet::intake::DedupKey;
using duet::intake::PairDedup;
using namespace std::chrono_literals;

namespace {

struct Harness {
  ManualClock clock;
  PairDedup dedup{PairDedup::Options{10s, 1s}};
  std::uint64_t next_seq = 0;
  int emitted = 0;

  void local(const DedupKey& k) {
    if (dedup.on_local(k, clock.now()) == PairDedup::Verdict::kEmit) ++emitted;
  }
  std::uint64_t peer(const DedupKey& k) {
    dedup.on_peer_digest(k, ++next_seq, clock.now());
    return next_seq;
  }
  // Lets time pass and emits what fell due (content arrives at once).
  void settle(duet::Duration d = 2s) {
    clock.advance(d);
    for (auto seq : dedup.take_due(clock.now())) {
      dedup.on_peer_content(seq);
      ++emitted;
    }
    dedup.expire(clock.now());
  }
};

const DedupKey kA = dedup_key("10.0.0.1", "<13>link down");
const DedupKey kB = dedup_key("10.0.0.1", "<13>link up");

}  // namespace

TEST_CASE("The identity key covers the source and the content", "[intake]") {
  CHECK(dedup_key("10.0.0.1", "x") == dedup_key("10.0.0.1", "x"));
  CHECK(dedup_key("10.0.0.1", "x") != dedup_key("10.0.0.2", "x"));
  CHECK(dedup_key("10.0.0.1", "x") != dedup_key("10.0.0.1", "y"));
  CHECK(dedup_key("ab", "c") != dedup_key("a", "bc"));
}

TEST_CASE("A message sent N times to both nodes yields exactly N events", "[intake]") {
  for (int n : {1, 2, 5, 50}) {
    INFO("N = " << n);
    SECTION("local copies first") {
      Harness h;
      for (int i = 0; i < n; ++i) h.local(kA);
      for (int i = 0; i < n; ++i) h.peer(kA);
      h.settle();
      CHECK(h.emitted == n);
      CHECK(h.dedup.peer_cursor() == static_cast<std::uint64_t>(n));
    }
    SECTION("peer digests first, own copies within the grace") {
      Harness h;
      for (int i = 0; i < n; ++i) h.peer(kA);
      h.clock.advance(500ms);
      for (int i = 0; i < n; ++i) h.local(kA);
      h.settle();
      CHECK(h.emitted == n);
      CHECK(h.dedup.stats().peer_due == 0);
    }
    SECTION("interleaved") {
      Harness h;
      for (int i = 0; i < n; ++i) {
        h.peer(kA);
        h.local(kA);
        h.clock.advance(10ms);
      }
      h.settle();
      CHECK(h.emitted == n);
    }
  }
}

TEST_CASE("Emitted = max(count here, count there)", "[intake]") {
  Harness h;
  for (int i = 0; i < 3; ++i) h.local(kA);
  for (int i = 0; i < 5; ++i) h.peer(kA);
  h.settle();
  CHECK(h.emitted == 5);
  Harness g;
  for (int i = 0; i < 5; ++i) g.local(kA);
  for (int i = 0; i < 3; ++i) g.peer(kA);
  g.settle();
  CHECK(g.emitted == 5);
}

TEST_CASE("A datagram lost towards the master still yields one event", "[intake]") {
  Harness h;
  h.peer(kA);  // only the standby got it
  h.local(kB);
  h.peer(kB);
  CHECK(h.dedup.peer_cursor() == 0);  // receipt 1 is undecided
  h.clock.advance(999ms);
  CHECK(h.dedup.take_due(h.clock.now()).empty());
  h.clock.advance(1ms);
  auto due = h.dedup.take_due(h.clock.now());
  REQUIRE(due == std::vector<std::uint64_t>{1});
  CHECK(h.dedup.peer_cursor() == 0);  // until its content is in a batch
  h.dedup.on_peer_content(1);
  CHECK(h.dedup.peer_cursor() == 2);
  // The master's own copy arriving late (within the window) is a duplicate.
  CHECK(h.dedup.on_local(kA, h.clock.now()) == PairDedup::Verdict::kDuplicate);
}

TEST_CASE("Distinct messages are all kept", "[intake]") {
  Harness h;
  for (int i = 0; i < 100; ++i) {
    const auto k = dedup_key("10.0.0.1", "msg " + std::to_string(i));
    h.local(k);
    h.peer(k);
  }
  h.settle();
  CHECK(h.emitted == 100);
}

TEST_CASE("Copies further apart than the window are separate events", "[intake]") {
  Harness h;
  h.local(kA);
  h.settle(11s);
  h.peer(kA);  // its partner expired: this is a new occurrence
  h.settle();
  CHECK(h.emitted == 2);
  CHECK(h.dedup.tracked_keys() == 1);
  h.settle(20s);
  CHECK(h.dedup.tracked_keys() == 0);
}

TEST_CASE("The cursor never passes an undecided receipt", "[intake]") {
  Harness h;
  h.peer(kA);  // 1: pending
  h.local(kB);
  h.peer(kB);  // 2: matched at once
  CHECK(h.dedup.peer_cursor() == 0);
  h.local(kA);  // matches 1
  CHECK(h.dedup.peer_cursor() == 2);
  h.dedup.reset_peer(0);
  CHECK(h.dedup.peer_cursor() == 0);
}

TEST_CASE("Randomised: emitted equals the per-key maximum", "[intake]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    Harness h;
    std::vector<DedupKey> keys;
    for (int i = 0; i < 5; ++i) keys.push_back(dedup_key("s", std::to_string(round * 10 + i)));
    int expected = 0;
    for (const auto& k : keys) {
      const int a = static_cast<int>(rng() % 6);
      const int b = static_cast<int>(rng() % 6);
      expected += std::max(a, b);
      std::vector<bool> order;
      for (int i = 0; i < a; ++i) order.push_back(true);
      for (int i = 0; i < b; ++i) order.push_back(false);
      std::shuffle(order.begin(), order.end(), rng);
      for (bool local : order) {
        if (local) {
          h.local(k);
        } else {
          h.peer(k);
        }
        h.clock.advance(std::chrono::milliseconds(rng() % 300));
        for (auto seq : h.dedup.take_due(h.clock.now())) {
          h.dedup.on_peer_content(seq);
          ++h.emitted;
        }
      }
    }
    h.settle();
    CHECK(h.emitted == expected);
  }
}

TEST_CASE("On promotion the standby emits only what the old master had not", "[intake]") {
  using duet::intake::plan_promotion;
  using duet::intake::PromotionInput;
  SECTION("old master saw 3, this node 5 of which 3 were decided") {
    PromotionInput in;
    in.events = {kA, kA, kA};
    in.decided = {kA, kA, kA};
    in.undecided = {{kA, 7}, {kA, 8}};
    auto plan = plan_promotion(in);
    CHECK(plan.emit == std::vector<std::uint64_t>{7, 8});
    CHECK(plan.unmatched_events.empty());
  }
  SECTION("old master emitted copies this node had not yet forwarded") {
    PromotionInput in;
    in.events = {kA, kA, kB};
    in.decided = {};
    in.undecided = {{kA, 3}, {kB, 4}, {kB, 5}};
    auto plan = plan_promotion(in);
    CHECK(plan.emit == std::vector<std::uint64_t>{5});
    CHECK(plan.unmatched_events == std::vector<DedupKey>{kA});
  }
}
