#include "intake/syslog_parser.h"

#include <array>
#include <charconv>
#include <cstring>

namespace duet::intake {
namespace {

constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int64_t year_of(std::int64_t unix_ms) {
  std::int64_t z = (unix_ms >= 0 ? unix_ms : unix_ms - 86399999) / 86400000 + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return y + (m <= 2);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `s[pos]`.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(s[pos + i])) return std::nullopt;
    v = v * 10 + (s[pos + i] - '0');
  }
  return v;
}

bool valid_date(int y, int mo, int d, int h, int mi, int sec) {
  return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 &&
         mi <= 59 && sec <= 60;
}

std::int64_t to_unix_ms(int y, int mo, int d, int h, int mi, int sec, int ms) {
  return ((days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 24 + h) * 60 +
          mi) *
             60000 +
         static_cast<std::int64_t>(sec) * 1000 + ms;
}

// Fractional seconds at s[pos] == '.': returns milliseconds and advances pos.
int fraction_ms(std::string_view s, std::size_t& pos) {
  if (pos >= s.size() || s[pos] != '.') return 0;
  ++pos;
  int ms = 0;
  int n = 0;
  while (pos < s.size() && is_digit(s[pos])) {
    if (n < 3) ms = ms * 10 + (s[pos] - '0');
    ++n;
    ++pos;
  }
  for (; n < 3; ++n) ms *= 10;
  return ms;
}

// RFC 3339 ("2024-10-11T22:14:15.003Z", "...+02:00"), the whole of `s`, or
// with `prefix_ok` a prefix (its length in *used).
std::optional<std::int64_t> parse_rfc3339(std::string_view s, bool prefix_ok = false,
                                          std::size_t* used = nullptr) {
  auto y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2), h = digits(s, 11, 2),
       mi = digits(s, 14, 2), sec = digits(s, 17, 2);
  if (!y || !mo || !d || !h || !mi || !sec || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (!valid_date(*y, *mo, *d, *h, *mi, *sec)) return std::nullopt;
  std::size_t pos = 19;
  const int ms = fraction_ms(s, pos);
  std::int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (!oh || !om || pos + 3 >= s.size() || s[pos + 3] != ':' || *oh > 23 || *om > 59) {
      return std::nullopt;
    }
    offset_min = (s[pos] == '+' ? 1 : -1) * (*oh * 60 + *om);
    pos += 6;
  } else if (!prefix_ok) {
    return std::nullopt;  // RFC 5424 requires a zone
  }
  if (!prefix_ok && pos != s.size()) return std::nullopt;
  if (used) *used = pos;
  return to_unix_ms(*y, *mo, *d, *h, *mi, *sec, ms) - offset_min * 60000;
}

// A cursor over the text after the PRI.
struct Cursor {
  std::string_view s;
  std::size_t pos = 0;

  bool done() const { return pos >= s.size(); }
  std::string_view rest() const { return done() ? std::string_view() : s.substr(pos); }
  // A token up to the next space (not consumed); empty at the end.
  std::string_view token() const {
    const std::size_t end = s.find(' ', pos);
    return s.substr(pos, (end == std::string_view::npos ? s.size() : end) - pos);
  }
  bool skip_space() {
    if (done() || s[pos] != ' ') return false;
    ++pos;
    return true;
  }
};

// "<PRI>": 1 to 3 digits, no leading zero unless "0", value up to 191.
std::optional<int> parse_pri(std::string_view text, std::size_t* len) {
  if (text.size() < 3 || text[0] != '<') return std::nullopt;
  std::size_t i = 1;
  int v = 0;
  while (i < text.size() && i <= 4 && is_digit(text[i])) v = v * 10 + (text[i++] - '0');
  const std::size_t n = i - 1;
  if (n == 0 || n > 3 || i >= text.size() || text[i] != '>') return std::nullopt;
  if (n > 1 && text[1] == '0') return std::nullopt;
  if (v > 191) return std::nullopt;
  *len = i + 1;
  return v;
}

bool printable_token(std::string_view t, std::size_t max) {
  if (t.empty() || t.size() > max) return false;
  for (char c : t) {
    if (c < 33 || c > 126) return false;
  }
  return true;
}

std::string nil_or(std::string_view t) { return t == "-" ? std::string() : std::string(t); }

// SD-ELEMENTs at c.pos; false when malformed.
bool parse_structured_data(Cursor& c, std::vector<SdElement>& out) {
  if (!c.done() && c.s[c.pos] == '-') {
    ++c.pos;
    return true;
  }
  if (c.done() || c.s[c.pos] != '[') return false;
  while (!c.done() && c.s[c.pos] == '[') {
    ++c.pos;
    SdElement e;
    const std::size_t id_start = c.pos;
    while (!c.done() && c.s[c.pos] != ' ' && c.s[c.pos] != ']' && c.s[c.pos] != '=' &&
           c.s[c.pos] != '"') {
      ++c.pos;
    }
    e.id = std::string(c.s.substr(id_start, c.pos - id_start));
    if (!printable_token(e.id, 32)) return false;
    while (!c.done() && c.s[c.pos] == ' ') {
      ++c.pos;
      const std::size_t name_start = c.pos;
      while (!c.done() && c.s[c.pos] != '=' && c.s[c.pos] != ' ' && c.s[c.pos] != ']' &&
             c.s[c.pos] != '"') {
        ++c.pos;
      }
      std::string name(c.s.substr(name_start, c.pos - name_start));
      if (!printable_token(name, 32) || c.done() || c.s[c.pos] != '=') return false;
      ++c.pos;
      if (c.done() || c.s[c.pos] != '"') return false;
      ++c.pos;
      std::string value;
      while (true) {
        if (c.done()) return false;
        const char ch = c.s[c.pos++];
        if (ch == '"') break;
        if (ch == '\\' && !c.done() &&
            (c.s[c.pos] == '"' || c.s[c.pos] == '\\' || c.s[c.pos] == ']')) {
          value += c.s[c.pos++];
        } else {
          value += ch;
        }
      }
      e.params.emplace_back(std::move(name), std::move(value));
    }
    if (c.done() || c.s[c.pos] != ']') return false;
    ++c.pos;
    out.push_back(std::move(e));
  }
  return true;
}

std::optional<SyslogMessage> parse_5424(std::string_view body) {
  Cursor c{body};
  // VERSION: a non-zero digit, up to 3 digits; only 1 is defined.
  if (c.token() != "1") return std::nullopt;
  c.pos += 1;
  if (!c.skip_space()) return std::nullopt;
  SyslogMessage m;
  m.format = SyslogFormat::kRfc5424;
  const std::string_view ts = c.token();
  if (ts != "-") {
    m.timestamp_ms = parse_rfc3339(ts);
    if (!m.timestamp_ms) return std::nullopt;
    m.timestamp_text = std::string(ts);
  }
  c.pos += ts.size();
  const std::size_t limits[] = {255, 48, 128, 32};
  std::string* fields[] = {&m.hostname, &m.app_name, &m.procid, &m.msgid};
  for (int i = 0; i < 4; ++i) {
    if (!c.skip_space()) return std::nullopt;
    const std::string_view t = c.token();
    if (!printable_token(t, limits[i])) return std::nullopt;
    *fields[i] = nil_or(t);
    c.pos += t.size();
  }
  if (!c.skip_space()) return std::nullopt;
  if (!parse_structured_data(c, m.structured_data)) return std::nullopt;
  if (!c.done()) {
    if (!c.skip_space()) return std::nullopt;
    std::string_view msg = c.rest();
    if (msg.size() >= 3 && msg.substr(0, 3) == "\xEF\xBB\xBF") msg.remove_prefix(3);
    m.message = std::string(msg);
  }
  for (const auto& e : m.structured_data) {
    if (e.id != "meta") continue;
    for (const auto& [k, v] : e.params) {
      std::uint64_t n = 0;
      if (k == "sequenceId" &&
          std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc() && n > 0) {
        m.sequence_id = n;
      }
    }
  }
  return m;
}

// "Mmm dd[ yyyy] hh:mm:ss[.fff]" at c.pos, with an optional leading '*' or
// '.' (Cisco: clock not in sync); advances past it.
std::optional<std::int64_t> parse_bsd_time(Cursor& c, std::int64_t received_ms, bool* ok) {
  *ok = false;
  std::string_view s = c.rest();
  std::size_t p = 0;
  if (!s.empty() && (s[0] == '*' || s[0] == '.')) p = 1;
  if (s.size() < p + 15) return std::nullopt;
  int month = 0;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (s.substr(p, 3) == kMonths[i]) month = static_cast<int>(i) + 1;
  }
  if (month == 0 || s[p + 3] != ' ') return std::nullopt;
  p += 4;
  int day = 0;
  if (s[p] == ' ' && is_digit(s[p + 1])) {
    day = s[p + 1] - '0';
  } else if (auto d = digits(s, p, 2)) {
    day = *d;
  } else if (is_digit(s[p]) && s[p + 1] == ' ') {  // "Mar 1 00:01:02"
    day = s[p] - '0';
    --p;
  } else {
    return std::nullopt;
  }
  p += 2;
  if (p >= s.size() || s[p] != ' ') return std::nullopt;
  ++p;
  std::optional<int> year;
  if (auto y = digits(s, p, 4); y && p + 4 < s.size() && s[p + 4] == ' ') {
    year = *y;
    p += 5;
  }
  auto h = digits(s, p, 2), mi = digits(s, p + 3, 2), sec = digits(s, p + 6, 2);
  if (!h || !mi || !sec || s[p + 2] != ':' || s[p + 5] != ':') return std::nullopt;
  p += 8;
  const int ms = fraction_ms(s, p);
  *ok = true;
  c.pos += p;
  int y = year ? *year : static_cast<int>(year_of(received_ms));
  if (!valid_date(y, month, day, *h, *mi, *sec)) return std::nullopt;
  std::int64_t t = to_unix_ms(y, month, day, *h, *mi, *sec, ms);
  if (!year && t > received_ms + 86400000) t = to_unix_ms(y - 1, month, day, *h, *mi, *sec, ms);
  return t;
}

// "TAG[PID]: " or "TAG: " at c.pos; false (nothing consumed) when absent.
bool parse_tag(Cursor& c, SyslogMessage& m) {
  const std::string_view s = c.rest();
  std::size_t i = 0;
  while (i < s.size() && i <= 48 && s[i] != '[' && s[i] != ':' && s[i] != ' ') ++i;
  if (i == 0 || i > 48 || i >= s.size()) return false;
  std::string_view pid;
  std::size_t j = i;
  if (s[j] == '[') {
    const std::size_t close = s.find(']', j);
    if (close == std::string_view::npos || close - j > 129) return false;
    pid = s.substr(j + 1, close - j - 1);
    j = close + 1;
  }
  if (j >= s.size() || s[j] != ':') return false;
  m.app_name = std::string(s.substr(0, i));
  m.procid = std::string(pid);
  c.pos += j + 1;
  if (!c.done() && c.s[c.pos] == ' ') ++c.pos;
  return true;
}

std::optional<SyslogMessage> parse_3164(std::string_view body, std::int64_t received_ms) {
  Cursor c{body};
  SyslogMessage m;
  m.format = SyslogFormat::kRfc3164;
  // A leading message counter ("52: "), as Cisco IOS sends.
  {
    std::size_t i = 0;
    while (i < body.size() && is_digit(body[i])) ++i;
    if (i > 0 && i + 1 < body.size() && body[i] == ':' && body[i + 1] == ' ') c.pos = i + 2;
  }
  const std::size_t ts_start = c.pos;
  bool bsd = false;
  std::optional<std::int64_t> ts = parse_bsd_time(c, received_ms, &bsd);
  if (!bsd) {
    std::size_t used = 0;
    ts = parse_rfc3339(c.rest(), /*prefix_ok=*/true, &used);
    if (!ts) return std::nullopt;
    c.pos += used;
  }
  m.timestamp_text = std::string(body.substr(ts_start, c.pos - ts_start));
  m.timestamp_ms = ts;
  // Cisco closes the timestamp with ':' (and may add a zone name before it).
  if (!c.done() && c.s[c.pos] == ':') ++c.pos;
  if (!c.skip_space()) {
    if (!c.done()) return std::nullopt;
    return m;
  }
  // HOSTNAME unless the next token is already the tag ("su:", "sshd[12]:").
  const std::string_view t = c.token();
  const bool is_tag = !t.empty() && (t.back() == ':' || t.find('[') != std::string_view::npos);
  if (!is_tag && printable_token(t, 255) && c.pos + t.size() < c.s.size()) {
    m.hostname = std::string(t);
    c.pos += t.size();
    c.skip_space();
  }
  parse_tag(c, m);
  m.message = std::string(c.rest());
  return m;
}

constexpr std::array<const char*, 24> kFacilities = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};
constexpr std::array<const char*, 8> kSeverities = {"emerg",   "alert",  "crit", "err",
                                                    "warning", "notice", "info", "debug"};

}  // namespace

const char* syslog_format_name(SyslogFormat f) {
  switch (f) {
    case SyslogFormat::kRfc5424:
      return "rfc5424";
    case SyslogFormat::kRfc3164:
      return "rfc3164";
    case SyslogFormat::kRaw:
      break;
  }
  return "raw";
}

const char* facility_name(int facility) {
  return facility >= 0 && facility < 24 ? kFacilities[static_cast<std::size_t>(facility)] : "?";
}

const char* severity_name(int severity) {
  return severity >= 0 && severity < 8 ? kSeverities[static_cast<std::size_t>(severity)] : "?";
}

SyslogMessage parse_syslog(std::string_view text, std::int64_t received_unix_ms) {
  // Trailing line ends and NULs are framing, not content.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == '\0')) {
    text.remove_suffix(1);
  }
  std::size_t pri_len = 0;
  const std::optional<int> pri = parse_pri(text, &pri_len);
  std::optional<SyslogMessage> m;
  if (pri) {
    const std::string_view body = text.substr(pri_len);
    m = parse_5424(body);
    if (!m) m = parse_3164(body, received_unix_ms);
  }
  if (!m) {
    m.emplace();
    m->format = SyslogFormat::kRaw;
    m->message = std::string(pri ? text.substr(pri_len) : text);
  }
  if (pri) {
    m->facility = *pri / 8;
    m->severity = *pri % 8;
  }
  return std::move(*m);
}

}  // namespace duet::intake
