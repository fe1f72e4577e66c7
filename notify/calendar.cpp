#include "notify/calendar.h"

#include <date/tz.h>

#include <array>
#include <charconv>
#include <optional>
#include <sstream>

#include "common/errors.h"

namespace duet::notify {
namespace {

constexpr std::array<const char*, 7> kDays{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// "HH:MM" as minutes of the day; "24:00" only when `end`.
std::optional<int> parse_hhmm(const std::string& t, bool end) {
  if (t.size() != 5 || t[2] != ':') return std::nullopt;
  int h = 0, m = 0;
  auto ok = [](const char* b, const char* e, int& out) {
    auto [p, ec] = std::from_chars(b, e, out);
    return ec == std::errc() && p == e;
  };
  if (!ok(t.data(), t.data() + 2, h) || !ok(t.data() + 3, t.data() + 5, m)) return std::nullopt;
  if (m > 59 || h > 24 || (h == 24 && (m != 0 || !end))) return std::nullopt;
  return h * 60 + m;
}

std::optional<std::int64_t> parse_date(const std::string& t) {
  std::istringstream in(t);
  date::year_month_day ymd{};
  in >> date::parse("%Y-%m-%d", ymd);
  if (in.fail() || !ymd.ok() || t.size() != 10) return std::nullopt;
  return date::sys_days(ymd).time_since_epoch().count();
}

}  // namespace

Result<Calendar> Calendar::make(const duet::v1::Calendar& def) {
  Calendar c;
  if (!def.zone().empty() && def.zone() != "UTC") {
    try {
      c.zone_ = date::locate_zone(def.zone());
    } catch (const std::exception&) {
      return make_error(CommonErrc::kInvalidArgument,
                        "calendar.zone: unknown time zone '" + def.zone() + "'");
    }
  }
  if (def.days().empty()) c.days_.set();
  for (const auto& d : def.days()) {
    bool found = false;
    for (std::size_t i = 0; i < kDays.size(); ++i) {
      if (d == kDays[i]) {
        c.days_.set(i);
        found = true;
      }
    }
    if (!found) {
      return make_error(CommonErrc::kInvalidArgument,
                        "calendar.days: '" + d + "' is not one of mon tue wed thu fri sat sun");
    }
  }
  if (!def.from().empty()) {
    auto m = parse_hhmm(def.from(), false);
    if (!m) {
      return make_error(CommonErrc::kInvalidArgument,
                        "calendar.from: '" + def.from() + "' is not a time HH:MM");
    }
    c.from_min_ = *m;
  }
  if (!def.to().empty()) {
    auto m = parse_hhmm(def.to(), true);
    if (!m) {
      return make_error(CommonErrc::kInvalidArgument,
                        "calendar.to: '" + def.to() + "' is not a time HH:MM (00:00 .. 24:00)");
    }
    c.to_min_ = *m;
  }
  for (const auto& e : def.except()) {
    auto d = parse_date(e);
    if (!d) {
      return make_error(CommonErrc::kInvalidArgument,
                        "calendar.except: '" + e + "' is not a date YYYY-MM-DD");
    }
    c.except_.insert(*d);
  }
  return c;
}

bool Calendar::open_at(std::int64_t unix_ms) const {
  using std::chrono::milliseconds;
  const date::sys_time<milliseconds> t{milliseconds(unix_ms)};
  const date::local_time<milliseconds> local =
      zone_ != nullptr ? zone_->to_local(t) : date::local_time<milliseconds>(t.time_since_epoch());
  const auto day = date::floor<date::days>(local);
  const std::int64_t day_n = day.time_since_epoch().count();
  const int minute =
      static_cast<int>(std::chrono::duration_cast<std::chrono::minutes>(local - day).count());
  // 1970-01-01 was a Thursday (index 3 when Monday is 0).
  auto weekday = [](std::int64_t n) { return static_cast<std::size_t>(((n % 7) + 7 + 3) % 7); };
  auto starts_on = [&](std::int64_t n) { return days_.test(weekday(n)) && !except_.count(n); };
  if (from_min_ < to_min_) return starts_on(day_n) && minute >= from_min_ && minute < to_min_;
  // Past midnight: the part after `from` today, or the part before `to` of yesterday's.
  return (starts_on(day_n) && minute >= from_min_) || (starts_on(day_n - 1) && minute < to_min_);
}

}  // namespace duet::notify
