#include "common/clock.h"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using duet::ManualClock;

TEST_CASE("ManualClock fires timers in deadline order, ties in creation order", "[clock]") {
  ManualClock clock;
  std::vector<std::string> fired;
  const auto t0 = clock.now();
  clock.call_at(t0 + 30ms, [&] { fired.push_back("c30"); });
  clock.call_at(t0 + 10ms, [&] { fired.push_back("a10"); });
  clock.call_at(t0 + 20ms, [&] { fired.push_back("b20-first"); });
  clock.call_at(t0 + 20ms, [&] { fired.push_back("b20-second"); });

  CHECK(clock.advance(5ms) == 0);
  CHECK(fired.empty());
  CHECK(clock.advance(20ms) == 3);
  CHECK(fired == std::vector<std::string>{"a10", "b20-first", "b20-second"});
  CHECK(clock.now() == t0 + 25ms);
  CHECK(clock.pending_timers() == 1);
  CHECK(clock.next_deadline() == t0 + 30ms);
}

TEST_CASE("ManualClock shows each callback the time of its own deadline", "[clock]") {
  ManualClock clock;
  const auto t0 = clock.now();
  std::vector<duet::Duration> seen;
  clock.call_after(7ms, [&] { seen.push_back(clock.now() - t0); });
  clock.call_after(3ms, [&] { seen.push_back(clock.now() - t0); });
  clock.advance(1s);
  CHECK(seen == std::vector<duet::Duration>{3ms, 7ms});
  CHECK(clock.now() - t0 == 1s);
}

TEST_CASE("ManualClock fires a timer scheduled by a callback within the same advance", "[clock]") {
  ManualClock clock;
  int chain = 0;
  std::function<void()> tick = [&] {
    if (++chain < 5) clock.call_after(10ms, tick);
  };
  clock.call_after(10ms, tick);
  CHECK(clock.advance(45ms) == 4);
  CHECK(chain == 4);
  CHECK(clock.advance(5ms) == 1);
  CHECK(chain == 5);
  CHECK(clock.pending_timers() == 0);
}

TEST_CASE("ManualClock cancel stops a timer exactly once", "[clock]") {
  ManualClock clock;
  bool ran = false;
  auto id = clock.call_after(10ms, [&] { ran = true; });
  CHECK(clock.cancel(id));
  CHECK_FALSE(clock.cancel(id));
  clock.advance(1s);
  CHECK_FALSE(ran);

  auto id2 = clock.call_after(10ms, [&] { ran = true; });
  clock.advance(10ms);
  CHECK(ran);
  CHECK_FALSE(clock.cancel(id2));  // already ran
}

TEST_CASE("ManualClock run_due fires timers due now without moving time", "[clock]") {
  ManualClock clock;
  int n = 0;
  clock.call_at(clock.now(), [&] { ++n; });
  clock.call_at(clock.now() - 1s, [&] { ++n; });
  const auto before = clock.now();
  CHECK(clock.run_due() == 2);
  CHECK(n == 2);
  CHECK(clock.now() == before);
}

TEST_CASE("ManualClock wall time follows monotonic time until set_wall jumps it", "[clock]") {
  ManualClock clock;
  const auto w0 = clock.wall_now();
  CHECK(duet::to_unix_ms(w0) == 1767225600000);  // 2026-01-01T00:00:00Z
  clock.advance(1500ms);
  CHECK(clock.wall_now() - w0 == 1500ms);
  const auto mono = clock.now();
  clock.set_wall(duet::from_unix_ms(1000));
  CHECK(duet::to_unix_ms(clock.wall_now()) == 1000);
  CHECK(clock.now() == mono);
  clock.advance(2s);
  CHECK(duet::to_unix_ms(clock.wall_now()) == 3000);
}

TEST_CASE("SystemClock runs timers on its executor and honours cancel", "[clock]") {
  boost::asio::io_context io;
  duet::SystemClock clock(io.get_executor());
  std::vector<int> fired;
  clock.call_after(20ms, [&] { fired.push_back(2); });
  clock.call_after(1ms, [&] { fired.push_back(1); });
  auto cancelled = clock.call_after(5ms, [&] { fired.push_back(99); });
  CHECK(clock.cancel(cancelled));
  CHECK_FALSE(clock.cancel(cancelled));
  io.run();  // returns when no timer is left
  CHECK(fired == std::vector<int>{1, 2});
  CHECK(clock.now() > duet::TimePoint{});
}

TEST_CASE("unix millisecond conversions round-trip", "[clock]") {
  CHECK(duet::to_unix_ms(duet::from_unix_ms(1234567890123)) == 1234567890123);
  CHECK(duet::to_unix_ms(duet::from_unix_ms(-5)) == -5);
}
