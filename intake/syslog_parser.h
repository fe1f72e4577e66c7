#pragma once

// Syslog message parsing, as a pure function: bytes in, fields out.
//
// Recognised, in this order:
// - RFC 5424: "<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG", with NIL
//   values ("-"), structured data (escapes \" \\ \] inside values), the
//   `meta sequenceId` parameter and a UTF-8 BOM before MSG.
// - RFC 3164 and the variants devices really send: "<PRI>Mmm dd hh:mm:ss HOST
//   TAG[PID]: MSG", with the hostname missing ("<13>Oct 11 22:14:15 su: ..."),
//   an ISO 8601 timestamp instead of the BSD one, a year after the day
//   ("Oct 11 2024 22:14:15"), a leading message counter ("<189>52: *Mar  1
//   ...", Cisco), and fractional seconds.
// - Anything else is kept raw: the whole text is the message, with facility
//   and severity when a valid PRI starts it.
//
// A BSD timestamp has no year and no zone; the parser takes the year of
// `received` (or the previous year when that would put the message more than
// a day in the future, as on 1 January) and reads the time as UTC. The text
// as sent is kept in `timestamp_text` either way.
//
// Pure and thread-safe; never fails (malformed input degrades to kRaw).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duet::intake {

enum class SyslogFormat : std::uint8_t { kRfc5424, kRfc3164, kRaw };
const char* syslog_format_name(SyslogFormat f);

struct SdElement {
  std::string id;
  std::vector<std::pair<std::string, std::string>> params;  // in message order
};

struct SyslogMessage {
  SyslogFormat format = SyslogFormat::kRaw;
  std::optional<int> facility;               // 0..23
  std::optional<int> severity;               // 0..7
  std::string timestamp_text;                // as sent ("" when absent or NIL)
  std::optional<std::int64_t> timestamp_ms;  // unix ms, when the timestamp was understood
  std::string hostname;
  std::string app_name;  // RFC 5424 APP-NAME, or the RFC 3164 tag
  std::string procid;    // PROCID, or the [pid] of the tag
  std::string msgid;
  std::vector<SdElement> structured_data;
  std::optional<std::uint64_t> sequence_id;  // [meta sequenceId="N"]
  std::string message;
};

// `received_unix_ms` supplies the year of a BSD timestamp.
SyslogMessage parse_syslog(std::string_view text, std::int64_t received_unix_ms);

// Names used in events: "kern", "user", ... "local7"; "emerg" ... "debug".
const char* facility_name(int facility);
const char* severity_name(int severity);

}  // namespace duet::intake
