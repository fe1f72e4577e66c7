#pragma once

// When a channel may send (duet.v1.Calendar): a weekly window of local time
// in an IANA time zone, less some local dates. Pure: the caller gives the
// instant. Time zones come from the system's tz database (/usr/share/zoneinfo)
// through Howard Hinnant's date library, so DST changes are the zone's own.
//
// The window [from, to) is local wall-clock time on each of `days`. A window
// whose `to` is not after its `from` runs past midnight, and belongs to the
// day it starts on: "fri 22:00-06:00" is open Friday 22:00 to Saturday 06:00.
// An `except` date closes the window that starts on that date.

#include <bitset>
#include <cstdint>
#include <set>
#include <string>

#include "common/result.h"
#include "duet/v1/notify.pb.h"

namespace date {
class time_zone;
}

namespace duet::notify {

class Calendar {
 public:
  // An error names the field: "calendar.zone: unknown time zone 'Mars/Olympus'".
  static Result<Calendar> make(const duet::v1::Calendar& def);

  // Whether the window is open at `unix_ms`.
  bool open_at(std::int64_t unix_ms) const;

 private:
  const date::time_zone* zone_ = nullptr;  // null: UTC
  std::bitset<7> days_;                    // 0 = Monday
  int from_min_ = 0, to_min_ = 1440;
  std::set<std::int64_t> except_;  // local dates as days since 1970-01-01
};

}  // namespace duet::notify
