#include "ha/snapshot_sender.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "ha/journal_codec.h"
#include "ha/journal_shipper.h"

namespace duet::ha {

SnapshotSender::SnapshotSender(boost::asio::any_io_executor executor, FindShipper find,
                               std::string from)
    : executor_(std::move(executor)), find_(std::move(find)), from_(std::move(from)) {}

SnapshotSender::~SnapshotSender() {
  // The shipper joins the worker before it lets go; the worker's own
  // reference may still be the last one, dropped on the worker itself.
  if (worker_.joinable()) {
    if (worker_.get_id() == std::this_thread::get_id()) {
      worker_.detach();
    } else {
      worker_.join();
    }
  }
}

void SnapshotSender::begin() {
  self_ = shared_from_this();
  auto self = shared_from_this();
  boost::asio::post(executor_, [self] {
    JournalShipper* shipper = self->find_();
    if (shipper == nullptr) {
      self->cancel(grpc::StatusCode::FAILED_PRECONDITION,
                   "not an acting master; ask the master for a snapshot");
      return;
    }
    shipper->serve_snapshot(self);
  });
}

void SnapshotSender::start(std::unique_ptr<store::SnapshotReader> reader, Limits limits) {
  auto self = shared_from_this();
  worker_ = std::thread([self, reader = std::move(reader), limits]() mutable {
    self->run(std::move(reader), limits);
  });
}

bool SnapshotSender::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

void SnapshotSender::cancel(grpc::StatusCode code, const std::string& why) {
  std::lock_guard lock(mu_);
  finish_locked(grpc::Status(code, why));
}

void SnapshotSender::join() {
  if (worker_.joinable()) worker_.join();
}

void SnapshotSender::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writing_ = false;
  if (!ok) write_failed_ = true;
  cv_.notify_all();
}

void SnapshotSender::OnCancel() { cancel(grpc::StatusCode::CANCELLED, "the standby went away"); }

void SnapshotSender::OnDone() {
  auto self = std::move(self_);
  boost::asio::post(executor_, [self] {
    if (JournalShipper* shipper = self->find_()) shipper->on_snapshot_done(self.get());
  });
}

void SnapshotSender::finish_locked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
  cv_.notify_all();
}

bool SnapshotSender::write(duet::v1::SnapshotChunk chunk) {
  std::lock_guard lock(mu_);
  if (finished_) return false;
  out_ = std::move(chunk);
  writing_ = true;
  StartWrite(&out_);
  return true;
}

bool SnapshotSender::wait_write() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !writing_ || finished_; });
  if (write_failed_) {
    finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "writing the snapshot failed"));
  }
  return !finished_;
}

void SnapshotSender::run(std::unique_ptr<store::SnapshotReader> reader, Limits limits) {
  auto fail = [this](const Error& e) {
    spdlog::warn("replication: snapshot for {} failed: {}", from_, e.to_string());
    std::lock_guard lock(mu_);
    finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "snapshot failed: " + e.to_string()));
  };
  auto header = reader->header();
  if (!header.ok()) return fail(header.error());
  spdlog::info("replication: streaming a snapshot at LSN {} (epoch {}) to {}", header->lsn,
               header->epoch, from_);
  duet::v1::SnapshotChunk first;
  first.mutable_header()->set_lsn(header->lsn);
  first.mutable_header()->set_epoch(header->epoch);
  first.mutable_header()->set_schema_version(header->schema_version);
  if (!write(std::move(first))) return;
  for (;;) {
    // Read the next chunk while the previous one is on its way.
    auto chunk = reader->next_chunk(limits.chunk_rows, limits.chunk_bytes);
    if (!wait_write()) break;
    if (!chunk.ok()) return fail(chunk.error());
    if (!*chunk) {
      spdlog::info("replication: snapshot for {} sent ({} rows, {} MiB)", from_, rows_sent(),
                   bytes_sent() >> 20);
      std::lock_guard lock(mu_);
      finish_locked(grpc::Status::OK);
      break;
    }
    duet::v1::SnapshotChunk msg;
    auto* part = msg.mutable_rows();
    part->set_table((*chunk)->table);
    std::uint64_t bytes = 0;
    for (const auto& row : (*chunk)->rows) {
      bytes += store::approx_bytes(row);
      *part->add_rows() = row_to_proto(row);
    }
    const auto n = (*chunk)->rows.size();
    chunk = std::optional<store::SnapshotRows>();  // free the rows before the write
    if (!write(std::move(msg))) break;
    rows_sent_ += n;
    bytes_sent_ += bytes;
  }
  reader.reset();  // ends the read transaction now, not when the call is destroyed
}

}  // namespace duet::ha
