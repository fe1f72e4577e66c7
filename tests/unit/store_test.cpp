// The journaled store's contract, run against both backends.

#include <catch2/catch.hpp>
#include <limits>
#include <map>

#include "store/store_error.h"
#include "tests/support/store_fixtures.h"

using duet::ManualClock;
using duet::store::Blob;
using duet::store::Epoch;
using duet::store::JournaledStore;
using duet::store::JournalOp;
using duet::store::JournalRecord;
using duet::store::Lsn;
using duet::store::Null;
using duet::store::Row;
using duet::store::SnapshotHeader;
using duet::store::Store;
using duet::store::StoreErrc;
using duet::store::Value;
using duet::store::WriteBatch;
using duet::testing::PostgresLocation;
using duet::testing::SqliteLocation;
using duet::testing::test_schema;

namespace {

Row item(const std::string& id, Value n = Null{}, Value r = Null{}, Value t = Null{},
         Value b = Null{}) {
  return Row{{"id", id},
             {"n", std::move(n)},
             {"r", std::move(r)},
             {"t", std::move(t)},
             {"b", std::move(b)}};
}

Row counter(std::int64_t id, std::int64_t hits) { return Row{{"id", id}, {"hits", hits}}; }

using Dump = std::map<std::string, std::vector<Row>>;

Dump dump(Store& s) {
  Dump out;
  for (const auto& t : s.schema().tables()) {
    auto& rows = out[t.name];
    REQUIRE(s.scan(t.name, [&rows](const Row& r) {
               rows.push_back(r);
               return true;
             }).ok());
  }
  return out;
}

std::vector<JournalRecord> whole_journal(Store& s) {
  auto j = s.read_journal(0, 1000000);
  REQUIRE(j.ok());
  return *j;
}

template <typename Location>
struct Node {
  Location where;
  ManualClock clock;
  std::unique_ptr<JournaledStore> store;

  explicit Node(const duet::store::Schema& schema = test_schema()) { open(schema); }

  void open(const duet::store::Schema& schema = test_schema()) {
    store.reset();
    auto s = duet::testing::open_at(where, schema, clock);
    if (!s.ok()) FAIL("open " << Location::kName << ": " << s.error().to_string());
    store = std::move(s).value();
  }
  Store& operator*() { return *store; }
  Store* operator->() { return store.get(); }
};

// Writes a varied history: inserts, updates and deletes over both test tables.
Lsn write_history(Store& s, int from, int count) {
  Lsn last = 0;
  for (int i = from; i < from + count; ++i) {
    WriteBatch b;
    b.put("items", item("k" + std::to_string(i % 17), std::int64_t{i}, i * 0.5,
                        "text " + std::to_string(i), Blob{std::string("\0\x01\xff", 3)}));
    b.put("counters", counter(i % 5, i));
    if (i % 7 == 0) b.erase("items", std::string("k" + std::to_string((i + 3) % 17)));
    if (i % 11 == 0) b.erase("counters", std::int64_t{(i + 1) % 5});
    auto lsn = s.commit(b);
    REQUIRE(lsn.ok());
    last = *lsn;
  }
  return last;
}

// Copies a snapshot of `from` into `to` through the streaming interfaces.
SnapshotHeader copy_snapshot(Store& from, Store& to) {
  struct Sink : duet::store::SnapshotSink {
    Store& to;
    std::unique_ptr<duet::store::SnapshotRestore> restore;
    SnapshotHeader header;
    explicit Sink(Store& target) : to(target) {}
    duet::Status on_header(const SnapshotHeader& h) override {
      header = h;
      DUET_ASSIGN_OR_RETURN(restore, to.begin_restore(h));
      return duet::ok_status();
    }
    duet::Status on_rows(const std::string& table, std::vector<Row> rows) override {
      return restore->add_rows(table, rows);
    }
  } sink(to);
  REQUIRE(from.take_snapshot(sink, 7).ok());
  REQUIRE(sink.restore->commit().ok());
  return sink.header;
}

}  // namespace

TEMPLATE_TEST_CASE("a fresh store is migrated and keeps its state across a reopen", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  CHECK(n->info().schema_version == test_schema().latest_version());
  CHECK(n->info().backend == TestType::kName);
  CHECK(n->last_lsn() == 0);
  CHECK(n->current_epoch() == 0);
  REQUIRE(n->advance_epoch(4).ok());
  const Lsn last = write_history(*n, 0, 20);
  const Dump before = dump(*n);
  n.open();
  CHECK(n->current_epoch() == 4);
  CHECK(n->last_lsn() == last);
  CHECK(n->info().first_lsn == 1);
  CHECK(dump(*n) == before);
}

TEMPLATE_TEST_CASE("migrations run in order on an older database", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> n(duet::store::manager_schema());
  const auto manager_version = duet::store::manager_schema().latest_version();
  CHECK(n->info().schema_version == manager_version);
  REQUIRE(n->advance_epoch(1).ok());
  REQUIRE(n->commit(WriteBatch().put(
                        "settings",
                        Row{{"key", "k"}, {"value", "v"}, {"updated_at_ms", std::int64_t{5}}}))
              .ok());
  CHECK_FALSE(n->get("items", std::string("x")).ok());  // no such table yet

  n.open(test_schema());
  CHECK(n->info().schema_version == manager_version + 1);
  auto setting = n->get("settings", std::string("k"));
  REQUIRE(setting.ok());
  REQUIRE(setting->has_value());
  CHECK(*duet::store::find_field(**setting, "value") == Value{std::string("v")});
  REQUIRE(n->commit(WriteBatch().put("items", item("x"))).ok());
}

TEMPLATE_TEST_CASE("a migration adds a nullable column; older rows read it as null", "[store]",
                   SqliteLocation, PostgresLocation) {
  // The manager schema up to version 4 (events without `host`), then all of it.
  auto migrations = duet::store::manager_schema().migrations();
  std::vector<duet::store::Migration> before;
  for (const auto& m : migrations) {
    if (m.add_columns.empty()) before.push_back(m);
    if (!m.add_columns.empty()) break;
  }
  REQUIRE(before.size() < migrations.size());
  const duet::store::Schema old_schema(before);
  REQUIRE(old_schema.validate().ok());
  Node<TestType> n(old_schema);
  REQUIRE(n->advance_epoch(1).ok());
  auto event = [](std::int64_t id) {
    return Row{{"id", id},
               {"received_at_ms", std::int64_t{1}},
               {"node", "a"},
               {"source", "10.0.0.1"},
               {"source_port", std::int64_t{514}},
               {"protocol", "syslog/udp"},
               {"scope", "unregistered"},
               {"priority", "info"},
               {"message", "m"},
               {"fields", "{}"},
               {"raw", duet::store::Blob{"x"}},
               {"truncated", std::int64_t{0}},
               {"dedup_key", "00"},
               {"epoch", std::int64_t{1}}};
  };
  REQUIRE(n->commit(WriteBatch().put("events", event(1))).ok());

  n.open(duet::store::manager_schema());
  CHECK(n->info().schema_version == duet::store::manager_schema().latest_version());
  auto old_row = n->get("events", std::int64_t{1});
  REQUIRE(old_row.ok());
  REQUIRE(old_row->has_value());
  const Value* host = duet::store::find_field(**old_row, "host");
  CHECK((host == nullptr || std::holds_alternative<duet::store::Null>(*host)));
  Row with_host = event(2);
  with_host.push_back({"host", "web01"});
  REQUIRE(n->commit(WriteBatch().put("events", with_host)).ok());
  auto new_row = n->get("events", std::int64_t{2});
  REQUIRE(new_row.ok());
  CHECK(*duet::store::find_field(**new_row, "host") == Value{std::string("web01")});
}

TEST_CASE("an added column must name an existing table and be nullable", "[store]") {
  using duet::store::AddColumn;
  using duet::store::ColumnDef;
  using duet::store::ColumnType;
  using duet::store::Migration;
  auto base = duet::store::manager_schema().migrations();
  auto with = [&](AddColumn a) {
    auto m = base;
    m.push_back(Migration{static_cast<std::uint32_t>(m.size() + 1), "test", {}, {}, {a}});
    return duet::store::Schema(m).validate();
  };
  CHECK(with(AddColumn{"events", ColumnDef{"extra", ColumnType::kInt, false}}).ok());
  CHECK_FALSE(with(AddColumn{"nope", ColumnDef{"extra", ColumnType::kInt, false}}).ok());
  CHECK_FALSE(with(AddColumn{"events", ColumnDef{"extra", ColumnType::kInt, true}}).ok());
  CHECK_FALSE(with(AddColumn{"events", ColumnDef{"message", ColumnType::kText, false}}).ok());
}

TEST_CASE("fill_nulls completes a row built in column order with the added columns", "[store]") {
  const auto* events = duet::store::manager_schema().table("events");
  REQUIRE(events != nullptr);
  // The first five columns, as a writer that predates later migrations builds them.
  Row row;
  for (std::size_t i = 0; i < 5; ++i) row.push_back({events->columns[i].name, std::int64_t(i)});
  events->fill_nulls(row);
  REQUIRE(row.size() == events->columns.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    CHECK(row[i].name == events->columns[i].name);
    if (i < 5) {
      CHECK(row[i].value == Value{std::int64_t(i)});
    } else {
      CHECK(std::holds_alternative<duet::store::Null>(row[i].value));
    }
  }
  const Row complete = row;
  events->fill_nulls(row);  // already complete: unchanged
  CHECK(row == complete);
}

TEMPLATE_TEST_CASE("a database migrated by a newer binary is refused", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> n;  // the test schema: one migration past the manager's
  n.store.reset();
  ManualClock clock;
  auto old = duet::testing::open_at(n.where, duet::store::manager_schema(), clock);
  REQUIRE_FALSE(old.ok());
  CHECK(old.error().code == make_error_code(StoreErrc::kSchemaTooNew));
  const auto v = duet::store::manager_schema().latest_version();
  CHECK_THAT(old.error().message,
             Catch::Contains("schema version " + std::to_string(v + 1) +
                             ", newer than this binary's " + std::to_string(v)));
}

TEMPLATE_TEST_CASE("commit refuses to write before an epoch is persisted", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  auto r = n->commit(WriteBatch().put("items", item("a")));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == make_error_code(StoreErrc::kNoEpoch));
  CHECK(n->last_lsn() == 0);
}

TEMPLATE_TEST_CASE("every change lands in the journal with LSN, epoch, table, op, key, payload",
                   "[store]", SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(3).ok());
  n.clock.advance(std::chrono::milliseconds(1234));
  WriteBatch b;
  b.put("items", item("a", std::int64_t{1}, 2.5, "x", Blob{"yz"}));
  b.put("counters", counter(7, 70));
  b.erase("items", std::string("a"));
  auto lsn = n->commit(b);
  REQUIRE(lsn.ok());
  CHECK(*lsn == 3);

  auto j = whole_journal(*n);
  REQUIRE(j.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(j[i].lsn == i + 1);
    CHECK(j[i].epoch == 3);
    CHECK(j[i].committed_at_ms == duet::to_unix_ms(n.clock.wall_now()));
  }
  CHECK(j[0].table == "items");
  CHECK(j[0].op == JournalOp::kUpsert);
  CHECK(j[0].key == "a");
  auto row = duet::store::decode_row(j[0].payload);
  REQUIRE(row.ok());
  CHECK(*row == item("a", std::int64_t{1}, 2.5, "x", Blob{"yz"}));
  CHECK(j[1].table == "counters");
  CHECK(j[1].key == "7");
  CHECK(j[2].op == JournalOp::kDelete);
  CHECK(j[2].key == "a");
  CHECK(j[2].payload.empty());

  auto gone = n->get("items", std::string("a"));
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
  auto c = n->get("counters", std::int64_t{7});
  REQUIRE(c.ok());
  REQUIRE(c->has_value());
  CHECK(**c == counter(7, 70));
}

TEMPLATE_TEST_CASE("a batch with one bad change writes nothing at all", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  REQUIRE(n->commit(WriteBatch().put("items", item("keep", std::int64_t{1}))).ok());
  const Dump before = dump(*n);

  SECTION("unknown column") {
    auto r = n->commit(
        WriteBatch().put("items", item("new")).put("items", Row{{"id", "z"}, {"colour", "red"}}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == make_error_code(StoreErrc::kInvalidRow));
  }
  SECTION("wrong type") {
    auto r = n->commit(WriteBatch()
                           .put("items", item("new"))
                           .put("counters", Row{{"id", std::int64_t{1}}, {"hits", "many"}}));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("counters.hits takes integer"));
  }
  SECTION("NULL in a NOT NULL column") {
    auto r = n->commit(WriteBatch().put("counters", Row{{"id", std::int64_t{1}}}));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("must not be NULL"));
  }
  SECTION("unknown table") {
    auto r = n->commit(WriteBatch().put("items", item("new")).put("nope", Row{{"id", "x"}}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == make_error_code(StoreErrc::kUnknownTable));
  }
  SECTION("key of the wrong type in a delete") {
    auto r = n->commit(WriteBatch().erase("counters", std::string("seven")));
    REQUIRE_FALSE(r.ok());
  }
  CHECK(n->last_lsn() == 1);
  CHECK(whole_journal(*n).size() == 1);
  CHECK(dump(*n) == before);
}

TEMPLATE_TEST_CASE("values round-trip exactly, through the store and through the journal",
                   "[store]", SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  const std::string all_bytes = [] {
    std::string s;
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
  }();
  const std::vector<Row> rows = {
      item("min", std::numeric_limits<std::int64_t>::min(), -0.0, "", Blob{""}),
      item("max", std::numeric_limits<std::int64_t>::max(), 1.7976931348623157e308,
           "ünïcödé ✓ 日本", Blob{all_bytes}),
      item("tiny", std::int64_t{-1}, 4.9406564584124654e-324, "line\nbreak\ttab",
           Blob{std::string(1, '\0')}),
      item("third", std::int64_t{0}, 0.1 + 0.2, "'quoted' \"double\" \\", Null{}),
      item("nulls"),
  };
  WriteBatch b;
  for (const auto& r : rows) b.put("items", r);
  REQUIRE(n->commit(b).ok());
  for (const auto& r : rows) {
    auto got = n->get("items", *duet::store::find_field(r, "id"));
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK(**got == r);
  }
  // An integer given for a real column is stored as real.
  REQUIRE(n->commit(WriteBatch().put("items", item("int-as-real", Null{}, std::int64_t{3}))).ok());
  auto conv = n->get("items", std::string("int-as-real"));
  REQUIRE(conv.ok());
  CHECK(*duet::store::find_field(**conv, "r") == Value{3.0});

  Node<TestType> replica;
  auto journal = whole_journal(*n);
  REQUIRE(replica->apply(journal).ok());
  CHECK(dump(*replica) == dump(*n));
}

TEMPLATE_TEST_CASE("read_journal returns records from an LSN, in order, up to a limit", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  const Lsn last = write_history(*n, 0, 10);
  auto page = n->read_journal(5, 4);
  REQUIRE(page.ok());
  REQUIRE(page->size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK((*page)[i].lsn == 5 + i);
  auto tail = n->read_journal(last, 100);
  REQUIRE(tail.ok());
  CHECK(tail->size() == 1);
  auto none = n->read_journal(last + 1, 100);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEMPLATE_TEST_CASE("put_rows journals many rows under few records, and a replica applies them",
                   "[store]", SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  // Out of column order and with an int for a real column: normalized like put().
  std::vector<Row> small;
  for (int i = 0; i < 100; ++i) {
    small.push_back(Row{{"t", "row " + std::to_string(i)},
                        {"id", "k" + std::to_string(i)},
                        {"r", std::int64_t{i}}});
  }
  WriteBatch batch;
  batch.put("counters", counter(1, 1)).put_rows("items", small).put("counters", counter(2, 2));
  auto lsn = n->commit(batch);
  REQUIRE(lsn.ok());
  auto journal = whole_journal(*n);
  REQUIRE(journal.size() == 3);  // one record for the hundred rows
  CHECK(journal[1].op == JournalOp::kUpsertRows);
  CHECK(journal[1].table == "items");
  auto got = n->get("items", std::string("k7"));
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(*duet::store::find_field(**got, "r") == Value{7.0});

  // Rows past about 1 MiB go under further records; read_journal stops at a byte budget.
  std::vector<Row> big;
  for (int i = 0; i < 5; ++i) {
    big.push_back(item("big" + std::to_string(i), Null{}, Null{}, Null{},
                       Blob{std::string(400 * 1024, static_cast<char>('a' + i))}));
  }
  REQUIRE(n->commit(WriteBatch().put_rows("items", big)).ok());
  journal = whole_journal(*n);
  REQUIRE(journal.size() == 3 + 2);  // 3 rows reach 1 MiB; 2 more
  auto page = n->read_journal(4, 100, 1);
  REQUIRE(page.ok());
  CHECK(page->size() == 1);  // at least one, however small the budget
  page = n->read_journal(1, 100, 1024);
  REQUIRE(page.ok());
  CHECK(page->size() == 2);  // the hundred rows spend the budget

  Node<TestType> replica;
  REQUIRE(replica->apply(journal).ok());
  CHECK(dump(*replica) == dump(*n));
  CHECK(replica->last_lsn() == n->last_lsn());

  // A row put_rows cannot store refuses the whole batch.
  std::vector<Row> bad = {item("ok"), Row{{"id", "x"}, {"nope", std::int64_t{1}}}};
  auto refused = n->commit(WriteBatch().put_rows("items", bad));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == make_error_code(StoreErrc::kInvalidRow));
  auto absent = n->get("items", std::string("ok"));
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
}

TEMPLATE_TEST_CASE("applying a record twice equals applying it once", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> master;
  Node<TestType> replica;
  REQUIRE(master->advance_epoch(2).ok());
  write_history(*master, 0, 40);
  const auto journal = whole_journal(*master);
  const std::span<const JournalRecord> all(journal);

  REQUIRE(replica->apply(all.subspan(0, 30)).ok());
  REQUIRE(replica->apply(all.subspan(0, 30)).ok());   // the same again
  REQUIRE(replica->apply(all.subspan(10, 40)).ok());  // overlapping
  auto last = replica->apply(all);                    // everything again
  REQUIRE(last.ok());
  CHECK(*last == master->last_lsn());
  CHECK(replica->current_epoch() == 2);
  CHECK(dump(*replica) == dump(*master));
  CHECK(whole_journal(*replica) == journal);
}

TEMPLATE_TEST_CASE("apply refuses gaps, stale epochs and diverged history", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> master;
  Node<TestType> replica;
  REQUIRE(master->advance_epoch(5).ok());
  write_history(*master, 0, 10);
  auto journal = whole_journal(*master);
  REQUIRE(replica->apply(std::span(journal).subspan(0, 5)).ok());
  const Dump before = dump(*replica);

  SECTION("a gap") {
    auto r = replica->apply(std::span(journal).subspan(6, 2));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == make_error_code(StoreErrc::kJournalGap));
  }
  SECTION("a record from an epoch below the journal's last") {
    auto older = journal[5];
    older.epoch = 4;
    auto r = replica->apply(std::span(&older, 1));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == make_error_code(StoreErrc::kStaleEpoch));
  }
  SECTION("epochs going backwards within a batch") {
    auto bad = std::vector<JournalRecord>(journal.begin() + 5, journal.begin() + 7);
    bad[0].epoch = 6;
    auto r = replica->apply(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == make_error_code(StoreErrc::kStaleEpoch));
  }
  SECTION("the same LSN from another epoch") {
    auto other = journal[3];
    other.epoch = 4;
    auto r = replica->apply(std::span(&other, 1));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == make_error_code(StoreErrc::kDiverged));
  }
  SECTION("a record for a table this node does not have") {
    auto odd = journal[5];
    odd.table = "martians";
    auto r = replica->apply(std::span(&odd, 1));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == make_error_code(StoreErrc::kUnknownTable));
  }
  CHECK(replica->last_lsn() == 5);
  CHECK(dump(*replica) == before);
}

TEMPLATE_TEST_CASE(
    "a replica that has seen a higher epoch still applies the older records it lacks", "[store]",
    SqliteLocation, PostgresLocation) {
  Node<TestType> master;
  Node<TestType> replica;
  REQUIRE(master->advance_epoch(5).ok());
  write_history(*master, 0, 10);
  REQUIRE(replica->advance_epoch(7).ok());  // it heard of epoch 7 in a heartbeat
  auto applied = replica->apply(whole_journal(*master));
  REQUIRE(applied.ok());
  CHECK(*applied == master->last_lsn());
  CHECK(replica->current_epoch() == 7);  // never lowered
  CHECK(dump(*replica) == dump(*master));
}

TEMPLATE_TEST_CASE("apply takes the epoch of newer records", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> master;
  Node<TestType> replica;
  REQUIRE(master->advance_epoch(1).ok());
  write_history(*master, 0, 3);
  REQUIRE(master->advance_epoch(7).ok());
  write_history(*master, 3, 3);
  REQUIRE(replica->apply(whole_journal(*master)).ok());
  CHECK(replica->current_epoch() == 7);
  replica.open();
  CHECK(replica->current_epoch() == 7);
}

TEMPLATE_TEST_CASE("epochs persist and never go back", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(3).ok());
  REQUIRE(n->advance_epoch(3).ok());  // same: no-op
  n.open();
  CHECK(n->current_epoch() == 3);
  auto r = n->advance_epoch(2);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == make_error_code(StoreErrc::kStaleEpoch));
  CHECK(n->current_epoch() == 3);
}

TEMPLATE_TEST_CASE("a snapshot plus the journal after it equals the source", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> master;
  Node<TestType> replica;
  REQUIRE(master->advance_epoch(2).ok());
  write_history(*master, 0, 50);
  REQUIRE(replica->advance_epoch(1).ok());
  write_history(*replica, 100, 5);  // stale local state that the restore must discard

  const SnapshotHeader h = copy_snapshot(*master, *replica);
  CHECK(h.lsn == master->last_lsn());
  CHECK(h.epoch == 2);
  CHECK(h.schema_version == test_schema().latest_version());
  CHECK(replica->last_lsn() == h.lsn);
  CHECK(dump(*replica) == dump(*master));
  CHECK(whole_journal(*replica).empty());

  write_history(*master, 50, 30);
  auto rest = master->read_journal(h.lsn + 1, 1000);
  REQUIRE(rest.ok());
  REQUIRE(replica->apply(*rest).ok());
  CHECK(replica->last_lsn() == master->last_lsn());
  CHECK(dump(*replica) == dump(*master));

  // The position survives a restart, and replay of already-covered records is a no-op.
  replica.open();
  CHECK(replica->last_lsn() == master->last_lsn());
  REQUIRE(replica->apply(whole_journal(*master)).ok());
  CHECK(dump(*replica) == dump(*master));
}

TEMPLATE_TEST_CASE("a restore that is abandoned leaves the store as it was", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  write_history(*n, 0, 10);
  const Dump before = dump(*n);
  const Lsn last = n->last_lsn();
  {
    auto restore = n->begin_restore(SnapshotHeader{99, 9, test_schema().latest_version()});
    REQUIRE(restore.ok());
    REQUIRE((*restore)->add_rows("items", {item("intruder")}).ok());
  }  // dropped uncommitted
  CHECK(dump(*n) == before);
  CHECK(n->last_lsn() == last);
  CHECK(whole_journal(*n).size() == last);

  auto wrong = n->begin_restore(SnapshotHeader{1, 1, 99});
  REQUIRE_FALSE(wrong.ok());
}

TEMPLATE_TEST_CASE("pruning the journal keeps the rows and the position", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> master;
  REQUIRE(master->advance_epoch(1).ok());
  write_history(*master, 0, 20);
  const Lsn last = master->last_lsn();
  const Dump before = dump(*master);
  REQUIRE(master->prune_journal(last - 4).ok());
  CHECK(master->info().first_lsn == last - 4);
  CHECK(whole_journal(*master).size() == 5);
  CHECK(dump(*master) == before);
  master.open();
  CHECK(master->last_lsn() == last);
  CHECK(master->info().first_lsn == last - 4);

  REQUIRE(master->prune_journal(last + 10).ok());  // everything
  CHECK(whole_journal(*master).empty());
  CHECK(master->info().first_lsn == 0);
  master.open();
  CHECK(master->last_lsn() == last);
  auto next = master->commit(WriteBatch().put("items", item("after")));
  REQUIRE(next.ok());
  CHECK(*next == last + 1);

  // A snapshot of a pruned store reports the epoch of its last change.
  Node<TestType> replica;
  const SnapshotHeader h = copy_snapshot(*master, *replica);
  CHECK(h.lsn == last + 1);
  CHECK(h.epoch == 1);
}

TEST_CASE("journal and snapshot are backend-neutral: SQLite to PostgreSQL and back",
          "[store][cross]") {
  Node<SqliteLocation> lite;
  Node<PostgresLocation> pg;
  REQUIRE(lite->advance_epoch(3).ok());
  write_history(*lite, 0, 40);

  SECTION("SQLite journal applied on PostgreSQL, then PostgreSQL's journal on a new SQLite") {
    REQUIRE(pg->apply(whole_journal(*lite)).ok());
    CHECK(dump(*pg) == dump(*lite));
    CHECK(whole_journal(*pg) == whole_journal(*lite));
    REQUIRE(pg->advance_epoch(4).ok());  // PostgreSQL node promoted
    write_history(*pg, 40, 20);
    Node<SqliteLocation> lite2;
    REQUIRE(lite2->apply(whole_journal(*pg)).ok());
    CHECK(dump(*lite2) == dump(*pg));
    CHECK(lite2->current_epoch() == 4);
  }
  SECTION("SQLite snapshot restored on PostgreSQL, and PostgreSQL snapshot on SQLite") {
    const SnapshotHeader h = copy_snapshot(*lite, *pg);
    CHECK(h.lsn == lite->last_lsn());
    CHECK(dump(*pg) == dump(*lite));
    write_history(*lite, 40, 10);
    auto rest = lite->read_journal(h.lsn + 1, 1000);
    REQUIRE(rest.ok());
    REQUIRE(pg->apply(*rest).ok());
    CHECK(dump(*pg) == dump(*lite));

    Node<SqliteLocation> lite2;
    copy_snapshot(*pg, *lite2);
    CHECK(dump(*lite2) == dump(*lite));
    CHECK(lite2->last_lsn() == lite->last_lsn());
  }
}

TEMPLATE_TEST_CASE("scan_newest_first walks a table in descending key order, in pages", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  WriteBatch b;
  for (std::int64_t i = 1; i <= 600; ++i) b.put("counters", Row{{"id", i}, {"hits", i * 10}});
  REQUIRE(n->commit(b).ok());
  std::vector<std::int64_t> seen;
  REQUIRE(n->scan_newest_first("counters", [&](const Row& r) {
             seen.push_back(std::get<std::int64_t>(*duet::store::find_field(r, "id")));
             return true;
           }).ok());
  REQUIRE(seen.size() == 600);  // across pages of 256
  CHECK(seen.front() == 600);
  CHECK(seen.back() == 1);
  CHECK(std::is_sorted(seen.rbegin(), seen.rend()));
  seen.clear();
  REQUIRE(n->scan_newest_first("counters", [&](const Row& r) {
             seen.push_back(std::get<std::int64_t>(*duet::store::find_field(r, "id")));
             return seen.size() < 3;
           }).ok());
  CHECK(seen == std::vector<std::int64_t>{600, 599, 598});
  CHECK_FALSE(n->scan_newest_first("no_such_table", [](const Row&) { return true; }).ok());
}
