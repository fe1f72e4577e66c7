#pragma once

// JournalShipper: the master's side of journal replication (invariants 3, 4).
//
// It serves the standby's Peer.Replicate stream: checks where the standby's
// journal ends against its own (divergence), sends the missing records in
// JournalBatch messages, then each new record as it is committed, and tracks
// the LSN the standby acknowledged as durable. It also serves
// Peer.FetchSnapshot for a standby that must be re-seeded, and answers "is
// LSN n replicated yet?" for sync mode.
//
// Threads: every method runs on the executor (the manager's strand), which
// owns the store. The gRPC reactors made by make_replicate_reactor and
// make_snapshot_reactor live on gRPC threads; they touch no store and post
// every event to the executor, where they find the shipper through a
// FindShipper function (null: this node cannot serve yet; the call is refused
// with UNAVAILABLE). A reactor keeps itself alive until gRPC calls OnDone.
// A snapshot is streamed by a SnapshotSender (ha/snapshot_sender.h): a
// worker thread reads it through a reader with its own database connection,
// so the strand keeps committing; the shipper joins the worker when the call
// ends, and stop() cancels and joins every one.
//
// Ownership: owned by the Runner; `clock` and `store` outlive it. stop() (also
// run by the destructor) ends every stream and answers every waiter.
//
// Sync mode: when_replicated(lsn) answers true once the standby acked `lsn`.
// When no standby is connected, or it has not acked within the lag bound, the
// master "runs alone" and stays alone until the standby has acked the
// master's last LSN again. Before it answers anything false (acknowledged
// without the standby) it needs `may_go_alone`: the role machine's word that
// the standby heard it no longer counts as in sync, or is silent (see
// RoleMachine::alone_allowed). Until then waiters wait; the owner calls
// recheck_alone() when that may have changed, and `wants_alone` fires when
// the shipper starts wanting it (so the owner can say so at once).

#include <grpcpp/support/server_callback.h>

#include <boost/asio/any_io_executor.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "duet/v1/peer.pb.h"
#include "ha/snapshot_sender.h"
#include "store/store.h"

namespace duet::ha {

class ShipStream;  // one Replicate call being served (journal_shipper.cpp)

struct ReplicationLag {
  bool connected = false;     // a standby stream is open
  store::Lsn acked_lsn = 0;   // the newest LSN the standby acknowledged as durable
  std::uint64_t records = 0;  // master last LSN - acked LSN
  std::int64_t ms = 0;        // now - commit time of the oldest unacked record
};

class JournalShipper {
 public:
  struct Options {
    bool sync = true;
    Duration lag_bound{std::chrono::milliseconds(2000)};
    std::size_t batch_records = 256;
    // Payload bytes per message (at least one record); a kUpsertRows record
    // holds up to about 1 MiB, well below the 64 MiB gRPC message limit.
    std::size_t batch_bytes = 8 << 20;
    std::size_t snapshot_chunk_rows = 512;
    std::size_t snapshot_chunk_bytes = 1 << 20;  // well below gRPC's 4 MiB message limit
  };
  // `may_serve` says whether this node is an acting master now.
  JournalShipper(
      Clock& clock, store::Store& store, Options options, std::function<bool()> may_serve,
      std::function<bool()> may_go_alone = [] { return true; },
      std::function<void()> wants_alone = [] {});
  ~JournalShipper();
  JournalShipper(const JournalShipper&) = delete;
  JournalShipper& operator=(const JournalShipper&) = delete;

  void stop();
  // Ends the standby's stream (this node stopped acting); waiters get false.
  void drop_streams(const std::string& why);

  // Called after every local commit: ships the new records.
  void on_commit();
  // `done(replicated)`, exactly once, on the executor (possibly before this returns).
  void when_replicated(store::Lsn lsn, std::function<void(bool replicated)> done);

  // Wants to acknowledge without the standby (or does).
  bool running_alone() const { return alone_; }
  // may_go_alone may have turned true: answer the waiters held for it.
  void recheck_alone();
  ReplicationLag lag() const;

  // ---- called by the reactors, on the executor ----
  void on_request(const std::shared_ptr<ShipStream>& stream, const duet::v1::ReplicateRequest& r);
  void on_write_done(ShipStream* stream, bool ok);
  void on_closed(ShipStream* stream);
  // A FetchSnapshot call: refused unless acting, else its worker starts.
  void serve_snapshot(const std::shared_ptr<SnapshotSender>& sender);
  void on_snapshot_done(SnapshotSender* sender);
  bool may_serve() const { return !stopped_ && may_serve_(); }
  // Rows sent so far by the snapshots being streamed; nullopt when none is.
  std::optional<std::uint64_t> snapshot_rows_sent() const;

 private:
  struct Standby {
    std::shared_ptr<ShipStream> stream;
    std::string name;
    store::Lsn next_lsn = 1;  // next record to send
    bool write_in_flight = false;
    bool sent_first = false;
  };
  struct Waiter {
    store::Lsn lsn;
    TimePoint deadline;
    std::function<void(bool)> done;
  };

  void start(const std::shared_ptr<ShipStream>& stream, const duet::v1::ReplicateStart& start);
  void on_ack(store::Lsn lsn);
  void pump();
  void go_alone(const std::string& why);
  void release(bool all, bool replicated);
  void arm_lag_timer();

  Clock& clock_;
  store::Store& store_;
  Options options_;
  std::function<bool()> may_serve_;
  std::function<bool()> may_go_alone_;
  std::function<void()> wants_alone_;
  std::optional<Standby> standby_;
  store::Lsn acked_lsn_ = 0;
  bool alone_ = false;
  bool stopped_ = false;
  std::deque<Waiter> waiters_;  // in LSN order (commits are)
  std::optional<TimerId> lag_timer_;
  std::vector<std::shared_ptr<SnapshotSender>> snapshots_;  // being streamed; joined when done
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The shipper of this node, or null while it cannot serve (runs on the executor).
using FindShipper = std::function<JournalShipper*()>;

// Reactors for Peer.Replicate and Peer.FetchSnapshot (called on gRPC threads).
grpc::ServerBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch>* make_replicate_reactor(
    boost::asio::any_io_executor executor, FindShipper find);
// `from`: the standby's name, for logs.
grpc::ServerWriteReactor<duet::v1::SnapshotChunk>* make_snapshot_reactor(
    boost::asio::any_io_executor executor, FindShipper find, std::string from = "the standby");

}  // namespace duet::ha
