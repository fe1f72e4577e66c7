#pragma once

// Business calendars for job nets (pure core): which days are operating
// days, the base time at which a business day begins, and shifting a date to
// the next or previous operating day.
//
// A business day begins at `base_time` local time: with a base time of
// 05:00, a run at 01:00 on Tuesday belongs to Monday's business day (the
// batch of the night after Monday). Operating days are the `weekdays`, less
// `holidays`, plus `extra_days` (a Saturday worked).

#include <bitset>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace date {
class time_zone;
}

namespace duet::jobs {

struct BusinessCalendarDef {
  std::string zone;                     // IANA; empty: UTC
  std::vector<std::string> weekdays;    // mon..sun; empty: mon..fri
  std::vector<std::string> holidays;    // YYYY-MM-DD: not operating
  std::vector<std::string> extra_days;  // YYYY-MM-DD: operating whatever the weekday
  std::string base_time;                // HH:MM; empty: 00:00
};

enum class Shift { kNone, kNext, kPrevious };

class BusinessCalendar {
 public:
  // An error names the field: "calendar.holidays: '2026-02-30' is not a date YYYY-MM-DD".
  static Result<BusinessCalendar> make(const BusinessCalendarDef& def);

  // Days since 1970-01-01 (a local date) <-> "YYYY-MM-DD".
  static std::string date_text(std::int64_t day);
  static std::optional<std::int64_t> day_of(const std::string& text);  // nullopt: not a date

  bool operating(std::int64_t day) const;
  // The business day (a local date) that the instant belongs to.
  std::int64_t business_day(std::int64_t unix_ms) const;
  // `day` itself when operating; else the next (or previous) operating day
  // within a year; kNone: nullopt when not operating.
  std::optional<std::int64_t> shift(std::int64_t day, Shift how) const;
  // The instant (unix ms) of a local time of day on business day `day`: a
  // time before the base time is on the next calendar date (03:00 with base
  // 05:00 is the night after). DST as in jobs/local_time.h.
  std::int64_t at(std::int64_t day, int seconds_of_day) const;
  // Seconds since local midnight of an instant, in the calendar's zone.
  int seconds_of_day(std::int64_t unix_ms) const;
  // The instant business day `day` begins.
  std::int64_t start_of(std::int64_t day) const { return at(day, base_minutes_ * 60); }

 private:
  const date::time_zone* zone_ = nullptr;
  std::bitset<7> weekdays_;  // 0 = Sunday
  std::set<std::int64_t> holidays_, extra_;
  int base_minutes_ = 0;
};

}  // namespace duet::jobs
