#pragma once

// A net's schedule (pure core): a cron expression in a zone, optionally on a
// business calendar. When does it start next, and for which business day?
//
// Without a calendar every cron time starts a session; its business day is
// the date (in the zone) of that time.
//
// With a calendar, a cron time T belongs to the business day D the calendar
// gives it (a time before the base time belongs to the day before). When D
// is an operating day the session starts at T for D. When it is not:
//   shift none      no session;
//   shift next      the session starts on the next operating day D' at the
//                   same local time of day, for D';
//   shift previous  the same on the previous operating day.
// Two cron times that land on the same instant (a Monday holiday shifted to
// Tuesday, and Tuesday's own run) start one session: an instant starts at
// most one session per schedule.
//
// DST follows jobs/cron.h and jobs/local_time.h: no run missed or doubled.

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "duet/v1/jobs.pb.h"
#include "jobs/business_calendar.h"
#include "jobs/cron.h"

namespace duet::jobs {

struct ScheduledStart {
  std::int64_t at_ms = 0;
  std::int64_t business_day = 0;  // days since 1970-01-01
};

class NetSchedule {
 public:
  // `calendar`: the calendar the schedule names (null: none). `zone`: the
  // schedule's zone, else the calendar's, else `fallback_zone` (the net's).
  static Result<NetSchedule> make(const duet::v1::JobScheduleDef& def,
                                  const duet::v1::JobCalendarDef* calendar,
                                  const std::string& fallback_zone);

  // The first start strictly after `after_ms`; nullopt when none comes
  // within the cron's horizon (or the calendar has no operating day near).
  std::optional<ScheduledStart> next_after(std::int64_t after_ms) const;

  const std::string& text() const { return text_; }

 private:
  // A cron time T -> where it starts (nullopt: not at all).
  std::optional<ScheduledStart> place(std::int64_t t) const;
  std::int64_t seconds_of_day(std::int64_t t) const;

  CronSchedule cron_;
  std::optional<BusinessCalendar> calendar_;
  BusinessCalendar plain_;  // every day operating, in the zone: business days of a plain schedule
  Shift shift_ = Shift::kNone;
  std::string text_;
  std::string zone_;
};

}  // namespace duet::jobs
