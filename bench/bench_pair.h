#pragma once

// What the in-process replication benchmarks (replication_bench,
// reseed_bench) share: a strand thread, the replication half of the Peer
// service, a throwaway directory, and opening a store - each failure ends
// the tool at once (bounded: it never waits for threads that may be stuck).

#include <errno.h>
#include <stdlib.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "duet/v1/peer.grpc.pb.h"
#include "ha/journal_shipper.h"
#include "store/journaled_store.h"
#include "store/schema.h"
#include "store/sqlite_backend.h"

namespace duet::bench {

[[noreturn]] inline void fail(const std::string& why) {
  std::cerr << program_invocation_short_name << ": " << why << "\n";
  std::_Exit(1);
}

// An io_context on its own thread, with a SystemClock on it: a manager's strand.
class Strand {
 public:
  // `limit`: how long run() waits for one task before giving up.
  explicit Strand(std::chrono::seconds limit = std::chrono::seconds(10))
      : limit_(limit),
        work_(io_.get_executor()),
        clock_(io_.get_executor()),
        thread_([this] { io_.run(); }) {}
  ~Strand() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  Strand(const Strand&) = delete;
  Strand& operator=(const Strand&) = delete;

  // Runs `fn` on the strand and returns its result.
  template <typename Fn>
  auto run(Fn fn) -> decltype(fn()) {
    auto task = std::make_shared<std::packaged_task<decltype(fn())()>>(std::move(fn));
    auto f = task->get_future();
    boost::asio::post(io_, [task] { (*task)(); });
    if (f.wait_for(limit_) != std::future_status::ready) {
      fail("a strand task took over " + std::to_string(limit_.count()) + " s");
    }
    return f.get();
  }
  // Polls `pred` on the strand until true, for at most `limit`.
  template <typename Pred>
  bool eventually(Pred pred, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (run(pred)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  SystemClock& clock() { return clock_; }

 private:
  std::chrono::seconds limit_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  SystemClock clock_;
  std::thread thread_;
};

// Only the replication half of the Peer service (no heartbeats here).
class ReplicationService final : public duet::v1::Peer::CallbackService {
 public:
  ReplicationService(boost::asio::any_io_executor strand, ha::FindShipper find)
      : strand_(std::move(strand)), find_(std::move(find)) {}
  grpc::ServerBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch>* Replicate(
      grpc::CallbackServerContext* /*context*/) override {
    return ha::make_replicate_reactor(strand_, find_);
  }
  grpc::ServerWriteReactor<duet::v1::SnapshotChunk>* FetchSnapshot(
      grpc::CallbackServerContext* /*context*/, const duet::v1::SnapshotRequest* request) override {
    return ha::make_snapshot_reactor(strand_, find_, request->from());
  }

 private:
  boost::asio::any_io_executor strand_;
  ha::FindShipper find_;
};

// A fresh directory under `parent`, removed with its contents on destruction.
class BenchDir {
 public:
  BenchDir(const std::string& parent, const std::string& prefix) {
    std::string tmpl = parent + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) fail("cannot create a directory under " + parent);
    path_ = tmpl;
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  // `<dir>/<sub>/<sub>.db`, each store in a directory of its own.
  std::string db(const std::string& sub) const {
    std::filesystem::create_directories(path_ / sub);
    return (path_ / sub / (sub + ".db")).string();
  }

 private:
  std::filesystem::path path_;
};

// A SQLite JournaledStore with the manager schema.
inline std::unique_ptr<store::JournaledStore> open_store(const std::string& path,
                                                         const Clock& clock) {
  auto backend = store::open_sqlite_backend(path);
  if (!backend.ok()) fail(path + ": " + backend.error().to_string());
  auto s = store::JournaledStore::open(std::move(backend).value(), store::manager_schema(), clock);
  if (!s.ok()) fail(path + ": " + s.error().to_string());
  return std::move(s).value();
}

}  // namespace duet::bench
