// The snapshot reader's contract (store/store.h), run against both backends:
// a reader on its own connection sees the store as it was when it started,
// while the owner keeps committing, from another thread; chunks are bounded.
// Also: while a restore is open the store refuses every other use.

#include <catch2/catch.hpp>
#include <map>
#include <thread>

#include "store/store_error.h"
#include "tests/support/store_fixtures.h"

using duet::ManualClock;
using duet::store::Blob;
using duet::store::JournaledStore;
using duet::store::Lsn;
using duet::store::Row;
using duet::store::SnapshotHeader;
using duet::store::SnapshotReader;
using duet::store::Store;
using duet::store::StoreErrc;
using duet::store::WriteBatch;
using duet::testing::PostgresLocation;
using duet::testing::SqliteLocation;
using duet::testing::test_schema;

namespace {

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

Row item(const std::string& id, std::int64_t n, std::size_t blob_bytes = 3) {
  return Row{{"id", id},
             {"n", n},
             {"r", 0.5 * static_cast<double>(n)},
             {"t", "text " + std::to_string(n)},
             {"b", Blob{std::string(blob_bytes, '\xab')}}};
}

// Inserts, updates and deletes over both test tables; one commit per step.
Lsn churn(Store& s, int from, int count, std::size_t blob_bytes = 3) {
  Lsn last = 0;
  for (int i = from; i < from + count; ++i) {
    WriteBatch b;
    b.put("items", item("k" + std::to_string(i % 41), i, blob_bytes));
    b.put("counters", Row{{"id", std::int64_t{i % 13}}, {"hits", std::int64_t{i}}});
    if (i % 7 == 0) b.erase("items", std::string("k" + std::to_string((i + 3) % 41)));
    auto lsn = s.commit(b);
    REQUIRE(lsn.ok());
    last = *lsn;
  }
  return last;
}

// Every chunk of `reader`, tables and rows in the order they came.
struct Read {
  Dump rows;
  std::vector<std::string> tables;  // one entry per chunk
  std::vector<std::size_t> sizes;   // rows per chunk
  std::vector<std::size_t> bytes;   // approx_bytes per chunk
};

Read read_all(SnapshotReader& reader, std::size_t max_rows, std::size_t max_bytes) {
  Read out;
  for (const auto& t : test_schema().tables()) out.rows[t.name];
  for (;;) {
    auto chunk = reader.next_chunk(max_rows, max_bytes);
    REQUIRE(chunk.ok());
    if (!*chunk) break;
    auto& c = **chunk;
    REQUIRE_FALSE(c.rows.empty());
    std::size_t bytes = 0;
    for (const auto& r : c.rows) bytes += duet::store::approx_bytes(r);
    out.tables.push_back(c.table);
    out.sizes.push_back(c.rows.size());
    out.bytes.push_back(bytes);
    auto& rows = out.rows[c.table];
    rows.insert(rows.end(), c.rows.begin(), c.rows.end());
  }
  return out;
}

template <typename Location>
struct Node {
  Location where;
  ManualClock clock;
  std::unique_ptr<JournaledStore> store;
  Node() {
    auto s = duet::testing::open_at(where, test_schema(), clock);
    if (!s.ok()) FAIL("open " << Location::kName << ": " << s.error().to_string());
    store = std::move(s).value();
  }
  Store* operator->() { return store.get(); }
  Store& operator*() { return *store; }
};

}  // namespace

TEMPLATE_TEST_CASE("a snapshot reader sees the store as it was while the owner commits more",
                   "[store]", SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(3).ok());
  const Lsn at_open = churn(*n, 0, 120);
  const Dump before = dump(*n);

  auto reader = n->open_snapshot_reader();
  REQUIRE(reader.ok());
  auto header = (*reader)->header();
  REQUIRE(header.ok());
  CHECK(*header == SnapshotHeader{at_open, 3, test_schema().latest_version()});

  // The owner commits (inserts, updates, deletes, a new epoch) after the
  // reader started, before and while it reads.
  REQUIRE(n->advance_epoch(4).ok());
  churn(*n, 500, 60);
  auto first = (*reader)->next_chunk(5, SIZE_MAX);
  REQUIRE(first.ok());
  REQUIRE(first->has_value());
  churn(*n, 900, 60);
  REQUIRE(n->last_lsn() > at_open);

  Read rest = read_all(**reader, 5, SIZE_MAX);
  Dump got = rest.rows;
  auto& t = got[(*first)->table];
  t.insert(t.begin(), (*first)->rows.begin(), (*first)->rows.end());
  CHECK(got == before);
  CHECK((*reader)->header()->lsn == at_open);  // the same header again
  for (auto size : rest.sizes) CHECK(size <= 5);

  // A new reader sees the new state; take_snapshot reports the same position.
  auto again = n->open_snapshot_reader();
  REQUIRE(again.ok());
  CHECK((*again)->header()->lsn == n->last_lsn());
  CHECK((*again)->header()->epoch == 4);
  CHECK(read_all(**again, 1000, SIZE_MAX).rows == dump(*n));
}

TEMPLATE_TEST_CASE("a snapshot reader on another thread while the owner commits", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  const Lsn at_open = churn(*n, 0, 200);
  const Dump before = dump(*n);
  auto reader = n->open_snapshot_reader();
  REQUIRE(reader.ok());

  std::atomic<bool> started{false};
  Read read;
  duet::Status header_status;
  SnapshotHeader header;
  std::thread t([&] {
    auto h = (*reader)->header();
    if (!h.ok()) {
      header_status = h.error();
      started = true;
      return;
    }
    header = *h;
    started = true;
    for (;;) {
      auto chunk = (*reader)->next_chunk(3, SIZE_MAX);
      if (!chunk.ok() || !*chunk) break;
      auto& rows = read.rows[(**chunk).table];
      rows.insert(rows.end(), (**chunk).rows.begin(), (**chunk).rows.end());
      std::this_thread::yield();
    }
  });
  while (!started) std::this_thread::yield();
  // The owner keeps committing on its own thread meanwhile.
  const Lsn later = churn(*n, 1000, 100);
  t.join();
  REQUIRE(header_status.ok());
  CHECK(header.lsn == at_open);
  CHECK(n->last_lsn() == later);
  for (const auto& table : test_schema().tables()) read.rows[table.name];
  CHECK(read.rows == before);
}

TEMPLATE_TEST_CASE("snapshot chunks are bounded by rows and bytes, in key order", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(1).ok());
  churn(*n, 0, 80, 1000);  // items rows of about 1 KB
  const Dump before = dump(*n);

  SECTION("rows") {
    auto reader = n->open_snapshot_reader();
    REQUIRE(reader.ok());
    Read r = read_all(**reader, 4, SIZE_MAX);
    CHECK(r.rows == before);
    for (auto size : r.sizes) CHECK(size <= 4);
    // Tables in schema order, each read in one run of chunks.
    std::vector<std::string> order;
    for (const auto& t : r.tables) {
      if (order.empty() || order.back() != t) order.push_back(t);
    }
    std::vector<std::string> expected;
    for (const auto& t : test_schema().tables()) {
      if (!before.at(t.name).empty()) expected.push_back(t.name);
    }
    CHECK(order == expected);
  }
  SECTION("bytes: a chunk stops once it reaches the budget, but holds at least one row") {
    auto reader = n->open_snapshot_reader();
    REQUIRE(reader.ok());
    Read r = read_all(**reader, 100, 2500);
    CHECK(r.rows == before);
    for (std::size_t i = 0; i < r.sizes.size(); ++i) {
      if (r.tables[i] == "items") {
        CHECK(r.sizes[i] <= 3);  // three ~1 KB rows reach 2500 bytes
        CHECK(r.bytes[i] < 2500 + 1100);
      }
    }
    auto one = n->open_snapshot_reader();
    REQUIRE(one.ok());
    Read tiny = read_all(**one, 100, 1);
    CHECK(tiny.rows == before);
    for (auto size : tiny.sizes) CHECK(size == 1);
  }
}

TEMPLATE_TEST_CASE("an empty store gives a zero header and no chunks", "[store]", SqliteLocation,
                   PostgresLocation) {
  Node<TestType> n;
  auto reader = n->open_snapshot_reader();
  REQUIRE(reader.ok());
  auto chunk = (*reader)->next_chunk(10, SIZE_MAX);
  REQUIRE(chunk.ok());
  CHECK_FALSE(chunk->has_value());
  CHECK(*(*reader)->header() == SnapshotHeader{0, 0, test_schema().latest_version()});
}

TEMPLATE_TEST_CASE("while a restore is open the store refuses every other use", "[store]",
                   SqliteLocation, PostgresLocation) {
  Node<TestType> n;
  REQUIRE(n->advance_epoch(2).ok());
  const Lsn last = churn(*n, 0, 10);
  const Dump before = dump(*n);
  {
    auto restore = n->begin_restore(SnapshotHeader{99, 2, test_schema().latest_version()});
    REQUIRE(restore.ok());
    REQUIRE((*restore)->add_rows("items", {item("new", 1)}).ok());
    auto busy = [](const auto& r) {
      return !r.ok() && r.error().code == make_error_code(StoreErrc::kUnavailable);
    };
    CHECK(busy(n->probe_write()));
    CHECK(busy(n->get("items", std::string("new"))));
    CHECK(busy(n->read_journal(1, 1)));
    CHECK(busy(n->advance_epoch(3)));
    CHECK(busy(n->open_snapshot_reader()));
    CHECK(busy(n->begin_restore(SnapshotHeader{1, 1, 1})));
    // The position is still the old data's until commit.
    CHECK(n->last_lsn() == last);
    CHECK(n->info().last_lsn == last);
    REQUIRE((*restore)->add_rows("items", {item("more", 2)}).ok());
  }  // abandoned: rolled back
  CHECK(n->probe_write().ok());
  CHECK(dump(*n) == before);
  CHECK(n->last_lsn() == last);

  auto restore = n->begin_restore(SnapshotHeader{99, 2, test_schema().latest_version()});
  REQUIRE(restore.ok());
  REQUIRE((*restore)->add_rows("items", {item("a", 1)}).ok());
  REQUIRE((*restore)->add_rows("items", {item("b", 2)}).ok());
  REQUIRE((*restore)->commit().ok());
  CHECK(n->probe_write().ok());
  CHECK(n->last_lsn() == 99);
  CHECK(dump(*n).at("items").size() == 2);
}
