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

// One FetchSnapshot call: collects every chunk, then posts them at OnDone.
class SnapshotFetch final : public grpc::ClientReadReactor<duet::v1::SnapshotChunk>,
                            public std::enable_shared_from_this<SnapshotFetch> {
 public:
  explicit SnapshotFetch(FollowerRef ref) : ref_(std::move(ref)) {}

  void begin(duet::v1::Peer::Stub* stub, duet::v1::SnapshotRequest request) {
    self_ = shared_from_this();
    request_ = std::move(request);
    std::lock_guard lock(mu_);
    stub->async()->FetchSnapshot(&ctx_, &request_, this);
    StartRead(&in_);
    StartCall();
  }
  void cancel() {
    std::lock_guard lock(mu_);
    if (!done_) ctx_.TryCancel();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    chunks_.push_back(std::move(in_));
    in_.Clear();
    std::lock_guard lock(mu_);
    if (!done_) StartRead(&in_);
  }
  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    auto self = std::move(self_);
    ref_.post([self, status, chunks = std::move(chunks_)](JournalFollower& f) mutable {
      f.on_snapshot_done(self.get(), status, std::move(chunks));
    });
  }

 private:
  FollowerRef ref_;
  std::shared_ptr<SnapshotFetch> self_;
  grpc::ClientContext ctx_;
  std::mutex mu_;
  bool done_ = false;  // guarded by mu_
  duet::v1::SnapshotRequest request_;
  duet::v1::SnapshotChunk in_;
  std::vector<duet::v1::SnapshotChunk> chunks_;  // gRPC thread only, until OnDone
};

JournalFollower::JournalFollower(boost::asio::any_io_executor executor, store::Store& store,
                                 std::string name, Hooks hooks)
    : executor_(std::move(executor)),
      store_(store),
      name_(std::move(name)),
      hooks_(std::move(hooks)) {}

JournalFollower::~JournalFollower() {
  alive_.reset();
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

void JournalFollower::on_snapshot_done(SnapshotFetch* fetch, const grpc::Status& status,
                                       std::vector<duet::v1::SnapshotChunk> chunks) {
  if (fetch != fetch_.get()) return;
  fetch_.reset();
  state_ = State::kIdle;
  if (!drop_reason_.empty()) return;
  if (!status.ok()) {
    spdlog::warn("replication: snapshot failed: {}", status.error_message());
    if (hooks_.stream_ended) hooks_.stream_ended("snapshot failed: " + status.error_message());
    return;
  }
  store::Lsn lsn = 0;
  if (auto s = restore(chunks, &lsn); !s.ok()) {
    spdlog::error("replication: restoring the snapshot failed: {}", s.error().to_string());
    if (hooks_.lost_sync) hooks_.lost_sync("restore failed: " + s.error().to_string());
    if (hooks_.stream_ended) hooks_.stream_ended("restore failed");
    return;
  }
  need_snapshot_ = false;
  if (hooks_.moved) hooks_.moved();
  start_stream();
}

Status JournalFollower::restore(const std::vector<duet::v1::SnapshotChunk>& chunks,
                                store::Lsn* lsn) {
  if (chunks.empty() || !chunks.front().has_header()) {
    return make_error(store::StoreErrc::kInternal, "snapshot without a header");
  }
  const auto& h = chunks.front().header();
  store::SnapshotHeader header{h.lsn(), h.epoch(), h.schema_version()};
  *lsn = header.lsn;
  if (header.lsn == 0 && store_.last_lsn() == 0) return ok_status();  // nothing to restore
  DUET_ASSIGN_OR_RETURN(auto restore, store_.begin_restore(header));
  std::size_t rows = 0;
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    if (!chunks[i].has_rows()) continue;
    std::vector<store::Row> batch;
    batch.reserve(chunks[i].rows().rows_size());
    for (const auto& pb : chunks[i].rows().rows()) {
      DUET_ASSIGN_OR_RETURN(auto row, row_from_proto(pb));
      batch.push_back(std::move(row));
    }
    rows += batch.size();
    DUET_TRY(restore->add_rows(chunks[i].rows().table(), batch));
  }
  DUET_TRY(restore->commit());
  restored_ = std::make_pair(header.lsn, header.epoch);
  ++snapshots_restored_;
  spdlog::warn("replication: restored the master's snapshot at LSN {} (epoch {}, {} rows)",
               header.lsn, header.epoch, rows);
  return ok_status();
}

}  // namespace duet::ha
