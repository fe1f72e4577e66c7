#include "ha/timing_setting.h"

#include <charconv>
#include <sstream>

#include "common/errors.h"
#include "ha/witness_guard.h"

namespace duet::ha {
namespace {

std::string ms(std::int64_t v) { return std::to_string(v) + " ms"; }

bool parse_field(const std::string& word, const std::string& name, std::int64_t& out) {
  const std::string prefix = name + "=";
  if (word.rfind(prefix, 0) != 0) return false;
  const char* first = word.data() + prefix.size();
  const char* last = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc() && ptr == last && first != last;
}

}  // namespace

TimingMs config_timing(const HaConfig& ha) { return {ha.interval_ms, ha.timeout_ms}; }

Timing to_timing(const TimingMs& t) {
  return Timing{std::chrono::milliseconds(t.interval_ms), std::chrono::milliseconds(t.timeout_ms)};
}

std::string format_timing_setting(const TimingMs& t) {
  return "interval_ms=" + std::to_string(t.interval_ms) +
         " timeout_ms=" + std::to_string(t.timeout_ms);
}

Result<TimingMs> parse_timing_setting(const std::string& text) {
  std::istringstream in(text);
  std::string a;
  std::string b;
  std::string extra;
  in >> a >> b >> extra;
  TimingMs t;
  if (!parse_field(a, "interval_ms", t.interval_ms) ||
      !parse_field(b, "timeout_ms", t.timeout_ms) || !extra.empty()) {
    return make_error(CommonErrc::kInvalidArgument,
                      "'" + text + "' is not 'interval_ms=N timeout_ms=N'");
  }
  return t;
}

std::optional<std::string> timing_refusal(const TimingMs& t, const HaConfig& ha) {
  if (t.interval_ms < kMinIntervalMs) {
    return "interval " + ms(t.interval_ms) + " is below the minimum of " + ms(kMinIntervalMs);
  }
  if (t.interval_ms > kMaxIntervalMs) {
    return "interval " + ms(t.interval_ms) + " is above the maximum of " + ms(kMaxIntervalMs);
  }
  if (t.timeout_ms < kMinTimeoutMs) {
    return "timeout " + ms(t.timeout_ms) + " is below the minimum of " + ms(kMinTimeoutMs);
  }
  if (t.timeout_ms > kMaxTimeoutMs) {
    return "timeout " + ms(t.timeout_ms) + " is above the maximum of " + ms(kMaxTimeoutMs);
  }
  if (t.timeout_ms < 3 * t.interval_ms) {
    return "timeout " + ms(t.timeout_ms) + " must be at least 3 x interval (" +
           ms(3 * t.interval_ms) + ")";
  }
  if (ha.guard == HaConfig::Guard::kWitness && ha.witness) {
    const std::int64_t lease = witness_lease_ms(t, ha);
    const std::string which = ha.witness->lease_follows_timeout
                                  ? "the witness lease (the timeout, " + ms(lease) + ")"
                                  : "ha.witness.lease_ms (" + ms(lease) + ", from the config file)";
    if (lease < 2 * t.interval_ms) {
      return which + " must be at least 2 x interval (" + ms(2 * t.interval_ms) + ")";
    }
    const std::int64_t margin = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    lease_safety_margin(std::chrono::milliseconds(lease)))
                                    .count();
    if (lease - margin <= t.interval_ms) {
      return which + " minus its safety margin (" + ms(margin) +
             ") must exceed the interval, or the lease lapses between renewals";
    }
  }
  return std::nullopt;
}

std::int64_t witness_lease_ms(const TimingMs& t, const HaConfig& ha) {
  if (ha.witness && !ha.witness->lease_follows_timeout) return ha.witness->lease_ms;
  return t.timeout_ms;
}

ResolvedTiming resolve_timing(const HaConfig& ha, const std::optional<std::string>& setting) {
  ResolvedTiming r;
  r.value = config_timing(ha);
  if (!setting) return r;
  auto parsed = parse_timing_setting(*setting);
  if (!parsed.ok()) {
    r.problem = "setting " + std::string(kTimingSettingKey) + " ignored: " + parsed.error().message;
    return r;
  }
  if (auto why = timing_refusal(*parsed, ha)) {
    r.problem = "setting " + std::string(kTimingSettingKey) + " (" + *setting +
                ") ignored on this node: " + *why;
    return r;
  }
  r.value = *parsed;
  r.from_setting = true;
  return r;
}

Result<std::optional<std::string>> read_timing_setting(store::Store& store) {
  DUET_ASSIGN_OR_RETURN(auto row, store.get("settings", std::string(kTimingSettingKey)));
  if (!row) return std::optional<std::string>();
  const store::Value* v = store::find_field(*row, "value");
  if (v == nullptr || !std::holds_alternative<std::string>(*v)) {
    return std::optional<std::string>(std::string());
  }
  return std::optional<std::string>(std::get<std::string>(*v));
}

}  // namespace duet::ha
