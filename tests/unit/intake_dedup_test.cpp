// The pair dedup core (intake/pair_dedup.h): copies paired one to one by
// receive time, pairings reported for the store, and the state rebuilt from
// it when a node starts to act.

#include <catch2/catch.hpp>
#include <random>

#include "common/clock.h"
#include "intake/pair_dedup.h"

using duet::ManualClock;
using duet::intake::dedup_key;
using duet::intake::DedupKey;
using duet::intake::PairDedup;
using duet::intake::ReceiptPair;
using namespace std::chrono_literals;

namespace {

struct Harness {
  explicit Harness(PairDedup::Options o = {10s, 1s}) : dedup(o) {}
  ManualClock clock;
  PairDedup dedup;
  std::uint64_t next_seq = 0;
  std::uint64_t next_event = 100;
  std::int64_t ms = 1'000'000;  // both hosts' wall clock, in step unless a test says otherwise
  int emitted = 0;
  std::vector<std::uint64_t> emitted_events;

  PairDedup::Verdict local(const DedupKey& k) { return local_at(k, ms); }
  PairDedup::Verdict local_at(const DedupKey& k, std::int64_t at) {
    const std::uint64_t id = ++next_event;
    const auto v = dedup.on_local(k, at, id);
    if (v == PairDedup::Verdict::kEmit) {
      ++emitted;
      emitted_events.push_back(id);
    }
    return v;
  }
  std::uint64_t peer(const DedupKey& k) { return peer_at(k, ms); }
  std::uint64_t peer_at(const DedupKey& k, std::int64_t at) {
    dedup.on_peer_digest(k, ++next_seq, at, clock.now(), ms);
    return next_seq;
  }
  void advance(duet::Duration d) {
    clock.advance(d);
    ms += std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }
  // Emits what fell due (content arrives at once).
  void take_due() {
    for (auto seq : dedup.take_due(clock.now())) {
      const std::uint64_t id = next_event + 1;
      if (!dedup.on_peer_content(seq, id)) continue;
      ++next_event;
      ++emitted;
      emitted_events.push_back(id);
    }
  }
  // Lets time pass, emits what fell due, expires.
  void settle(duet::Duration d = 2s) {
    advance(d);
    take_due();
    dedup.expire(ms);
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
      h.advance(500ms);
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
        h.advance(10ms);
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

TEST_CASE("Every recorded event is reported paired with the peer receipt it stands for",
          "[intake]") {
  Harness h;
  h.local(kA);                 // event 101, unpaired
  const auto s1 = h.peer(kA);  // pairs with 101
  const auto s2 = h.peer(kB);  // pending
  h.local(kB);                 // event 102 stands for both
  const auto s3 = h.peer(kA);  // only the standby: due, then event 103
  h.settle();
  const auto pairs = h.dedup.take_pairs();
  CHECK(pairs == std::vector<ReceiptPair>{{101, s1}, {102, s2}, {103, s3}});
  CHECK(h.dedup.take_pairs().empty());
  CHECK(h.dedup.peer_cursor() == 3);
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
  CHECK(h.dedup.on_peer_content(1, 500));
  CHECK(h.dedup.peer_cursor() == 2);
  // The master's own copy arriving late (within the window) is a duplicate.
  CHECK(h.local(kA) == PairDedup::Verdict::kDuplicate);
}

TEST_CASE("A due receipt the standby no longer holds is decided, and counts for nothing",
          "[intake]") {
  Harness h;
  h.peer(kA);
  h.settle();             // due, content asked for
  CHECK(h.emitted == 1);  // (the harness answers at once; ask again without it)
  Harness g;
  g.peer(kA);
  g.advance(2s);
  REQUIRE(g.dedup.take_due(g.clock.now()) == std::vector<std::uint64_t>{1});
  g.dedup.on_peer_gone(1);
  CHECK(g.dedup.peer_cursor() == 1);
  CHECK(g.dedup.stats().peer_gone == 1);
  CHECK(g.local(kA) == PairDedup::Verdict::kEmit);  // nothing was recorded for it
}

TEST_CASE("An own copy arriving while a due receipt's content is awaited is emitted for both",
          "[intake]") {
  for (const char* then : {"content arrives", "the standby dropped it", "the standby restarted"}) {
    INFO(then);
    Harness h;
    h.peer(kA);
    h.advance(2s);
    REQUIRE(h.dedup.take_due(h.clock.now()) == std::vector<std::uint64_t>{1});
    CHECK(h.local(kA) == PairDedup::Verdict::kEmit);  // not a duplicate of an unrecorded copy
    CHECK(h.dedup.peer_cursor() == 1);
    const std::string what = then;
    if (what == "content arrives") {
      CHECK_FALSE(h.dedup.on_peer_content(1, 900));  // already recorded: not again
    } else if (what == "the standby dropped it") {
      h.dedup.on_peer_gone(1);
      CHECK(h.dedup.stats().peer_gone == 0);  // nothing was lost
    } else {
      h.dedup.reset_peer(0);
    }
    h.settle();
    CHECK(h.emitted == 1);
    CHECK(h.dedup.take_pairs() == std::vector<ReceiptPair>{{h.emitted_events[0], 1}});
  }
}

TEST_CASE("A standby clock far ahead does not make unpaired copies expire early", "[intake]") {
  Harness h;
  h.local(kA);
  h.peer_at(kB, h.ms + 60'000);  // one digest from a clock stepped a minute ahead
  h.dedup.expire(h.ms);
  CHECK(h.dedup.unpaired_local() == 1);
  h.advance(20ms);
  h.peer(kA);  // the real copy still pairs
  h.settle();
  CHECK(h.dedup.stats().peer_due == 1);  // only kB, which the master never got
  CHECK(h.emitted == 2);
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

TEST_CASE("Copies received further apart than the window are separate events", "[intake]") {
  Harness h;
  h.local(kA);
  h.advance(11s);
  h.peer(kA);  // received 11 s after the master's copy: a new occurrence
  h.settle();
  CHECK(h.emitted == 2);
  h.settle(30s);
  CHECK(h.dedup.tracked_keys() == 0);
}

TEST_CASE("A backlog of digests after a long cut of the forwarding link pairs by receive time",
          "[intake]") {
  Harness h;
  std::vector<std::int64_t> times;
  for (int i = 0; i < 20; ++i) {
    h.local(i % 2 == 0 ? kA : kB);
    times.push_back(h.ms);
    h.advance(1s);
  }
  h.settle(60s);                          // the standby's digests do not get through for a minute
  CHECK(h.dedup.unpaired_local() == 20);  // kept: no digest has passed them yet
  for (int i = 0; i < 20; ++i) h.peer_at(i % 2 == 0 ? kA : kB, times[i]);
  h.settle();
  CHECK(h.emitted == 20);  // none recorded twice
  CHECK(h.dedup.stats().peer_due == 0);
  CHECK(h.dedup.unpaired_local() == 0);
}

TEST_CASE("Unpaired local copies go once the peer's receipts are past them, or at the limits",
          "[intake]") {
  SECTION("the peer's receipts moved past by the window") {
    Harness h;
    h.local(kA);
    h.advance(10s);
    h.dedup.expire(h.ms);
    CHECK(h.dedup.unpaired_local() == 1);
    h.advance(1ms);
    h.peer(kB);
    h.dedup.expire(h.ms);
    CHECK(h.dedup.unpaired_local() == 0);
    CHECK(h.dedup.stats().unpaired_dropped == 0);  // not a drop: nothing can pair with it
  }
  SECTION("no digest for max_hold") {
    Harness h(PairDedup::Options{10s, 1s, 60s, 1000});
    h.local(kA);
    h.advance(60s);
    h.dedup.expire(h.ms);
    CHECK(h.dedup.unpaired_local() == 1);
    h.advance(1ms);
    h.dedup.expire(h.ms);
    CHECK(h.dedup.unpaired_local() == 0);
    CHECK(h.dedup.stats().unpaired_dropped == 1);
  }
  SECTION("more than max_unpaired: the oldest go") {
    Harness h(PairDedup::Options{10s, 1s, 60s, 3});
    for (int i = 0; i < 5; ++i) h.local(dedup_key("s", std::to_string(i)));
    h.dedup.expire(h.ms);
    CHECK(h.dedup.unpaired_local() == 3);
    CHECK(h.dedup.stats().unpaired_dropped == 2);
  }
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

TEST_CASE("After a reset, digests sent again for receipts already paired are ignored", "[intake]") {
  Harness h;
  h.dedup.reset_peer(4, {6, 7});  // from the store: up to 4 decided, and 6 and 7
  h.next_seq = 4;
  h.peer(kA);  // 5: new
  h.peer(kA);  // 6: already paired (its event is in the store)
  h.peer(kA);  // 7: likewise
  h.settle();
  CHECK(h.emitted == 1);
  CHECK(h.dedup.peer_cursor() == 7);
}

TEST_CASE("A standby restart forgets receipts whose content never came", "[intake]") {
  Harness h;
  h.peer(kA);
  h.advance(2s);
  REQUIRE(h.dedup.take_due(h.clock.now()).size() == 1);
  h.dedup.reset_peer(0);  // the standby restarted before sending the content
  CHECK(h.local(kA) == PairDedup::Verdict::kEmit);  // not taken for a copy of nothing
}

TEST_CASE("Rebuilt from the store: a resumed master pairs late digests with its own events",
          "[intake]") {
  Harness h;
  h.dedup.seed_unpaired_local(kA, h.ms - 500, 42);  // recorded before the lapse, unpaired
  h.peer_at(kA, h.ms - 480);                        // the standby's copy, late
  h.settle();
  CHECK(h.emitted == 0);
  CHECK(h.dedup.take_pairs() == std::vector<ReceiptPair>{{42, 1}});
}

TEST_CASE("Rebuilt from the store: a promoted node's copies of the old master's events",
          "[intake]") {
  // The old master recorded kA twice (events 7, 8) that no receipt of this
  // node was paired with yet; this node holds three undecided copies.
  Harness h;
  h.dedup.seed_peer_emitted(kA, h.ms - 300, 7);
  h.dedup.seed_peer_emitted(kA, h.ms - 200, 8);
  CHECK(h.local_at(kA, h.ms - 290) == PairDedup::Verdict::kDuplicate);
  CHECK(h.local_at(kA, h.ms - 190) == PairDedup::Verdict::kDuplicate);
  CHECK(h.local_at(kA, h.ms - 100) == PairDedup::Verdict::kEmit);  // max(2, 3) = 3
  CHECK(h.dedup.take_pairs() == std::vector<ReceiptPair>{{7, 0}, {8, 0}});
  // An old master's copy further away than the window does not pair.
  h.dedup.seed_peer_emitted(kB, h.ms - 20'000, 9);
  CHECK(h.local(kB) == PairDedup::Verdict::kEmit);
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
        h.advance(std::chrono::milliseconds(rng() % 300));
        h.take_due();
      }
    }
    h.settle();
    CHECK(h.emitted == expected);
    // Every emitted event is paired or still unpaired, never both, never twice.
    std::set<std::uint64_t> paired;
    for (const auto& p : h.dedup.take_pairs()) CHECK(paired.insert(p.event_id).second);
    CHECK(paired.size() + h.dedup.unpaired_local() == h.emitted_events.size());
  }
}
