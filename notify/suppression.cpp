#include "notify/suppression.h"

#include <algorithm>
#include <charconv>
#include <vector>

namespace duet::notify {

const char* repeat_name(Repeat r) {
  switch (r) {
    case Repeat::kAlways:
      return "always";
    case Repeat::kPeriod:
      return "period";
    case Repeat::kNever:
      return "never";
  }
  return "always";
}

std::optional<Repeat> parse_repeat(std::string_view text) {
  if (text == "always") return Repeat::kAlways;
  if (text == "period") return Repeat::kPeriod;
  if (text == "never") return Repeat::kNever;
  return std::nullopt;
}

Decision decide(const Suppression& rule, const std::optional<KeyState>& prev, Priority priority,
                std::int64_t now_ms, bool wanted) {
  const std::uint32_t after = std::max<std::uint32_t>(rule.after, 1);
  Decision d;
  const bool same_run = prev && prev->priority == priority;
  if (same_run) {
    d.next = *prev;
    d.next.count = std::min(after, prev->count + 1);
  } else {
    d.next.priority = priority;
    d.next.count = 1;
  }
  d.next.last_at_ms = now_ms;
  if (!wanted) {
    d.why = "priority not wanted";
    return d;
  }
  if (d.next.count < after) {
    d.why = "fewer results of this priority than 'after'";
    return d;
  }
  if (!d.next.notified) {
    d.notify = true;
    d.why = !prev ? "first" : same_run ? "reached 'after'" : "priority changed";
  } else {
    switch (rule.repeat) {
      case Repeat::kAlways:
        d.notify = true;
        d.why = "repeat: always";
        break;
      case Repeat::kPeriod:
        d.notify = now_ms - d.next.last_notified_ms >= rule.period_ms;
        d.why = d.notify ? "period passed" : "repeat: within the period";
        break;
      case Repeat::kNever:
        d.why = "repeat: never";
        break;
    }
  }
  if (d.notify) {
    d.next.notified = true;
    d.next.last_notified_ms = now_ms;
  }
  return d;
}

std::string encode_state(const KeyState& s) {
  return std::string(priority_name(s.priority)) + ' ' + std::to_string(s.count) + ' ' +
         (s.notified ? '1' : '0') + ' ' + std::to_string(s.last_notified_ms) + ' ' +
         std::to_string(s.last_at_ms);
}

std::optional<KeyState> decode_state(std::string_view text) {
  std::vector<std::string_view> parts;
  while (!text.empty()) {
    const auto sp = text.find(' ');
    parts.push_back(text.substr(0, sp));
    if (sp == std::string_view::npos) break;
    text.remove_prefix(sp + 1);
  }
  if (parts.size() != 5) return std::nullopt;
  KeyState s;
  auto p = parse_priority(parts[0]);
  if (!p) return std::nullopt;
  s.priority = *p;
  auto num = [](std::string_view t, auto& out) {
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc() && ptr == t.data() + t.size();
  };
  if (!num(parts[1], s.count) || (parts[2] != "0" && parts[2] != "1") ||
      !num(parts[3], s.last_notified_ms) || !num(parts[4], s.last_at_ms)) {
    return std::nullopt;
  }
  s.notified = parts[2] == "1";
  return s;
}

}  // namespace duet::notify
