// store_bench: journaled changes per second on each backend, as single-row
// transactions and in batches, with commit latency percentiles. Prints JSON.
//
//   store_bench [--backend sqlite|postgres|all] [--batch 1,100] [--seconds 5]
//               [--repeat 3] [--dir /var/tmp]
//
// Every run is bounded by --seconds and by --max-changes. PostgreSQL runs
// against a throwaway server with fsync on, so both backends pay for durable
// commits. Each (backend, batch) runs --repeat times; the median is reported
// beside every run.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/bench_util.h"
#include "common/clock.h"
#include "store/journaled_store.h"
#include "store/postgres_backend.h"
#include "store/sqlite_backend.h"
#include "tests/support/pg_server.h"
#include "tests/support/temp_dir.h"

namespace {

using duet::bench::cpu_model;
using duet::bench::percentile;

using duet::store::Row;
using duet::store::WriteBatch;

struct RunResult {
  std::uint64_t changes = 0;
  double seconds = 0;
  double per_second = 0;
  double commit_p50_us = 0;
  double commit_p99_us = 0;
};

RunResult run_once(duet::store::Store& store, int batch, double seconds,
                   std::uint64_t max_changes) {
  duet::SystemClock clock;
  RunResult r;
  std::vector<double> latencies;
  const std::string value(64, 'v');  // a realistic small row
  std::uint64_t i = 0;
  const auto start = clock.now();
  const auto deadline =
      start + std::chrono::duration_cast<duet::Duration>(std::chrono::duration<double>(seconds));
  WriteBatch b;
  while (clock.now() < deadline && r.changes < max_changes) {
    b.clear();
    for (int k = 0; k < batch; ++k, ++i) {
      b.put("settings", Row{{"key", "bench/" + std::to_string(i)},
                            {"value", value},
                            {"updated_by", "store_bench"},
                            {"updated_at_ms", static_cast<std::int64_t>(i)}});
    }
    const auto t0 = clock.now();
    auto lsn = store.commit(b);
    const auto t1 = clock.now();
    if (!lsn.ok()) {
      std::cerr << "store_bench: commit failed: " << lsn.error().to_string() << "\n";
      std::exit(1);
    }
    latencies.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    r.changes += static_cast<std::uint64_t>(batch);
  }
  r.seconds = std::chrono::duration<double>(clock.now() - start).count();
  r.per_second = static_cast<double>(r.changes) / r.seconds;
  r.commit_p50_us = percentile(latencies, 0.50);
  r.commit_p99_us = percentile(latencies, 0.99);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"store_bench: journaled changes per second per backend (JSON)"};
  std::string backend = "all";
  std::vector<int> batches{1, 100};
  double seconds = 5;
  int repeat = 3;
  std::uint64_t max_changes = 5'000'000;
  std::string dir = "/var/tmp";
  app.add_option("--backend", backend, "sqlite, postgres or all")
      ->check(CLI::IsMember({"sqlite", "postgres", "all"}));
  app.add_option("--batch", batches, "changes per transaction (list)")->delimiter(',');
  app.add_option("--seconds", seconds, "length of each run")->check(CLI::Range(0.1, 600.0));
  app.add_option("--repeat", repeat, "runs per configuration")->check(CLI::Range(1, 50));
  app.add_option("--max-changes", max_changes, "upper bound of changes per run");
  app.add_option("--dir", dir, "where SQLite files go (a real disk, not tmpfs)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  nlohmann::ordered_json out;
  out["bench"] = "store_bench";
  out["machine"] = {{"cpus", std::thread::hardware_concurrency()}, {"cpu", cpu_model()}};
  out["settings"] = {{"seconds", seconds},
                     {"repeat", repeat},
                     {"row_bytes", 64},
                     {"sqlite_synchronous", "FULL"},
                     {"postgres_fsync", true}};
  out["results"] = nlohmann::ordered_json::array();

  std::unique_ptr<duet::testing::PgServer> pg;
  if (backend == "postgres" || backend == "all") {
    duet::testing::PgServer::Options options;
    options.fsync = true;
    auto started = duet::testing::PgServer::start(options);
    if (!started.ok()) {
      std::cerr << "store_bench: PostgreSQL: " << started.error().to_string() << "\n";
      return 1;
    }
    pg = std::move(started).value();
  }

  duet::SystemClock clock;
  for (const std::string name : {"sqlite", "postgres"}) {
    if (backend != "all" && backend != name) continue;
    for (int batch : batches) {
      std::vector<RunResult> runs;
      for (int rep = 0; rep < repeat; ++rep) {
        const std::string path =
            dir + "/duet-bench-" + std::to_string(::getpid()) + "-" + std::to_string(rep) + ".db";
        duet::Result<std::unique_ptr<duet::store::SqlBackend>> db =
            name == "sqlite" ? duet::store::open_sqlite_backend(path)
                             : [&]() -> duet::Result<std::unique_ptr<duet::store::SqlBackend>> {
          auto conninfo = pg->create_database();
          if (!conninfo.ok()) return std::move(conninfo).take_error();
          return duet::store::open_postgres_backend(*conninfo);
        }();
        if (!db.ok()) {
          std::cerr << "store_bench: " << db.error().to_string() << "\n";
          return 1;
        }
        auto store = duet::store::JournaledStore::open(std::move(db).value(),
                                                       duet::store::manager_schema(), clock);
        if (!store.ok() || !(*store)->advance_epoch(1).ok()) {
          std::cerr << "store_bench: cannot open the store\n";
          return 1;
        }
        runs.push_back(run_once(**store, batch, seconds, max_changes));
        (*store)->close();
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
      }
      std::vector<double> rates;
      nlohmann::ordered_json each = nlohmann::ordered_json::array();
      for (const auto& r : runs) {
        rates.push_back(r.per_second);
        each.push_back({{"changes", r.changes},
                        {"seconds", r.seconds},
                        {"changes_per_s", r.per_second},
                        {"commit_p50_us", r.commit_p50_us},
                        {"commit_p99_us", r.commit_p99_us}});
      }
      out["results"].push_back({{"backend", name},
                                {"batch", batch},
                                {"median_changes_per_s", percentile(rates, 0.5)},
                                {"runs", each}});
    }
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
