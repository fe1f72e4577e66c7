#include "jobs/local_time.h"

#include <date/tz.h>

namespace duet::jobs {

std::int64_t local_to_unix_seconds(const date::time_zone* zone, std::int64_t local_seconds) {
  using std::chrono::seconds;
  if (zone == nullptr) return local_seconds;
  const date::local_seconds lt{seconds(local_seconds)};
  const auto info = zone->get_info(lt);
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:  // the first occurrence
      return local_seconds - info.first.offset.count();
    case date::local_info::nonexistent:  // the first instant after the gap
    default:
      return info.second.begin.time_since_epoch().count();
  }
}

}  // namespace duet::jobs
