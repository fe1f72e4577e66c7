#pragma once

// SnapshotSender: one Peer.FetchSnapshot call on the master, streamed.
//
// The snapshot is read by a worker thread of its own through a
// store::SnapshotReader (a database connection and read transaction of its
// own), never on the manager's strand, so the master keeps committing while
// a standby is re-seeded. Flow control: the worker writes one chunk, reads
// the next while that write is in flight, and writes it only after gRPC
// reported the previous one done (OnWriteDone). Memory is therefore bounded
// by two chunks (chunk_rows rows, about chunk_bytes bytes each) plus gRPC's
// flow-control window, whatever the size of the store.
//
// Threads: made on a gRPC thread by make_snapshot_reactor; begin() posts to
// the executor (the strand), where the shipper calls start() (or refuses with
// cancel()). The worker thread runs the reader and calls StartWrite/Finish;
// gRPC's OnWriteDone/OnCancel wake it. StartWrite and Finish are called under
// mu_ and never after Finish. OnDone posts to the executor, where the shipper
// joins the worker (on_snapshot_done). cancel() may be called from any
// thread; the worker then stops after at most one chunk read.
//
// Ownership: keeps itself alive until gRPC calls OnDone; the shipper holds
// another reference while the worker may run and joins it before letting go;
// the worker owns its reader (and so its connection) and closes it on exit.

#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "duet/v1/peer.pb.h"
#include "store/store.h"

namespace duet::ha {

class JournalShipper;

class SnapshotSender final : public grpc::ServerWriteReactor<duet::v1::SnapshotChunk>,
                             public std::enable_shared_from_this<SnapshotSender> {
 public:
  struct Limits {
    std::size_t chunk_rows = 512;
    std::size_t chunk_bytes = 1 << 20;
  };
  using FindShipper = std::function<JournalShipper*()>;

  SnapshotSender(boost::asio::any_io_executor executor, FindShipper find, std::string from);
  ~SnapshotSender() override;
  SnapshotSender(const SnapshotSender&) = delete;
  SnapshotSender& operator=(const SnapshotSender&) = delete;

  // gRPC thread, once: hands the call to the shipper on the executor.
  void begin();
  // Executor, once: starts the worker on `reader`.
  void start(std::unique_ptr<store::SnapshotReader> reader, Limits limits);
  // Any thread: ends the call with `code` (the worker stops soon after).
  void cancel(grpc::StatusCode code, const std::string& why);
  // Executor: waits for the worker thread to end (bounded: one chunk read).
  void join();

  const std::string& from() const { return from_; }
  bool finished() const;
  std::uint64_t rows_sent() const { return rows_sent_.load(); }
  std::uint64_t bytes_sent() const { return bytes_sent_.load(); }

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void run(std::unique_ptr<store::SnapshotReader> reader, Limits limits);
  // Worker: starts writing `chunk`; false once the call is finished.
  bool write(duet::v1::SnapshotChunk chunk);
  // Worker: waits until the write in flight is done; false if it failed or
  // the call is finished.
  bool wait_write();
  void finish_locked(const grpc::Status& status);

  boost::asio::any_io_executor executor_;
  FindShipper find_;
  std::string from_;
  std::shared_ptr<SnapshotSender> self_;  // alive until OnDone
  std::thread worker_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;        // guarded by mu_
  bool writing_ = false;         // guarded by mu_
  bool write_failed_ = false;    // guarded by mu_
  duet::v1::SnapshotChunk out_;  // the write in flight (worker, under mu_ to start)
  std::atomic<std::uint64_t> rows_sent_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
};

}  // namespace duet::ha
