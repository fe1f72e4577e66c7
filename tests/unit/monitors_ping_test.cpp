// The ping monitor (monitors/ping.h) against the loopback interface.

#include <catch2/catch.hpp>

#include "monitors/ping.h"

using duet::monitors::ping;
using duet::monitors::PingCheck;

TEST_CASE("ping: loopback answers every request, with round-trip times", "[monitors][ping]") {
  PingCheck c;
  c.address = "127.0.0.1";
  c.count = 4;
  c.interval = std::chrono::milliseconds(20);
  c.timeout = std::chrono::milliseconds(1000);
  const auto r = ping(c);
  INFO(r.error);
  REQUIRE(r.ran());
  CHECK(r.sent == 4);
  CHECK(r.received == 4);
  CHECK(r.loss_percent == 0.0);
  CHECK(r.rtt_min_ms > 0.0);
  CHECK(r.rtt_min_ms <= r.rtt_avg_ms);
  CHECK(r.rtt_avg_ms <= r.rtt_max_ms);
  CHECK(r.rtt_max_ms < 1000.0);
}

TEST_CASE("ping: a bad address is an error, and nothing is sent", "[monitors][ping]") {
  PingCheck c;
  c.address = "not-an-address";
  const auto r = ping(c);
  CHECK_FALSE(r.ran());
  CHECK(r.error.find("not an IPv4 address") != std::string::npos);
  CHECK(r.sent == 0);
  CHECK(r.loss_percent == 100.0);
}
