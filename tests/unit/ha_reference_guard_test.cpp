#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ha/reference_guard.h"

// Real sockets on 127.0.0.0/8 only: nothing here sends a packet off this
// machine. Each test runs its own io_context with the real clock and is
// bounded to a few seconds.

using namespace std::chrono_literals;
using duet::Duration;
using duet::ReferenceTarget;
using duet::SystemClock;
using duet::TimePoint;
using duet::ha::GuardVerdict;
using duet::ha::ReferenceGuard;
namespace asio = boost::asio;
using asio::ip::tcp;
namespace icmp_echo = duet::icmp_echo;

namespace {

ReferenceTarget tcp_target(std::uint16_t port, const std::string& host = "127.0.0.1") {
  ReferenceTarget t;
  t.kind = ReferenceTarget::Kind::kTcp;
  t.tcp.host = host;
  t.tcp.port = port;
  return t;
}

ReferenceTarget icmp_target(const std::string& host) {
  ReferenceTarget t;
  t.kind = ReferenceTarget::Kind::kIcmp;
  t.host = host;
  return t;
}

// A verdict and the clock reading when the listener got it.
struct Seen {
  GuardVerdict verdict;
  TimePoint at;
};

// One io_context, kept busy by a work guard so run_one_for() waits instead of
// returning at once when the guard has nothing in flight.
struct Loop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  SystemClock clock;
  std::vector<Seen> seen;

  ReferenceGuard::Listener recorder() {
    return [this](const GuardVerdict& v) { seen.push_back({v, clock.now()}); };
  }

  // Runs handlers until `done` holds or `limit` passed; returns `done()`.
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const TimePoint end = clock.now() + limit;
    while (!done() && clock.now() < end) io.run_one_for(5ms);
    return done();
  }
  void run_for(Duration d) {
    run_until([] { return false; }, d);
  }
  bool run_until_verdicts(std::size_t n, Duration limit = 3s) {
    return run_until([&] { return seen.size() >= n; }, limit);
  }
};

// A TCP listener on 127.0.0.1 that is never accept()ed from: connects
// complete in its backlog.
struct OpenPort {
  explicit OpenPort(asio::io_context& io) : acceptor(io) {
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.listen();
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  tcp::acceptor acceptor;
};

// A port on 127.0.0.1 that refuses: bound (so nobody else takes it) but not
// listening, so the kernel answers a SYN with RST.
struct ClosedPort {
  explicit ClosedPort(asio::io_context& io) : socket(io) {
    socket.open(tcp::v4());
    socket.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  }
  std::uint16_t port() const { return socket.local_endpoint().port(); }
  tcp::socket socket;
};

// A port on 127.0.0.1 that silently drops SYNs: a listener with backlog 0
// whose accept queue already holds one connection nobody accepts. Linux drops
// a SYN for a listener with a full accept queue (no RST, no SYN-ACK), so a
// connect to it neither succeeds nor fails until the queue drains. drain()
// accepts the queued connection, after which the client's next SYN
// retransmission (about 1 s after the first) gets through.
struct SilentPort {
  explicit SilentPort(asio::io_context& io) : acceptor(io), filler(io) {
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.listen(0);
    filler.connect(acceptor.local_endpoint());
    // The filler is in the accept queue once the listener reads as readable.
    pollfd pfd{acceptor.native_handle(), POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 2000) == 1);
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  void drain() { accepted.push_back(acceptor.accept()); }

  tcp::acceptor acceptor;
  tcp::socket filler;
  std::vector<tcp::socket> accepted;
};

// Whether this process may open any ICMP socket (datagram or raw).
bool icmp_permitted() {
  for (int type : {SOCK_DGRAM, SOCK_RAW}) {
    const int fd = ::socket(AF_INET, type, IPPROTO_ICMP);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("reference guard: a listening TCP target answers", "[reference]") {
  Loop loop;
  OpenPort open(loop.io);
  const std::string name = "127.0.0.1:" + std::to_string(open.port());
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {tcp_target(open.port())}, 50ms, 500ms,
                       2s);
  CHECK(guard.describe() == "reference " + name);

  const TimePoint before = loop.clock.now();
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(1));
  const Seen& first = loop.seen[0];
  CHECK(first.verdict.ok);
  CHECK_THAT(first.verdict.detail, Catch::StartsWith(name + " ok ") && Catch::EndsWith(" ms"));
  // valid_until = probe start + validity, and the probe started within the round.
  CHECK(first.verdict.valid_until - 2s >= before);
  CHECK(first.verdict.valid_until - 2s <= first.at);
  guard.stop();
}

TEST_CASE("reference guard: a refused TCP connection does not count as reachable", "[reference]") {
  Loop loop;
  ClosedPort closed(loop.io);
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {tcp_target(closed.port())}, 50ms, 500ms,
                       2s);
  const TimePoint before = loop.clock.now();
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(2));
  for (const Seen& s : loop.seen) {
    CHECK_FALSE(s.verdict.ok);
    CHECK(s.verdict.detail == "127.0.0.1:" + std::to_string(closed.port()) + " refused");
    // Not ok: valid_until is the round's start, nothing beyond it.
    CHECK(s.verdict.valid_until >= before);
    CHECK(s.verdict.valid_until <= s.at);
  }
  guard.stop();
}

TEST_CASE("reference guard: ICMP echo to 127.0.0.1", "[reference]") {
  Loop loop;
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {icmp_target("127.0.0.1")}, 50ms, 500ms,
                       2s);
  CHECK(guard.describe() == "reference icmp:127.0.0.1");
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(3));
  guard.stop();
  const auto& stats = guard.stats();
  INFO("datagram probes " << stats.icmp_datagram_probes << ", raw probes " << stats.icmp_raw_probes
                          << ", ignored " << stats.icmp_ignored << ", malformed "
                          << stats.icmp_malformed);
  if (icmp_permitted()) {
    for (const Seen& s : loop.seen) {
      CHECK(s.verdict.ok);
      CHECK_THAT(s.verdict.detail, Catch::StartsWith("icmp:127.0.0.1 ok "));
    }
    // Each round sent one echo request, on one kind of socket or the other.
    CHECK(stats.icmp_datagram_probes + stats.icmp_raw_probes >= 3);
    CHECK(stats.icmp_malformed == 0);
  } else {
    // Neither ping_group_range nor CAP_NET_RAW: the probe fails, and says why.
    for (const Seen& s : loop.seen) {
      CHECK_FALSE(s.verdict.ok);
      CHECK_THAT(s.verdict.detail, Catch::Contains("no icmp socket"));
    }
  }
  CHECK(stats.rounds == loop.seen.size());
}

TEST_CASE("reference guard: one answering target of several is enough, and detail names all",
          "[reference]") {
  Loop loop;
  ClosedPort closed(loop.io);
  SilentPort silent(loop.io);
  OpenPort open(loop.io);
  const std::string closed_name = "127.0.0.1:" + std::to_string(closed.port());
  const std::string silent_name = "127.0.0.1:" + std::to_string(silent.port());
  const std::string open_name = "127.0.0.1:" + std::to_string(open.port());
  ReferenceGuard guard(
      loop.io.get_executor(), loop.clock,
      {tcp_target(closed.port()), tcp_target(silent.port()), tcp_target(open.port())}, 50ms, 200ms,
      2s);
  CHECK(guard.describe() == "reference " + closed_name + ", " + silent_name + ", " + open_name);
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(1));
  guard.stop();
  const GuardVerdict& v = loop.seen[0].verdict;
  CHECK(v.ok);
  CHECK_THAT(v.detail, Catch::StartsWith(closed_name + " refused; " + silent_name + " timeout; " +
                                         open_name + " ok "));
}

TEST_CASE("reference guard: nothing answering within the timeout is not ok", "[reference]") {
  Loop loop;
  SilentPort silent(loop.io);
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {tcp_target(silent.port())}, 50ms, 150ms,
                       2s);
  const TimePoint before = loop.clock.now();
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(1));
  guard.stop();
  const Seen& s = loop.seen[0];
  CHECK_FALSE(s.verdict.ok);
  CHECK(s.verdict.detail == "127.0.0.1:" + std::to_string(silent.port()) + " timeout");
  // The verdict waited for the timeout, and not much longer.
  CHECK(s.at - before >= 150ms);
  CHECK(s.at - before < 1s);
}

TEST_CASE("reference guard: valid_until counts from the probe's start, not its answer",
          "[reference]") {
  // The SYN is dropped at first; the queue drains after 300 ms, and the SYN
  // retransmitted about 1 s after the start connects. The verdict arrives about
  // 1 s after the probe started, and must be valid from the start.
  Loop loop;
  SilentPort slow(loop.io);
  const Duration validity = 5s;
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {tcp_target(slow.port())}, 100ms, 2500ms,
                       validity);
  asio::steady_timer drain(loop.io);
  const TimePoint before = loop.clock.now();
  guard.start(loop.recorder());
  drain.expires_after(300ms);
  drain.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) slow.drain();
  });
  REQUIRE(loop.run_until_verdicts(1, 4s));
  guard.stop();
  const Seen& s = loop.seen[0];
  REQUIRE(s.verdict.ok);
  const TimePoint probe_start = s.verdict.valid_until - validity;
  CHECK(probe_start >= before);
  CHECK(probe_start - before < 200ms);                     // the first round starts at once
  CHECK(s.at - probe_start >= 700ms);                      // and answered much later
  CHECK(s.verdict.valid_until < s.at + validity - 500ms);  // not completion + validity
}

TEST_CASE("reference guard: no verdict after stop()", "[reference]") {
  Loop loop;
  OpenPort open(loop.io);
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {tcp_target(open.port())}, 20ms, 500ms,
                       2s);
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(2));
  guard.stop();
  const std::size_t count = loop.seen.size();
  loop.run_for(200ms);
  CHECK(loop.seen.size() == count);

  SECTION("and start() after stop() runs again") {
    guard.start(loop.recorder());
    REQUIRE(loop.run_until_verdicts(count + 1));
    guard.stop();
  }
}

TEST_CASE("reference guard: stop() in the middle of a round, then destruction", "[reference]") {
  Loop loop;
  SilentPort silent(loop.io);
  auto guard = std::make_unique<ReferenceGuard>(
      loop.io.get_executor(), loop.clock,
      std::vector<ReferenceTarget>{tcp_target(silent.port()), icmp_target("127.0.0.1")}, 20ms,
      300ms, 2s);
  guard->start(loop.recorder());
  loop.run_for(60ms);  // the first round waits on the silent port
  REQUIRE(loop.seen.empty());
  guard->stop();
  guard.reset();        // cancelled operations are still queued in the io_context
  loop.run_for(400ms);  // past the round's timeout
  CHECK(loop.seen.empty());
}

TEST_CASE("reference guard: stop() from inside the listener", "[reference]") {
  Loop loop;
  OpenPort open(loop.io);
  std::optional<ReferenceGuard> guard;
  guard.emplace(loop.io.get_executor(), loop.clock,
                std::vector<ReferenceTarget>{tcp_target(open.port())}, 10ms, 500ms, 2s);
  int calls = 0;

  SECTION("stop") {
    guard->start([&](const GuardVerdict&) {
      ++calls;
      guard->stop();
    });
  }
  SECTION("destroy") {
    guard->start([&](const GuardVerdict&) {
      ++calls;
      guard.reset();
    });
  }
  loop.run_for(200ms);
  CHECK(calls == 1);
}

TEST_CASE("reference guard: a round longer than the interval does not overlap the next",
          "[reference]") {
  // Every round waits 150 ms for the silent port while the interval is 20 ms.
  // The open port makes every verdict ok, so valid_until - validity is the
  // start of that round's probes.
  Loop loop;
  SilentPort silent(loop.io);
  OpenPort open(loop.io);
  const Duration validity = 2s;
  const Duration timeout = 150ms;
  ReferenceGuard guard(loop.io.get_executor(), loop.clock,
                       {tcp_target(silent.port()), tcp_target(open.port())}, 20ms, timeout,
                       validity);
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(4));
  guard.stop();
  REQUIRE(loop.seen.size() == 4);
  for (std::size_t i = 0; i + 1 < loop.seen.size(); ++i) {
    const Seen& a = loop.seen[i];
    const Seen& b = loop.seen[i + 1];
    REQUIRE(a.verdict.ok);
    REQUIRE(b.verdict.ok);
    const TimePoint b_start = b.verdict.valid_until - validity;
    CHECK(b_start >= a.at);            // the next round began after this one's verdict
    CHECK(b_start - a.at < 100ms);     // delayed, not skipped: it began right after
    CHECK(b.at - b_start >= timeout);  // and it too waited for its timeout
  }
}

TEST_CASE("reference guard: want_lease is ignored", "[reference]") {
  Loop loop;
  OpenPort open(loop.io);
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {tcp_target(open.port())}, 20ms, 500ms,
                       2s);
  guard.want_lease(7);
  guard.start(loop.recorder());
  guard.want_lease(0);
  REQUIRE(loop.run_until_verdicts(1));
  CHECK(loop.seen[0].verdict.ok);
  guard.stop();
}

TEST_CASE("reference guard: no targets, never ok", "[reference]") {
  Loop loop;
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {}, 20ms, 100ms, 2s);
  CHECK(guard.describe() == "reference ");
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(2));
  guard.stop();
  CHECK_FALSE(loop.seen[0].verdict.ok);
  CHECK(loop.seen[0].verdict.detail == "no reference targets");
}

TEST_CASE("reference guard: ICMP to an IPv6 address fails the probe, says why", "[reference]") {
  Loop loop;
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {icmp_target("::1")}, 20ms, 100ms, 2s);
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(1));
  guard.stop();
  CHECK_FALSE(loop.seen[0].verdict.ok);
  CHECK(loop.seen[0].verdict.detail == "icmp:::1 icmp is IPv4 only");
}

TEST_CASE("reference guard: a TCP target given by name is resolved", "[reference]") {
  Loop loop;
  OpenPort open(loop.io);
  ReferenceGuard guard(loop.io.get_executor(), loop.clock, {tcp_target(open.port(), "localhost")},
                       20ms, 1s, 2s);
  guard.start(loop.recorder());
  REQUIRE(loop.run_until_verdicts(1));
  guard.stop();
  // localhost may resolve to ::1 first (refused there), then 127.0.0.1.
  CHECK(loop.seen[0].verdict.ok);
  CHECK_THAT(loop.seen[0].verdict.detail, Catch::StartsWith("localhost:"));
}

// ---- ICMP matching: bad input is sorted, never trusted, never a crash ----

namespace {

std::vector<std::uint8_t> reply_from(std::vector<std::uint8_t> request) {
  request[0] = icmp_echo::kEchoReply;
  request[2] = request[3] = 0;
  const std::uint16_t sum = icmp_echo::checksum(request);
  request[2] = static_cast<std::uint8_t>(sum >> 8);
  request[3] = static_cast<std::uint8_t>(sum & 0xff);
  return request;
}

std::vector<std::uint8_t> with_ipv4_header(const std::vector<std::uint8_t>& icmp) {
  std::vector<std::uint8_t> packet;
  packet.reserve(20 + icmp.size());
  packet.resize(20, 0);
  packet[0] = 0x45;  // version 4, 5 words
  packet[9] = 1;     // ICMP
  packet.insert(packet.end(), icmp.begin(), icmp.end());
  return packet;
}

}  // namespace

TEST_CASE("reference guard: ICMP replies are matched by identifier, sequence and payload",
          "[reference]") {
  using icmp_echo::Match;
  const std::vector<std::uint8_t> payload = {1, 2, 3, 4, 5, 6, 7, 8, 'd', 'u', 'e', 't'};
  const icmp_echo::Expected expected{0x1234, true, 0x0042, payload};
  const auto request = icmp_echo::make_request(0x1234, 0x0042, payload);
  REQUIRE(icmp_echo::checksum(request) == 0);
  const auto reply = reply_from(request);

  CHECK(icmp_echo::match_reply(reply, false, expected) == Match::kOurs);
  CHECK(icmp_echo::match_reply(with_ipv4_header(reply), true, expected) == Match::kOurs);

  // Datagram sockets: the kernel matched the identifier; we do not.
  auto dgram = expected;
  dgram.check_identifier = false;
  dgram.identifier = 0;
  CHECK(icmp_echo::match_reply(reply, false, dgram) == Match::kOurs);

  // Not ours.
  CHECK(icmp_echo::match_reply(request, false, expected) == Match::kNotOurs);  // our own request
  CHECK(icmp_echo::match_reply(reply_from(icmp_echo::make_request(0x1235, 0x0042, payload)), false,
                               expected) == Match::kNotOurs);
  CHECK(icmp_echo::match_reply(reply_from(icmp_echo::make_request(0x1234, 0x0043, payload)), false,
                               expected) == Match::kNotOurs);
  auto other_payload = payload;
  other_payload[0] ^= 0xff;
  CHECK(icmp_echo::match_reply(reply_from(icmp_echo::make_request(0x1234, 0x0042, other_payload)),
                               false, expected) == Match::kNotOurs);
  CHECK(icmp_echo::match_reply(
            reply_from(icmp_echo::make_request(0x1234, 0x0042, std::span(payload).first(4))), false,
            expected) == Match::kNotOurs);
  auto not_icmp = with_ipv4_header(reply);
  not_icmp[9] = 17;
  CHECK(icmp_echo::match_reply(not_icmp, true, expected) == Match::kNotOurs);

  // Malformed.
  CHECK(icmp_echo::match_reply({}, false, expected) == Match::kMalformed);
  CHECK(icmp_echo::match_reply({}, true, expected) == Match::kMalformed);
  CHECK(icmp_echo::match_reply(std::span(reply).first(7), false, expected) == Match::kMalformed);
  auto bad_sum = reply;
  bad_sum[3] ^= 1;
  CHECK(icmp_echo::match_reply(bad_sum, false, expected) == Match::kMalformed);
  auto ipv6 = with_ipv4_header(reply);
  ipv6[0] = 0x65;
  CHECK(icmp_echo::match_reply(ipv6, true, expected) == Match::kMalformed);
  auto short_ihl = with_ipv4_header(reply);
  short_ihl[0] = 0x44;
  CHECK(icmp_echo::match_reply(short_ihl, true, expected) == Match::kMalformed);
  auto long_ihl = with_ipv4_header(reply);
  long_ihl[0] = 0x4f;  // 60 bytes of header in a 40-byte packet
  CHECK(icmp_echo::match_reply(long_ihl, true, expected) == Match::kMalformed);
  const auto header_only = with_ipv4_header({});
  CHECK(icmp_echo::match_reply(header_only, true, expected) == Match::kMalformed);
  CHECK(icmp_echo::match_reply(std::span(header_only).first(19), true, expected) ==
        Match::kMalformed);
}

TEST_CASE("reference guard: random bytes never match and never crash", "[reference]") {
  const std::vector<std::uint8_t> payload = {9, 9, 9, 9};
  const icmp_echo::Expected expected{7, true, 7, payload};
  std::mt19937 rng(12345);  // fixed seed: the same bytes every run
  int matched = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> bytes(rng() % 80);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    if (!bytes.empty() && (i & 1) != 0) bytes[0] = 0x45;  // half of them look like IPv4
    for (bool with_ip : {false, true}) {
      if (icmp_echo::match_reply(bytes, with_ip, expected) == icmp_echo::Match::kOurs) ++matched;
    }
  }
  CHECK(matched == 0);
}
