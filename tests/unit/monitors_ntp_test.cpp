// The NTP monitor (monitors/ntp.h) against an NTP server inside the test, on
// 127.0.0.1, whose replies are built by hand.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "monitors/ntp.h"

using namespace std::chrono_literals;
using duet::monitors::check_ntp;
using duet::monitors::ntp_sample;
using duet::monitors::NtpCheck;
using duet::monitors::to_ntp_timestamp;

namespace {

using Bytes = std::vector<std::uint8_t>;
using Steady = std::chrono::steady_clock;

std::uint64_t get64(const Bytes& b, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | b[at + i];
  return v;
}
void put64(Bytes& b, std::size_t at, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) b[at + static_cast<std::size_t>(i)] = v & 0xff;
}

// The server's time, `shift` ahead of the system clock, as an NTP timestamp
// (computed here independently of the monitor's own conversion).
std::uint64_t server_now(std::chrono::milliseconds shift) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      (std::chrono::system_clock::now() + shift).time_since_epoch())
                      .count();
  const std::uint64_t secs = static_cast<std::uint64_t>(ns / 1000000000) + 2208988800ULL;
  const long double frac = static_cast<long double>(ns % 1000000000) / 1e9L * 4294967296.0L;
  return ((secs & 0xffffffffULL) << 32) | static_cast<std::uint64_t>(frac);
}

struct Reply {
  std::chrono::milliseconds shift{0};
  int leap = 0;
  int mode = 4;
  int stratum = 2;
  std::array<std::uint8_t, 4> reference{127, 0, 0, 1};
  bool zero_transmit = false;
  std::uint64_t originate_xor = 0;  // spoils the originate timestamp
};

Bytes make_reply(const Bytes& request, const Reply& how) {
  Bytes r(48, 0);
  r[0] = static_cast<std::uint8_t>((how.leap << 6) | (4 << 3) | how.mode);
  r[1] = static_cast<std::uint8_t>(how.stratum);
  r[2] = 6;      // poll
  r[3] = 0xec;   // precision, -20
  r[6] = 0x01;   // root delay 1/256 s (16.16 seconds)
  r[10] = 0x02;  // root dispersion 2/256 s
  std::copy(how.reference.begin(), how.reference.end(), r.begin() + 12);
  const std::uint64_t t2 = server_now(how.shift);
  put64(r, 16, t2 - (std::uint64_t{16} << 32));  // reference time: 16 s ago
  put64(r, 24, get64(request, 40) ^ how.originate_xor);
  put64(r, 32, t2);
  put64(r, 40, how.zero_transmit ? 0 : server_now(how.shift));
  return r;
}

// An NTP server on 127.0.0.1 answered on a thread by `handler` (each datagram
// it returns is sent back). The thread stops when the server is destroyed, or
// by itself after three seconds.
struct NtpServer {
  using Handler = std::function<std::vector<Bytes>(const Bytes& request)>;
  int fd = -1;
  std::uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Bytes> requests;  // guarded by mu
  std::thread thread;

  explicit NtpServer(Handler handler) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    thread = std::thread([this, handler] {
      const auto until = Steady::now() + 3s;
      Bytes buf(1024);
      while (!stop && Steady::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n <= 0) continue;
        const Bytes request(buf.begin(), buf.begin() + n);
        {
          std::lock_guard<std::mutex> lock(mu);
          requests.push_back(request);
        }
        for (const auto& reply : handler(request)) {
          ::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
        }
      }
    });
  }
  ~NtpServer() {
    stop = true;
    thread.join();
    ::close(fd);
  }
  std::vector<Bytes> received() {
    std::lock_guard<std::mutex> lock(mu);
    return requests;
  }
};

NtpCheck check(std::uint16_t port, std::chrono::milliseconds timeout = 1000ms) {
  return NtpCheck{"127.0.0.1", port, timeout};
}

NtpServer::Handler answer(Reply how) {
  return [how](const Bytes& request) { return std::vector<Bytes>{make_reply(request, how)}; };
}

}  // namespace

TEST_CASE("ntp: timestamps, and offset and delay across the 2036 era boundary", "[ntp]") {
  using duet::WallTime;
  CHECK(to_ntp_timestamp(WallTime{}) == (2208988800ULL << 32));
  CHECK(to_ntp_timestamp(WallTime{1500ms}) == ((2208988801ULL << 32) | 0x80000000ULL));
  // 2036-02-07 06:28:16 UTC is second 2^32 since 1900: the seconds wrap to 0.
  const WallTime era1{std::chrono::seconds(4294967296LL - 2208988800LL)};
  CHECK(to_ntp_timestamp(era1) == 0);

  // Our clock at 0.5 s before the wrap; the server, 1 s ahead, already past it.
  const std::uint64_t t1 = 0xffffffff'80000000ULL;  // 0.5 s before the wrap
  const std::uint64_t t2 = 0x00000000'80000000ULL;  // 0.5 s after it: 1 s after t1
  const std::uint64_t t3 = t2 + (1ULL << 30);       // 0.25 s after t2
  const std::uint64_t t4 = t1 + (3ULL << 29);       // 0.375 s after t1
  const auto s = ntp_sample(t1, t2, t3, t4);
  // ((1.0) + (1.0 + 0.25 - 0.375)) / 2 = 0.9375 s; delay 0.375 - 0.25 = 0.125 s.
  CHECK(s.offset_ms == Approx(937.5));
  CHECK(s.delay_ms == Approx(125.0));
  const auto back = ntp_sample(t2, t1, t1, t2);  // the other way round: negative
  CHECK(back.offset_ms == Approx(-1000.0));
  CHECK(back.delay_ms == Approx(0.0));
}

TEST_CASE("ntp: a server 1500 ms ahead, and one 250 ms behind", "[ntp]") {
  Reply ahead;
  ahead.shift = 1500ms;
  NtpServer server(answer(ahead));
  auto r = check_ntp(check(server.port));
  REQUIRE(r.ok());
  INFO(r->error);
  CHECK(r->ok());
  CHECK(r->answered);
  CHECK(r->offset_ms == Approx(1500.0).margin(50.0));
  CHECK(r->delay_ms >= -1.0);
  CHECK(r->delay_ms < 100.0);
  CHECK(r->stratum == 2);
  CHECK(r->leap == 0);
  CHECK(r->version == 4);
  CHECK(r->reference_id == "127.0.0.1");
  CHECK(r->root_delay_ms == Approx(1000.0 / 256));
  CHECK(r->root_dispersion_ms == Approx(2000.0 / 256));
  CHECK(r->kiss_code.empty());
  CHECK(r->ignored == 0);

  // The request: 48 bytes, version 4, mode 3, only the transmit timestamp
  // set, its seconds our clock's.
  const auto requests = server.received();
  REQUIRE(requests.size() == 1);
  const Bytes& q = requests[0];
  REQUIRE(q.size() == 48);
  CHECK(q[0] == 0x23);
  for (std::size_t i = 1; i < 40; ++i) CHECK(q[i] == 0);
  const auto sent_secs = static_cast<std::int64_t>(get64(q, 40) >> 32);
  const auto now_secs = static_cast<std::int64_t>(server_now(0ms) >> 32);
  CHECK(std::abs(sent_secs - now_secs) <= 1);

  Reply behind;
  behind.shift = -250ms;
  behind.stratum = 1;
  behind.reference = {'G', 'P', 'S', 0};
  NtpServer server2(answer(behind));
  r = check_ntp(check(server2.port), duet::SystemClock());
  REQUIRE(r.ok());
  CHECK(r->ok());
  CHECK(r->offset_ms == Approx(-250.0).margin(50.0));
  CHECK(r->stratum == 1);
  CHECK(r->reference_id == "GPS");
}

TEST_CASE("ntp: a kiss-o'-death reports its code", "[ntp]") {
  Reply kod;
  kod.stratum = 0;
  kod.reference = {'R', 'A', 'T', 'E'};
  NtpServer server(answer(kod));
  auto r = check_ntp(check(server.port));
  REQUIRE(r.ok());
  CHECK(r->answered);
  CHECK_FALSE(r->ok());
  CHECK(r->kiss_code == "RATE");
  CHECK_THAT(r->error, Catch::StartsWith("kiss-o'-death RATE"));

  kod.reference = {'D', 'E', 'N', 'Y'};
  NtpServer server2(answer(kod));
  r = check_ntp(check(server2.port));
  REQUIRE(r.ok());
  CHECK(r->kiss_code == "DENY");
  CHECK_THAT(r->error, Catch::Contains("access denied"));
}

TEST_CASE("ntp: a reply whose originate timestamp is not ours is ignored", "[ntp]") {
  Reply spoiled;
  spoiled.originate_xor = 1;  // one bit of the nonce off
  spoiled.shift = 9000ms;
  {
    // The spoiled reply first, then the real one: the real one counts.
    NtpServer server([spoiled](const Bytes& request) {
      return std::vector<Bytes>{make_reply(request, spoiled), Bytes(47, 0),
                                make_reply(request, Reply{})};
    });
    auto r = check_ntp(check(server.port));
    REQUIRE(r.ok());
    CHECK(r->ok());
    CHECK(r->ignored == 2);
    CHECK(r->offset_ms == Approx(0.0).margin(50.0));
  }
  {
    NtpServer server(answer(spoiled));
    auto r = check_ntp(check(server.port, 300ms));
    REQUIRE(r.ok());
    CHECK_FALSE(r->answered);
    CHECK(r->ignored == 1);
    CHECK(r->error ==
          "no reply within 300 ms (ignored 1 datagram(s); the last: originate timestamp not ours)");
  }
}

TEST_CASE("ntp: replies that are not mode 4, unsynchronized or without a transmit time", "[ntp]") {
  auto rejected = [](Reply how) {
    NtpServer server(answer(how));
    auto r = check_ntp(check(server.port));
    REQUIRE(r.ok());
    CHECK(r->answered);
    CHECK_FALSE(r->ok());
    return r->error;
  };
  Reply mode3;
  mode3.mode = 3;
  CHECK(rejected(mode3) == "bad reply: mode 3, not 4 (server)");
  Reply zero;
  zero.zero_transmit = true;
  CHECK(rejected(zero) == "bad reply: zero transmit timestamp");
  Reply alarm;
  alarm.leap = 3;
  CHECK_THAT(rejected(alarm), Catch::Contains("not synchronized (leap indicator 3"));
  Reply s16;
  s16.stratum = 16;
  CHECK_THAT(rejected(s16), Catch::Contains("stratum 16"));
}

TEST_CASE("ntp: a server that never answers, and a port where nothing listens", "[ntp]") {
  {
    NtpServer server([](const Bytes&) { return std::vector<Bytes>{}; });
    const auto started = Steady::now();
    auto r = check_ntp(check(server.port, 200ms));
    REQUIRE(r.ok());
    CHECK_FALSE(r->answered);
    CHECK(r->error == "no reply within 200 ms");
    CHECK(Steady::now() - started < 1s);
    CHECK(server.received().size() == 1);
  }
  std::uint16_t closed = 0;
  {
    NtpServer server([](const Bytes&) { return std::vector<Bytes>{}; });
    closed = server.port;
  }
  auto r = check_ntp(check(closed));
  REQUIRE(r.ok());
  CHECK_FALSE(r->answered);
  CHECK_THAT(r->error, Catch::Contains("refused"));
}

TEST_CASE("ntp: an invalid check is an error, not a result", "[ntp]") {
  CHECK_FALSE(check_ntp(NtpCheck{"pool.ntp.org", 123, 1000ms}).ok());
  CHECK_FALSE(check_ntp(NtpCheck{"127.0.0.1", 0, 1000ms}).ok());
  auto r = check_ntp(NtpCheck{"127.0.0.1", 123, 0ms});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("timeout"));
}
