#pragma once

// PairDedup: the master's duplicate suppression across the pair (invariant 5),
// as a pure core.
//
// Both managers receive every message. The master decides each of its own
// receipts at once; the standby forwards a digest of each of its receipts
// (key, its receipt sequence number, its receive time). Copies are paired one
// to one per key, a copy here with a copy there whose receive times are
// within `window` of each other, so a key is emitted max(count here, count
// there) times: a line sent 5 times to both nodes yields 5 events, not 1 and
// not 10.
//
// - A local receipt that pairs with a peer receipt not yet emitted is emitted
//   once for both; one that pairs with a peer receipt already emitted is a
//   duplicate; otherwise it is emitted and waits, unpaired, for the peer's copy.
// - A peer digest that pairs with an unpaired local copy is decided. Otherwise
//   it waits `grace` (master's monotonic clock, from its arrival) for the
//   master's own copy; then it is due: the master fetches that receipt's
//   content and emits it (on_peer_content), or learns it is gone (on_peer_gone).
// - Every pairing of a recorded event with a peer receipt is reported
//   (take_pairs), so the master persists it with its events: whoever acts next
//   rebuilds this state from the store (seed_*), per receipt, not by counting.
// - peer_cursor() is the highest peer sequence number up to which every peer
//   receipt is decided.
//
// Times: receive times are wall-clock milliseconds of the receiving host
// (the window covers the skew between the two hosts). An unpaired local copy
// is kept until the peer's digests have reached a receive time past it by the
// window (so a backlog arriving after a long cut of the forwarding link still
// finds it), or at most `max_hold`; an emitted peer copy until the master's
// own clock is past it by the window.
//
// Thread-compatible; one owner. No I/O.

#include <absl/container/flat_hash_map.h>
#include <absl/container/inlined_vector.h>

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"

namespace duet::intake {

using DedupKey = std::array<std::uint8_t, 16>;

// The identity key of a message: a digest over its source and its content.
DedupKey dedup_key(std::string_view source, std::string_view content);

struct DedupKeyHash {
  std::size_t operator()(const DedupKey& k) const noexcept;
};

// An event paired with the peer's receipt `seq` (event 0: not recorded,
// discarded by the rules; seq 0: paired with a copy the deciding node
// received itself, when it rebuilt from the store).
struct ReceiptPair {
  std::uint64_t event_id = 0;
  std::uint64_t seq = 0;
  bool operator==(const ReceiptPair&) const = default;
};

class PairDedup {
 public:
  struct Options {
    Duration window{std::chrono::seconds(10)};
    Duration grace{std::chrono::milliseconds(1000)};
    Duration max_hold{std::chrono::minutes(10)};  // unpaired local copies, at most
    std::size_t max_unpaired = 500'000;           // unpaired local copies kept, at most
  };

  enum class Verdict { kEmit, kDuplicate };

  struct Stats {
    std::uint64_t local_emitted = 0;
    std::uint64_t local_duplicates = 0;
    std::uint64_t peer_matched = 0;      // peer receipts paired with a local copy
    std::uint64_t peer_due = 0;          // peer receipts the master had to emit
    std::uint64_t peer_gone = 0;         // due, but the standby no longer held them
    std::uint64_t unpaired_dropped = 0;  // local copies dropped by max_hold / max_unpaired
  };

  explicit PairDedup(Options options) : options_(options) {}

  // The master's own receipt, received at `at_ms`; `event_id` is the id its
  // event gets if emitted.
  Verdict on_local(const DedupKey& key, std::int64_t at_ms, std::uint64_t event_id);
  // A digest of the standby's receipt `seq`, received there at `at_ms`;
  // `now_ms` is the master's wall clock (a standby clock ahead of it does
  // not make unpaired copies expire early).
  // Sequence numbers only grow within one incarnation of the standby; a new
  // incarnation starts over: call reset_peer first.
  void on_peer_digest(const DedupKey& key, std::uint64_t seq, std::int64_t at_ms, TimePoint now,
                      std::int64_t now_ms);
  // Peer receipts whose grace ran out unpaired, in sequence order: fetch them.
  std::vector<std::uint64_t> take_due(TimePoint now);
  // The content of due receipt `seq` arrived: true when it is to be emitted
  // as `event_id`; false when it is decided already (a local copy arrived
  // after it fell due and was emitted for both).
  bool on_peer_content(std::uint64_t seq, std::uint64_t event_id);
  // Due receipt `seq` is gone from the standby (it dropped it): decided,
  // lost. False when it was decided already.
  bool on_peer_gone(std::uint64_t seq);
  // Whether the content of `seq` is still wanted.
  bool awaiting(std::uint64_t seq) const { return awaiting_.count(seq) > 0; }
  // Pairings since the last call, for the store.
  std::vector<ReceiptPair> take_pairs();

  // Forgets the standby's previous incarnation: the cursor restarts at
  // `from`; `decided` are its receipts above `from` already paired (from the
  // store): their digests, sent again, are ignored.
  void reset_peer(std::uint64_t from, const std::set<std::uint64_t>& decided = {});

  // Rebuilding from the store when this node starts to act:
  // an event of this node's that no peer receipt is paired with yet...
  void seed_unpaired_local(const DedupKey& key, std::int64_t at_ms, std::uint64_t event_id);
  // ...and a copy the other node recorded as `event_id` that no copy of this
  // node's is paired with yet (a local copy that pairs with it is a
  // duplicate, reported as the pair {event_id, 0}).
  void seed_peer_emitted(const DedupKey& key, std::int64_t at_ms, std::uint64_t event_id);

  // Drops what can no longer pair. `now_ms`: the master's wall clock.
  void expire(std::int64_t now_ms);

  std::uint64_t peer_cursor() const;
  // When the next peer receipt falls due, for the caller's timer.
  std::optional<TimePoint> next_due() const;
  const Stats& stats() const { return stats_; }
  std::size_t tracked_keys() const { return keys_.size(); }
  std::size_t unpaired_local() const { return unpaired_count_; }

 private:
  struct Local {
    std::int64_t at_ms;
    std::uint64_t event_id;
  };
  struct Pending {
    std::int64_t at_ms;
    std::uint64_t seq;
    TimePoint arrived;
  };
  struct Emitted {
    std::int64_t at_ms;
    std::uint64_t seq;       // awaiting its content; 0 once emitted (or seeded)
    std::uint64_t event_id;  // seeded from the store: the other node's event
  };
  // A key has a copy or two at a time: each list keeps one in place, so
  // the usual key (one copy here, paired soon by the peer's) allocates
  // nothing. The table is open-addressed (flat): an entry is a slot, not a
  // heap node. Every receipt on both nodes passes here, and the node-based
  // map's allocation and pointer chasing were 6-8 % of the master's time.
  struct Entry {
    absl::InlinedVector<Local, 1> local_unpaired;
    absl::InlinedVector<Pending, 1> peer_pending;
    absl::InlinedVector<Emitted, 1> peer_emitted;
    bool empty() const {
      return local_unpaired.empty() && peer_pending.empty() && peer_emitted.empty();
    }
  };
  struct Timer {
    std::int64_t at_ms;
    DedupKey key;
  };
  struct GraceTimer {
    TimePoint at;
    DedupKey key;
    std::uint64_t seq;
  };

  bool near(std::int64_t a, std::int64_t b) const;
  void decide(std::uint64_t seq) { undecided_.erase(seq); }
  void drop_if_empty(const DedupKey& key);

  Options options_;
  absl::flat_hash_map<DedupKey, Entry, DedupKeyHash> keys_;
  std::deque<GraceTimer> grace_queue_;  // peer_pending entries in arrival order
  std::deque<Timer> local_queue_;       // unpaired local copies, in order added
  std::deque<Timer> emitted_queue_;     // peer_emitted entries, in order added
  std::set<std::uint64_t> undecided_;
  std::unordered_map<std::uint64_t, DedupKey> awaiting_;  // due receipts: seq -> key
  std::set<std::uint64_t> decided_ahead_;  // above the cursor, decided before a reset
  std::uint64_t highest_seen_ = 0;
  std::int64_t peer_watermark_ms_ = INT64_MIN;  // newest receive time among peer digests
  std::size_t unpaired_count_ = 0;
  std::vector<ReceiptPair> pairs_;
  Stats stats_;
};

}  // namespace duet::intake
