// intake_path_bench: the CPU cost of the event path of a pair, in one
// process, without sockets or gRPC (issue 4). Where intake_bench measures a
// real pair end to end, this one splits an event's cost into its stages so
// that a change to one of them can be measured on its own (and run under
// `valgrind --tool=callgrind` for instruction counts, which are repeatable
// on a noisy machine):
//
//   parse      syslog_item() for each copy (both nodes parse every message)
//   master     on_items + flush on the master: dedup, rules, rows, commit
//   standby    on_items on the standby (held receipts) and its forwarding
//              round trip (build_forward_request, on_forward, on_forwarded)
//   ship       the master's journal read back (read_journal) as the shipper does
//   apply      the standby store applying those records
//
// Two SQLite stores in a throwaway directory; the stores are what the
// manager opens (manager schema, WAL, synchronous=FULL).
//
//   intake_path_bench --count 200000 --batch 2000

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/clock.h"
#include "manager/event_intake.h"
#include "store/journaled_store.h"
#include "store/sqlite_backend.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Steady = std::chrono::steady_clock;

template <typename T>
T must(duet::Result<T> r, const char* what) {
  if (!r.ok()) {
    std::cerr << "intake_path_bench: " << what << ": " << r.error().message << "\n";
    std::exit(1);
  }
  return std::move(r).value();
}
void must(const duet::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << "intake_path_bench: " << what << ": " << s.error().message << "\n";
    std::exit(1);
  }
}

duet::ManagerConfig node_config(const std::string& name, const std::string& peer, int batch) {
  duet::ManagerConfig c;
  c.node.name = name;
  c.peer = duet::NodeConfig{peer, {}};
  c.tls.insecure = true;
  c.events.batch_max = batch;
  return c;
}

std::unique_ptr<duet::store::JournaledStore> open_store(const fs::path& file, duet::Clock& clock) {
  auto backend = must(duet::store::open_sqlite_backend(file.string()), "opening SQLite");
  return must(
      duet::store::JournaledStore::open(std::move(backend), duet::store::manager_schema(), clock),
      "opening the store");
}

struct Stage {
  double seconds = 0;
  void add(Steady::time_point since) {
    seconds += std::chrono::duration<double>(Steady::now() - since).count();
  }
};

}  // namespace

int main(int argc, char** argv) {
  long count = 200000;
  int batch = 2000;
  int msg_bytes = 120;
  std::string dir_opt;
  CLI::App app{"intake_path_bench: CPU per event of each stage of the intake path (JSON)"};
  app.add_option("--count", count, "distinct messages")->check(CLI::Range(1L, 5000000L));
  app.add_option("--batch", batch, "messages per round (and events.batch_max)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--msg-bytes", msg_bytes, "syslog message length (padded)");
  app.add_option("--dir", dir_opt, "where the two stores go (default: a temp dir, removed)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);  // stdout is the JSON

  std::random_device rd;
  const fs::path dir =
      dir_opt.empty() ? fs::temp_directory_path() / ("duet-intake-path-" + std::to_string(rd()))
                      : fs::path(dir_opt);
  fs::create_directories(dir);

  {
    boost::asio::io_context io;  // never run: timers are set, flushing is done here
    duet::SystemClock clock(io.get_executor());
    auto master_store = open_store(dir / "a.db", clock);
    auto standby_store = open_store(dir / "b.db", clock);
    must(master_store->advance_epoch(1), "epoch");
    const auto config_a = node_config("a", "b", batch);
    const auto config_b = node_config("b", "a", batch);
    auto make = [&](const duet::ManagerConfig& c, duet::store::Store& store) {
      return must(duet::manager::EventIntake::create(
                      io.get_executor(), clock, c, store, [] { return true; },
                      [&](const duet::store::WriteBatch& wb,
                          std::function<void(duet::Result<duet::ha::Runner::Committed>)> done) {
                        auto lsn = master_store->commit(wb);
                        if (!lsn.ok()) return done(lsn.error());
                        done(duet::ha::Runner::Committed{*lsn, 1, true});
                      }),
                  "creating EventIntake");
    };
    auto a = make(config_a, *master_store);
    auto b = make(config_b, *standby_store);
    a->start_acting(1);

    Stage parse, master, standby, ship, apply;
    std::uint64_t shipped_records = 0, shipped_bytes = 0;
    const auto t0 = Steady::now();
    for (long from = 0; from < count; from += batch) {
      const long to = std::min<long>(count, from + batch);
      std::vector<std::string> raws;
      raws.reserve(static_cast<std::size_t>(to - from));
      for (long i = from; i < to; ++i) {
        std::string s = "<134>Oct 11 22:14:15 benchhost app[4242]: duetbench-seq-" +
                        std::to_string(i) + " link state changed on port 17, interface up";
        while (static_cast<int>(s.size()) < msg_bytes) s += '.';
        raws.push_back(std::move(s));
      }
      const std::int64_t now_ms = duet::to_unix_ms(clock.wall_now());
      std::vector<duet::intake::IntakeItem> at_a, at_b;
      at_a.reserve(raws.size());
      at_b.reserve(raws.size());
      auto s = Steady::now();
      for (const auto& raw : raws) {
        for (auto* into : {&at_a, &at_b}) {
          duet::intake::Receipt r;
          r.source = "10.0.0.9";
          r.source_port = 514;
          r.received_ms = now_ms;
          r.raw = raw;
          // As the manager does: the standby holds receipts undetailed; the
          // master keeps the fields its rules read (these rules read none).
          static const std::vector<std::string> no_rule_fields;
          into->push_back(duet::intake::syslog_item(
              std::move(r),
              into == &at_a ? duet::intake::Detail::kRules : duet::intake::Detail::kKey,
              &no_rule_fields));
        }
      }
      parse.add(s);

      s = Steady::now();
      a->on_items(std::move(at_a));
      a->flush_now();
      master.add(s);

      s = Steady::now();
      b->on_items(std::move(at_b));
      auto req = b->build_forward_request();
      auto resp = a->on_forward(req);
      if (resp.ok()) b->on_forwarded(grpc::Status::OK, *resp);
      standby.add(s);

      // The shipper reads what the master committed; the standby applies it.
      s = Steady::now();
      std::vector<duet::store::JournalRecord> records;
      while (true) {
        auto got = must(master_store->read_journal(standby_store->last_lsn() + 1 + records.size(),
                                                   static_cast<std::size_t>(batch) + 64),
                        "reading the journal");
        if (got.empty()) break;
        for (auto& r : got) {
          shipped_bytes += r.payload.size();
          records.push_back(std::move(r));
        }
      }
      shipped_records += records.size();
      ship.add(s);
      s = Steady::now();
      if (!records.empty()) (void)must(standby_store->apply(records), "applying");
      apply.add(s);
    }
    a->flush_now();
    const double total = std::chrono::duration<double>(Steady::now() - t0).count();
    auto per = [&](const Stage& st) { return st.seconds * 1e6 / static_cast<double>(count); };
    std::int64_t stored = 0;
    must(standby_store->scan("events",
                             [&](const duet::store::Row&) {
                               ++stored;
                               return true;
                             }),
         "counting");
    json out;
    out["bench"] = "intake_path";
    out["count"] = count;
    out["batch"] = batch;
    out["msg_bytes"] = msg_bytes;
    out["stored_on_standby"] = stored;
    out["journal_records"] = shipped_records;
    out["journal_bytes_per_event"] = static_cast<double>(shipped_bytes) / count;
    out["us_per_event"] = {{"parse_both_copies", per(parse)},
                           {"master", per(master)},
                           {"standby_forwarding", per(standby)},
                           {"ship_read", per(ship)},
                           {"standby_apply", per(apply)}};
    out["total_us_per_event"] = total * 1e6 / static_cast<double>(count);
    out["events_per_s_one_core"] = static_cast<double>(count) / total;
    std::cout << out.dump(2) << "\n";
    if (stored != count) {
      std::cerr << "intake_path_bench: " << stored << " events on the standby, expected " << count
                << "\n";
      return 1;
    }
  }
  if (dir_opt.empty()) fs::remove_all(dir);
  return 0;
}
