#include "jobs/business_calendar.h"

#include <date/tz.h>

#include <array>
#include <charconv>
#include <sstream>
#include <tuple>

#include "common/errors.h"
#include "jobs/local_time.h"

namespace duet::jobs {
namespace {

constexpr std::array<const char*, 7> kDays{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

Error bad(const std::string& field, const std::string& why) {
  return make_error(CommonErrc::kInvalidArgument, "calendar." + field + ": " + why);
}

}  // namespace

Result<BusinessCalendar> BusinessCalendar::make(const BusinessCalendarDef& def) {
  BusinessCalendar c;
  if (!def.zone.empty() && def.zone != "UTC") {
    try {
      c.zone_ = date::locate_zone(def.zone);
    } catch (const std::exception&) {
      return bad("zone", "unknown time zone '" + def.zone + "'");
    }
  }
  if (def.weekdays.empty()) {
    for (std::size_t i = 1; i <= 5; ++i) c.weekdays_.set(i);
  }
  for (const auto& d : def.weekdays) {
    bool found = false;
    for (std::size_t i = 0; i < kDays.size(); ++i) {
      if (d == kDays[i]) {
        c.weekdays_.set(i);
        found = true;
      }
    }
    if (!found) return bad("weekdays", "'" + d + "' is not one of mon tue wed thu fri sat sun");
  }
  for (const auto& [list, into, name] : {std::tuple{&def.holidays, &c.holidays_, "holidays"},
                                         std::tuple{&def.extra_days, &c.extra_, "extra_days"}}) {
    for (const auto& t : *list) {
      auto d = day_of(t);
      if (!d) return bad(name, "'" + t + "' is not a date YYYY-MM-DD");
      into->insert(*d);
    }
  }
  if (!def.base_time.empty()) {
    const auto& t = def.base_time;
    int h = -1, m = -1;
    if (t.size() == 5 && t[2] == ':') {
      std::from_chars(t.data(), t.data() + 2, h);
      std::from_chars(t.data() + 3, t.data() + 5, m);
    }
    if (h < 0 || h > 23 || m < 0 || m > 59) {
      return bad("base_time", "'" + t + "' is not a time HH:MM (00:00 .. 23:59)");
    }
    c.base_minutes_ = h * 60 + m;
  }
  return c;
}

std::optional<std::int64_t> BusinessCalendar::day_of(const std::string& t) {
  std::istringstream in(t);
  date::year_month_day ymd{};
  in >> date::parse("%Y-%m-%d", ymd);
  if (in.fail() || !ymd.ok() || t.size() != 10) return std::nullopt;
  return date::sys_days(ymd).time_since_epoch().count();
}

std::string BusinessCalendar::date_text(std::int64_t day) {
  const date::year_month_day ymd{date::sys_days(date::days(day))};
  std::ostringstream out;
  out << ymd;
  return out.str();
}

bool BusinessCalendar::operating(std::int64_t day) const {
  if (extra_.count(day) != 0) return true;
  if (holidays_.count(day) != 0) return false;
  return weekdays_.test(date::weekday(date::sys_days(date::days(day))).c_encoding());
}

std::int64_t BusinessCalendar::business_day(std::int64_t unix_ms) const {
  using namespace std::chrono;
  const date::sys_time<milliseconds> t{milliseconds(unix_ms)};
  const auto local =
      zone_ != nullptr ? zone_->to_local(t) : date::local_time<milliseconds>(t.time_since_epoch());
  // Before the base time it is still the previous business day.
  const auto shifted = local - minutes(base_minutes_);
  return date::floor<date::days>(shifted).time_since_epoch().count();
}

std::optional<std::int64_t> BusinessCalendar::shift(std::int64_t day, Shift how) const {
  if (operating(day)) return day;
  if (how == Shift::kNone) return std::nullopt;
  const int step = how == Shift::kNext ? 1 : -1;
  for (int i = 1; i <= 366; ++i) {
    if (operating(day + step * i)) return day + step * i;
  }
  return std::nullopt;
}

int BusinessCalendar::seconds_of_day(std::int64_t unix_ms) const {
  using namespace std::chrono;
  const date::sys_time<milliseconds> t{milliseconds(unix_ms)};
  const auto local =
      zone_ != nullptr ? zone_->to_local(t) : date::local_time<milliseconds>(t.time_since_epoch());
  const auto since = local - date::floor<date::days>(local);
  return static_cast<int>(duration_cast<seconds>(since).count());
}

std::int64_t BusinessCalendar::at(std::int64_t day, int seconds_of_day) const {
  const std::int64_t date = seconds_of_day < base_minutes_ * 60 ? day + 1 : day;
  return local_to_unix_seconds(zone_, date * 86'400 + seconds_of_day) * 1000;
}

}  // namespace duet::jobs
