#include "monitors/judge.h"

#include <charconv>
#include <cmath>

#include "common/errors.h"

namespace duet::monitors {
namespace {

std::optional<double> parse_number(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::string number_text(double v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("?");
}

int rank(Priority p) {  // higher is worse
  switch (p) {
    case Priority::kCritical:
      return 3;
    case Priority::kWarning:
      return 2;
    case Priority::kUnknown:
      return 1;
    case Priority::kInfo:
      break;
  }
  return 0;
}

}  // namespace

std::string Range::to_string() const {
  return (low ? number_text(*low) : std::string()) + ":" +
         (high ? number_text(*high) : std::string());
}

Result<Range> parse_range(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(CommonErrc::kInvalidArgument, "'" + std::string(text) + "': " + why +
                                                        " (write LOW:HIGH, e.g. 0:80 or 90:)");
  };
  const auto colon = text.find(':');
  Range r;
  if (colon == std::string_view::npos) {
    auto v = parse_number(text);
    if (!v) return bad("not a number or a range");
    r.low = r.high = *v;
    return r;
  }
  const auto lo = text.substr(0, colon), hi = text.substr(colon + 1);
  auto blank = [](std::string_view s) {
    return s.find_first_not_of(' ') == std::string_view::npos;
  };
  if (!blank(lo)) {
    r.low = parse_number(lo);
    if (!r.low) return bad("the low end is not a number");
  }
  if (!blank(hi)) {
    r.high = parse_number(hi);
    if (!r.high) return bad("the high end is not a number");
  }
  if (r.low && r.high && *r.low > *r.high) return bad("the low end is above the high end");
  return r;
}

Result<Judgement> compile_judgement(const JudgementSpec& spec) {
  Judgement j;
  if (const auto at = spec.metric.find('@'); at != std::string::npos) {
    j.metric = spec.metric.substr(0, at);
    j.label = spec.metric.substr(at + 1);
  } else {
    j.metric = spec.metric;
  }
  auto range = [](const std::string& text, const char* field, std::optional<Range>& out) -> Status {
    if (text.empty()) return ok_status();
    auto r = parse_range(text);
    if (!r.ok()) {
      return make_error(CommonErrc::kInvalidArgument,
                        std::string("judgement.") + field + ": " + r.error().message);
    }
    out = *r;
    return ok_status();
  };
  DUET_TRY(range(spec.info_range, "info_range", j.info));
  DUET_TRY(range(spec.warning_range, "warning_range", j.warning));
  for (std::size_t i = 0; i < spec.patterns.size(); ++i) {
    const auto& [re, prio] = spec.patterns[i];
    const std::string where = "judgement.patterns[" + std::to_string(i) + "]";
    auto p = parse_priority(prio);
    if (!p) {
      return make_error(
          CommonErrc::kInvalidArgument,
          where + ".priority: '" + prio + "' is not one of critical, warning, info, unknown");
    }
    try {
      j.patterns.push_back(Judgement::Pattern{re, std::regex(re, std::regex::ECMAScript), *p});
    } catch (const std::regex_error& e) {
      return make_error(CommonErrc::kInvalidArgument,
                        where + ".regex: '" + re + "' is not a valid regex: " + e.what());
    }
  }
  if (!spec.otherwise.empty()) {
    auto p = parse_priority(spec.otherwise);
    if (!p) {
      return make_error(CommonErrc::kInvalidArgument,
                        "judgement.otherwise: '" + spec.otherwise +
                            "' is not one of critical, warning, info, unknown");
    }
    j.otherwise = *p;
  }
  if (!j.patterns.empty() && (j.info || j.warning)) {
    return make_error(CommonErrc::kInvalidArgument, "judgement: give ranges or patterns, not both");
  }
  return j;
}

Verdict judge(const Judgement& j, const Measurement& m) {
  Verdict v;
  if (!m.ok) {
    v.priority = Priority::kUnknown;
    v.message = m.error.empty() ? "the check could not measure" : m.error;
    return v;
  }
  if (!j.patterns.empty()) {
    for (const auto& p : j.patterns) {
      if (std::regex_search(m.text, p.re)) {
        v.priority = p.priority;
        v.message = "matched /" + p.text + "/: " + m.text.substr(0, 200);
        return v;
      }
    }
    v.priority = j.otherwise;
    v.message = m.text.empty() ? std::string("no pattern matched") : m.text.substr(0, 200);
    return v;
  }
  if (!j.info && !j.warning) {
    v.priority = Priority::kInfo;
    if (!m.metrics.empty()) {
      const auto& first = m.metrics.front();
      v.value = first.value;
      v.message = first.name + (first.label.empty() ? "" : "[" + first.label + "]") + " " +
                  number_text(first.value);
    } else {
      v.message = m.text.empty() ? std::string("ok") : m.text.substr(0, 200);
    }
    return v;
  }
  // The judged metric: named, or the first; every label of it unless one is named.
  const std::string name =
      !j.metric.empty() ? j.metric : (m.metrics.empty() ? std::string() : m.metrics.front().name);
  const Measurement::Metric* worst = nullptr;
  Priority worst_p = Priority::kInfo;
  for (const auto& metric : m.metrics) {
    if (metric.name != name || (!j.label.empty() && metric.label != j.label)) continue;
    Priority p = Priority::kCritical;
    if (j.info && j.info->contains(metric.value)) {
      p = Priority::kInfo;
    } else if (j.warning && j.warning->contains(metric.value)) {
      p = Priority::kWarning;
    }
    if (worst == nullptr || rank(p) > rank(worst_p)) {
      worst = &metric;
      worst_p = p;
    }
  }
  if (worst == nullptr) {
    v.priority = Priority::kUnknown;
    v.message = "no value for " + (name.empty() ? std::string("the metric") : name) +
                (j.label.empty() ? "" : "[" + j.label + "]") + " in the result";
    return v;
  }
  v.priority = worst_p;
  v.value = worst->value;
  v.message = worst->name + (worst->label.empty() ? "" : "[" + worst->label + "]") + " " +
              number_text(worst->value) + " (info " +
              (j.info ? j.info->to_string() : std::string("none")) + ", warning " +
              (j.warning ? j.warning->to_string() : std::string("none")) + ")";
  return v;
}

}  // namespace duet::monitors
