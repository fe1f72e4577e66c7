// replication_bench: sync journal replication between two stores in one
// process. Journaled changes per second acknowledged by the standby, and the
// replication lag each change sees under that load. Prints JSON.
//
//   replication_bench [--batch 1,100] [--seconds 10] [--repeat 3] [--window 8]
//                     [--max-changes N] [--dir /var/tmp]
//
// Set-up, as in a manager pair but in one process: a master JournaledStore
// (SQLite, synchronous=FULL) with its JournalShipper on one strand, a standby
// JournaledStore (SQLite, its own directory) with its JournalFollower on a
// second strand, and the Peer.Replicate / Peer.FetchSnapshot services on a
// gRPC server on 127.0.0.1 (ephemeral port, plaintext: no TLS).
//
// A writer on the master strand commits batches of --batch rows (64-byte
// values, table `settings`), calls on_commit() and when_replicated(lsn) as
// the manager does for a producer in sync mode. At most --window commits wait
// for their ack at a time (the producers waiting for "replicated": true);
// 0 means no bound. Lag of a commit = the time from its commit returning on
// the master to the shipper learning that the standby's durable ack covers
// its LSN. The writer runs for --seconds or --max-changes, whichever comes
// first; then the run waits (bounded) until every commit was answered.
// Each batch size runs --repeat times on fresh stores; medians are reported
// beside every run, with the master-only commit rate (no replication) on a
// fresh store for comparison.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/bench_pair.h"
#include "bench/bench_util.h"
#include "common/clock.h"
#include "duet/v1/peer.grpc.pb.h"
#include "ha/journal_follower.h"
#include "ha/journal_shipper.h"
#include "store/journaled_store.h"
#include "store/schema.h"
#include "store/sqlite_backend.h"

namespace {

using duet::bench::cpu_model;
using duet::bench::percentile;

using namespace std::chrono_literals;
using duet::bench::BenchDir;
using duet::bench::fail;
using duet::bench::open_store;
using duet::bench::ReplicationService;
using duet::bench::Strand;
using duet::store::Row;
using duet::store::WriteBatch;

double ms_between(duet::TimePoint a, duet::TimePoint b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One io_context thread: the strand of one manager.

void fill(WriteBatch& b, int batch, std::uint64_t& key) {
  static const std::string value(64, 'v');  // a realistic small row
  b.clear();
  for (int k = 0; k < batch; ++k, ++key) {
    b.put("settings", Row{{"key", "bench/" + std::to_string(key)},
                          {"value", value},
                          {"updated_by", "replication_bench"},
                          {"updated_at_ms", static_cast<std::int64_t>(key)}});
  }
}

struct Settings {
  int batch = 100;
  double seconds = 10;
  std::size_t window = 8;
  std::uint64_t max_changes = 5'000'000;
  std::string dir = "/var/tmp";
};

struct RunResult {
  std::uint64_t committed = 0;       // changes committed on the master
  std::uint64_t acked = 0;           // of those, acknowledged by the standby (replicated)
  std::uint64_t not_replicated = 0;  // answered false (the master ran alone)
  double write_seconds = 0;          // first commit to the last commit
  double ack_seconds = 0;            // first commit to the last ack
  double acked_per_s = 0;
  double committed_per_s = 0;
  double lag_p50_ms = 0;
  double lag_p99_ms = 0;
  double lag_max_ms = 0;
  double sync_p99_ms = 0;  // commit start to ack: what a waiting producer sees
  double commit_p50_ms = 0;
  double master_only_per_s = 0;
  bool ran_alone = false;
};

// The writer: runs on the master strand only.
class Writer {
 public:
  Writer(Strand& strand, duet::store::Store& store, duet::ha::JournalShipper& shipper,
         const Settings& s)
      : strand_(strand), store_(store), shipper_(shipper), s_(s) {}

  std::future<void> start() {
    start_ = strand_.clock().now();
    deadline_ = start_ + std::chrono::duration_cast<duet::Duration>(
                             std::chrono::duration<double>(s_.seconds));
    last_ack_ = last_commit_ = start_;
    schedule();
    return drained_.get_future();
  }
  RunResult result() const {
    RunResult r;
    r.committed = committed_;
    r.acked = acked_;
    r.not_replicated = not_replicated_;
    r.write_seconds = ms_between(start_, last_commit_) / 1000;
    r.ack_seconds = ms_between(start_, last_ack_) / 1000;
    r.acked_per_s = r.ack_seconds > 0 ? static_cast<double>(acked_) / r.ack_seconds : 0;
    r.committed_per_s = r.write_seconds > 0 ? static_cast<double>(committed_) / r.write_seconds : 0;
    r.lag_p50_ms = percentile(lag_ms_, 0.50);
    r.lag_p99_ms = percentile(lag_ms_, 0.99);
    r.lag_max_ms = lag_ms_.empty() ? 0 : *std::max_element(lag_ms_.begin(), lag_ms_.end());
    r.sync_p99_ms = percentile(sync_ms_, 0.99);
    r.commit_p50_ms = percentile(commit_ms_, 0.50);
    return r;
  }

 private:
  // One commit per strand task, so acks and write completions interleave.
  void schedule() {
    if (scheduled_ || writing_done_) return;
    scheduled_ = true;
    boost::asio::post(strand_.executor(), [this] {
      scheduled_ = false;
      step();
    });
  }
  void step() {
    const auto now = strand_.clock().now();
    if (now >= deadline_ || committed_ >= s_.max_changes) {
      writing_done_ = true;
      maybe_drained();
      return;
    }
    if (s_.window != 0 && in_flight_ >= s_.window) return;  // an ack schedules again
    fill(batch_, s_.batch, key_);
    const auto t0 = strand_.clock().now();
    auto lsn = store_.commit(batch_);
    const auto t1 = strand_.clock().now();
    if (!lsn.ok()) fail("commit failed: " + lsn.error().to_string());
    committed_ += static_cast<std::uint64_t>(s_.batch);
    last_commit_ = t1;
    commit_ms_.push_back(ms_between(t0, t1));
    ++in_flight_;
    shipper_.on_commit();
    shipper_.when_replicated(*lsn, [this, t0, t1](bool replicated) {
      const auto t2 = strand_.clock().now();
      --in_flight_;
      if (replicated) {
        acked_ += static_cast<std::uint64_t>(s_.batch);
        last_ack_ = t2;
        lag_ms_.push_back(ms_between(t1, t2));
        sync_ms_.push_back(ms_between(t0, t2));
      } else {
        not_replicated_ += static_cast<std::uint64_t>(s_.batch);
      }
      schedule();
      maybe_drained();
    });
    schedule();
  }
  void maybe_drained() {
    if (writing_done_ && in_flight_ == 0 && !drained_set_) {
      drained_set_ = true;
      drained_.set_value();
    }
  }

  Strand& strand_;
  duet::store::Store& store_;
  duet::ha::JournalShipper& shipper_;
  const Settings& s_;
  WriteBatch batch_;
  std::uint64_t key_ = 0;
  duet::TimePoint start_, deadline_, last_commit_, last_ack_;
  bool scheduled_ = false;
  bool writing_done_ = false;
  bool drained_set_ = false;
  std::size_t in_flight_ = 0;
  std::uint64_t committed_ = 0, acked_ = 0, not_replicated_ = 0;
  std::vector<double> lag_ms_, sync_ms_, commit_ms_;  // one sample per commit
  std::promise<void> drained_;
};

// The master-only rate: the same writer loop, no replication, a fresh store.
double master_only_rate(const Settings& s) {
  BenchDir dir(s.dir, "duet-replbench");
  duet::SystemClock clock;
  auto store = open_store(dir.db("alone"), clock);
  if (!store->advance_epoch(1).ok()) fail("cannot set the epoch");
  WriteBatch b;
  std::uint64_t key = 0, changes = 0;
  const auto start = clock.now();
  const auto deadline =
      start + std::chrono::duration_cast<duet::Duration>(std::chrono::duration<double>(s.seconds));
  while (clock.now() < deadline && changes < s.max_changes) {
    fill(b, s.batch, key);
    if (!store->commit(b).ok()) fail("master-only commit failed");
    changes += static_cast<std::uint64_t>(s.batch);
  }
  const double secs = ms_between(start, clock.now()) / 1000;
  store->close();
  return static_cast<double>(changes) / secs;
}

RunResult run_once(const Settings& s) {
  BenchDir dir(s.dir, "duet-replbench");
  // Declared first: destroyed last, after everything that posts to them.
  Strand master_strand;
  Strand standby_strand;
  std::unique_ptr<duet::store::JournaledStore> master, standby;
  std::unique_ptr<duet::ha::JournalShipper> shipper;
  std::unique_ptr<duet::ha::JournalFollower> follower;

  master_strand.run([&] {
    master = open_store(dir.db("master"), master_strand.clock());
    if (!master->advance_epoch(1).ok()) fail("cannot set the epoch");
    duet::ha::JournalShipper::Options o;  // production defaults: sync, 2 s lag bound
    shipper = std::make_unique<duet::ha::JournalShipper>(master_strand.clock(), *master, o,
                                                         [] { return true; });
    WriteBatch b;
    std::uint64_t key = 1'000'000'000;
    fill(b, 1, key);
    if (!master->commit(b).ok()) fail("seed commit failed");
    return 0;
  });
  standby_strand.run([&] {
    standby = open_store(dir.db("standby"), standby_strand.clock());
    follower = std::make_unique<duet::ha::JournalFollower>(
        standby_strand.executor(), *standby, "standby", duet::ha::JournalFollower::Hooks{});
    return 0;
  });

  ReplicationService service(master_strand.executor(),
                             [&]() -> duet::ha::JournalShipper* { return shipper.get(); });
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) fail("cannot start the gRPC server on 127.0.0.1");
  auto stub = duet::v1::Peer::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));

  standby_strand.run([&] {
    follower->ensure(stub.get(), false);
    return 0;
  });
  // The empty standby is seeded (snapshot), then streams; wait until in step.
  if (!master_strand.eventually(
          [&] {
            return shipper->lag().connected && shipper->lag().acked_lsn == master->last_lsn() &&
                   !shipper->running_alone();
          },
          10s)) {
    fail("the standby did not catch up within 10 s");
  }

  Writer writer(master_strand, *master, *shipper, s);
  auto drained = master_strand.run([&] { return writer.start(); });
  const auto bound = std::chrono::duration<double>(s.seconds) + 30s;
  if (drained.wait_for(bound) != std::future_status::ready) fail("the run did not drain in time");
  RunResult r = master_strand.run([&] { return writer.result(); });
  r.ran_alone = r.not_replicated > 0;

  // The standby holds exactly what the master holds.
  const auto master_last = master_strand.run([&] { return master->last_lsn(); });
  if (!standby_strand.eventually([&] { return standby->last_lsn() == master_last; }, 10s)) {
    fail("the standby did not reach the master's last LSN");
  }

  master_strand.run([&] {
    shipper->stop();  // first, so the ended stream is not reported as "running alone"
    return 0;
  });
  standby_strand.run([&] {
    follower->stop("benchmark over");
    return 0;
  });
  server->Shutdown(std::chrono::system_clock::now() + 2s);
  standby_strand.run([&] {
    follower.reset();
    standby->close();
    return 0;
  });
  master_strand.run([&] {
    shipper.reset();
    master->close();
    return 0;
  });
  server.reset();
  stub.reset();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"replication_bench: sync journal replication throughput and lag (JSON)"};
  Settings s;
  std::vector<int> batches{100};
  int repeat = 3;
  app.add_option("--batch", batches, "changes per transaction (list, e.g. 1,100)")
      ->delimiter(',')
      ->check(CLI::Range(1, 10000));
  app.add_option("--seconds", s.seconds, "length of each run")->check(CLI::Range(0.1, 600.0));
  app.add_option("--repeat", repeat, "runs per batch size")->check(CLI::Range(1, 50));
  app.add_option("--window", s.window, "commits waiting for their ack at most (0: no bound)");
  app.add_option("--max-changes", s.max_changes, "upper bound of changes per run");
  app.add_option("--dir", s.dir, "where the SQLite directories go (a real disk, not tmpfs)");
  CLI11_PARSE(app, argc, argv);
  // Logs go to stderr: stdout is the JSON alone.
  spdlog::set_default_logger(spdlog::stderr_color_mt("replication_bench"));
  spdlog::set_level(spdlog::level::warn);

  nlohmann::ordered_json out;
  out["bench"] = "replication_bench";
  out["machine"] = {{"cpus", std::thread::hardware_concurrency()}, {"cpu", cpu_model()}};
  out["settings"] = {{"seconds", s.seconds},
                     {"repeat", repeat},
                     {"window", s.window},
                     {"max_changes", s.max_changes},
                     {"row_bytes", 64},
                     {"sqlite_synchronous", "FULL"},
                     {"transport", "gRPC on 127.0.0.1, plaintext (no TLS)"},
                     {"sync", true},
                     {"lag", "commit returned on the master -> standby durable ack seen"},
                     {"goal", ">= 10000 changes/s acknowledged, p99 lag <= 50 ms"}};
  out["results"] = nlohmann::ordered_json::array();

  for (int batch : batches) {
    s.batch = batch;
    std::vector<RunResult> runs;
    for (int rep = 0; rep < repeat; ++rep) {
      RunResult r = run_once(s);
      r.master_only_per_s = master_only_rate(s);
      runs.push_back(r);
    }
    std::vector<double> acked, p50, p99, mx, alone;
    nlohmann::ordered_json each = nlohmann::ordered_json::array();
    for (const auto& r : runs) {
      acked.push_back(r.acked_per_s);
      p50.push_back(r.lag_p50_ms);
      p99.push_back(r.lag_p99_ms);
      mx.push_back(r.lag_max_ms);
      alone.push_back(r.master_only_per_s);
      each.push_back({{"committed", r.committed},
                      {"acked", r.acked},
                      {"not_replicated", r.not_replicated},
                      {"ack_seconds", r.ack_seconds},
                      {"acked_changes_per_s", r.acked_per_s},
                      {"committed_changes_per_s", r.committed_per_s},
                      {"lag_p50_ms", r.lag_p50_ms},
                      {"lag_p99_ms", r.lag_p99_ms},
                      {"lag_max_ms", r.lag_max_ms},
                      {"sync_p99_ms", r.sync_p99_ms},
                      {"commit_p50_ms", r.commit_p50_ms},
                      {"master_only_changes_per_s", r.master_only_per_s}});
    }
    const double med_acked = percentile(acked, 0.5);
    const double med_p99 = percentile(p99, 0.5);
    out["results"].push_back({{"batch", batch},
                              {"median_acked_changes_per_s", med_acked},
                              {"median_lag_p50_ms", percentile(p50, 0.5)},
                              {"median_lag_p99_ms", med_p99},
                              {"median_lag_max_ms", percentile(mx, 0.5)},
                              {"median_master_only_changes_per_s", percentile(alone, 0.5)},
                              {"goal_met", med_acked >= 10000 && med_p99 <= 50},
                              {"runs", each}});
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
