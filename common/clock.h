#pragma once

// Time, injected. Only common/clock.cpp reads the system clock; everything
// else asks a Clock, so tests drive time by hand with ManualClock.
//
// A Clock gives monotonic time (now), wall time (wall_now, for timestamps
// people read and for stored records), and one-shot timers. A timer's
// callback runs at most once, never while the clock holds a lock, and never
// after cancel() returned true for it.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace duet {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using TimerId = std::uint64_t;

class Clock {
 public:
  virtual ~Clock() = default;

  virtual TimePoint now() const = 0;
  virtual WallTime wall_now() const = 0;

  // Runs `fn` once at or after `deadline`. Returns an id for cancel().
  virtual TimerId call_at(TimePoint deadline, std::function<void()> fn) = 0;
  TimerId call_after(Duration delay, std::function<void()> fn) {
    return call_at(now() + delay, std::move(fn));
  }
  // True if the timer was pending and now will not run; false if it already
  // ran, is running, or never existed.
  virtual bool cancel(TimerId id) = 0;
};

// Milliseconds since the Unix epoch, the form stored and sent on the wire.
std::int64_t to_unix_ms(WallTime t);
WallTime from_unix_ms(std::int64_t ms);
// "2026-11-21T04:00:00.123Z" (RFC 3339, UTC, milliseconds).
std::string format_utc_ms(std::int64_t unix_ms);

// The real clock. Timer callbacks run on the given executor. A SystemClock
// made without an executor tells time but cannot run timers (call_at aborts).
// Thread-safe.
class SystemClock final : public Clock {
 public:
  SystemClock() = default;
  explicit SystemClock(boost::asio::any_io_executor executor);
  ~SystemClock() override;

  TimePoint now() const override;
  WallTime wall_now() const override;
  TimerId call_at(TimePoint deadline, std::function<void()> fn) override;
  bool cancel(TimerId id) override;

 private:
  struct Pending;
  std::optional<boost::asio::any_io_executor> executor_;
  std::mutex mu_;
  std::map<TimerId, std::shared_ptr<Pending>> pending_;  // guarded by mu_
  TimerId next_id_ = 1;                                  // guarded by mu_
};

// A clock that moves only when told. Timers fire in (deadline, creation
// order) during advance(); a timer that a callback schedules within the
// advanced span fires in the same call. Wall time moves with monotonic time
// unless set_wall() jumps it. Not thread-safe: one test thread drives it.
class ManualClock final : public Clock {
 public:
  ManualClock();

  TimePoint now() const override { return now_; }
  WallTime wall_now() const override { return wall_base_ + (now_ - mono_base_); }
  TimerId call_at(TimePoint deadline, std::function<void()> fn) override;
  bool cancel(TimerId id) override;

  // Moves time forward by `d`, firing every timer due on the way. Returns how many fired.
  std::size_t advance(Duration d);
  // Fires the timers already due at now(); time does not move.
  std::size_t run_due() { return advance(Duration::zero()); }
  // Jumps wall time (a clock step or skew); monotonic time is unaffected.
  void set_wall(WallTime t);

  std::size_t pending_timers() const { return timers_.size(); }
  std::optional<TimePoint> next_deadline() const;

 private:
  using Key = std::pair<TimePoint, TimerId>;
  TimePoint mono_base_;
  TimePoint now_;
  WallTime wall_base_;
  TimerId next_id_ = 1;
  std::map<Key, std::function<void()>> timers_;
  std::map<TimerId, TimePoint> deadlines_;
};

}  // namespace duet
