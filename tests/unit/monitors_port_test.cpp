// The port monitor (monitors/port.h) against listeners on 127.0.0.1.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "monitors/port.h"

using namespace std::chrono_literals;
using duet::monitors::check_port;
using duet::monitors::Greeting;
using duet::monitors::greeting_ok;
using duet::monitors::PortCheck;

namespace {

// A listener on 127.0.0.1 that accepts one connection, sends `greeting` (if
// any), waits `hold`, and closes.
struct Listener {
  int fd = -1;
  std::uint16_t port = 0;
  std::thread thread;
  Listener(std::string greeting, std::chrono::milliseconds hold = 0ms) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    thread = std::thread([this, greeting, hold] {
      const int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) return;
      if (!greeting.empty()) (void)!::write(c, greeting.data(), greeting.size());
      std::this_thread::sleep_for(hold);
      ::close(c);
    });
  }
  ~Listener() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    thread.join();
  }
};

PortCheck check(std::uint16_t port, Greeting g, std::chrono::milliseconds timeout = 2000ms) {
  return PortCheck{"127.0.0.1", port, g, timeout};
}

}  // namespace

TEST_CASE("port: each protocol's positive greeting", "[port]") {
  CHECK(greeting_ok(Greeting::kSmtp, "220 mail.example.com ESMTP"));
  CHECK_FALSE(greeting_ok(Greeting::kSmtp, "554 go away"));
  CHECK(greeting_ok(Greeting::kFtp, "220 (vsFTPd 3.0.3)"));
  CHECK(greeting_ok(Greeting::kPop3, "+OK Dovecot ready."));
  CHECK_FALSE(greeting_ok(Greeting::kPop3, "-ERR no"));
  CHECK(greeting_ok(Greeting::kImap, "* OK [CAPABILITY IMAP4rev1] ready"));
  CHECK(greeting_ok(Greeting::kImap, "* PREAUTH welcome"));
  CHECK_FALSE(greeting_ok(Greeting::kImap, "* BYE"));
}

TEST_CASE("port: a connection, with and without the expected greeting", "[port]") {
  {
    Listener l("220 mail ready\r\n");
    auto r = check_port(check(l.port, Greeting::kSmtp));
    CHECK(r.connected);
    CHECK(r.ok());
    CHECK(r.greeting_ok);
    CHECK(r.greeting == "220 mail ready");
    CHECK(r.connect_time.count() > 0);
  }
  {
    Listener l("554 not now\r\n");
    auto r = check_port(check(l.port, Greeting::kSmtp));
    CHECK(r.connected);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.error, Catch::Contains("unexpected greeting: 554 not now"));
  }
  {
    Listener l("");  // plain TCP: connecting is enough
    auto r = check_port(check(l.port, Greeting::kNone));
    CHECK(r.ok());
  }
}

TEST_CASE("port: a silent server, one that hangs up, and a closed port", "[port]") {
  {
    Listener l("", 1000ms);
    auto r = check_port(check(l.port, Greeting::kPop3, 200ms));
    CHECK(r.connected);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.error, Catch::Contains("no greeting within 200 ms"));
  }
  {
    Listener l("");
    auto r = check_port(check(l.port, Greeting::kImap));
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.error, Catch::Contains("closed the connection"));
  }
  std::uint16_t closed = 0;
  {
    Listener l("");
    closed = l.port;
    (void)check_port(check(l.port, Greeting::kNone));  // let its thread finish
  }
  auto r = check_port(check(closed, Greeting::kNone));
  CHECK_FALSE(r.connected);
  CHECK_THAT(r.error, Catch::Contains("refused"));
}
