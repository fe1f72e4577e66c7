// The syslog receivers over real sockets on 127.0.0.1 (ports chosen by the
// kernel). The io_context runs on the test thread until the expected receipts
// arrived or a deadline passed; nothing sleeps.

#include <arpa/inet.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>

#include "common/clock.h"
#include "intake/socket_address.h"
#include "intake/syslog_receivers.h"
#include "tests/support/temp_dir.h"

using duet::intake::Receipt;
using duet::intake::SyslogReceiverOptions;
using duet::intake::SyslogReceivers;
using duet::intake::Transport;
namespace asio = boost::asio;

namespace {

struct Fixture {
  asio::io_context io;
  duet::SystemClock clock{io.get_executor()};
  std::vector<Receipt> got;
  std::vector<std::size_t> batches;  // the size of each batch handed on

  std::unique_ptr<SyslogReceivers> start(SyslogReceiverOptions o) {
    auto r = std::make_unique<SyslogReceivers>(io.get_executor(), clock, std::move(o),
                                               [this](std::vector<Receipt>&& batch) {
                                                 batches.push_back(batch.size());
                                                 for (auto& x : batch) got.push_back(std::move(x));
                                               });
    auto s = r->start();
    INFO((s.ok() ? "" : s.error().to_string()));
    REQUIRE(s.ok());
    return r;
  }
  // Runs the io_context until `n` receipts arrived (at most 10 s).
  void run_until(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      io.run_one_for(std::chrono::milliseconds(50));
    }
    REQUIRE(got.size() == n);
  }
};

duet::HostPort any_port() { return duet::HostPort{"127.0.0.1", 0}; }

}  // namespace

TEST_CASE("UDP syslog: every datagram becomes a receipt; a long one is cut and marked",
          "[intake]") {
  Fixture f;
  SyslogReceiverOptions o;
  o.udp = any_port();
  o.max_message_bytes = 16;
  auto r = f.start(o);
  asio::ip::udp::socket client(f.io, asio::ip::udp::v4());
  const asio::ip::udp::endpoint to(asio::ip::make_address("127.0.0.1"),
                                   r->bound_port(Transport::kSyslogUdp));
  for (const char* m : {"<13>one", "<13>two", "<13>this one is far too long"}) {
    client.send_to(asio::buffer(std::string(m)), to);
  }
  f.run_until(3);
  CHECK(f.got[0].raw == "<13>one");
  CHECK(f.got[0].source == "127.0.0.1");
  CHECK(f.got[0].source_port == client.local_endpoint().port());
  CHECK(f.got[0].transport == Transport::kSyslogUdp);
  CHECK(f.got[0].received_ms > 0);
  CHECK(f.got[2].raw == "<13>this one is ");
  CHECK(f.got[2].truncated);
  CHECK(r->counters(Transport::kSyslogUdp).received == 3);
  CHECK(r->counters(Transport::kSyslogUdp).truncated == 1);
  CHECK(r->counters(Transport::kSyslogUdp).kernel_drops == 0);
}

TEST_CASE("UDP syslog: datagrams that come during the pause after a drain are read as one batch",
          "[intake]") {
  Fixture f;
  SyslogReceiverOptions o;
  o.udp = any_port();
  o.udp_coalesce = std::chrono::seconds(1);  // long, so a slow host cannot end it early
  auto r = f.start(o);
  asio::ip::udp::socket client(f.io, asio::ip::udp::v4());
  const asio::ip::udp::endpoint to(asio::ip::make_address("127.0.0.1"),
                                   r->bound_port(Transport::kSyslogUdp));
  client.send_to(asio::buffer(std::string("<13>first")), to);
  f.run_until(1);
  // The receiver pauses now; these wait in the socket's buffer meanwhile.
  for (int i = 0; i < 9; ++i) client.send_to(asio::buffer("<13>next " + std::to_string(i)), to);
  const auto paused_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < paused_until) {
    f.io.run_one_for(std::chrono::milliseconds(10));
  }
  CHECK(f.got.size() == 1);
  f.run_until(10);
  CHECK(f.batches == std::vector<std::size_t>{1, 9});
  CHECK(f.got[9].raw == "<13>next 8");
  CHECK(r->counters(Transport::kSyslogUdp).received == 10);
}

TEST_CASE("TCP syslog: octet-counted and LF-framed connections side by side", "[intake]") {
  Fixture f;
  SyslogReceiverOptions o;
  o.tcp = any_port();
  auto r = f.start(o);
  const asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"),
                                   r->bound_port(Transport::kSyslogTcp));
  asio::ip::tcp::socket a(f.io), b(f.io);
  a.connect(to);
  b.connect(to);
  asio::write(a, asio::buffer(std::string("7 <13>one7 <13>two")));
  asio::write(b, asio::buffer(std::string("<13>three\n<13>four\n")));
  f.run_until(4);
  std::vector<std::string> raw;
  for (const auto& x : f.got) raw.push_back(x.raw);
  std::sort(raw.begin(), raw.end());
  CHECK(raw == std::vector<std::string>{"<13>four", "<13>one", "<13>three", "<13>two"});
  CHECK(r->counters(Transport::kSyslogTcp).connections == 2);

  // A connection that breaks the framing is counted and closed; the others go on.
  asio::ip::tcp::socket bad(f.io);
  bad.connect(to);
  asio::write(bad, asio::buffer(std::string("garbage\n")));
  asio::write(a, asio::buffer(std::string("8 <13>five")));
  f.run_until(5);
  CHECK(f.got[4].raw == "<13>five");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (r->counters(Transport::kSyslogTcp).malformed == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    f.io.run_one_for(std::chrono::milliseconds(50));
  }
  CHECK(r->counters(Transport::kSyslogTcp).malformed == 1);
  CHECK(r->counters(Transport::kSyslogTcp).connections == 2);
}

TEST_CASE("TLS syslog (RFC 5425) with a required client certificate", "[intake]") {
  duet::testing::TempDir dir;
  const std::string d = dir.path().string();
  REQUIRE(std::system(
              (std::string(DUET_SOURCE_DIR) + "/scripts/gen-certs " + d + " >/dev/null").c_str()) ==
          0);
  Fixture f;
  SyslogReceiverOptions o;
  o.tls = any_port();
  o.tls_ca_file = d + "/ca.pem";
  o.tls_cert_file = d + "/manager.pem";
  o.tls_key_file = d + "/manager.key";
  o.tls_client_auth = SyslogReceiverOptions::ClientAuth::kRequire;
  auto r = f.start(o);
  const asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"),
                                   r->bound_port(Transport::kSyslogTls));

  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(d + "/ca.pem");
  ctx.set_verify_mode(asio::ssl::verify_peer);
  ctx.use_certificate_chain_file(d + "/agent.pem");
  ctx.use_private_key_file(d + "/agent.key", asio::ssl::context::pem);
  asio::ssl::stream<asio::ip::tcp::socket> client(f.io, ctx);
  client.next_layer().connect(to);
  bool handshaken = false;
  const std::string payload = "9 <13>hello";
  client.async_handshake(asio::ssl::stream_base::client, [&](const boost::system::error_code& ec) {
    handshaken = !ec;
    if (!ec) asio::async_write(client, asio::buffer(payload), [](auto, auto) {});
  });
  f.run_until(1);
  CHECK(handshaken);
  CHECK(f.got[0].raw == "<13>hello");
  CHECK(f.got[0].transport == Transport::kSyslogTls);

  // Without a client certificate the handshake fails and is counted.
  asio::ssl::context anon(asio::ssl::context::tls_client);
  anon.load_verify_file(d + "/ca.pem");
  asio::ssl::stream<asio::ip::tcp::socket> stranger(f.io, anon);
  stranger.next_layer().connect(to);
  stranger.async_handshake(asio::ssl::stream_base::client, [](auto) {});
  asio::async_write(stranger, asio::buffer(payload), [](auto, auto) {});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (r->counters(Transport::kSyslogTls).refused == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    f.io.run_one_for(std::chrono::milliseconds(50));
  }
  CHECK(r->counters(Transport::kSyslogTls).refused == 1);
  CHECK(f.got.size() == 1);
}

TEST_CASE("A listener that cannot bind is an error naming the address", "[intake]") {
  Fixture f;
  SyslogReceiverOptions o;
  o.udp = duet::HostPort{"192.0.2.1", 5514};  // not an address of this machine
  SyslogReceivers r(f.io.get_executor(), f.clock, o, [](std::vector<Receipt>&&) {});
  auto s = r.start();
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.error().message, Catch::Contains("192.0.2.1:5514") && Catch::Contains("bind"));
}

TEST_CASE("Senders are named by address, one after another and back", "[intake]") {
  auto v4 = [](const char* text, std::uint16_t port) {
    sockaddr_storage ss{};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    REQUIRE(inet_pton(AF_INET, text, &in->sin_addr) == 1);
    return ss;
  };
  auto v6 = [](const char* text, std::uint16_t port) {
    sockaddr_storage ss{};
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    REQUIRE(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
    return ss;
  };
  std::uint16_t port = 0;
  using duet::intake::socket_address_text;
  // Repeats and changes, each named as it is (the last name is remembered).
  CHECK(socket_address_text(v4("10.0.0.1", 514), &port) == "10.0.0.1");
  CHECK(port == 514);
  CHECK(socket_address_text(v4("10.0.0.1", 515), &port) == "10.0.0.1");
  CHECK(port == 515);
  CHECK(socket_address_text(v4("10.0.0.2", 514), &port) == "10.0.0.2");
  CHECK(socket_address_text(v6("::ffff:10.0.0.2", 9), &port) == "10.0.0.2");
  CHECK(port == 9);
  CHECK(socket_address_text(v6("fd00::1", 514), &port) == "fd00::1");
  // Same leading bytes as the IPv6 address, another family.
  CHECK(socket_address_text(v6("fd00::2", 514), &port) == "fd00::2");
  CHECK(socket_address_text(v4("10.0.0.1", 514), &port) == "10.0.0.1");
  sockaddr_storage unix_family{};
  unix_family.ss_family = AF_UNIX;
  CHECK(socket_address_text(unix_family, &port) == "?");
  CHECK(port == 0);
}
