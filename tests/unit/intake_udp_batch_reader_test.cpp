// The batched UDP reader under both UDP receivers, over a real socket on
// 127.0.0.1; the io_context runs on the test thread.

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "intake/socket_address.h"
#include "intake/udp_batch_reader.h"

using duet::intake::UdpBatchReader;
namespace asio = boost::asio;

namespace {

struct Fixture {
  asio::io_context io;
  UdpBatchReader reader{io.get_executor()};
  std::atomic<std::uint64_t> drops{0};
  std::vector<std::size_t> batches;
  std::vector<std::string> got;
  std::vector<std::string> sources;
  asio::ip::udp::socket client{io, asio::ip::udp::v4()};

  void open(std::chrono::microseconds coalesce) {
    UdpBatchReader::Options o;
    o.max_message_bytes = 32;
    o.receive_buffer_bytes = 1 << 20;
    o.coalesce = coalesce;
    o.what = "test udp";
    o.kernel_drops = &drops;
    auto s = reader.open(asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0), o);
    REQUIRE(s.ok());
  }
  void start() {
    reader.start([this](std::span<const UdpBatchReader::Datagram> ds) {
      batches.push_back(ds.size());
      for (const auto& d : ds) {
        got.emplace_back(d.bytes);
        std::uint16_t port = 0;
        const std::string address = duet::intake::socket_address_text(*d.from, &port);
        sources.push_back(address + ":" + std::to_string(port));
      }
    });
  }
  void send(const std::string& text) {
    client.send_to(asio::buffer(text), asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"),
                                                               reader.local_port()));
  }
  void run_for(std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) io.run_one_for(std::chrono::milliseconds(5));
  }
  void run_until(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      io.run_one_for(std::chrono::milliseconds(20));
    }
    REQUIRE(got.size() == n);
  }
};

}  // namespace

TEST_CASE("UDP batch reader: what waits is read kBatch at a time, in order, with its sender",
          "[intake]") {
  Fixture f;
  f.open(std::chrono::microseconds(0));
  for (int i = 0; i < 200; ++i) f.send("m" + std::to_string(i));
  f.start();
  f.run_until(200);
  CHECK(f.batches == std::vector<std::size_t>{64, 64, 64, 8});
  CHECK(f.got.front() == "m0");
  CHECK(f.got.back() == "m199");
  CHECK(f.sources.front() == "127.0.0.1:" + std::to_string(f.client.local_endpoint().port()));
  CHECK(f.drops == 0);
}

TEST_CASE("UDP batch reader: a long datagram is cut to the buffer and marked", "[intake]") {
  Fixture f;
  f.open(std::chrono::microseconds(0));
  bool truncated = false;
  std::string bytes;
  f.reader.start([&](std::span<const UdpBatchReader::Datagram> ds) {
    for (const auto& d : ds) {
      truncated = d.truncated;
      bytes.assign(d.bytes);
      f.got.emplace_back(d.bytes);
    }
  });
  f.send(std::string(40, 'x'));
  f.run_until(1);
  CHECK(truncated);
  CHECK(bytes == std::string(32, 'x'));
}

TEST_CASE("UDP batch reader: stop() during the pause ends it; nothing is read after", "[intake]") {
  Fixture f;
  f.open(std::chrono::seconds(1));
  f.start();
  f.send("first");
  f.run_until(1);
  f.send("after");  // waits out the pause in the socket's buffer
  f.reader.stop();
  f.run_for(std::chrono::milliseconds(100));
  CHECK(f.got == std::vector<std::string>{"first"});
  CHECK(f.io.stopped());  // no timer or wait left pending
}
