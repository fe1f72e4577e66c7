#include "jobs/schedule.h"

#include "common/errors.h"

namespace duet::jobs {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;
// How far a shift may move a run (a run of holidays longer than this is not
// looked for), and how many cron times one question may look at.
constexpr std::int64_t kShiftReachMs = 31 * kDayMs;
constexpr int kMaxSteps = 200'000;

BusinessCalendarDef calendar_def(const duet::v1::JobCalendarDef& c) {
  BusinessCalendarDef d;
  d.zone = c.zone();
  d.weekdays.assign(c.weekdays().begin(), c.weekdays().end());
  d.holidays.assign(c.holidays().begin(), c.holidays().end());
  d.extra_days.assign(c.extra_days().begin(), c.extra_days().end());
  d.base_time = c.base_time();
  return d;
}

}  // namespace

Result<NetSchedule> NetSchedule::make(const duet::v1::JobScheduleDef& def,
                                      const duet::v1::JobCalendarDef* calendar,
                                      const std::string& fallback_zone) {
  NetSchedule s;
  s.zone_ = !def.zone().empty()                                ? def.zone()
            : calendar != nullptr && !calendar->zone().empty() ? calendar->zone()
                                                               : fallback_zone;
  auto cron = CronSchedule::parse(def.cron(), s.zone_);
  if (!cron) return std::move(cron).take_error();
  s.cron_ = std::move(*cron);
  BusinessCalendarDef plain;
  plain.zone = s.zone_;
  plain.weekdays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  auto p = BusinessCalendar::make(plain);
  if (!p) return std::move(p).take_error();
  s.plain_ = std::move(*p);
  if (calendar != nullptr) {
    auto d = calendar_def(*calendar);
    d.zone = s.zone_;  // the schedule's times of day are in its zone
    auto c = BusinessCalendar::make(d);
    if (!c) return std::move(c).take_error();
    s.calendar_ = std::move(*c);
  }
  if (def.shift() == "next") {
    s.shift_ = Shift::kNext;
  } else if (def.shift() == "previous") {
    s.shift_ = Shift::kPrevious;
  } else if (!def.shift().empty() && def.shift() != "none") {
    return make_error(CommonErrc::kInvalidArgument,
                      "shift: '" + def.shift() + "' is not none, next or previous");
  }
  s.text_ = def.cron() + (s.zone_.empty() ? "" : " " + s.zone_) +
            (calendar != nullptr ? " on " + calendar->name() : "");
  return s;
}

std::optional<ScheduledStart> NetSchedule::place(std::int64_t t) const {
  if (!calendar_) return ScheduledStart{t, plain_.business_day(t)};
  const auto day = calendar_->business_day(t);
  if (calendar_->operating(day)) return ScheduledStart{t, day};
  auto moved = calendar_->shift(day, shift_);
  if (!moved) return std::nullopt;
  return ScheduledStart{calendar_->at(*moved, calendar_->seconds_of_day(t)), *moved};
}

std::optional<ScheduledStart> NetSchedule::next_after(std::int64_t after_ms) const {
  if (!calendar_ || shift_ == Shift::kNone) {
    std::int64_t cursor = after_ms;
    for (int i = 0; i < kMaxSteps; ++i) {
      auto t = cron_.next_after(cursor);
      if (!t) return std::nullopt;
      if (auto p = place(*t)) return p;
      cursor = *t;
    }
    return std::nullopt;
  }
  // Shifted runs move by up to kShiftReachMs: look at the cron times that
  // can land after `after_ms`, and take the earliest landing.
  std::optional<ScheduledStart> best;
  std::int64_t cursor = shift_ == Shift::kNext ? after_ms - kShiftReachMs : after_ms;
  for (int i = 0; i < kMaxSteps; ++i) {
    auto t = cron_.next_after(cursor);
    if (!t) break;
    cursor = *t;
    // Next: a landing is never before its cron time; previous: never more
    // than the reach before it.
    if (best && (shift_ == Shift::kNext ? *t > best->at_ms : *t - kShiftReachMs > best->at_ms)) {
      break;
    }
    auto p = place(*t);
    if (!p || p->at_ms <= after_ms) continue;
    if (!best || p->at_ms < best->at_ms) best = p;
  }
  return best;
}

}  // namespace duet::jobs
