// reseed_bench: re-seeding an empty standby from a large SQLite master while
// the master takes writes. Prints one JSON object.
//
//   reseed_bench [--size-mb 1024] [--value-bytes 1000] [--rate 50]
//                [--baseline-seconds 10] [--dir /var/tmp] [--standby-dir DIR]
//
// In one process, as in a manager pair: a master JournaledStore (SQLite,
// synchronous=FULL, manager schema) with its JournalShipper on one strand, an
// empty standby JournaledStore with its JournalFollower on a second strand,
// and the Peer.Replicate / Peer.FetchSnapshot services on a gRPC server on
// 127.0.0.1 (plaintext). Both stores sit on the same disk unless
// --standby-dir puts the standby elsewhere.
//
// 1. Fill: the master's `settings` table gets --size-mb of values
//    (--value-bytes each) in transactions of 10 000 rows (journaled, as every
//    change is; the file is about twice the size of the values).
// 2. Baseline: a producer thread posts one single-row commit to the master
//    strand every 1/--rate s for --baseline-seconds; the write latency is the
//    time from posting to the commit's answer (Runner::commit's path: commit,
//    on_commit, when_replicated), so time spent queued behind other work on
//    the strand counts. No standby is connected (the master runs alone).
// 3. Re-seed: the standby starts following (empty store: snapshot, then the
//    journal from the snapshot's LSN + 1) while the producer keeps the same
//    rate. Reported: time to the restored snapshot and to being in step
//    (standby LSN = master LSN, acked), rows and MB restored, and the write
//    latency over the re-seed (from its start until the snapshot is restored).
//    Peak RSS of the whole process during the re-seed, from VmHWM after
//    resetting it (/proc/self/clear_refs), shows the memory bound.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
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

using namespace std::chrono_literals;
using duet::bench::BenchDir;
using duet::bench::fail;
using duet::bench::open_store;
using duet::bench::percentile;
using duet::bench::ReplicationService;
using duet::bench::Strand;
using duet::store::Row;
using duet::store::WriteBatch;
using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// One io_context thread: the strand of one manager.

Row setting(const std::string& key, const std::string& value, std::int64_t at) {
  return Row{{"key", key}, {"value", value}, {"updated_by", "reseed_bench"}, {"updated_at_ms", at}};
}

// Posts one single-row commit to the master strand every `period`; records
// each one's latency from posting to its answer.
class Producer {
 public:
  Producer(Strand& strand, duet::store::Store& store, duet::ha::JournalShipper& shipper,
           std::chrono::microseconds period)
      : strand_(strand), store_(store), shipper_(shipper), period_(period) {}
  ~Producer() { stop(); }

  void start() {
    stop_ = false;
    thread_ = std::thread([this] {
      auto next = SteadyClock::now();
      while (!stop_) {
        const auto posted = SteadyClock::now();
        boost::asio::post(strand_.executor(), [this, posted] { commit(posted); });
        next += period_;
        std::this_thread::sleep_until(next);
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    // Let the posted commits finish.
    strand_.run([] { return 0; });
  }
  std::vector<double> take() {
    std::lock_guard lock(mu_);
    return std::exchange(latencies_ms_, {});
  }

 private:
  void commit(SteadyClock::time_point posted) {
    static const std::string value(100, 'w');
    WriteBatch b;
    b.put("settings", setting("live/" + std::to_string(seq_++), value, 0));
    auto lsn = store_.commit(b);
    if (!lsn.ok()) fail("commit: " + lsn.error().to_string());
    shipper_.on_commit();
    shipper_.when_replicated(*lsn, [this, posted](bool) {
      const double ms =
          std::chrono::duration<double, std::milli>(SteadyClock::now() - posted).count();
      std::lock_guard lock(mu_);
      latencies_ms_.push_back(ms);
    });
  }

  Strand& strand_;
  duet::store::Store& store_;
  duet::ha::JournalShipper& shipper_;
  std::chrono::microseconds period_;
  std::atomic<bool> stop_{false};
  std::uint64_t seq_ = 0;  // strand only
  std::thread thread_;
  std::mutex mu_;
  std::vector<double> latencies_ms_;  // guarded by mu_
};

// VmHWM of this process in MiB; reset_peak() starts a new peak.
double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}
bool reset_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return static_cast<bool>(out.flush());
}

nlohmann::ordered_json latency_json(const std::vector<double>& v) {
  nlohmann::ordered_json j;
  j["writes"] = v.size();
  j["p50_ms"] = percentile(v, 0.50);
  j["p99_ms"] = percentile(v, 0.99);
  j["max_ms"] = v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reseed_bench: re-seed an empty standby from a large master under writes (JSON)"};
  double size_mb = 1024;
  std::size_t value_bytes = 1000;
  double rate = 50;
  double baseline_seconds = 10;
  std::string dir = "/var/tmp";
  std::string standby_dir;
  app.add_option("--size-mb", size_mb, "MiB of setting values on the master")
      ->check(CLI::Range(1.0, 65536.0));
  app.add_option("--value-bytes", value_bytes, "bytes per value")->check(CLI::Range(16, 1 << 20));
  app.add_option("--rate", rate, "master commits per second (one row each)")
      ->check(CLI::Range(1.0, 5000.0));
  app.add_option("--baseline-seconds", baseline_seconds, "length of the baseline")
      ->check(CLI::Range(1.0, 600.0));
  app.add_option("--dir", dir, "where the SQLite files go (a real disk, not tmpfs)");
  app.add_option("--standby-dir", standby_dir, "the standby's directory (default: --dir)");
  CLI11_PARSE(app, argc, argv);
  // Logs on stderr: stdout is the JSON.
  spdlog::set_default_logger(spdlog::stderr_color_mt("reseed_bench"));
  spdlog::set_level(spdlog::level::warn);

  BenchDir master_dir(dir, "duet-reseedbench");
  BenchDir standby_parent(standby_dir.empty() ? dir : standby_dir, "duet-reseedbench");
  Strand master_strand(600s);  // filling 1 GB is one long task
  Strand standby_strand(600s);
  std::unique_ptr<duet::store::JournaledStore> master;
  std::unique_ptr<duet::store::JournaledStore> standby;
  std::unique_ptr<duet::ha::JournalShipper> shipper;
  std::unique_ptr<duet::ha::JournalFollower> follower;
  std::atomic<bool> caught_up{false};

  // 1. Fill the master.
  const auto rows =
      static_cast<std::uint64_t>(size_mb * 1048576.0 / static_cast<double>(value_bytes));
  const auto fill_start = SteadyClock::now();
  master_strand.run([&] {
    master = open_store(master_dir.db("master"), master_strand.clock());
    if (!master->advance_epoch(1).ok()) fail("advance_epoch");
    const std::string value(value_bytes, 'v');
    WriteBatch b;
    for (std::uint64_t i = 0; i < rows;) {
      b.clear();
      for (int k = 0; k < 10000 && i < rows; ++k, ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "bulk/%012llu", static_cast<unsigned long long>(i));
        b.put("settings", setting(key, value, static_cast<std::int64_t>(i)));
      }
      if (auto lsn = master->commit(b); !lsn.ok()) fail("fill: " + lsn.error().to_string());
    }
    duet::ha::JournalShipper::Options o;  // the manager's defaults: sync mode
    shipper = std::make_unique<duet::ha::JournalShipper>(master_strand.clock(), *master, o,
                                                         [] { return true; });
    return 0;
  });
  const double fill_seconds = seconds_since(fill_start);
  std::error_code ec;
  const auto master_file_mb =
      static_cast<double>(std::filesystem::file_size(master_dir.db("master"), ec)) / 1048576.0;

  standby_strand.run([&] {
    standby = open_store(standby_parent.db("standby"), standby_strand.clock());
    duet::ha::JournalFollower::Hooks h;
    h.caught_up = [&] { caught_up = true; };
    follower = std::make_unique<duet::ha::JournalFollower>(standby_strand.executor(), *standby,
                                                           "standby", std::move(h));
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

  // 2. Baseline.
  const auto period = std::chrono::microseconds(static_cast<std::int64_t>(1e6 / rate));
  Producer producer(master_strand, *master, *shipper, period);
  producer.start();
  std::this_thread::sleep_for(std::chrono::duration<double>(baseline_seconds));
  producer.stop();
  const std::vector<double> baseline = producer.take();

  // 3. Re-seed under the same load.
  const bool peak_reset = reset_peak();
  producer.start();
  const auto reseed_start = SteadyClock::now();
  standby_strand.run([&] {
    follower->ensure(stub.get(), false);
    return 0;
  });
  double restored_seconds = 0;
  std::vector<double> during;
  for (;;) {
    std::this_thread::sleep_for(20ms);
    const bool restored = standby_strand.run([&] { return follower->snapshots_restored() > 0; });
    if (restored && restored_seconds == 0) {
      restored_seconds = seconds_since(reseed_start);
      producer.stop();
      during = producer.take();
      producer.start();
    }
    if (restored && caught_up) break;
    if (seconds_since(reseed_start) > 3600) fail("the re-seed did not finish within an hour");
  }
  producer.stop();
  // In step: the standby holds everything the master committed, acked.
  for (;;) {
    const auto m = master_strand.run(
        [&] { return std::make_pair(master->last_lsn(), shipper->lag().acked_lsn); });
    const auto s = standby_strand.run([&] { return standby->last_lsn(); });
    if (m.first == s && m.second == m.first) break;
    if (seconds_since(reseed_start) > 3600) fail("the standby did not catch up");
    std::this_thread::sleep_for(10ms);
  }
  const double in_step_seconds = seconds_since(reseed_start);
  const double peak_mb = peak_rss_mb();
  const auto restored_rows = standby_strand.run([&] { return follower->reseed_rows(); });
  const auto restored_bytes = standby_strand.run([&] { return follower->reseed_bytes(); });

  master_strand.run([&] {
    shipper->stop();
    return 0;
  });
  standby_strand.run([&] {
    follower->stop("bench over");
    return 0;
  });
  server->Shutdown(std::chrono::system_clock::now() + 2s);
  standby_strand.run([&] {
    follower.reset();
    standby.reset();
    return 0;
  });
  master_strand.run([&] {
    shipper.reset();
    master.reset();
    return 0;
  });

  const double base_p99 = percentile(baseline, 0.99);
  const double during_p99 = percentile(during, 0.99);
  nlohmann::ordered_json out;
  out["bench"] = "reseed";
  out["mode"] =
      "in-process: two SQLite stores, shipper and follower on two strands, gRPC on 127.0.0.1";
  out["machine"] = {{"cpus", std::thread::hardware_concurrency()},
                    {"cpu", duet::bench::cpu_model()}};
  out["settings"] = {
      {"size_mb", size_mb}, {"value_bytes", value_bytes},
      {"rate_per_s", rate}, {"baseline_seconds", baseline_seconds},
      {"dir", dir},         {"standby_dir", standby_dir.empty() ? dir : standby_dir}};
  out["master"] = {{"rows", rows}, {"fill_seconds", fill_seconds}, {"file_mb", master_file_mb}};
  out["reseed"] = {{"restored_seconds", restored_seconds},
                   {"in_step_seconds", in_step_seconds},
                   {"rows", restored_rows},
                   {"mb", static_cast<double>(restored_bytes) / 1048576.0},
                   {"mb_per_s", static_cast<double>(restored_bytes) / 1048576.0 / restored_seconds},
                   {"peak_rss_mb", peak_reset ? peak_mb : -1.0}};
  out["write_latency_baseline"] = latency_json(baseline);
  out["write_latency_during_reseed"] = latency_json(during);
  out["p99_ratio"] = base_p99 > 0 ? during_p99 / base_p99 : 0.0;
  std::cout << out.dump(2) << std::endl;
  return 0;
}
