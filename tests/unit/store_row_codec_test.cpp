// The journal's row codec writes and reads duet.v1.Row's protobuf wire form
// by hand; these tests hold it to the generated code byte for byte, and to
// protobuf's reading rules for what another writer may send.

#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <set>

#include "common/errors.h"
#include "duet/v1/journal.pb.h"
#include "store/row.h"

using duet::store::Blob;
using duet::store::Field;
using duet::store::Row;
using duet::store::Value;

namespace {

duet::v1::Row to_proto(const Row& row) {
  duet::v1::Row pb;
  for (const auto& f : row) {
    auto* field = pb.add_fields();
    field->set_name(f.name);
    auto* value = field->mutable_value();
    if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
      value->set_int_value(*i);
    } else if (const auto* d = std::get_if<double>(&f.value)) {
      value->set_real_value(*d);
    } else if (const auto* s = std::get_if<std::string>(&f.value)) {
      value->set_text_value(*s);
    } else if (const auto* b = std::get_if<Blob>(&f.value)) {
      value->set_blob_value(b->bytes);
    }
  }
  return pb;
}

Row random_row(std::mt19937_64& rng) {
  Row row;
  const int n = static_cast<int>(rng() % 20);
  for (int i = 0; i < n; ++i) {
    Field f;
    f.name = "c" + std::to_string(rng() % 1000);
    switch (rng() % 5) {
      case 0:
        break;  // NULL
      case 1: {
        const std::int64_t picks[] = {0,
                                      1,
                                      -1,
                                      std::numeric_limits<std::int64_t>::max(),
                                      std::numeric_limits<std::int64_t>::min(),
                                      static_cast<std::int64_t>(rng())};
        f.value = picks[rng() % 6];
        break;
      }
      case 2:
        f.value = static_cast<double>(static_cast<std::int64_t>(rng())) / 7.0;
        break;
      case 3:
        f.value = std::string(rng() % 300, 'x');
        break;
      default: {
        std::string bytes(rng() % 200, '\0');
        for (auto& c : bytes) c = static_cast<char>(rng());
        f.value = Blob{bytes};
      }
    }
    row.push_back(std::move(f));
  }
  return row;
}

}  // namespace

TEST_CASE("row codec: the bytes are protobuf's, and read back equal", "[store][codec]") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    const Row row = random_row(rng);
    const std::string ours = duet::store::encode_row(row);
    REQUIRE(ours == to_proto(row).SerializeAsString());
    auto back = duet::store::decode_row(ours);
    REQUIRE(back.ok());
    REQUIRE(*back == row);
  }
}

TEST_CASE("row codec: what another protobuf writer may send is read as protobuf would",
          "[store][codec]") {
  // Unknown fields at every level are skipped; a repeated scalar takes the
  // last value; a later oneof member replaces an earlier one.
  duet::v1::Row pb;
  auto* f = pb.add_fields();
  f->set_name("a");
  f->mutable_value()->set_int_value(-5);
  std::string bytes = pb.SerializeAsString();
  bytes += std::string("\x10\x07", 2);                             // unknown varint field 2 of Row
  bytes += std::string("\x0a\x08\x0a\x01z\x0a\x01y\x12\x00", 10);  // name twice: "y" wins
  bytes += std::string("\x0a\x0a\x12\x08\x08\x02\x1a\x02hi\x28\x01", 12);  // int then text
  auto row = duet::store::decode_row(bytes);
  REQUIRE(row.ok());
  REQUIRE(row->size() == 3);
  CHECK((*row)[0] == Field{"a", Value{std::int64_t{-5}}});
  CHECK((*row)[1] == Field{"y", Value{}});
  CHECK((*row)[2] == Field{"", Value{std::string("hi")}});
}

TEST_CASE("row codec: truncated or malformed payloads are refused", "[store][codec]") {
  const Row row{{"id", std::int64_t{7}}, {"text", std::string("hello")}, {"r", 1.5}};
  const std::string good = duet::store::encode_row(row);
  // A cut between two fields is a valid shorter row; anywhere else it is refused.
  std::set<std::size_t> boundaries;
  for (std::size_t i = 0, at = 0; i < row.size(); ++i) {
    at += duet::store::encode_row(Row{row[i]}).size();
    boundaries.insert(at);
  }
  for (std::size_t cut = 1; cut < good.size(); ++cut) {
    INFO("cut at " << cut);
    auto r = duet::store::decode_row(good.substr(0, cut));
    if (boundaries.count(cut) != 0) {
      REQUIRE(r.ok());
      CHECK(*r == Row(row.begin(), row.begin() + static_cast<long>(r->size())));
    } else {
      CHECK_FALSE(r.ok());
    }
  }
  CHECK_FALSE(duet::store::decode_row(std::string("\x0a\xff\xff\xff\xff\x0f", 6)).ok());
  CHECK_FALSE(duet::store::decode_row(std::string("\x0b", 1)).ok());  // a group: not ours
}

TEST_CASE("row block: rows with the same columns round-trip; damage is refused", "[store][codec]") {
  std::mt19937_64 rng(9);
  std::vector<Row> rows;
  for (int i = 0; i < 300; ++i) {
    Row r = random_row(rng);
    // Same names in the same order for every row of a block.
    Row shaped;
    for (std::size_t c = 0; c < 6; ++c) {
      shaped.push_back(
          Field{"col" + std::to_string(c), c < r.size() ? r[c].value : Value{std::int64_t(i)}});
    }
    rows.push_back(std::move(shaped));
  }
  std::string block;
  duet::store::start_row_block(block, rows.front());
  for (const auto& r : rows) duet::store::append_block_row(block, r);
  auto back = duet::store::decode_row_block(block);
  REQUIRE(back.ok());
  REQUIRE(*back == rows);

  // Smaller than the rows encoded one by one (no name per field).
  std::size_t one_by_one = 0;
  for (const auto& r : rows) one_by_one += duet::store::encode_row(r).size();
  CHECK(block.size() < one_by_one);

  // A header alone is an empty block; a cut inside a row, or an unknown type, is refused.
  std::string header;
  duet::store::start_row_block(header, rows.front());
  auto empty = duet::store::decode_row_block(header);
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  std::string one = header;
  duet::store::append_block_row(one, rows.front());
  for (std::size_t cut = header.size() + 1; cut < one.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK_FALSE(duet::store::decode_row_block(one.substr(0, cut)).ok());
  }
  std::string bad_type = header + std::string(1, '\x09');
  CHECK_FALSE(duet::store::decode_row_block(bad_type).ok());
  CHECK_FALSE(duet::store::decode_row_block(std::string("\x00\x00", 2)).ok());  // no columns
}

TEST_CASE("row block: rows are handed one by one, and the handler's error stops the walk",
          "[store][codec]") {
  // One row decoded into again and again: a long text after a short one, a
  // NULL after a blob, and back, must each read as written.
  std::vector<Row> rows = {
      {Field{"k", std::int64_t(1)}, Field{"v", std::string("short")}, Field{"b", Blob{"xy"}}},
      {Field{"k", std::int64_t(2)}, Field{"v", std::string(100, 'L')}, Field{"b", Value{}}},
      {Field{"k", std::int64_t(3)}, Field{"v", std::string("s")}, Field{"b", Blob{"z"}}},
      {Field{"k", std::int64_t(4)}, Field{"v", 2.5}, Field{"b", Blob{}}},
  };
  std::string block;
  duet::store::start_row_block(block, rows.front());
  for (const auto& r : rows) duet::store::append_block_row(block, r);
  std::vector<Row> seen;
  auto walked = duet::store::for_each_block_row(block, [&](Row& row) {
    seen.push_back(row);
    return duet::ok_status();
  });
  REQUIRE(walked.ok());
  CHECK(seen == rows);

  int calls = 0;
  auto stopped = duet::store::for_each_block_row(block, [&](Row&) -> duet::Status {
    if (++calls == 2) return duet::make_error(duet::CommonErrc::kInvalidArgument, "stop here");
    return duet::ok_status();
  });
  REQUIRE_FALSE(stopped.ok());
  CHECK(stopped.error().message == "stop here");
  CHECK(calls == 2);
}

TEST_CASE("A field's text is read in place, or copied, the same", "[store][codec]") {
  const Row row{{"id", std::int64_t{7}},
                {"message", std::string("link down")},
                {"raw", Blob{std::string("\0ab", 3)}},
                {"gone", duet::store::Null{}}};
  CHECK(duet::store::text_view_of(row, "message") == "link down");
  CHECK(duet::store::text_view_of(row, "raw") == std::string_view("\0ab", 3));
  // Not text, or absent: empty.
  CHECK(duet::store::text_view_of(row, "id").empty());
  CHECK(duet::store::text_view_of(row, "gone").empty());
  CHECK(duet::store::text_view_of(row, "nope").empty());
  // The view points into the row.
  CHECK(duet::store::text_view_of(row, "message").data() ==
        std::get<std::string>(row[1].value).data());
  for (const char* name : {"message", "raw", "id", "gone", "nope"}) {
    CHECK(duet::store::text_of(row, name) == std::string(duet::store::text_view_of(row, name)));
  }
}
