// Journal replication: JournalShipper (master) and JournalFollower (standby)
// over a real gRPC server on 127.0.0.1 (ephemeral port), two real SQLite
// JournaledStores, SystemClock on an io_context thread. Every wait is bounded.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "common/clock.h"
#include "ha/journal_follower.h"
#include "ha/journal_shipper.h"
#include "manager/peer_service.h"
#include "store/journaled_store.h"
#include "store/schema.h"
#include "store/sqlite_backend.h"
#include "tests/support/temp_dir.h"

namespace duet {
namespace {

using namespace std::chrono_literals;

// One io_context thread: the "strand" that owns both stores, the shipper and
// the follower, as in a manager.
class Strand {
 public:
  Strand()
      : work_(io_.get_executor()), clock_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~Strand() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  template <typename Fn>
  auto run(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto f = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    return f.get();
  }
  // Polls `pred` on the strand until true, for at most `limit`.
  template <typename Pred>
  bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (run(pred)) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  SystemClock& clock() { return clock_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  SystemClock clock_;
  std::thread thread_;
};

std::unique_ptr<store::JournaledStore> open_store(const testing::TempDir& dir,
                                                  const std::string& name, const Clock& clock) {
  auto backend = store::open_sqlite_backend(dir.file(name + ".db"));
  REQUIRE(backend.ok());
  auto s = store::JournaledStore::open(std::move(backend).value(), store::manager_schema(), clock);
  REQUIRE(s.ok());
  return std::move(s).value();
}

store::Lsn put(store::Store& s, const std::string& key, const std::string& value) {
  store::WriteBatch b;
  b.put("settings", store::Row{{"key", key},
                               {"value", value},
                               {"updated_by", std::string("test")},
                               {"updated_at_ms", std::int64_t{1}}});
  auto lsn = s.commit(b);
  REQUIRE(lsn.ok());
  return *lsn;
}

std::vector<std::string> rows(store::Store& s) {
  std::vector<std::string> out;
  REQUIRE(s.scan("settings", [&](const store::Row& r) {
             out.push_back(store::to_string(r));
             return true;
           }).ok());
  return out;
}

// The pair: a master store with its shipper behind a Peer server, and a
// standby store with its follower holding a stub to that server.
struct Pair {
  testing::TempDir dir{"duet-repl-"};
  Strand strand;
  std::unique_ptr<store::JournaledStore> master;
  std::unique_ptr<store::JournaledStore> standby;
  std::unique_ptr<ha::JournalShipper> shipper;
  std::unique_ptr<ha::JournalFollower> follower;
  std::unique_ptr<manager::PeerService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<duet::v1::Peer::Stub> stub;
  bool serving = true;
  // Hook counters, strand only.
  int caught_up = 0;
  int lost_sync = 0;
  int ended = 0;
  std::string diverged;

  explicit Pair(bool sync = true, std::chrono::milliseconds lag_bound = 2000ms,
                std::size_t snapshot_chunk_rows = 512) {
    strand.run([&] {
      master = open_store(dir, "master", strand.clock());
      standby = open_store(dir, "standby", strand.clock());
      REQUIRE(master->advance_epoch(1).ok());
      ha::JournalShipper::Options o;
      o.sync = sync;
      o.lag_bound = lag_bound;
      o.batch_records = 16;  // several batches for a catch-up
      o.snapshot_chunk_rows = snapshot_chunk_rows;
      shipper = std::make_unique<ha::JournalShipper>(strand.clock(), *master, o,
                                                     [this] { return serving; });
      ha::JournalFollower::Hooks h;
      h.caught_up = [this] { ++caught_up; };
      h.lost_sync = [this](const std::string&) { ++lost_sync; };
      h.stream_ended = [this](const std::string&) { ++ended; };
      h.diverged = [this](const std::string& why) { diverged = why; };
      follower =
          std::make_unique<ha::JournalFollower>(strand.executor(), *standby, "b", std::move(h));
      return 0;
    });
    service = std::make_unique<manager::PeerService>(
        strand.executor(), CallerPolicy::allow_any(),
        [](const duet::v1::Beat&) { return std::nullopt; },
        [this]() -> ha::JournalShipper* { return shipper.get(); });
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
    REQUIRE(server);
    REQUIRE(port != 0);
    stub = duet::v1::Peer::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                       grpc::InsecureChannelCredentials()));
  }
  ~Pair() {
    strand.run([&] {
      follower->stop("test over");
      shipper->stop();
      return 0;
    });
    server->Shutdown(std::chrono::system_clock::now() + 2s);
    strand.run([&] {
      follower.reset();
      shipper.reset();
      return 0;
    });
  }
  void follow(bool reseed = false) {
    strand.run([&] {
      follower->ensure(stub.get(), reseed);
      return 0;
    });
  }
  bool in_step() {
    return strand.eventually([&] {
      return standby->last_lsn() == master->last_lsn() &&
             shipper->lag().acked_lsn == master->last_lsn() && rows(*standby) == rows(*master);
    });
  }
};

TEST_CASE("an empty standby is seeded, then tails the journal and acks it", "[replication]") {
  Pair p;
  p.strand.run([&] {
    for (int i = 0; i < 40; ++i) put(*p.master, "k" + std::to_string(i), "v");
    return 0;
  });
  p.follow();
  REQUIRE(p.in_step());
  CHECK(p.strand.run([&] { return p.follower->snapshots_restored(); }) == 1);
  CHECK(p.strand.run([&] { return p.caught_up; }) >= 1);
  CHECK(p.strand.run([&] { return p.standby->current_epoch(); }) == 1);

  // Live tail: new commits are shipped as they happen; lag goes back to 0.
  p.strand.run([&] {
    for (int i = 0; i < 25; ++i) put(*p.master, "live" + std::to_string(i), "x");
    p.shipper->on_commit();
    return 0;
  });
  REQUIRE(p.in_step());
  auto lag = p.strand.run([&] { return p.shipper->lag(); });
  CHECK(lag.connected);
  CHECK(lag.records == 0);
  CHECK(lag.ms == 0);
  CHECK(p.strand.run([&] { return p.standby->last_lsn(); }) == 65);
}

TEST_CASE("a standby with part of the journal catches up from its LSN", "[replication]") {
  Pair p;
  p.strand.run([&] {
    for (int i = 0; i < 5; ++i) put(*p.master, "k" + std::to_string(i), "v");
    auto first = p.master->read_journal(1, 5);
    REQUIRE(first.ok());
    REQUIRE(p.standby->apply(*first).ok());
    for (int i = 5; i < 60; ++i) put(*p.master, "k" + std::to_string(i), "v");
    return 0;
  });
  p.follow();
  REQUIRE(p.in_step());
  CHECK(p.strand.run([&] { return p.follower->snapshots_restored(); }) == 0);
  CHECK(p.strand.run([&] { return p.caught_up; }) >= 1);
}

TEST_CASE("sync mode: a commit is replicated once the standby acked it", "[replication]") {
  Pair p(true, 2000ms);
  p.strand.run([&] {
    put(*p.master, "seed", "1");
    return 0;
  });
  p.follow();
  REQUIRE(p.in_step());
  auto result = std::make_shared<std::promise<bool>>();
  p.strand.run([&] {
    const auto lsn = put(*p.master, "a", "1");
    p.shipper->on_commit();
    p.shipper->when_replicated(lsn, [result](bool r) { result->set_value(r); });
    return 0;
  });
  auto f = result->get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  CHECK(f.get());
  CHECK_FALSE(p.strand.run([&] { return p.shipper->running_alone(); }));
}

TEST_CASE("sync mode: without a standby the master runs alone until it catches up",
          "[replication]") {
  Pair p(true, 300ms);
  bool replicated = true;
  p.strand.run([&] {
    const auto lsn = put(*p.master, "a", "1");
    p.shipper->when_replicated(lsn, [&](bool r) { replicated = r; });
    return 0;
  });
  CHECK_FALSE(replicated);
  CHECK(p.strand.run([&] { return p.shipper->running_alone(); }));
  p.follow();
  REQUIRE(p.in_step());
  CHECK(p.strand.eventually([&] { return !p.shipper->running_alone(); }));
}

TEST_CASE("a diverged standby is reported, or re-seeded after failback", "[replication]") {
  Pair p;
  p.strand.run([&] {
    // Both wrote LSN 1..3, in different epochs: the standby was an old master.
    REQUIRE(p.standby->advance_epoch(1).ok());
    for (int i = 0; i < 3; ++i) put(*p.standby, "old" + std::to_string(i), "lost");
    REQUIRE(p.master->advance_epoch(2).ok());
    for (int i = 0; i < 10; ++i) put(*p.master, "new" + std::to_string(i), "kept");
    return 0;
  });
  p.follow(false);
  REQUIRE(p.strand.eventually([&] { return !p.diverged.empty(); }));
  CHECK(p.diverged.find("diverged") != std::string::npos);
  CHECK(p.strand.run([&] { return p.standby->last_lsn(); }) == 3);

  // Failback: the same stream now re-seeds from the master's snapshot.
  REQUIRE(p.strand.eventually([&] { return !p.follower->running(); }));
  p.follow(true);  // fails again (ABORTED) and marks the snapshot as needed
  REQUIRE(p.strand.eventually([&] { return !p.follower->running(); }));
  p.follow(true);
  REQUIRE(p.in_step());
  CHECK(p.strand.run([&] { return p.follower->snapshots_restored(); }) == 1);
  CHECK(p.strand.run([&] { return p.standby->current_epoch(); }) == 2);
}

TEST_CASE("a standby ahead of the master is diverged", "[replication]") {
  Pair p;
  p.strand.run([&] {
    REQUIRE(p.standby->advance_epoch(1).ok());
    for (int i = 0; i < 5; ++i) put(*p.standby, "x" + std::to_string(i), "v");
    put(*p.master, "m", "v");
    return 0;
  });
  p.follow(false);
  REQUIRE(p.strand.eventually([&] { return !p.diverged.empty(); }));
}

TEST_CASE("after a reconnect the stream resumes; a resent batch applies idempotently",
          "[replication]") {
  Pair p;
  p.strand.run([&] {
    for (int i = 0; i < 30; ++i) put(*p.master, "k" + std::to_string(i), "v");
    return 0;
  });
  p.follow();
  REQUIRE(p.in_step());
  p.strand.run([&] {
    p.follower->stop("test: cut the stream");
    return 0;
  });
  REQUIRE(p.strand.eventually([&] { return !p.follower->running(); }));
  CHECK(p.strand.run([&] { return p.ended; }) >= 1);
  p.strand.run([&] {
    for (int i = 30; i < 50; ++i) put(*p.master, "k" + std::to_string(i), "v2");
    // Records the standby already holds, sent again: skipped, no error.
    auto again = p.master->read_journal(20, 11);
    REQUIRE(again.ok());
    auto applied = p.standby->apply(*again);
    REQUIRE(applied.ok());
    CHECK(*applied == 30);
    return 0;
  });
  p.follow();
  REQUIRE(p.in_step());
  CHECK(p.strand.run([&] { return p.lost_sync; }) >= 1);  // reconnected behind the master
  CHECK(p.strand.run([&] { return p.standby->last_lsn(); }) == 50);
}

// Commits on the master strand every `period` until `stop`, as producers do.
class Writer {
 public:
  Writer(Pair& p, std::chrono::milliseconds period) : p_(p) {
    thread_ = std::thread([this, period] {
      while (!stop_) {
        p_.strand.run([&] {
          put(*p_.master, "live" + std::to_string(n_++), "during re-seed");
          p_.shipper->on_commit();
          if (p_.follower->reseeding()) ++during_;
          return 0;
        });
        std::this_thread::sleep_for(period);
      }
    });
  }
  ~Writer() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int during() const { return during_; }  // commits made while the standby re-seeded

 private:
  Pair& p_;
  std::atomic<bool> stop_{false};
  int n_ = 0;       // strand only
  int during_ = 0;  // strand only; read after finish()
  std::thread thread_;
};

TEST_CASE("a re-seed streams while the master keeps committing; the standby ends equal",
          "[replication]") {
  Pair p(true, 2000ms, 16);  // many small chunks: the re-seed takes many strand tasks
  p.strand.run([&] {
    store::WriteBatch b;
    for (int i = 0; i < 3000; ++i) {
      b.put("settings", store::Row{{"key", "seed" + std::to_string(i)},
                                   {"value", std::string(200, 'x')},
                                   {"updated_by", std::string("test")},
                                   {"updated_at_ms", std::int64_t{i}}});
    }
    REQUIRE(p.master->commit(b).ok());
    return 0;
  });
  Writer writer(p, 2ms);
  p.follow();
  // While rows arrive, the standby's store refuses other use and says why.
  REQUIRE(p.strand.eventually([&] { return p.follower->reseed_rows() > 0; }));
  writer.finish();
  CHECK(writer.during() > 0);  // the master committed while it streamed the snapshot
  REQUIRE(p.in_step());
  p.strand.run([&] {
    CHECK(p.follower->snapshots_restored() == 1);
    CHECK(p.follower->reseed_rows() >= 3000);
    CHECK(p.standby->last_lsn() == p.master->last_lsn());
    CHECK(rows(*p.standby) == rows(*p.master));
    CHECK_FALSE(p.shipper->snapshot_rows_sent().has_value());  // the sender was joined
    return 0;
  });
}

TEST_CASE("a re-seed cut mid-stream leaves the old data, and the retry succeeds", "[replication]") {
  Pair p(true, 2000ms, 4);
  p.strand.run([&] {
    // The standby holds a diverged history (an old master): failback re-seeds it.
    REQUIRE(p.standby->advance_epoch(1).ok());
    for (int i = 0; i < 3; ++i) put(*p.standby, "old" + std::to_string(i), "kept until re-seeded");
    REQUIRE(p.master->advance_epoch(2).ok());
    store::WriteBatch b;
    for (int i = 0; i < 4000; ++i) {
      b.put("settings", store::Row{{"key", "m" + std::to_string(i)},
                                   {"value", std::string("v")},
                                   {"updated_by", std::string("test")},
                                   {"updated_at_ms", std::int64_t{i}}});
    }
    REQUIRE(p.master->commit(b).ok());
    return 0;
  });
  const auto old_rows = p.strand.run([&] { return rows(*p.standby); });
  p.follow(true);  // ABORTED (diverged): marks the snapshot as needed
  REQUIRE(p.strand.eventually([&] { return !p.follower->running(); }));

  SECTION("the master ends the stream") {
    p.follow(true);
    REQUIRE(p.strand.eventually([&] {
      if (!p.follower->restoring() || p.follower->reseed_rows() == 0) return false;
      p.shipper->drop_streams("test: the master stops acting mid re-seed");
      return true;
    }));
  }
  SECTION("the standby cancels") {
    p.follow(true);
    REQUIRE(p.strand.eventually([&] {
      if (!p.follower->restoring() || p.follower->reseed_rows() == 0) return false;
      p.follower->stop("test: cut mid re-seed");
      return true;
    }));
  }
  REQUIRE(p.strand.eventually([&] { return !p.follower->running(); }));
  p.strand.run([&] {
    CHECK_FALSE(p.follower->restoring());
    CHECK(p.follower->snapshots_restored() == 0);
    CHECK(rows(*p.standby) == old_rows);  // rolled back: the old data is untouched
    CHECK(p.standby->last_lsn() == 3);
    CHECK(p.standby->probe_write().ok());  // and the store is usable again
    return 0;
  });
  REQUIRE(p.strand.eventually([&] { return !p.shipper->snapshot_rows_sent().has_value(); }));

  p.follow(true);  // the retry
  REQUIRE(p.in_step());
  CHECK(p.strand.run([&] { return p.follower->snapshots_restored(); }) == 1);
  CHECK(p.strand.run([&] { return p.standby->last_lsn(); }) == 4000);
  CHECK(p.strand.run([&] { return p.standby->current_epoch(); }) == 2);
}

TEST_CASE("a node that is not an acting master refuses to ship", "[replication]") {
  Pair p;
  p.strand.run([&] {
    put(*p.master, "k", "v");
    p.serving = false;
    REQUIRE(p.standby->advance_epoch(1).ok());
    put(*p.standby, "k", "v");  // not empty: goes straight to the stream
    return 0;
  });
  p.follow();
  REQUIRE(p.strand.eventually([&] { return p.ended >= 1; }));
  CHECK(p.diverged.empty());
}

}  // namespace
}  // namespace duet
