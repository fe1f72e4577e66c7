#include "ha/journal_follower.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <map>
#include <mutex>

#include "ha/journal_codec.h"
#include "store/store_error.h"

namespace duet::ha {

// Posts `fn` to the executor; it runs only if the follower still exists.
struct FollowerRef {
  boost::asio::any_io_executor executor;
  JournalFollower* follower;
  std::weak_ptr<bool> alive;

  template <typename Fn>
  void post(Fn&& fn) const {
    boost::asio::post(executor, [f = follower, alive = alive, fn = std::forward<Fn>(fn)]() mutable {
      if (!alive.expired()) fn(*f);
    });
  }
};

// One Replicate call on the standby. gRPC calls On* on its threads; Start*
// and TryCancel are called under mu_ and never after OnDone.
class FollowStream final
    : public grpc::ClientBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch>,
      public std::enable_shared_from_this<FollowStream> {
 public:
  explicit FollowStream(FollowerRef ref) : ref_(std::move(ref)) {}

  void begin(duet::v1::Peer::Stub* stub, duet::v1::ReplicateRequest start) {
    self_ = shared_from_this();
    std::lock_guard lock(mu_);
    stub->async()->Replicate(&ctx_, this);
    out_ = std::move(start);
    writing_ = true;
    StartWrite(&out_);
    StartRead(&in_);
    StartCall();
  }
  void ack(std::uint64_t lsn) {
    std::lock_guard lock(mu_);
    if (done_) return;
    if (writing_) {
      pending_ack_ = lsn;
      return;
    }
    write_ack_locked(lsn);
  }
  void read_next() {
    std::lock_guard lock(mu_);
    if (!done_) StartRead(&in_);
  }
  void cancel() {
    std::lock_guard lock(mu_);
    if (!done_) ctx_.TryCancel();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    auto self = shared_from_this();
    ref_.post(
        [self, batch = std::move(in_)](JournalFollower& f) { f.on_batch(self.get(), batch); });
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (ok && pending_ack_ && !done_) {
      const auto lsn = *pending_ack_;
      pending_ack_.reset();
      write_ack_locked(lsn);
    }
  }
  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    auto self = std::move(self_);
    ref_.post([self, status](JournalFollower& f) { f.on_stream_done(self.get(), status); });
  }

 private:
  void write_ack_locked(std::uint64_t lsn) {
    out_.Clear();
    out_.mutable_ack()->set_durable_lsn(lsn);
    writing_ = true;
    StartWrite(&out_);
  }

  FollowerRef ref_;
  std::shared_ptr<FollowStream> self_;  // alive until OnDone
  grpc::ClientContext ctx_;
  std::mutex mu_;
  bool done_ = false;                         // guarded by mu_
  bool writing_ = false;                      // guarded by mu_
  std::optional<std::uint64_t> pending_ack_;  // guarded by mu_
  duet::v1::ReplicateRequest out_;
  duet::v1::JournalBatch in_;
};

// One FetchSnapshot call, read one chunk at a time: each chunk is posted to
// the executor, and the next read starts only when the follower asks for it
// (read_next, after the chunk is restored). A hold keeps OnDone back until
// the end of the stream was read or the call was cancelled, so "OK" always
// means every chunk reached the follower.
class SnapshotFetch final : public grpc::ClientReadReactor<duet::v1::SnapshotChunk>,
                            public std::enable_shared_from_this<SnapshotFetch> {
 public:
  explicit SnapshotFetch(FollowerRef ref) : ref_(std::move(ref)) {}

  void begin(duet::v1::Peer::Stub* stub, duet::v1::SnapshotRequest request) {
    self_ = shared_from_this();
    request_ = std::move(request);
    std::lock_guard lock(mu_);
    stub->async()->FetchSnapshot(&ctx_, &request_, this);
    AddHold();
    held_ = true;
    StartRead(&in_);
    StartCall();
  }
  void read_next() {
    std::lock_guard lock(mu_);
    if (!done_ && held_) StartRead(&in_);
  }
  void cancel() {
    std::lock_guard lock(mu_);
    if (done_) return;
    ctx_.TryCancel();
    release_locked();
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard lock(mu_);
      ended_ = true;
      release_locked();
      return;
    }
    // Take the chunk out before posting: once posted, the strand may ask for
    // the next read into in_ at any moment, so nothing may touch in_ after.
    duet::v1::SnapshotChunk chunk;
    chunk.Swap(&in_);
    auto self = shared_from_this();
    ref_.post([self, chunk = std::move(chunk)](JournalFollower& f) mutable {
      f.on_snapshot_chunk(self.get(), std::move(chunk));
    });
  }
  void OnDone(const grpc::Status& status) override {
    bool ended = false;
    {
      std::lock_guard lock(mu_);
      done_ = true;
      ended = ended_;
    }
    auto self = std::move(self_);
    ref_.post([self, status, ended](JournalFollower& f) {
      f.on_snapshot_done(self.get(), status, ended);
    });
  }

 private:
  void release_locked() {
    if (!held_) return;
    held_ = false;
    RemoveHold();
  }

  FollowerRef ref_;
  std::shared_ptr<SnapshotFetch> self_;
  grpc::ClientContext ctx_;
  std::mutex mu_;
  bool done_ = false;   // guarded by mu_
  bool held_ = false;   // guarded by mu_
  bool ended_ = false;  // guarded by mu_: the end of the stream was read
  duet::v1::SnapshotRequest request_;
  duet::v1::SnapshotChunk in_;  // the one read in flight
};

JournalFollower::JournalFollower(boost::asio::any_io_executor executor, store::Store& store,
                                 std::string name, Hooks hooks)
    : executor_(std::move(executor)),
      store_(store),
      name_(std::move(name)),
      hooks_(std::move(hooks)) {}

JournalFollower::~JournalFollower() {
  alive_.reset();
  restore_.reset();  // rolls back an unfinished re-seed
  if (stream_) stream_->cancel();
  if (fetch_) fetch_->cancel();
}

const char* JournalFollower::state_name() const {
  switch (state_) {
    case State::kIdle:
      return "idle";
    case State::kSnapshot:
      return "snapshot";
    case State::kStreaming:
      return "streaming";
  }
  return "idle";
}

void JournalFollower::ensure(duet::v1::Peer::Stub* stub, bool reseed_allowed) {
  reseed_allowed_ = reseed_allowed;
  if (state_ != State::kIdle || stub == nullptr) return;
  stub_ = stub;
  drop_reason_.clear();
  if (need_snapshot_ || store_.last_lsn() == 0) {
    start_snapshot();
  } else {
    start_stream();
  }
}

void JournalFollower::stop(const std::string& why) { drop(why); }

void JournalFollower::drop(const std::string& why) {
  if (drop_reason_.empty()) drop_reason_ = why;
  // An unfinished restore ends now, so the store is free again at once.
  if (restore_) {
    restore_.reset();
    spdlog::warn("replication: re-seed abandoned after {} rows: {}; old data kept", reseed_rows_,
                 why);
  }
  if (stream_) stream_->cancel();
  if (fetch_) fetch_->cancel();
}

void JournalFollower::start_stream() {
  const store::Lsn last = store_.last_lsn();
  store::Epoch last_epoch = 0;
  if (last > 0) {
    auto rec = store_.read_journal(last, 1);
    if (rec.ok() && !rec->empty() && rec->front().lsn == last) {
      last_epoch = rec->front().epoch;
    } else if (restored_ && restored_->first == last) {
      last_epoch = restored_->second;
    }
  }
  duet::v1::ReplicateRequest req;
  auto* start = req.mutable_start();
  start->set_from(name_);
  start->set_epoch(store_.current_epoch());
  start->set_from_lsn(last + 1);
  start->set_last_epoch(last_epoch);
  state_ = State::kStreaming;
  got_first_ = false;
  stream_ = std::make_shared<FollowStream>(FollowerRef{executor_, this, alive_});
  stream_->begin(stub_, std::move(req));
}

void JournalFollower::start_snapshot() {
  spdlog::info("replication: fetching a snapshot from the master (local last LSN {})",
               store_.last_lsn());
  reseed_rows_ = 0;
  reseed_bytes_ = 0;
  header_.reset();
  restore_error_.clear();
  duet::v1::SnapshotRequest req;
  req.set_from(name_);
  req.set_epoch(store_.current_epoch());
  state_ = State::kSnapshot;
  fetch_ = std::make_shared<SnapshotFetch>(FollowerRef{executor_, this, alive_});
  fetch_->begin(stub_, std::move(req));
}

void JournalFollower::on_batch(FollowStream* stream, const duet::v1::JournalBatch& batch) {
  if (stream != stream_.get() || !drop_reason_.empty()) return;
  // Fencing (invariant 1) is on the sender: a master below the epoch this
  // node has seen is stale. The records themselves may be older history.
  if (batch.epoch() < store_.current_epoch()) {
    return drop("the sender's epoch " + std::to_string(batch.epoch()) + " is below this node's " +
                std::to_string(store_.current_epoch()));
  }
  if (!got_first_) {
    got_first_ = true;
    const store::Lsn have = store_.last_lsn();
    if (have < batch.master_last_lsn() && hooks_.lost_sync) {
      hooks_.lost_sync("behind the master: LSN " + std::to_string(have) + " of " +
                       std::to_string(batch.master_last_lsn()));
    }
  }
  std::vector<store::JournalRecord> records;
  records.reserve(batch.records_size());
  for (const auto& pb : batch.records()) {
    auto r = record_from_proto(pb);
    if (!r.ok()) return drop("bad record from the master: " + r.error().to_string());
    records.push_back(std::move(r).value());
  }
  if (!records.empty()) {
    auto applied = store_.apply(records);
    if (!applied.ok()) {
      const auto& e = applied.error();
      if (e.code == store::StoreErrc::kDiverged) {
        if (reseed_allowed_) {
          need_snapshot_ = true;
          return drop("diverged; re-seeding from a snapshot: " + e.to_string());
        }
        drop("diverged: " + e.to_string());
        if (hooks_.diverged) hooks_.diverged(e.to_string());
        return;
      }
      if (e.code == store::StoreErrc::kStaleEpoch || e.code == store::StoreErrc::kJournalGap) {
        need_snapshot_ = true;
        return drop("cannot apply the journal (" + e.to_string() + "); re-seeding");
      }
      return drop("apply failed: " + e.to_string());
    }
    restored_.reset();
    if (hooks_.moved) hooks_.moved();
  }
  const store::Lsn last = store_.last_lsn();
  stream->ack(last);
  if (last >= batch.master_last_lsn() && hooks_.caught_up) hooks_.caught_up();
  if (stream_.get() == stream) stream->read_next();
}

void JournalFollower::on_stream_done(FollowStream* stream, const grpc::Status& status) {
  if (stream != stream_.get()) return;
  stream_.reset();
  state_ = State::kIdle;
  std::string why = !drop_reason_.empty() ? drop_reason_ : status.error_message();
  if (why.empty()) why = "the master ended the stream";
  if (drop_reason_.empty() && status.error_code() == grpc::StatusCode::ABORTED) {
    if (reseed_allowed_) {
      need_snapshot_ = true;
      spdlog::warn("replication: {}; re-seeding from the master's snapshot (failback)", why);
    } else {
      spdlog::error("replication: {}", why);
      if (hooks_.diverged) hooks_.diverged(why);
      return;
    }
  } else if (drop_reason_.empty() && status.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
    need_snapshot_ = true;
  }
  spdlog::info("replication: stream ended: {}", why);
  if (hooks_.stream_ended) hooks_.stream_ended("replication stream ended: " + why);
}

void JournalFollower::on_snapshot_chunk(SnapshotFetch* fetch, duet::v1::SnapshotChunk chunk) {
  if (fetch != fetch_.get() || !drop_reason_.empty()) return;
  if (auto s = restore_chunk(chunk); !s.ok()) {
    restore_error_ = "restoring the snapshot failed: " + s.error().to_string();
    restore_.reset();  // rolls back: the old data stays
    return drop(restore_error_);
  }
  fetch->read_next();
}

Status JournalFollower::restore_chunk(const duet::v1::SnapshotChunk& chunk) {
  if (chunk.has_header()) {
    if (header_) return make_error(store::StoreErrc::kInternal, "a second snapshot header");
    const auto& h = chunk.header();
    header_ = store::SnapshotHeader{h.lsn(), h.epoch(), h.schema_version()};
    spdlog::info("replication: re-seeding from the master's snapshot at LSN {} (epoch {})",
                 header_->lsn, header_->epoch);
    if (header_->lsn == 0 && store_.last_lsn() == 0) return ok_status();  // nothing to restore
    DUET_ASSIGN_OR_RETURN(restore_, store_.begin_restore(*header_));
    // Only now is this node's data being replaced: until the master answered,
    // a standby whose master died must still be able to take over.
    if (hooks_.lost_sync) {
      hooks_.lost_sync("re-seeding from the master's snapshot at LSN " +
                       std::to_string(header_->lsn));
    }
    return ok_status();
  }
  if (!chunk.has_rows()) return ok_status();
  if (!header_) return make_error(store::StoreErrc::kInternal, "snapshot rows before its header");
  if (!restore_) return make_error(store::StoreErrc::kInternal, "rows in an empty snapshot");
  std::vector<store::Row> rows;
  rows.reserve(chunk.rows().rows_size());
  std::uint64_t bytes = 0;
  for (const auto& pb : chunk.rows().rows()) {
    DUET_ASSIGN_OR_RETURN(auto row, row_from_proto(pb));
    bytes += store::approx_bytes(row);
    rows.push_back(std::move(row));
  }
  DUET_TRY(restore_->add_rows(chunk.rows().table(), rows));
  reseed_rows_ += rows.size();
  reseed_bytes_ += bytes;
  return ok_status();
}

void JournalFollower::on_snapshot_done(SnapshotFetch* fetch, const grpc::Status& status,
                                       bool ended) {
  if (fetch != fetch_.get()) return;
  fetch_.reset();
  state_ = State::kIdle;
  // Whatever happens next, this restore is finished: commit it or roll back.
  auto restore = std::move(restore_);
  const auto header = header_;
  header_.reset();
  const std::string restore_error = std::move(restore_error_);
  restore_error_.clear();
  std::string why;
  if (!restore_error.empty()) {
    why = restore_error;
  } else if (!drop_reason_.empty()) {
    return;  // stopped on purpose; drop() already rolled back
  } else if (!status.ok()) {
    why = "snapshot failed: " + status.error_message();
  } else if (!ended || !header) {
    why = "snapshot stream ended early";
  }
  if (why.empty() && restore) {
    if (auto s = restore->commit(); !s.ok()) {
      why = "committing the snapshot failed: " + s.error().to_string();
    }
  }
  if (!why.empty()) {
    restore.reset();  // rolls back: the old data stays; the next ensure() retries
    spdlog::warn("replication: {} (after {} rows); old data kept, will retry", why, reseed_rows_);
    if (hooks_.stream_ended) hooks_.stream_ended(why);
    return;
  }
  if (restore) {
    restored_ = std::make_pair(header->lsn, header->epoch);
    ++snapshots_restored_;
    spdlog::warn(
        "replication: restored the master's snapshot at LSN {} (epoch {}, {} rows, {} MiB)",
        header->lsn, header->epoch, reseed_rows_, reseed_bytes_ >> 20);
  }
  need_snapshot_ = false;
  if (hooks_.moved) hooks_.moved();
  start_stream();
}

}  // namespace duet::ha
