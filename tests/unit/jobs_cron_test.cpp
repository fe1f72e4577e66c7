// Cron schedules with seconds in IANA zones (jobs/cron.h), across DST in four
// zones: no run missed, none doubled; and business calendars.
#include <catch2/catch.hpp>
#include <ctime>
#include <set>

#include "jobs/business_calendar.h"
#include "jobs/cron.h"
#include "jobs/schedule.h"

using duet::jobs::CronSchedule;

namespace {

std::int64_t utc(int y, int mo, int d, int h, int mi, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

// Every time due in [from, to).
std::vector<std::int64_t> runs(const std::string& expr, const std::string& zone, std::int64_t from,
                               std::int64_t to) {
  auto c = CronSchedule::parse(expr, zone);
  REQUIRE(c.ok());
  std::vector<std::int64_t> out;
  std::int64_t at = from - 1;
  while (auto next = c->next_after(at)) {
    if (*next >= to) break;
    REQUIRE(*next > at);
    out.push_back(*next);
    at = *next;
    REQUIRE(out.size() < 100000);
  }
  return out;
}

}  // namespace

TEST_CASE("cron: New York, 02:30 daily across both DST changes: once a day", "[cron]") {
  // Spring: 2026-03-08 02:00 EST -> 03:00 EDT; 02:30 does not exist: 03:00 EDT (07:00Z).
  CHECK(runs("0 30 2 * * *", "America/New_York", utc(2026, 3, 7, 0, 0), utc(2026, 3, 10, 0, 0)) ==
        std::vector<std::int64_t>{utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0),
                                  utc(2026, 3, 9, 6, 30)});
  // Autumn: 2026-11-01 02:00 EDT -> 01:00 EST; 01:30 comes twice: the first only (05:30Z).
  CHECK(runs("0 30 1 * * *", "America/New_York", utc(2026, 10, 31, 0, 0), utc(2026, 11, 3, 0, 0)) ==
        std::vector<std::int64_t>{utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30),
                                  utc(2026, 11, 2, 6, 30)});
}

TEST_CASE("cron: London, every 15 minutes across both DST changes", "[cron]") {
  // Autumn, 2026-10-25 02:00 BST -> 01:00 GMT: 01:00..01:45 run in the first
  // pass (00:00Z..00:45Z) and not again; then 02:00 GMT (02:00Z).
  auto autumn =
      runs("0 */15 * * * *", "Europe/London", utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0));
  REQUIRE_FALSE(autumn.empty());
  std::vector<std::int64_t> gaps;
  for (std::size_t i = 1; i < autumn.size(); ++i) gaps.push_back(autumn[i] - autumn[i - 1]);
  std::multiset<std::int64_t> g(gaps.begin(), gaps.end());
  CHECK(g.count(75 * 60'000) == 1);  // 00:45Z -> 02:00Z
  CHECK(g.count(15 * 60'000) == gaps.size() - 1);
  CHECK(std::find(autumn.begin(), autumn.end(), utc(2026, 10, 25, 0, 45)) != autumn.end());
  CHECK(std::find(autumn.begin(), autumn.end(), utc(2026, 10, 25, 1, 0)) == autumn.end());
  // Spring, 2026-03-29 01:00 GMT -> 02:00 BST: the skipped labels run once, at 01:00Z.
  auto spring =
      runs("0 */15 * * * *", "Europe/London", utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0));
  CHECK(spring == std::vector<std::int64_t>{utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 0, 15),
                                            utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 0, 45),
                                            utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 15),
                                            utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 45)});
}

TEST_CASE("cron: Sydney, the southern hemisphere's changes", "[cron]") {
  // 2026-10-04 02:00 AEST -> 03:00 AEDT: 02:00 does not exist: 03:00 AEDT (16:00Z, Oct 3).
  CHECK(runs("0 0 2 * * *", "Australia/Sydney", utc(2026, 10, 2, 12, 0), utc(2026, 10, 5, 12, 0)) ==
        std::vector<std::int64_t>{utc(2026, 10, 2, 16, 0), utc(2026, 10, 3, 16, 0),
                                  utc(2026, 10, 4, 15, 0)});
  // 2026-04-05 03:00 AEDT -> 02:00 AEST: 02:30 comes twice: the first (15:30Z, Apr 4).
  CHECK(runs("0 30 2 * * *", "Australia/Sydney", utc(2026, 4, 3, 12, 0), utc(2026, 4, 6, 12, 0)) ==
        std::vector<std::int64_t>{utc(2026, 4, 3, 15, 30), utc(2026, 4, 4, 15, 30),
                                  utc(2026, 4, 5, 16, 30)});
}

TEST_CASE("cron: Tokyo (no DST), weekdays, seconds", "[cron]") {
  // Weekdays at 09:00:30 JST (00:00:30Z): Fri 2026-11-20, then Mon 11-23.
  CHECK(
      runs("30 0 9 * * mon-fri", "Asia/Tokyo", utc(2026, 11, 20, 0, 0), utc(2026, 11, 24, 0, 0)) ==
      std::vector<std::int64_t>{utc(2026, 11, 20, 0, 0, 30), utc(2026, 11, 23, 0, 0, 30)});
  // Every 20 seconds.
  CHECK(runs("*/20 * * * * *", "Asia/Tokyo", utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1)).size() ==
        3);
}

TEST_CASE("cron: day of month or day of week; impossible dates; names", "[cron]") {
  // The 13th, or any Friday: Nov 2026 has Fridays 6, 13, 20, 27 and the 13th is one.
  auto r = runs("0 0 12 13 nov fri", "UTC", utc(2026, 11, 1, 0, 0), utc(2026, 12, 1, 0, 0));
  CHECK(r == std::vector<std::int64_t>{utc(2026, 11, 6, 12, 0), utc(2026, 11, 13, 12, 0),
                                       utc(2026, 11, 20, 12, 0), utc(2026, 11, 27, 12, 0)});
  // Sunday as 0 and as 7.
  CHECK(runs("0 0 0 * * 7", "UTC", utc(2026, 11, 1, 0, 0), utc(2026, 11, 9, 0, 0)) ==
        runs("0 0 0 * * sun", "UTC", utc(2026, 11, 1, 0, 0), utc(2026, 11, 9, 0, 0)));
  auto feb30 = CronSchedule::parse("0 0 0 30 2 *", "UTC");
  REQUIRE(feb30.ok());
  CHECK_FALSE(feb30->next_after(utc(2026, 1, 1, 0, 0)));
  // Ranges with steps and lists.
  CHECK(runs("0 0 1-5/2,22 * * *", "UTC", utc(2026, 1, 1, 0, 0), utc(2026, 1, 2, 0, 0)).size() ==
        4);
}

TEST_CASE("cron: bad expressions name the field", "[cron]") {
  auto msg = [](const std::string& e, const std::string& zone = "UTC") {
    auto c = CronSchedule::parse(e, zone);
    REQUIRE_FALSE(c.ok());
    return c.error().message;
  };
  CHECK(msg("0 0 25 * * *") == "cron: hour: '25' is outside 0..23");
  CHECK(msg("0 0 * * * funday") == "cron: day of week: 'funday' is not a number or name");
  CHECK(msg("0 */0 * * * *") ==
        "cron: minute: '*/0' has a step that is not a whole number of 1 or more");
  CHECK(msg("0 0 * * *").rfind("cron: '0 0 * * *' has 5 fields", 0) == 0);
  CHECK(msg("0 0 0 * * *", "Mars/Olympus") == "cron: zone: unknown time zone 'Mars/Olympus'");
  CHECK(msg("0 0 5-1 * * *") == "cron: hour: '5-1' is outside 0..23");
}

// ---- Business calendars (jobs/business_calendar.h) ----

namespace {

std::int64_t day_of(int y, int m, int d) { return utc(y, m, d, 0, 0) / 86'400'000; }

}  // namespace

TEST_CASE("business calendar: operating days, holidays, extra days, shifts", "[cron]") {
  duet::jobs::BusinessCalendarDef def;
  def.zone = "Asia/Tokyo";
  def.holidays = {"2026-11-23"};    // a Monday
  def.extra_days = {"2026-11-28"};  // a Saturday worked
  auto c = duet::jobs::BusinessCalendar::make(def);
  REQUIRE(c.ok());
  CHECK(c->operating(day_of(2026, 11, 20)));        // Friday
  CHECK_FALSE(c->operating(day_of(2026, 11, 21)));  // Saturday
  CHECK_FALSE(c->operating(day_of(2026, 11, 23)));  // the holiday
  CHECK(c->operating(day_of(2026, 11, 28)));        // the extra day
  using duet::jobs::Shift;
  CHECK(c->shift(day_of(2026, 11, 21), Shift::kNext) == day_of(2026, 11, 24));
  CHECK(c->shift(day_of(2026, 11, 23), Shift::kPrevious) == day_of(2026, 11, 20));
  CHECK(c->shift(day_of(2026, 11, 20), Shift::kNext) == day_of(2026, 11, 20));
  CHECK_FALSE(c->shift(day_of(2026, 11, 22), Shift::kNone));
  CHECK(duet::jobs::BusinessCalendar::date_text(day_of(2026, 11, 23)) == "2026-11-23");
}

TEST_CASE("business calendar: a run before the base time belongs to the previous day", "[cron]") {
  duet::jobs::BusinessCalendarDef def;
  def.zone = "Europe/London";
  def.base_time = "05:00";
  auto c = duet::jobs::BusinessCalendar::make(def);
  REQUIRE(c.ok());
  // Tuesday 2026-07-07 01:00 BST (00:00Z): Monday's business day; 06:00 BST: Tuesday's.
  CHECK(c->business_day(utc(2026, 7, 7, 0, 0)) == day_of(2026, 7, 6));
  CHECK(c->business_day(utc(2026, 7, 7, 5, 0)) == day_of(2026, 7, 7));
  // The zone's offset counts: 04:30Z is 05:30 BST (Tuesday), but 04:30 GMT in winter is Monday's.
  CHECK(c->business_day(utc(2026, 7, 7, 4, 30)) == day_of(2026, 7, 7));
  CHECK(c->business_day(utc(2026, 1, 13, 4, 30)) == day_of(2026, 1, 12));
  // A time of day on a business day: 03:00 is the night after (before the
  // base time), 22:00 the same evening; both in BST.
  CHECK(c->at(day_of(2026, 7, 6), 3 * 3600) == utc(2026, 7, 7, 2, 0));
  CHECK(c->at(day_of(2026, 7, 6), 22 * 3600) == utc(2026, 7, 6, 21, 0));
  CHECK(c->start_of(day_of(2026, 7, 6)) == utc(2026, 7, 6, 4, 0));
  // 01:30 on the night the clocks go forward (2026-03-29 01:00 GMT -> 02:00
  // BST) does not exist: the end of the gap.
  CHECK(c->at(day_of(2026, 3, 28), 3600 + 1800) == utc(2026, 3, 29, 1, 0));
}

TEST_CASE("business calendar: bad fields are named", "[cron]") {
  auto msg = [](duet::jobs::BusinessCalendarDef def) {
    auto c = duet::jobs::BusinessCalendar::make(def);
    REQUIRE_FALSE(c.ok());
    return c.error().message;
  };
  duet::jobs::BusinessCalendarDef d;
  d.holidays = {"2026-02-30"};
  CHECK(msg(d) == "calendar.holidays: '2026-02-30' is not a date YYYY-MM-DD");
  d = {};
  d.base_time = "24:00";
  CHECK(msg(d) == "calendar.base_time: '24:00' is not a time HH:MM (00:00 .. 23:59)");
  d = {};
  d.weekdays = {"mon", "caturday"};
  CHECK(msg(d) == "calendar.weekdays: 'caturday' is not one of mon tue wed thu fri sat sun");
  d = {};
  d.zone = "Nowhere/Land";
  CHECK(msg(d) == "calendar.zone: unknown time zone 'Nowhere/Land'");
}

TEST_CASE("schedule: without a calendar every cron time starts, for its date in the zone", "[cron]") {
  duet::v1::JobScheduleDef def;
  def.set_cron("0 0 1 * * *");
  def.set_zone("Asia/Tokyo");
  auto s = duet::jobs::NetSchedule::make(def, nullptr, "");
  REQUIRE(s.ok());
  auto n = s->next_after(utc(2027, 1, 5, 0, 0));
  REQUIRE(n);
  CHECK(n->at_ms == utc(2027, 1, 5, 16, 0));  // 01:00 JST on the 6th
  CHECK(n->business_day == day_of(2027, 1, 6));
}

TEST_CASE("schedule: on a calendar, a holiday's run is skipped or shifted", "[cron]") {
  duet::v1::JobCalendarDef cal;
  cal.set_name("jp");
  cal.set_zone("Asia/Tokyo");
  cal.add_holidays("2027-01-11");  // a Monday
  cal.set_base_time("05:00");
  duet::v1::JobScheduleDef def;
  def.set_cron("0 0 22 * * mon");  // Mondays 22:00 JST (13:00Z), Monday's business day
  auto first = [&](const std::string& shift) {
    def.set_shift(shift);
    auto s = duet::jobs::NetSchedule::make(def, &cal, "");
    REQUIRE(s.ok());
    auto n = s->next_after(utc(2027, 1, 5, 0, 0));
    REQUIRE(n);
    return *n;
  };
  auto none = first("none");
  CHECK(none.at_ms == utc(2027, 1, 18, 13, 0));
  CHECK(none.business_day == day_of(2027, 1, 18));
  auto next = first("next");
  CHECK(next.at_ms == utc(2027, 1, 12, 13, 0));  // Tuesday 22:00
  CHECK(next.business_day == day_of(2027, 1, 12));
  auto prev = first("previous");
  CHECK(prev.at_ms == utc(2027, 1, 8, 13, 0));  // Friday 22:00 (the weekend is not operating)
  CHECK(prev.business_day == day_of(2027, 1, 8));
  // After the shifted run, the next is the Monday after: no run twice, none lost.
  def.set_shift("previous");
  auto s = duet::jobs::NetSchedule::make(def, &cal, "");
  CHECK(s->next_after(prev.at_ms)->at_ms == utc(2027, 1, 18, 13, 0));
  // A run at 01:00 belongs to the previous business day (base 05:00): Tuesday
  // 01:00 is Monday's, a holiday, so with shift none it does not run.
  def.set_cron("0 0 1 * * tue");
  def.set_shift("none");
  auto early = duet::jobs::NetSchedule::make(def, &cal, "");
  CHECK(early->next_after(utc(2027, 1, 11, 0, 0))->at_ms == utc(2027, 1, 18, 16, 0));
  def.set_shift("sideways");
  CHECK_FALSE(duet::jobs::NetSchedule::make(def, &cal, "").ok());
}
