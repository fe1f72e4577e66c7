#pragma once

// Local wall-clock time in an IANA zone -> an instant, with the DST rule the
// job nets use everywhere: a local time that occurs twice means its first
// occurrence; one that does not exist (skipped in spring) means the first
// instant after the gap.

#include <cstdint>

namespace date {
class time_zone;
}

namespace duet::jobs {

// `local_seconds`: seconds since 1970-01-01 00:00 local; zone null: UTC.
std::int64_t local_to_unix_seconds(const date::time_zone* zone, std::int64_t local_seconds);

}  // namespace duet::jobs
