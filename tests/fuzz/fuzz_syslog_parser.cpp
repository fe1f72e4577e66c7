// Fuzzes parse_syslog (RFC 5424, RFC 3164 and its device variants, raw).
// The whole input is one message; it is parsed against three receive times:
// just after a new year (BSD timestamps of late December belong to the year
// before), 1 March of a leap year and mid-year.
//
// Invariants:
// - facility and severity are both present or both absent, within 0..23 and
//   0..7, and have names;
// - an RFC 5424 or 3164 result has them (both need a PRI);
// - a raw result without a PRI keeps the text as sent (less trailing CR, LF
//   and NUL);
// - no field is longer than the input;
// - a timestamp, when understood, lies within years 1970..9999 give or take a
//   day (zone offsets).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "intake/syslog_parser.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using duet::intake::parse_syslog;
using duet::intake::SyslogFormat;
using duet::intake::SyslogMessage;

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kYear10000Ms = 253'402'300'800'000;  // 10000-01-01T00:00:00Z
constexpr std::int64_t kReceiveTimes[] = {
    1'735'689'630'000,  // 2025-01-01T00:00:30Z
    1'709'294'400'000,  // 2024-03-01T12:00:00Z
    1'718'409'600'000,  // 2024-06-15T00:00:00Z
};

void check(std::string_view text, const SyslogMessage& m) {
  FUZZ_CHECK(m.facility.has_value() == m.severity.has_value());
  if (m.facility) {
    FUZZ_CHECK(*m.facility >= 0 && *m.facility <= 23);
    FUZZ_CHECK(*m.severity >= 0 && *m.severity <= 7);
    FUZZ_CHECK(std::strcmp(duet::intake::facility_name(*m.facility), "?") != 0);
    FUZZ_CHECK(std::strcmp(duet::intake::severity_name(*m.severity), "?") != 0);
  }
  if (m.format != SyslogFormat::kRaw) FUZZ_CHECK(m.facility.has_value());
  if (m.format == SyslogFormat::kRaw && !m.facility) {
    std::string_view trimmed = text;
    while (!trimmed.empty() &&
           (trimmed.back() == '\n' || trimmed.back() == '\r' || trimmed.back() == '\0')) {
      trimmed.remove_suffix(1);
    }
    FUZZ_CHECK(m.message == trimmed);
  }
  for (const std::string* field :
       {&m.timestamp_text, &m.hostname, &m.app_name, &m.procid, &m.msgid, &m.message}) {
    FUZZ_CHECK(field->size() <= text.size());
  }
  for (const auto& sd : m.structured_data) {
    FUZZ_CHECK(sd.id.size() <= text.size());
    for (const auto& [name, value] : sd.params) {
      FUZZ_CHECK(name.size() <= text.size() && value.size() <= text.size());
    }
  }
  if (m.timestamp_ms) {
    FUZZ_CHECK(*m.timestamp_ms >= -kDayMs && *m.timestamp_ms <= kYear10000Ms + kDayMs);
  }
  FUZZ_CHECK(std::strlen(duet::intake::syslog_format_name(m.format)) > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (std::int64_t received : kReceiveTimes) {
    const SyslogMessage m = parse_syslog(text, received);
    check(text, m);
  }
  return 0;
}
