// MultiPinger: many ping checks through one socket, on loopback.

#include <catch2/catch.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include "monitors/multi_ping.h"

using duet::monitors::MultiPinger;
using duet::monitors::PingCheck;
using duet::monitors::PingResult;

TEST_CASE("multi ping: 200 loopback targets at once, each answered", "[multiping]") {
  auto pinger = MultiPinger::create();
  if (!pinger.ok()) {
    WARN("no ICMP socket here: " << pinger.error().to_string());
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, PingResult> results;
  constexpr int kTargets = 200;
  for (int i = 1; i <= kTargets; ++i) {
    PingCheck c;
    c.address = "127.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    c.count = 3;
    c.interval = std::chrono::milliseconds(20);
    c.timeout = std::chrono::milliseconds(1000);
    (*pinger)->submit(c, [&, address = c.address](PingResult r) {
      std::lock_guard lock(mu);
      results[address] = r;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(10),
                      [&] { return results.size() == static_cast<std::size_t>(kTargets); }));
  for (const auto& [address, r] : results) {
    INFO(address << ": " << r.error);
    CHECK(r.ran());
    CHECK(r.sent == 3);
    CHECK(r.received == 3);
    CHECK(r.loss_percent == 0.0);
    CHECK(r.rtt_max_ms < 1000);
  }
  CHECK((*pinger)->in_flight() == 0);
}

TEST_CASE("multi ping: a bad address ends at once with the reason", "[multiping]") {
  auto pinger = MultiPinger::create();
  if (!pinger.ok()) {
    WARN("no ICMP socket here: " << pinger.error().to_string());
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::optional<PingResult> result;
  PingCheck c;
  c.address = "not-an-address";
  (*pinger)->submit(c, [&](PingResult r) {
    std::lock_guard lock(mu);
    result = r;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return result.has_value(); }));
  CHECK_FALSE(result->ran());
  CHECK(result->error.find("not an IPv4 address") != std::string::npos);
}
