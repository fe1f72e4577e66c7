// The master's relay of transfer jobs (manager/transfer_relay.h): who may
// fetch what, where a piece goes, and what a receiver hears when the sender
// is away.

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/errors.h"
#include "manager/transfer_relay.h"

using duet::manager::TransferRelay;
using duet::v1::FetchRequest;
using duet::v1::FileChunk;
using duet::v1::ManagerMessage;

namespace {

struct World {
  std::set<std::string> connected{"src", "dst", "other"};
  std::vector<std::pair<std::string, ManagerMessage>> sent;
  std::chrono::steady_clock::time_point now{};
  TransferRelay relay{TransferRelay::Hooks{
      [this](const std::string& node, ManagerMessage m) {
        if (connected.count(node) == 0) return false;
        sent.emplace_back(node, std::move(m));
        return true;
      },
      [](const std::string& run_id,
         const std::string& node) -> duet::Result<TransferRelay::Source> {
        if (run_id != "7-1")
          return duet::make_error(duet::CommonErrc::kNotFound, "no open transfer run " + run_id);
        if (node != "dst") {
          return duet::make_error(duet::CommonErrc::kInvalidArgument,
                                  "transfer run 7-1 is not run by " + node);
        }
        return TransferRelay::Source{"src", "/data/out.csv"};
      },
      [this] { return now; }}};

  FetchRequest fetch(const std::string& run_id, std::uint64_t offset, std::uint32_t length) {
    FetchRequest f;
    f.set_run_id(run_id);
    f.set_offset(offset);
    f.set_length(length);
    return f;
  }
};

}  // namespace

TEST_CASE("relay: a fetch becomes a read of the definition's path, and the piece goes back",
          "[transfer_relay]") {
  World w;
  w.relay.on_fetch("dst", w.fetch("7-1", 1 << 20, 64u << 20));
  REQUIRE(w.sent.size() == 1);
  CHECK(w.sent[0].first == "src");
  const auto& read = w.sent[0].second.file_read();
  CHECK(read.path() == "/data/out.csv");
  CHECK(read.offset() == 1u << 20);
  CHECK(read.length() == TransferRelay::kMaxPiece);  // clamped
  CHECK(w.relay.pending() == 1);

  FileChunk piece;
  piece.set_request(read.request());
  piece.set_offset(1 << 20);
  piece.set_data("abc");
  piece.set_size(3u << 20);
  w.relay.on_chunk("other", piece);  // not asked of it: ignored
  CHECK(w.sent.size() == 1);
  w.relay.on_chunk("src", piece);
  REQUIRE(w.sent.size() == 2);
  CHECK(w.sent[1].first == "dst");
  const auto& c = w.sent[1].second.file_chunk();
  CHECK(c.run_id() == "7-1");
  CHECK(c.request() == 0);
  CHECK(c.data() == "abc");
  CHECK(c.size() == 3u << 20);
  CHECK(w.relay.pending() == 0);
  CHECK(w.relay.relayed_bytes() == 3);
  w.relay.on_chunk("src", piece);  // a duplicate answer: nothing more
  CHECK(w.sent.size() == 2);
}

TEST_CASE("relay: a node fetching another node's run, or no run, is refused with why",
          "[transfer_relay]") {
  World w;
  w.relay.on_fetch("other", w.fetch("7-1", 0, 100));
  w.relay.on_fetch("dst", w.fetch("9-9", 0, 100));
  REQUIRE(w.sent.size() == 2);
  CHECK(w.sent[0].first == "other");
  CHECK(w.sent[0].second.file_chunk().error() == "transfer run 7-1 is not run by other");
  CHECK_FALSE(w.sent[0].second.file_chunk().retry());
  CHECK(w.sent[1].second.file_chunk().error() == "no open transfer run 9-9");
  CHECK(w.relay.pending() == 0);
}

TEST_CASE("relay: a sender not connected, or gone with a read pending, means retry",
          "[transfer_relay]") {
  World w;
  w.connected.erase("src");
  w.relay.on_fetch("dst", w.fetch("7-1", 0, 100));
  REQUIRE(w.sent.size() == 1);
  CHECK(w.sent[0].first == "dst");
  CHECK(w.sent[0].second.file_chunk().retry());
  CHECK(w.sent[0].second.file_chunk().error() == "the agent of src is not connected");

  w.connected.insert("src");
  w.relay.on_fetch("dst", w.fetch("7-1", 0, 100));
  CHECK(w.relay.pending() == 1);
  w.relay.on_closed("src");
  REQUIRE(w.sent.size() == 3);
  CHECK(w.sent[2].first == "dst");
  CHECK(w.sent[2].second.file_chunk().retry());
  CHECK(w.sent[2].second.file_chunk().offset() == 0);
  CHECK(w.relay.pending() == 0);
}

TEST_CASE("relay: a fetch asked again replaces the one pending; old reads are forgotten",
          "[transfer_relay]") {
  World w;
  w.relay.on_fetch("dst", w.fetch("7-1", 0, 100));
  const auto first = w.sent.back().second.file_read().request();
  w.relay.on_fetch("dst", w.fetch("7-1", 0, 100));  // the receiver timed out and asked again
  CHECK(w.relay.pending() == 1);
  FileChunk late;
  late.set_request(first);
  w.relay.on_chunk("src", late);  // the first answer, late: dropped
  CHECK(w.sent.size() == 2);
  w.now += TransferRelay::kForgetAfter + std::chrono::seconds(1);
  w.relay.on_fetch("other", w.fetch("9-9", 0, 1));  // any fetch sweeps what is old
  CHECK(w.relay.pending() == 0);
  w.relay.on_fetch("dst", w.fetch("7-1", 0, 100));
  w.relay.clear();  // no longer master
  CHECK(w.relay.pending() == 0);
}
