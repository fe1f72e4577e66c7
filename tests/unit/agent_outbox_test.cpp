// The agent's durable outbox (agent/outbox.h): results numbered once, kept
// across restarts until acknowledged, bounded with counted drops.

#include <catch2/catch.hpp>
#include <fstream>

#include "agent/outbox.h"
#include "tests/support/temp_dir.h"

using duet::agent::Outbox;
using duet::testing::TempDir;

namespace {

std::unique_ptr<Outbox> open_box(const std::string& path, Outbox::Limits limits = {}) {
  auto box = Outbox::open(path, limits);
  REQUIRE(box.ok());
  return std::move(*box);
}

std::vector<std::uint64_t> seqs(const Outbox& box, std::uint64_t after = 0) {
  auto p = box.pending(after, 1000);
  REQUIRE(p.ok());
  std::vector<std::uint64_t> out;
  for (const auto& e : *p) out.push_back(e.seq);
  return out;
}

}  // namespace

TEST_CASE("outbox: results are numbered, kept until acknowledged, read back in order", "[outbox]") {
  TempDir dir;
  auto box = open_box(dir.file("outbox.db"));
  for (int i = 1; i <= 5; ++i) {
    auto a = box->append("monitor", "r" + std::to_string(i), 1000 + i);
    REQUIRE(a.ok());
    CHECK(a->seq == static_cast<std::uint64_t>(i));
    CHECK(a->dropped == 0);
  }
  auto p = box->pending(2, 2);
  REQUIRE(p.ok());
  REQUIRE(p->size() == 2);
  CHECK((*p)[0].seq == 3);
  CHECK((*p)[0].kind == "monitor");
  CHECK((*p)[0].payload == "r3");
  CHECK((*p)[0].produced_at_ms == 1003);
  REQUIRE(box->ack(3).ok());
  CHECK(seqs(*box) == std::vector<std::uint64_t>{4, 5});
  REQUIRE(box->ack(2).ok());  // an older ack arriving late changes nothing
  CHECK(seqs(*box) == std::vector<std::uint64_t>{4, 5});
  auto st = box->stats();
  REQUIRE(st.ok());
  CHECK(st->pending == 2);
  CHECK(st->acked_up_to == 3);
  CHECK(st->next_seq == 6);
}

TEST_CASE("outbox: a restart keeps what is pending, and numbers are never reused", "[outbox]") {
  TempDir dir;
  const std::string path = dir.file("outbox.db");
  {
    auto box = open_box(path);
    for (int i = 0; i < 3; ++i) REQUIRE(box->append("job", "x", 1).ok());
    REQUIRE(box->ack(1).ok());
  }
  {
    auto box = open_box(path);  // the agent restarted
    CHECK(seqs(*box) == std::vector<std::uint64_t>{2, 3});
    REQUIRE(box->ack(3).ok());  // everything acknowledged
  }
  auto box = open_box(path);
  CHECK(seqs(*box).empty());
  auto a = box->append("job", "y", 2);
  REQUIRE(a.ok());
  CHECK(a->seq == 4);  // not 1: the manager already has 1..3 from this agent
}

TEST_CASE("outbox: an acknowledgement past what was produced does not cover later results",
          "[outbox]") {
  TempDir dir;
  auto box = open_box(dir.file("outbox.db"));
  REQUIRE(box->append("monitor", "a", 1).ok());
  REQUIRE(box->ack(1000).ok());
  REQUIRE(box->append("monitor", "b", 2).ok());
  CHECK(seqs(*box) == std::vector<std::uint64_t>{2});
  REQUIRE(box->ack(2).ok());
  CHECK(seqs(*box).empty());
}

TEST_CASE("outbox: when full the oldest results are dropped, counted, and the count survives",
          "[outbox]") {
  TempDir dir;
  const std::string path = dir.file("outbox.db");
  SECTION("by number of results") {
    auto box = open_box(path, Outbox::Limits{3, 1 << 20});
    for (int i = 0; i < 3; ++i) REQUIRE(box->append("m", "p", 1).ok());
    auto a = box->append("m", "p", 1);
    REQUIRE(a.ok());
    CHECK(a->seq == 4);
    CHECK(a->dropped == 1);
    CHECK(seqs(*box) == std::vector<std::uint64_t>{2, 3, 4});
    box.reset();
    auto again = open_box(path, Outbox::Limits{3, 1 << 20});
    CHECK(again->stats()->dropped == 1);
  }
  SECTION("by bytes") {
    auto box = open_box(path, Outbox::Limits{100, 10});
    REQUIRE(box->append("m", "aaaa", 1).ok());  // 4
    REQUIRE(box->append("m", "bbbb", 1).ok());  // 8
    auto a = box->append("m", "cccccc", 1);     // 14 > 10: the oldest goes, 10 fits
    REQUIRE(a.ok());
    CHECK(a->dropped == 1);
    CHECK(seqs(*box) == std::vector<std::uint64_t>{2, 3});
    CHECK(box->stats()->pending_bytes == 10);
    auto b = box->append("m", "dddddddddd", 1);  // 10 more: both go
    REQUIRE(b.ok());
    CHECK(b->dropped == 2);
    CHECK(seqs(*box) == std::vector<std::uint64_t>{4});
    CHECK(box->stats()->dropped == 3);
    auto too_big = box->append("m", std::string(11, 'x'), 1);
    REQUIRE_FALSE(too_big.ok());
    CHECK_THAT(too_big.error().message, Catch::Contains("larger than the whole outbox"));
    CHECK(seqs(*box) == std::vector<std::uint64_t>{4});  // nothing dropped for it
  }
}

TEST_CASE("outbox: a file that is not an outbox is refused, naming it", "[outbox]") {
  TempDir dir;
  const std::string path = dir.file("outbox.db");
  {
    std::ofstream out(path);
    out << "this is not a database, it is a text file that happens to be long enough";
  }
  auto box = Outbox::open(path, {});
  REQUIRE_FALSE(box.ok());
  CHECK_THAT(box.error().message, Catch::Contains(path));
}
