#pragma once

// PairDedup: the master's duplicate suppression across the pair (invariant 5),
// as a pure core.
//
// Both managers receive every message. The master decides each of its own
// receipts at once; the standby forwards a digest of each of its receipts
// (key, its receipt sequence number). Copies are matched one to one per key:
// a local receipt matches a peer receipt of the same key and vice versa, so
// within the window a key is emitted max(count here, count there) times —
// a line sent 5 times to both nodes yields 5 events, not 1 and not 10.
//
// - A local receipt that matches an unmatched peer receipt is a duplicate;
//   otherwise it is emitted and waits `window` for the peer's copy.
// - A peer digest that matches an unmatched local receipt is decided
//   (duplicate). Otherwise it waits `grace` for the master's own copy, which
//   may simply be slower; when the grace runs out it is due: the master
//   fetches that receipt's content from the standby and emits it, and the
//   receipt then waits out the window for a late local copy.
// - peer_cursor() is the highest peer sequence number below which every peer
//   receipt is decided and, if emitted, handed over (on_peer_content). The
//   master persists it with the events of the same batch; the standby drops
//   receipts the replicated cursor covers.
//
// Time is the master's clock (monotonic), passed in; peer receipts are timed
// at their arrival, so clock skew between the nodes does not matter here.
// Thread-compatible; one owner. No I/O.

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

class PairDedup {
 public:
  struct Options {
    Duration window{std::chrono::seconds(10)};
    Duration grace{std::chrono::milliseconds(1000)};
  };

  enum class Verdict { kEmit, kDuplicate };

  struct Stats {
    std::uint64_t local_emitted = 0;
    std::uint64_t local_duplicates = 0;
    std::uint64_t peer_matched = 0;  // peer receipts matched by a local copy
    std::uint64_t peer_due = 0;      // peer receipts the master had to emit
  };

  explicit PairDedup(Options options) : options_(options) {}

  Verdict on_local(const DedupKey& key, TimePoint now);
  // A digest of the standby's receipt `seq` (sequence numbers only grow within
  // one incarnation of the standby; a new incarnation starts over: call
  // reset_peer first).
  void on_peer_digest(const DedupKey& key, std::uint64_t seq, TimePoint now);
  // Peer receipts whose grace ran out unmatched, in sequence order: fetch and emit them.
  std::vector<std::uint64_t> take_due(TimePoint now);
  // The content of due receipt `seq` is in the batch being built.
  void on_peer_content(std::uint64_t seq);
  // Forgets what the standby's previous incarnation sent; the cursor restarts at `from`.
  void reset_peer(std::uint64_t from = 0);

  // After a promotion: copies the old master emitted that no receipt of this
  // node matched, as if the peer had sent them (a late local copy matches).
  void seed_peer_emitted(const DedupKey& key, TimePoint at);

  // Drops what is older than the window. Call now and then.
  void expire(TimePoint now);

  std::uint64_t peer_cursor() const;
  // When the next peer receipt falls due, for the caller's timer.
  std::optional<TimePoint> next_due() const;
  const Stats& stats() const { return stats_; }
  std::size_t tracked_keys() const { return keys_.size(); }

 private:
  struct Pending {
    TimePoint at;
    std::uint64_t seq;
  };
  struct Entry {
    std::deque<TimePoint> local_unmatched;  // emitted here, waiting for the peer's copy
    std::deque<Pending> peer_pending;       // peer copies waiting for ours (grace)
    std::deque<TimePoint> peer_emitted;     // peer copies emitted, waiting for ours
    bool empty() const {
      return local_unmatched.empty() && peer_pending.empty() && peer_emitted.empty();
    }
  };
  struct Timer {
    TimePoint at;
    DedupKey key;
  };

  void decide(std::uint64_t seq);

  Options options_;
  std::unordered_map<DedupKey, Entry, DedupKeyHash> keys_;
  std::deque<Timer> grace_queue_;   // peer_pending entries in arrival order
  std::deque<Timer> expiry_queue_;  // every entry added, in time order
  std::set<std::uint64_t> undecided_;
  std::uint64_t highest_seen_ = 0;
  Stats stats_;
};

// What a standby that is promoted must emit itself: its receipts that the
// old master had not decided, less the copies the old master emitted that
// none of this node's receipts matched. All lists cover one window.
struct PromotionInput {
  struct Item {
    DedupKey key;
    std::uint64_t seq = 0;  // receipts only
  };
  std::vector<DedupKey> events;   // emitted by the old master, in the window
  std::vector<DedupKey> decided;  // this node's receipts the old master decided
  std::vector<Item> undecided;    // this node's receipts it did not
};
struct PromotionPlan {
  std::vector<std::uint64_t> emit;         // receipt seqs to emit, in order
  std::vector<DedupKey> unmatched_events;  // seed_peer_emitted for each
};
PromotionPlan plan_promotion(const PromotionInput& input);

}  // namespace duet::intake
