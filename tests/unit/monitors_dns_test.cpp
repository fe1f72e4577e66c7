// The DNS monitor (monitors/dns.h) against a DNS server inside the test, on
// 127.0.0.1, whose replies are built by hand.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitors/dns.h"

using namespace std::chrono_literals;
using duet::monitors::check_dns;
using duet::monitors::dns_rcode_name;
using duet::monitors::dns_type_from_name;
using duet::monitors::DnsCheck;

namespace {

using Bytes = std::vector<std::uint8_t>;
using Steady = std::chrono::steady_clock;

constexpr std::uint16_t kA = 1, kNs = 2, kCname = 5, kSoa = 6, kPtr = 12, kMx = 15, kTxt = 16,
                        kAaaa = 28;

void put16(Bytes& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}

// "mail.example.com" in DNS wire form.
Bytes wire_name(const std::string& name) {
  Bytes out;
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<long>(start),
               name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

// A query's question, read by hand: its name ("www.example.com"), type, and
// where the question ends.
struct Question {
  std::string name;
  std::uint16_t type = 0;
  std::size_t end = 0;
  bool rd = false;
};
Question question_of(const Bytes& q) {
  Question out;
  std::size_t i = 12;
  while (i < q.size() && q[i] != 0) {
    if (!out.name.empty()) out.name += '.';
    out.name.append(q.begin() + static_cast<long>(i) + 1,
                    q.begin() + static_cast<long>(i) + 1 + q[i]);
    i += 1 + q[i];
  }
  out.type = static_cast<std::uint16_t>((q[i + 1] << 8) | q[i + 2]);
  out.end = i + 5;
  out.rd = (q[2] & 0x01) != 0;
  return out;
}

struct Rr {
  std::uint16_t type;
  Bytes rdata;
};

// Runs on the server's thread too: no Catch assertions here (they are not
// thread-safe); the addresses are the test's own constants.
Bytes a_rdata(const char* address) {
  Bytes b(4);
  (void)::inet_pton(AF_INET, address, b.data());
  return b;
}

// A reply to `query`: its id and question, the flags asked for, and the
// answers, each owned by the question's name (a compression pointer to it).
Bytes make_reply(const Bytes& query, int rcode, const std::vector<Rr>& answers, bool tc = false) {
  const Question q = question_of(query);
  Bytes r(query.begin(), query.begin() + static_cast<long>(q.end));
  r[2] = static_cast<std::uint8_t>(0x80 | 0x04 | (tc ? 0x02 : 0) | (query[2] & 0x01));  // QR AA
  r[3] = static_cast<std::uint8_t>(0x80 | rcode);                                       // RA
  r[6] = 0;
  r[7] = static_cast<std::uint8_t>(answers.size());
  r[8] = r[9] = r[10] = r[11] = 0;
  for (const auto& a : answers) {
    put16(r, 0xc00c);
    put16(r, a.type);
    put16(r, 1);  // IN
    put32(r, 300);
    put16(r, static_cast<unsigned>(a.rdata.size()));
    r.insert(r.end(), a.rdata.begin(), a.rdata.end());
  }
  return r;
}

// A DNS server on 127.0.0.1: a UDP socket and, on the same port unless told
// otherwise, a TCP listener, answered on a thread by `handler` (what it returns is sent back,
// each reply a datagram or, over TCP, a length-prefixed message). The thread
// stops when the server is destroyed, or by itself after three seconds.
struct DnsServer {
  using Handler = std::function<std::vector<Bytes>(const Bytes& query, bool tcp)>;
  int udp = -1;
  int tcp = -1;
  std::uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Bytes> queries;  // as received, guarded by mu
  std::thread thread;

  explicit DnsServer(Handler handler, bool with_tcp = true) {
    // The same port number free for both UDP and TCP; a few tries at most.
    for (int attempt = 0; attempt < 20 && udp < 0; ++attempt) {
      udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      REQUIRE(::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
      socklen_t len = sizeof a;
      ::getsockname(udp, reinterpret_cast<sockaddr*>(&a), &len);
      port = ntohs(a.sin_port);
      if (!with_tcp) break;
      tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int one = 1;
      ::setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(tcp, 4) != 0) {
        ::close(tcp);
        ::close(udp);
        tcp = udp = -1;
      }
    }
    REQUIRE(udp >= 0);
    thread = std::thread([this, handler] { serve(handler); });
  }

  ~DnsServer() {
    stop = true;
    thread.join();
    ::close(udp);
    if (tcp >= 0) ::close(tcp);
  }

  std::vector<Bytes> received() {
    std::lock_guard<std::mutex> lock(mu);
    return queries;
  }

  void serve(const Handler& handler) {
    const auto until = Steady::now() + 3s;
    std::vector<std::uint8_t> buf(65536);
    while (!stop && Steady::now() < until) {
      pollfd p[2] = {{udp, POLLIN, 0}, {tcp, POLLIN, 0}};
      if (::poll(p, 2, 20) <= 0) continue;
      if (p[0].revents & POLLIN) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const ssize_t n =
            ::recvfrom(udp, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 12) continue;
        const Bytes query(buf.begin(), buf.begin() + n);
        record(query);
        for (const auto& reply : handler(query, false)) {
          ::sendto(udp, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
      }
      if (p[1].revents & POLLIN) serve_tcp(handler);
    }
  }

  void serve_tcp(const Handler& handler) {
    const int c = ::accept(tcp, nullptr, nullptr);
    if (c < 0) return;
    timeval tv{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto read_n = [c](Bytes& into, std::size_t n) {
      into.resize(n);
      for (std::size_t got = 0; got < n;) {
        const ssize_t r = ::recv(c, into.data() + got, n - got, 0);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
      }
      return true;
    };
    Bytes length, query;
    if (read_n(length, 2) &&
        read_n(query, static_cast<std::size_t>((length[0] << 8) | length[1]))) {
      record(query);
      for (const auto& reply : handler(query, true)) {
        Bytes out;
        put16(out, static_cast<unsigned>(reply.size()));
        out.insert(out.end(), reply.begin(), reply.end());
        (void)!::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      }
    }
    ::close(c);
  }

  void record(const Bytes& query) {
    std::lock_guard<std::mutex> lock(mu);
    queries.push_back(query);
  }
};

DnsCheck check(std::uint16_t port, std::string name, std::string type = "A",
               std::chrono::milliseconds timeout = 1000ms) {
  DnsCheck c;
  c.server = "127.0.0.1";
  c.port = port;
  c.name = std::move(name);
  c.type = std::move(type);
  c.timeout = timeout;
  return c;
}

// Answers every question with the two A records.
std::vector<Bytes> two_addresses(const Bytes& q, bool) {
  return {make_reply(q, 0, {{kA, a_rdata("192.0.2.1")}, {kA, a_rdata("192.0.2.2")}})};
}

}  // namespace

TEST_CASE("dns: type names and rcode names", "[dns]") {
  CHECK(dns_type_from_name("A") == 1);
  CHECK(dns_type_from_name("mx") == 15);
  CHECK(dns_type_from_name("AAAA") == 28);
  CHECK(dns_type_from_name("TYPE65") == 65);
  CHECK_FALSE(dns_type_from_name("TYPE0"));
  CHECK_FALSE(dns_type_from_name("TYPE70000"));
  CHECK_FALSE(dns_type_from_name("BOGUS"));
  CHECK(dns_rcode_name(0) == "NOERROR");
  CHECK(dns_rcode_name(2) == "SERVFAIL");
  CHECK(dns_rcode_name(3) == "NXDOMAIN");
  CHECK(dns_rcode_name(14) == "RCODE14");
}

TEST_CASE("dns: an A answer, the expected one among them exactly or by regex", "[dns]") {
  DnsServer server(two_addresses);
  auto c = check(server.port, "www.example.com");
  c.expect = "192.0.2.2";
  auto r = check_dns(c);
  REQUIRE(r.ok());
  CHECK(r->ok());
  CHECK(r->answered);
  CHECK(r->rcode == "NOERROR");
  CHECK(r->authoritative);
  CHECK_FALSE(r->over_tcp);
  CHECK(r->answers == std::vector<std::string>{"192.0.2.1", "192.0.2.2"});
  CHECK(r->expect_matched == true);
  CHECK(r->response_time.count() > 0);
  CHECK(r->response_time < 1s);
  // What the server saw: one query, recursion desired, our question.
  const auto queries = server.received();
  REQUIRE(queries.size() == 1);
  const Question q = question_of(queries[0]);
  CHECK(q.name == "www.example.com");
  CHECK(q.type == kA);
  CHECK(q.rd);

  c.expect = R"(^192\.0\.2\.1$)";
  c.expect_regex = true;
  r = check_dns(c);
  REQUIRE(r.ok());
  CHECK(r->ok());
  CHECK(r->expect_matched == true);
  // Two queries, two random ids (a 1-in-65536 chance of a false failure).
  const auto both = server.received();
  REQUIRE(both.size() == 2);
  CHECK((both[0][0] != both[1][0] || both[0][1] != both[1][1]));
}

TEST_CASE("dns: the expected answer is not among them", "[dns]") {
  DnsServer server(two_addresses);
  auto c = check(server.port, "www.example.com");
  c.expect = "198.51.100.7";
  auto r = check_dns(c);
  REQUIRE(r.ok());
  CHECK(r->answered);
  CHECK_FALSE(r->ok());
  CHECK(r->expect_matched == false);
  CHECK(r->answers.size() == 2);
  CHECK_THAT(r->error,
             Catch::Contains("expected answer '198.51.100.7' not among: 192.0.2.1, 192.0.2.2"));

  c.expect = "^10\\.";
  c.expect_regex = true;
  r = check_dns(c);
  REQUIRE(r.ok());
  CHECK_FALSE(r->ok());
  CHECK_THAT(r->error, Catch::Contains("no answer matches '^10\\.'"));
}

TEST_CASE("dns: NXDOMAIN, SERVFAIL and an empty answer fail with the reason", "[dns]") {
  DnsServer server([](const Bytes& q, bool) {
    const auto name = question_of(q).name;
    const int rcode = name == "missing.example.com" ? 3 : name == "broken.example.com" ? 2 : 0;
    return std::vector<Bytes>{make_reply(q, rcode, {})};
  });
  auto r = check_dns(check(server.port, "missing.example.com"));
  REQUIRE(r.ok());
  CHECK(r->answered);
  CHECK_FALSE(r->ok());
  CHECK(r->rcode == "NXDOMAIN");
  CHECK(r->error == "rcode NXDOMAIN");
  CHECK(r->answers.empty());

  r = check_dns(check(server.port, "broken.example.com"));
  REQUIRE(r.ok());
  CHECK(r->rcode == "SERVFAIL");
  CHECK(r->error == "rcode SERVFAIL");

  r = check_dns(check(server.port, "empty.example.com", "aaaa"));
  REQUIRE(r.ok());
  CHECK(r->rcode == "NOERROR");
  CHECK_FALSE(r->ok());
  CHECK_THAT(r->error, Catch::Contains("no AAAA record for empty.example.com"));
}

TEST_CASE("dns: a server that never answers, and a port where nothing listens", "[dns]") {
  {
    DnsServer server([](const Bytes&, bool) { return std::vector<Bytes>{}; });
    const auto started = Steady::now();
    auto r = check_dns(check(server.port, "www.example.com", "A", 200ms));
    REQUIRE(r.ok());
    CHECK_FALSE(r->answered);
    CHECK_FALSE(r->ok());
    CHECK(r->error == "no reply within 200 ms");
    CHECK(Steady::now() - started < 1s);
  }
  std::uint16_t closed = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    closed = ntohs(a.sin_port);
    ::close(fd);
  }
  auto r = check_dns(check(closed, "www.example.com", "A", 1000ms));
  REQUIRE(r.ok());
  CHECK_FALSE(r->answered);
  CHECK_THAT(r->error, Catch::Contains("refused"));
}

TEST_CASE("dns: a truncated UDP reply is asked again over TCP", "[dns]") {
  std::vector<Rr> many;
  for (int i = 0; i < 40; ++i) {
    many.push_back({kA, a_rdata(("192.0.2." + std::to_string(i + 1)).c_str())});
  }
  DnsServer server([&many](const Bytes& q, bool tcp) {
    if (!tcp) return std::vector<Bytes>{make_reply(q, 0, {}, /*tc=*/true)};
    return std::vector<Bytes>{make_reply(q, 0, many)};
  });
  auto c = check(server.port, "big.example.com");
  c.expect = "192.0.2.40";
  auto r = check_dns(c);
  REQUIRE(r.ok());
  CHECK(r->ok());
  CHECK(r->over_tcp);
  CHECK(r->answers.size() == 40);
  CHECK(r->expect_matched == true);
  const auto queries = server.received();
  REQUIRE(queries.size() == 2);  // the UDP one, then the same over TCP
  CHECK(queries[0] == queries[1]);
}

TEST_CASE("dns: truncated, and nothing listens on TCP", "[dns]") {
  DnsServer server(
      [](const Bytes& q, bool) { return std::vector<Bytes>{make_reply(q, 0, {}, /*tc=*/true)}; },
      /*with_tcp=*/false);
  auto r = check_dns(check(server.port, "big.example.com"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->ok());
  CHECK(r->over_tcp);
  CHECK_THAT(r->error, Catch::Contains("truncated over UDP; tcp connect: refused"));
}

TEST_CASE("dns: replies with the wrong id or another question are ignored", "[dns]") {
  auto wrong_id = [](const Bytes& q) {
    Bytes r = make_reply(q, 0, {{kA, a_rdata("203.0.113.66")}});
    r[1] ^= 0x01;
    return r;
  };
  auto other_question = [](const Bytes& q) {
    Bytes r = make_reply(q, 0, {});
    r[question_of(q).end - 3] = kAaaa;  // the question's type, low byte
    return r;
  };
  {
    DnsServer server([&](const Bytes& q, bool) {
      return std::vector<Bytes>{wrong_id(q), other_question(q), Bytes{1, 2, 3},
                                make_reply(q, 0, {{kA, a_rdata("192.0.2.1")}})};
    });
    auto r = check_dns(check(server.port, "www.example.com"));
    REQUIRE(r.ok());
    CHECK(r->ok());
    CHECK(r->answers == std::vector<std::string>{"192.0.2.1"});
    CHECK(r->ignored == 3);
  }
  {
    DnsServer server([&](const Bytes& q, bool) { return std::vector<Bytes>{wrong_id(q)}; });
    auto r = check_dns(check(server.port, "www.example.com", "A", 300ms));
    REQUIRE(r.ok());
    CHECK_FALSE(r->answered);
    CHECK(r->ignored == 1);
    CHECK(r->answers.empty());
    CHECK(r->error == "no reply within 300 ms (ignored 1 datagram(s); the last: wrong id)");
  }
}

TEST_CASE("dns: MX, TXT, SOA, NS, AAAA, PTR and a CNAME on the way, as text", "[dns]") {
  DnsServer server([](const Bytes& q, bool) {
    const Question qq = question_of(q);
    std::vector<Rr> answers;
    Bytes rd;
    switch (qq.type) {
      case kMx:
        put16(rd, 10);
        rd.insert(rd.end(), {4, 'm', 'a', 'i', 'l', 0xc0, 0x0c});  // mail.<the question's name>
        answers.push_back({kMx, rd});
        break;
      case kTxt:
        rd = {7, 'v', '=', 's', 'p', 'f', '1', ' ', 4, '-', 'a', 'l', 'l', 1, 0x07};
        answers.push_back({kTxt, rd});
        break;
      case kSoa: {
        rd = wire_name("ns1.example.com");
        const Bytes rname = wire_name("hostmaster.example.com");
        rd.insert(rd.end(), rname.begin(), rname.end());
        for (std::uint32_t v : {2024010101u, 7200u, 3600u, 1209600u, 300u}) put32(rd, v);
        answers.push_back({kSoa, rd});
        break;
      }
      case kNs:
        answers.push_back({kNs, wire_name("ns1.Example.com")});
        break;
      case kAaaa:
        rd.assign(16, 0);
        rd[0] = 0x20, rd[1] = 0x01, rd[2] = 0x0d, rd[3] = 0xb8, rd[15] = 1;
        answers.push_back({kAaaa, rd});
        break;
      case kPtr:
        answers.push_back({kPtr, wire_name("host.example.com")});
        break;
      case kA:  // a CNAME first: only the A records are the answers
        answers.push_back({kCname, wire_name("real.example.com")});
        answers.push_back({kA, a_rdata("192.0.2.9")});
        break;
    }
    return std::vector<Bytes>{make_reply(q, 0, answers)};
  });
  auto one = [&](const char* type, const char* name = "example.com") {
    auto r = check_dns(check(server.port, name, type));
    REQUIRE(r.ok());
    CHECK(r->ok());
    INFO(r->error);
    return r->answers.size() == 1 ? r->answers[0] : std::string("(") + r->error + ")";
  };
  CHECK(one("MX") == "10 mail.example.com.");
  CHECK(one("TXT") == "v=spf1 -all\\007");
  CHECK(one("SOA") == "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300");
  CHECK(one("NS") == "ns1.Example.com.");
  CHECK(one("AAAA") == "2001:db8::1");
  CHECK(one("A", "www.example.com") == "192.0.2.9");
  CHECK(one("PTR", "192.0.2.1") == "host.example.com.");
  const auto queries = server.received();
  CHECK(question_of(queries.back()).name == "1.2.0.192.in-addr.arpa");

  // Exact expectations: names without case or the final dot, addresses as addresses.
  auto matched = [&](const char* type, const char* expect) {
    auto c = check(server.port, "example.com", type);
    c.expect = expect;
    auto r = check_dns(c);
    REQUIRE(r.ok());
    return r->expect_matched == true;
  };
  CHECK(matched("MX", "10 MAIL.example.com"));
  CHECK(matched("NS", "ns1.example.com."));
  CHECK(matched("AAAA", "2001:DB8:0::1"));
  CHECK_FALSE(matched("MX", "20 mail.example.com."));
}

TEST_CASE("dns: an invalid check is an error, not a result", "[dns]") {
  auto c = check(53, "www.example.com");
  c.server = "dns.example.com";
  CHECK_FALSE(check_dns(c).ok());
  c = check(53, "www.example.com", "BOGUS");
  auto r = check_dns(c);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("unknown record type 'BOGUS'"));
  c = check(53, "");
  CHECK_FALSE(check_dns(c).ok());
  c = check(53, std::string(70, 'a') + ".example.com");  // a label over 63 bytes
  CHECK_FALSE(check_dns(c).ok());
  c = check(0, "www.example.com");
  CHECK_FALSE(check_dns(c).ok());
  c = check(53, "www.example.com", "A", 0ms);
  CHECK_FALSE(check_dns(c).ok());
  c = check(53, "www.example.com");
  c.expect = "([";
  c.expect_regex = true;
  r = check_dns(c);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("expect regex"));
}
