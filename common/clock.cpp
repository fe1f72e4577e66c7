#include "common/clock.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>

namespace duet {

std::int64_t to_unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime from_unix_ms(std::int64_t ms) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::milliseconds(ms)));
}

std::string format_utc_ms(std::int64_t unix_ms) {
  const std::int64_t ms = ((unix_ms % 1000) + 1000) % 1000;
  const std::time_t t = static_cast<std::time_t>((unix_ms - ms) / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

// ---- SystemClock ----

struct SystemClock::Pending {
  explicit Pending(const boost::asio::any_io_executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  std::function<void()> fn;
};

SystemClock::SystemClock(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

SystemClock::~SystemClock() {
  std::map<TimerId, std::shared_ptr<Pending>> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(pending_);
  }
  for (auto& [id, p] : pending) p->timer.cancel();
}

TimePoint SystemClock::now() const { return std::chrono::steady_clock::now(); }

WallTime SystemClock::wall_now() const { return std::chrono::system_clock::now(); }

TimerId SystemClock::call_at(TimePoint deadline, std::function<void()> fn) {
  if (!executor_) std::abort();  // a programming error: this clock was built without timers
  auto pending = std::make_shared<Pending>(*executor_);
  pending->fn = std::move(fn);
  pending->timer.expires_at(deadline);
  TimerId id = 0;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    pending_.emplace(id, pending);
  }
  pending->timer.async_wait([this, id, pending](const boost::system::error_code&) {
    // Whether the wait ended by expiry or cancel, only a timer still in the
    // map may run: cancel() removes it under the lock first.
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      pending_.erase(it);
    }
    pending->fn();
  });
  return id;
}

bool SystemClock::cancel(TimerId id) {
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return false;
    pending = std::move(it->second);
    pending_.erase(it);
  }
  pending->timer.cancel();
  return true;
}

// ---- ManualClock ----

ManualClock::ManualClock()
    // Arbitrary but fixed origins keep test output reproducible:
    // monotonic time starts one hour after its epoch, wall time at 2026-01-01T00:00:00Z.
    : mono_base_(TimePoint(std::chrono::hours(1))),
      now_(mono_base_),
      wall_base_(from_unix_ms(1767225600000)) {}

TimerId ManualClock::call_at(TimePoint deadline, std::function<void()> fn) {
  TimerId id = next_id_++;
  timers_.emplace(Key{deadline, id}, std::move(fn));
  deadlines_.emplace(id, deadline);
  return id;
}

bool ManualClock::cancel(TimerId id) {
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return false;
  timers_.erase(Key{it->second, id});
  deadlines_.erase(it);
  return true;
}

std::size_t ManualClock::advance(Duration d) {
  const TimePoint target = now_ + d;
  std::size_t fired = 0;
  while (!timers_.empty() && timers_.begin()->first.first <= target) {
    auto node = timers_.extract(timers_.begin());
    deadlines_.erase(node.key().second);
    if (node.key().first > now_) now_ = node.key().first;
    node.mapped()();
    ++fired;
  }
  now_ = target;
  return fired;
}

void ManualClock::set_wall(WallTime t) { wall_base_ = t - (now_ - mono_base_); }

std::optional<TimePoint> ManualClock::next_deadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

}  // namespace duet
