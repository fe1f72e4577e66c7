#pragma once

// JournalFollower: the standby's side of journal replication.
//
// While the Runner says the node follows the master, it keeps one
// Peer.Replicate stream open: it sends where its journal ends (LSN and the
// epoch of that record), applies each JournalBatch with Store::apply (which
// also persists a higher record epoch), acknowledges the LSN it made durable,
// and reports "caught up" each time its last LSN reaches the master's. A node
// with an empty store, one the master can no longer serve from its journal,
// one whose epoch is above the records it misses, and a diverged node after
// an operator failback (reseed allowed) first fetch a snapshot over
// Peer.FetchSnapshot and restore it, then stream from the snapshot's LSN + 1.
// A diverged node without failback is reported diverged (the Runner fences it).
//
// Re-seeding streams: each SnapshotChunk is restored (SnapshotRestore::
// add_rows) in its own strand task as it arrives, and the next one is read
// only after that (gRPC flow control), so memory holds one chunk whatever the
// size of the store. The restore is one transaction, committed when the
// stream ends with OK; a broken stream, a failed chunk or stop() rolls it
// back (the old data stays) and the next ensure() fetches again. Opening
// the restore (the master's header arrived) reports lost_sync ("re-seeding"). While a restore is
// open the store refuses every other use (store/store.h): the Runner asks restoring() and leaves
// the store alone meanwhile (no health probe, no epoch write; its position stays the pre-restore
// one).
//
// Threads: every method and hook runs on the executor (the manager's strand),
// which owns the store. The gRPC reactors post their events there; events of
// a stream the follower already dropped are ignored.
//
// Ownership: owned by the Runner; `store` outlives it. stop() cancels what
// runs; the destructor stops; no hook runs after destruction.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "duet/v1/peer.grpc.pb.h"
#include "store/store.h"

namespace duet::ha {

class FollowStream;
class SnapshotFetch;

class JournalFollower {
 public:
  struct Hooks {
    std::function<void()> caught_up;  // last LSN reached the master's
    // The master's first batch on a new stream shows this node behind it.
    std::function<void(const std::string&)> lost_sync;
    // The stream ended. This alone does not make a standby stale: a dead
    // master breaks it too, and the standby must still be able to take over.
    std::function<void(const std::string&)> stream_ended;
    std::function<void(const std::string&)> diverged;  // histories differ; no reseed allowed
    std::function<void()> moved;                       // journal position or epoch changed
  };

  JournalFollower(boost::asio::any_io_executor executor, store::Store& store, std::string name,
                  Hooks hooks);
  ~JournalFollower();
  JournalFollower(const JournalFollower&) = delete;
  JournalFollower& operator=(const JournalFollower&) = delete;

  // Starts a stream (or a snapshot first) to `stub` unless one runs. With
  // `reseed_allowed` a diverged journal is replaced by the master's snapshot.
  // `stub` must outlive what it starts (the Runner keeps it until destruction).
  void ensure(duet::v1::Peer::Stub* stub, bool reseed_allowed);
  void stop(const std::string& why);
  bool running() const { return state_ != State::kIdle; }
  // Streaming, and the master's first batch arrived.
  bool connected() const { return state_ == State::kStreaming && got_first_; }
  // "idle", "snapshot", "streaming", for status and logs.
  const char* state_name() const;
  std::uint64_t snapshots_restored() const { return snapshots_restored_; }
  // Fetching a snapshot (from the request until it is committed or dropped).
  bool reseeding() const { return state_ == State::kSnapshot; }
  // A SnapshotRestore is open: nothing else may use the store.
  bool restoring() const { return restore_ != nullptr; }
  // Rows and approximate bytes restored by the current (or last) re-seed.
  std::uint64_t reseed_rows() const { return reseed_rows_; }
  std::uint64_t reseed_bytes() const { return reseed_bytes_; }

  // ---- called by the reactors, on the executor ----
  void on_batch(FollowStream* stream, const duet::v1::JournalBatch& batch);
  void on_stream_done(FollowStream* stream, const grpc::Status& status);
  void on_snapshot_chunk(SnapshotFetch* fetch, duet::v1::SnapshotChunk chunk);
  // `ended`: the end of the stream was read (every chunk arrived).
  void on_snapshot_done(SnapshotFetch* fetch, const grpc::Status& status, bool ended);

 private:
  enum class State { kIdle, kSnapshot, kStreaming };

  void start_stream();
  void start_snapshot();
  Status restore_chunk(const duet::v1::SnapshotChunk& chunk);
  void drop(const std::string& why);

  boost::asio::any_io_executor executor_;
  store::Store& store_;
  std::string name_;
  Hooks hooks_;
  duet::v1::Peer::Stub* stub_ = nullptr;
  State state_ = State::kIdle;
  bool reseed_allowed_ = false;
  bool need_snapshot_ = false;
  bool got_first_ = false;   // the current stream delivered its first batch
  std::string drop_reason_;  // why this side ended the current stream
  std::shared_ptr<FollowStream> stream_;
  std::shared_ptr<SnapshotFetch> fetch_;
  // After a restore the journal is empty: the epoch of the record at the
  // snapshot's LSN is known only from its header.
  std::optional<std::pair<store::Lsn, store::Epoch>> restored_;
  std::uint64_t snapshots_restored_ = 0;
  // The re-seed in progress.
  std::optional<store::SnapshotHeader> header_;
  std::unique_ptr<store::SnapshotRestore> restore_;
  std::string restore_error_;
  std::uint64_t reseed_rows_ = 0;
  std::uint64_t reseed_bytes_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace duet::ha
