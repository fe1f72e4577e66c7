#include "ha/journal_shipper.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <mutex>

#include "ha/journal_codec.h"

namespace duet::ha {

// One Replicate call on the master. gRPC calls the On* methods on its
// threads; they post to the executor. Start*/Finish are called under mu_ and
// never after Finish, so a stream the master already ended is left alone.
class ShipStream final
    : public grpc::ServerBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch>,
      public std::enable_shared_from_this<ShipStream> {
 public:
  ShipStream(boost::asio::any_io_executor executor, FindShipper find)
      : executor_(std::move(executor)), find_(std::move(find)) {}

  void begin() {
    self_ = shared_from_this();
    std::lock_guard lock(mu_);
    StartRead(&in_);
  }

  // Any thread.
  bool write(duet::v1::JournalBatch batch) {
    std::lock_guard lock(mu_);
    if (finished_) return false;
    out_ = std::move(batch);
    StartWrite(&out_);
    return true;
  }
  void finish(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      finish(grpc::Status::OK);  // the standby closed its side, or the call broke
      return;
    }
    duet::v1::ReplicateRequest msg = std::move(in_);
    {
      std::lock_guard lock(mu_);
      if (!finished_) StartRead(&in_);
    }
    auto self = shared_from_this();
    boost::asio::post(executor_, [self, msg = std::move(msg)] {
      JournalShipper* shipper = self->find_();
      if (shipper == nullptr) {
        self->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "this manager is not ready"));
        return;
      }
      shipper->on_request(self, msg);
    });
  }
  void OnWriteDone(bool ok) override {
    auto self = shared_from_this();
    boost::asio::post(executor_, [self, ok] {
      if (JournalShipper* shipper = self->find_()) shipper->on_write_done(self.get(), ok);
    });
  }
  void OnCancel() override { finish(grpc::Status::CANCELLED); }
  void OnDone() override {
    auto self = std::move(self_);
    boost::asio::post(executor_, [self] {
      if (JournalShipper* shipper = self->find_()) shipper->on_closed(self.get());
    });
  }

 private:
  boost::asio::any_io_executor executor_;
  FindShipper find_;
  std::shared_ptr<ShipStream> self_;  // alive until OnDone
  std::mutex mu_;
  bool finished_ = false;  // guarded by mu_
  duet::v1::ReplicateRequest in_;
  duet::v1::JournalBatch out_;  // the one write in flight
};

grpc::ServerBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch>* make_replicate_reactor(
    boost::asio::any_io_executor executor, FindShipper find) {
  auto stream = std::make_shared<ShipStream>(std::move(executor), std::move(find));
  stream->begin();
  return stream.get();
}

grpc::ServerWriteReactor<duet::v1::SnapshotChunk>* make_snapshot_reactor(
    boost::asio::any_io_executor executor, FindShipper find, std::string from) {
  auto sender =
      std::make_shared<SnapshotSender>(std::move(executor), std::move(find), std::move(from));
  sender->begin();
  return sender.get();
}

// ---- JournalShipper ----

JournalShipper::JournalShipper(Clock& clock, store::Store& store, Options options,
                               std::function<bool()> may_serve, std::function<bool()> may_go_alone,
                               std::function<void()> wants_alone)
    : clock_(clock),
      store_(store),
      options_(options),
      may_serve_(std::move(may_serve)),
      may_go_alone_(std::move(may_go_alone)),
      wants_alone_(std::move(wants_alone)) {}

JournalShipper::~JournalShipper() { stop(); }

void JournalShipper::stop() {
  if (stopped_) return;
  drop_streams("manager stopping");
  stopped_ = true;
  // The workers stop after at most one chunk read; none waits for this strand.
  for (auto& sender : snapshots_) sender->join();
  snapshots_.clear();
  if (lag_timer_) clock_.cancel(*lag_timer_);
  lag_timer_.reset();
  release(true, false);
}

void JournalShipper::drop_streams(const std::string& why) {
  if (standby_) {
    spdlog::info("replication: closing the stream to {}: {}", standby_->name, why);
    standby_->stream->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, why));
    standby_.reset();
  }
  for (auto& sender : snapshots_) sender->cancel(grpc::StatusCode::UNAVAILABLE, why);
  if (!waiters_.empty()) {
    // This node stops serving (it stopped acting, or cannot read its
    // journal): nothing it holds will be replicated by it now.
    go_alone(why);
    release(true, false);
  }
}

void JournalShipper::on_request(const std::shared_ptr<ShipStream>& stream,
                                const duet::v1::ReplicateRequest& r) {
  if (r.has_start()) {
    start(stream, r.start());
  } else if (r.has_ack()) {
    if (standby_ && standby_->stream == stream) on_ack(r.ack().durable_lsn());
  }
}

void JournalShipper::start(const std::shared_ptr<ShipStream>& stream,
                           const duet::v1::ReplicateStart& s) {
  auto refuse = [&](grpc::StatusCode code, const std::string& why) {
    spdlog::warn("replication: refused {}: {}", s.from(), why);
    stream->finish(grpc::Status(code, why));
  };
  if (stopped_ || !may_serve_()) {
    return refuse(grpc::StatusCode::FAILED_PRECONDITION, "not an acting master");
  }
  const store::Lsn last = store_.last_lsn();
  const store::Lsn from = std::max<store::Lsn>(s.from_lsn(), 1);
  const store::Lsn prev = from - 1;
  if (prev > last) {
    return refuse(grpc::StatusCode::ABORTED,
                  "diverged: the standby is at LSN " + std::to_string(prev) +
                      ", beyond the master's last LSN " + std::to_string(last));
  }
  if (prev > 0) {
    auto rec = store_.read_journal(prev, 1);
    if (!rec.ok()) return refuse(grpc::StatusCode::UNAVAILABLE, rec.error().to_string());
    if (rec->empty() || rec->front().lsn != prev) {
      return refuse(grpc::StatusCode::OUT_OF_RANGE, "the master's journal no longer holds LSN " +
                                                        std::to_string(prev) +
                                                        "; fetch a snapshot");
    }
    // 0: the standby cannot tell (restored from a snapshot, journal empty).
    if (s.last_epoch() != 0 && rec->front().epoch != s.last_epoch()) {
      return refuse(grpc::StatusCode::ABORTED,
                    "diverged: LSN " + std::to_string(prev) + " is from epoch " +
                        std::to_string(rec->front().epoch) + " on the master but epoch " +
                        std::to_string(s.last_epoch()) + " on the standby");
    }
  }
  if (s.epoch() > store_.current_epoch()) {
    return refuse(grpc::StatusCode::FAILED_PRECONDITION,
                  "the standby has seen epoch " + std::to_string(s.epoch()) +
                      ", above this master's " + std::to_string(store_.current_epoch()));
  }
  if (standby_) {
    standby_->stream->finish(grpc::Status(grpc::StatusCode::CANCELLED, "replaced by a new stream"));
  }
  spdlog::info("replication: {} streams from LSN {} (master at {})", s.from(), from, last);
  standby_ = Standby{stream, s.from(), from, false, false};
  acked_lsn_ = prev;
  pump();
}

void JournalShipper::on_ack(store::Lsn lsn) {
  if (lsn > acked_lsn_) acked_lsn_ = lsn;
  release(false, true);
  if (alone_ && acked_lsn_ >= store_.last_lsn()) {
    alone_ = false;
    spdlog::info("replication: standby caught up at LSN {}; back in sync mode", acked_lsn_);
  }
}

void JournalShipper::on_write_done(ShipStream* stream, bool ok) {
  if (!standby_ || standby_->stream.get() != stream) return;
  standby_->write_in_flight = false;
  if (ok) pump();
}

void JournalShipper::on_closed(ShipStream* stream) {
  if (!standby_ || standby_->stream.get() != stream) return;
  spdlog::info("replication: stream to {} ended (acked LSN {})", standby_->name, acked_lsn_);
  standby_.reset();
  if (!waiters_.empty() || options_.sync) go_alone("the standby disconnected");
}

void JournalShipper::on_commit() { pump(); }

void JournalShipper::pump() {
  if (!standby_ || standby_->write_in_flight || stopped_) return;
  const store::Lsn last = store_.last_lsn();
  if (standby_->sent_first && standby_->next_lsn > last) return;
  auto records =
      store_.read_journal(standby_->next_lsn, options_.batch_records, options_.batch_bytes);
  if (!records.ok()) {
    drop_streams("cannot read the journal: " + records.error().to_string());
    return;
  }
  if (!records->empty() && records->front().lsn != standby_->next_lsn) {
    standby_->stream->finish(grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        "the master's journal no longer holds LSN " + std::to_string(standby_->next_lsn)));
    standby_.reset();
    return;
  }
  duet::v1::JournalBatch batch;
  batch.set_epoch(store_.current_epoch());
  batch.set_master_last_lsn(std::max(last, records->empty() ? 0 : records->back().lsn));
  for (const auto& r : *records) *batch.add_records() = record_to_proto(r);
  if (!records->empty()) standby_->next_lsn = records->back().lsn + 1;
  standby_->sent_first = true;
  standby_->write_in_flight = standby_->stream->write(std::move(batch));
}

void JournalShipper::when_replicated(store::Lsn lsn, std::function<void(bool)> done) {
  if (acked_lsn_ >= lsn && standby_) return done(true);
  if (!options_.sync || stopped_) return done(false);
  if (!standby_) go_alone("no standby connected");
  if (alone_ && may_go_alone_()) return done(false);
  waiters_.push_back(Waiter{lsn, clock_.now() + options_.lag_bound, std::move(done)});
  arm_lag_timer();
}

void JournalShipper::arm_lag_timer() {
  // Running alone (or waiting to be allowed): recheck_alone() answers them.
  if (lag_timer_ || waiters_.empty() || alone_) return;
  std::weak_ptr<bool> alive = alive_;
  lag_timer_ = clock_.call_at(waiters_.front().deadline, [this, alive] {
    if (alive.expired()) return;
    lag_timer_.reset();
    if (!waiters_.empty() && waiters_.front().deadline <= clock_.now()) {
      go_alone(
          "the standby did not acknowledge LSN " + std::to_string(waiters_.front().lsn) +
          " within " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(options_.lag_bound).count()) +
          " ms");
    }
    arm_lag_timer();
  });
}

void JournalShipper::go_alone(const std::string& why) {
  if (options_.sync && !alone_ && !stopped_) {
    spdlog::warn("replication: running alone: {}", why);
    alone_ = true;
    wants_alone_();
  }
  if (stopped_ || !options_.sync || may_go_alone_()) release(true, false);
}

void JournalShipper::recheck_alone() {
  if (alone_ && !waiters_.empty() && may_go_alone_()) release(true, false);
}

void JournalShipper::release(bool all, bool replicated) {
  // Pop first, then call: a callback may commit and wait again.
  std::vector<std::function<void(bool)>> ready;
  while (!waiters_.empty() && (all || waiters_.front().lsn <= acked_lsn_)) {
    ready.push_back(std::move(waiters_.front().done));
    waiters_.pop_front();
  }
  for (auto& fn : ready) fn(replicated);
}

ReplicationLag JournalShipper::lag() const {
  ReplicationLag lag;
  lag.connected = standby_.has_value();
  lag.acked_lsn = acked_lsn_;
  const store::Lsn last = store_.last_lsn();
  lag.records = last > acked_lsn_ ? last - acked_lsn_ : 0;
  if (lag.records > 0) {
    auto rec = store_.read_journal(acked_lsn_ + 1, 1);
    if (rec.ok() && !rec->empty()) {
      lag.ms =
          std::max<std::int64_t>(0, to_unix_ms(clock_.wall_now()) - rec->front().committed_at_ms);
    }
  }
  return lag;
}

void JournalShipper::serve_snapshot(const std::shared_ptr<SnapshotSender>& sender) {
  if (!may_serve()) {
    sender->cancel(grpc::StatusCode::FAILED_PRECONDITION,
                   "not an acting master; ask the master for a snapshot");
    return;
  }
  if (sender->finished()) return;               // the standby already went away
  auto reader = store_.open_snapshot_reader();  // cheap: it connects on its worker
  if (!reader.ok()) {
    sender->cancel(grpc::StatusCode::UNAVAILABLE, "snapshot failed: " + reader.error().to_string());
    return;
  }
  spdlog::info("replication: {} fetches a snapshot (master at LSN {})", sender->from(),
               store_.last_lsn());
  snapshots_.push_back(sender);
  sender->start(std::move(reader).value(), SnapshotSender::Limits{options_.snapshot_chunk_rows,
                                                                  options_.snapshot_chunk_bytes});
}

void JournalShipper::on_snapshot_done(SnapshotSender* sender) {
  for (auto it = snapshots_.begin(); it != snapshots_.end(); ++it) {
    if (it->get() != sender) continue;
    (*it)->join();  // it finished: at most one chunk read left
    snapshots_.erase(it);
    return;
  }
}

std::optional<std::uint64_t> JournalShipper::snapshot_rows_sent() const {
  std::optional<std::uint64_t> rows;
  for (const auto& sender : snapshots_) {
    if (!sender->finished()) rows = rows.value_or(0) + sender->rows_sent();
  }
  return rows;
}

}  // namespace duet::ha
