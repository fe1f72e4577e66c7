#include "jobs/cron.h"

#include <date/tz.h>

#include <array>
#include <charconv>
#include <vector>

#include "common/errors.h"
#include "jobs/local_time.h"

namespace duet::jobs {
namespace {

constexpr int kYearsAhead = 5;

struct FieldSpec {
  const char* name;
  int min, max;
  const char* const* names;  // index 0 .. for min .. ; null: numbers only
  int names_count;
  int names_base;  // the value of names[0]
};

const char* const kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                               "jul", "aug", "sep", "oct", "nov", "dec"};
const char* const kWeekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

const std::array<FieldSpec, 6> kFields{{
    {"second", 0, 59, nullptr, 0, 0},
    {"minute", 0, 59, nullptr, 0, 0},
    {"hour", 0, 23, nullptr, 0, 0},
    {"day of month", 1, 31, nullptr, 0, 0},
    {"month", 1, 12, kMonths, 12, 1},
    {"day of week", 0, 7, kWeekdays, 7, 0},
}};

Status field_error(const FieldSpec& f, std::string_view part, const std::string& why) {
  return make_error(CommonErrc::kInvalidArgument,
                    std::string("cron: ") + f.name + ": '" + std::string(part) + "' " + why);
}

std::optional<int> value_of(const FieldSpec& f, std::string_view s) {
  if (s.empty()) return std::nullopt;
  int n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec == std::errc() && p == s.data() + s.size()) return n;
  if (f.names == nullptr) return std::nullopt;
  std::string lower(s);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (int i = 0; i < f.names_count; ++i) {
    if (lower == f.names[i]) return f.names_base + i;
  }
  return std::nullopt;
}

// Sets the values `text` names; `any` when it is "*" alone.
Status parse_field(const FieldSpec& f, std::string_view text, std::vector<bool>& out, bool& any) {
  out.assign(static_cast<std::size_t>(f.max + 1), false);
  any = text == "*";
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (part.empty()) return field_error(f, part, "is empty (two commas?)");
    int step = 1;
    std::string_view range = part;
    if (const auto slash = part.find('/'); slash != std::string_view::npos) {
      const auto s = part.substr(slash + 1);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (ec != std::errc() || p != s.data() + s.size() || step < 1) {
        return field_error(f, part, "has a step that is not a whole number of 1 or more");
      }
      range = part.substr(0, slash);
    }
    int lo = f.min, hi = f.max;
    if (range != "*") {
      const auto dash = range.find('-');
      auto a = value_of(f, range.substr(0, dash));
      if (!a) return field_error(f, part, "is not a number or name");
      lo = *a;
      if (dash != std::string_view::npos) {
        auto b = value_of(f, range.substr(dash + 1));
        if (!b) return field_error(f, part, "is not a range a-b");
        hi = *b;
      } else {
        hi = part.find('/') != std::string_view::npos ? f.max : lo;  // "a/n": a to the end
      }
    }
    if (lo < f.min || hi > f.max || lo > hi) {
      return field_error(f, part,
                         "is outside " + std::to_string(f.min) + ".." + std::to_string(f.max));
    }
    for (int v = lo; v <= hi; v += step) out[static_cast<std::size_t>(v)] = true;
  }
  return ok_status();
}

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view expression, std::string_view zone) {
  CronSchedule c;
  c.expression_ = std::string(expression);
  c.zone_name_ = zone.empty() ? "UTC" : std::string(zone);
  if (!zone.empty() && zone != "UTC") {
    try {
      c.zone_ = date::locate_zone(std::string(zone));
    } catch (const std::exception&) {
      return make_error(CommonErrc::kInvalidArgument,
                        "cron: zone: unknown time zone '" + std::string(zone) + "'");
    }
  }
  std::vector<std::string_view> parts;
  std::string_view rest = expression;
  while (!rest.empty()) {
    const auto sp = rest.find_first_of(" \t");
    if (sp != 0) parts.push_back(rest.substr(0, sp));
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  if (parts.size() != 6) {
    return make_error(CommonErrc::kInvalidArgument,
                      "cron: '" + std::string(expression) + "' has " +
                          std::to_string(parts.size()) +
                          " fields; give 6: second minute hour day-of-month month day-of-week");
  }
  std::vector<bool> v;
  bool any = false;
  DUET_TRY(parse_field(kFields[0], parts[0], v, any));
  for (int i = 0; i < 60; ++i)
    c.seconds_[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(i)];
  DUET_TRY(parse_field(kFields[1], parts[1], v, any));
  for (int i = 0; i < 60; ++i)
    c.minutes_[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(i)];
  DUET_TRY(parse_field(kFields[2], parts[2], v, any));
  for (int i = 0; i < 24; ++i)
    c.hours_[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(i)];
  DUET_TRY(parse_field(kFields[3], parts[3], v, c.any_day_));
  for (int i = 1; i <= 31; ++i)
    c.days_[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(i)];
  DUET_TRY(parse_field(kFields[4], parts[4], v, any));
  for (int i = 1; i <= 12; ++i)
    c.months_[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(i)];
  DUET_TRY(parse_field(kFields[5], parts[5], v, c.any_weekday_));
  for (int i = 0; i <= 7; ++i) {
    if (v[static_cast<std::size_t>(i)]) c.weekdays_[static_cast<std::size_t>(i % 7)] = true;
  }
  return c;
}

std::optional<std::int64_t> CronSchedule::next_after(std::int64_t after_ms) const {
  using namespace std::chrono;
  using date::days;
  const date::sys_seconds after{duration_cast<seconds>(milliseconds(after_ms))};
  // The wall time of `after`, and a margin for DST: hours ending before it
  // (less 3 h) cannot hold the answer.
  const date::local_seconds local_after =
      zone_ != nullptr ? zone_->to_local(after) : date::local_seconds(after.time_since_epoch());
  const auto first_day = date::floor<days>(local_after - hours(3));
  auto to_sys = [&](date::local_seconds lt) {
    return date::sys_seconds(seconds(local_to_unix_seconds(zone_, lt.time_since_epoch().count())));
  };
  for (int d = 0; d <= 366 * kYearsAhead + 1; ++d) {
    const date::local_days day = first_day + days(d);
    const date::year_month_day ymd{day};
    if (!months_.test(static_cast<unsigned>(ymd.month()))) continue;
    const bool dom = days_.test(static_cast<unsigned>(ymd.day()));
    const bool dow = weekdays_.test(date::weekday{day}.c_encoding());
    const bool due = any_day_ && any_weekday_ ? true
                     : any_day_               ? dow
                     : any_weekday_           ? dom
                                              : (dom || dow);
    if (!due) continue;
    for (int h = 0; h < 24; ++h) {
      if (!hours_.test(static_cast<std::size_t>(h))) continue;
      const date::local_seconds hour_start = day + hours(h);
      if (hour_start + hours(1) < local_after - hours(3)) continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_.test(static_cast<std::size_t>(m))) continue;
        for (int s = 0; s < 60; ++s) {
          if (!seconds_.test(static_cast<std::size_t>(s))) continue;
          const auto t = to_sys(hour_start + minutes(m) + seconds(s));
          if (t > after) return duration_cast<milliseconds>(t.time_since_epoch()).count();
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace duet::jobs
