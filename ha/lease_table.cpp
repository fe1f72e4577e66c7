#include "ha/lease_table.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <utility>
#include <vector>

#include "common/errors.h"

namespace duet::ha {
namespace {

constexpr const char* kStateHeader = "duet-witness-state 1";

// Same rule as node names in the manager's configuration.
bool valid_node_name(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

// Milliseconds from `now` to `until`, rounded up; 0 if already past.
std::int64_t ms_until(TimePoint now, TimePoint until) {
  if (until <= now) return 0;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(until - now).count();
  return (ns + 999999) / 1000000;
}

// FNV-1a, 64 bits: detects accidental damage (not tampering).
std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex16(std::uint64_t v) {
  std::array<char, 17> buf{};
  std::snprintf(buf.data(), buf.size(), "%016llx", static_cast<unsigned long long>(v));
  return buf.data();
}

template <typename T>
bool parse_number(std::string_view s, T* out) {
  if (s.empty() || s[0] == '+' || s[0] == '-') return false;
  if (s.size() > 1 && s[0] == '0') return false;  // one spelling per value
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

Error corrupt(std::size_t line, const std::string& why) {
  return make_error(CommonErrc::kInvalidArgument, "line " + std::to_string(line) + ": " + why);
}

}  // namespace

// ---- State file text ----

std::string format_epoch_state(const EpochState& state) {
  std::string body = std::string(kStateHeader) + "\n";
  body += "lease_bound_ms " + std::to_string(state.lease_bound_ms) + "\n";
  for (const auto& [pair, pe] : state.pairs) {
    body += "pair " + pair + " " + std::to_string(pe.epoch) + " " + pe.node + "\n";
  }
  return body + "checksum " + hex16(fnv1a64(body)) + "\n";
}

Result<EpochState> parse_epoch_state(const std::string& text) {
  if (text.empty()) return corrupt(1, "the file is empty");
  const bool complete = text.back() == '\n';
  const std::vector<std::string_view> lines =
      split(std::string_view(text).substr(0, complete ? text.size() - 1 : text.size()), '\n');
  const std::size_t last = lines.size();  // 1-based number of the checksum line
  if (!complete) return corrupt(last, "the last line has no newline: the file is truncated");
  if (lines[0] != kStateHeader) {
    return corrupt(1, "expected '" + std::string(kStateHeader) + "'");
  }
  if (last < 3) return corrupt(last, "the file is truncated (no checksum line)");
  const std::string_view sum_line = lines.back();
  if (sum_line.rfind("checksum ", 0) != 0) return corrupt(last, "expected the checksum line");
  const std::size_t body_size = text.size() - sum_line.size() - 1;
  const std::string expected = hex16(fnv1a64(std::string_view(text).substr(0, body_size)));
  if (sum_line.substr(9) != expected) {
    return corrupt(last, "checksum mismatch: the file was damaged or edited");
  }

  EpochState state;
  const auto bound = split(lines[1], ' ');
  if (bound.size() != 2 || bound[0] != "lease_bound_ms" ||
      !parse_number(bound[1], &state.lease_bound_ms)) {
    return corrupt(2, "expected 'lease_bound_ms N'");
  }
  for (std::size_t i = 2; i + 1 < lines.size(); ++i) {
    const std::size_t n = i + 1;
    const auto f = split(lines[i], ' ');
    if (f.size() != 4 || f[0] != "pair") return corrupt(n, "expected 'pair ID EPOCH NODE'");
    PairEpoch pe;
    const std::string pair(f[1]);
    pe.node = std::string(f[3]);
    std::string why;
    if (!check_pair_and_node(pair, pe.node, &why)) return corrupt(n, why);
    if (!parse_number(f[2], &pe.epoch) || pe.epoch == 0) {
      return corrupt(n, "epoch '" + std::string(f[2]) + "' is not a positive number");
    }
    if (!state.pairs.emplace(pair, pe).second) return corrupt(n, "pair " + pair + " repeated");
  }
  return state;
}

std::string make_pair_id(const std::string& node_a, const std::string& node_b) {
  return node_a < node_b ? node_a + "/" + node_b : node_b + "/" + node_a;
}

bool check_pair_and_node(const std::string& pair, const std::string& node, std::string* why) {
  const auto slash = pair.find('/');
  if (slash == std::string::npos) {
    *why = "pair '" + pair + "' is not two node names joined by '/'";
    return false;
  }
  const std::string first = pair.substr(0, slash);
  const std::string second = pair.substr(slash + 1);
  if (!valid_node_name(first) || !valid_node_name(second)) {
    *why = "pair '" + pair + "' is not two valid node names joined by '/'";
    return false;
  }
  if (!(first < second)) {
    *why = "pair '" + pair + "': the two names must differ and be sorted";
    return false;
  }
  if (node != first && node != second) {
    *why = "node '" + node + "' is not one of pair '" + pair + "'";
    return false;
  }
  return true;
}

const char* to_string(LeaseOutcome outcome) {
  switch (outcome) {
    case LeaseOutcome::kGranted:
      return "granted";
    case LeaseOutcome::kRenewed:
      return "renewed";
    case LeaseOutcome::kRefused:
      return "refused";
    case LeaseOutcome::kReleased:
      return "released";
    case LeaseOutcome::kAnswered:
      return "answered";
  }
  return "unknown";
}

const char* to_string(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone:
      return "none";
    case Refusal::kInvalid:
      return "invalid request";
    case Refusal::kQuietPeriod:
      return "quiet period";
    case Refusal::kHeld:
      return "held by another node";
    case Refusal::kStaleEpoch:
      return "stale epoch";
    case Refusal::kPersistFailed:
      return "cannot persist epoch";
    case Refusal::kNotHolder:
      return "not the holder";
  }
  return "unknown";
}

// ---- LeaseTable ----

LeaseTable::LeaseTable(EpochState restored, std::int64_t max_lease_ms, TimePoint started,
                       Persist persist)
    : state_(std::move(restored)), max_lease_ms_(max_lease_ms), persist_(std::move(persist)) {
  // A lease granted by the previous run lasts at most what that run could
  // grant; wait out the longer of that and our own maximum.
  state_.lease_bound_ms = std::max(state_.lease_bound_ms, max_lease_ms_);
  quiet_until_ = started + std::chrono::milliseconds(state_.lease_bound_ms);
}

const LeaseTable::Lease* LeaseTable::running(const std::string& pair, TimePoint now) const {
  auto it = leases_.find(pair);
  if (it == leases_.end() || it->second.expires <= now) return nullptr;
  return &it->second;
}

LeaseAnswer LeaseTable::answer(const std::string& pair, TimePoint now) const {
  LeaseAnswer a;
  if (const Lease* l = running(pair, now)) {
    a.holder = l->holder;
    a.holder_epoch = l->epoch;
  }
  auto it = state_.pairs.find(pair);
  if (it != state_.pairs.end()) a.highest_epoch = it->second.epoch;
  return a;
}

LeaseAnswer LeaseTable::refuse(const std::string& pair, TimePoint now, Refusal why,
                               std::string reason) const {
  LeaseAnswer a = answer(pair, now);
  a.outcome = LeaseOutcome::kRefused;
  a.refusal = why;
  a.reason = std::move(reason);
  return a;
}

LeaseAnswer LeaseTable::acquire(const LeaseAsk& ask, TimePoint now) {
  std::string why;
  if (!check_pair_and_node(ask.pair, ask.node, &why)) {
    LeaseAnswer a;
    a.outcome = LeaseOutcome::kRefused;
    a.refusal = Refusal::kInvalid;
    a.reason = why;
    return a;
  }

  if (ask.epoch == 0) {  // probe
    LeaseAnswer a = answer(ask.pair, now);
    if (in_quiet_period(now)) {
      a.reason = "quiet period after witness start: no grants for " +
                 std::to_string(ms_until(now, quiet_until_)) + " ms";
    } else if (!a.holder.empty()) {
      a.reason = "lease held by " + a.holder + " in epoch " + std::to_string(a.holder_epoch) +
                 " for " + std::to_string(ms_until(now, running(ask.pair, now)->expires)) + " ms";
    } else {
      a.reason = "no lease held";
    }
    return a;
  }

  if (ask.duration_ms <= 0) {
    return refuse(ask.pair, now, Refusal::kInvalid,
                  "duration_ms " + std::to_string(ask.duration_ms) + " is not positive");
  }
  if (in_quiet_period(now)) {
    return refuse(ask.pair, now, Refusal::kQuietPeriod,
                  "quiet period after witness start: a lease granted before the restart may "
                  "still run; no grants for " +
                      std::to_string(ms_until(now, quiet_until_)) + " ms");
  }

  const Lease* live = running(ask.pair, now);
  if (live != nullptr && live->holder != ask.node) {
    return refuse(ask.pair, now, Refusal::kHeld,
                  "lease held by " + live->holder + " in epoch " + std::to_string(live->epoch) +
                      " for " + std::to_string(ms_until(now, live->expires)) + " ms");
  }

  PairEpoch highest;
  if (auto it = state_.pairs.find(ask.pair); it != state_.pairs.end()) highest = it->second;
  if (ask.epoch < highest.epoch) {
    return refuse(ask.pair, now, Refusal::kStaleEpoch,
                  "stale epoch: " + std::to_string(ask.epoch) + " is below the highest granted (" +
                      std::to_string(highest.epoch) + ")");
  }
  if (ask.epoch == highest.epoch && ask.node != highest.node) {
    return refuse(ask.pair, now, Refusal::kStaleEpoch,
                  "stale epoch: " + std::to_string(ask.epoch) + " was granted to " + highest.node +
                      "; " + ask.node + " needs a higher epoch");
  }

  if (ask.epoch > highest.epoch) {
    // Record the new highest epoch first: after a crash the witness must
    // still refuse this epoch to the other node.
    EpochState next = state_;
    next.pairs[ask.pair] = PairEpoch{ask.epoch, ask.node};
    next.lease_bound_ms = max_lease_ms_;  // past the quiet period: only our own leases run
    if (Status s = persist_(next); !s.ok()) {
      return refuse(
          ask.pair, now, Refusal::kPersistFailed,
          "cannot record epoch " + std::to_string(ask.epoch) + ": " + s.error().to_string());
    }
    state_ = std::move(next);
  }

  const bool renewal = live != nullptr && live->epoch == ask.epoch;  // same holder (checked)
  const std::int64_t granted_ms = std::min(ask.duration_ms, max_lease_ms_);
  leases_[ask.pair] = Lease{ask.node, ask.epoch, now + std::chrono::milliseconds(granted_ms)};

  LeaseAnswer a = answer(ask.pair, now);
  a.outcome = renewal ? LeaseOutcome::kRenewed : LeaseOutcome::kGranted;
  a.granted = true;
  a.granted_ms = granted_ms;
  return a;
}

LeaseAnswer LeaseTable::release(const LeaseAsk& ask, TimePoint now) {
  std::string why;
  if (!check_pair_and_node(ask.pair, ask.node, &why)) {
    LeaseAnswer a;
    a.outcome = LeaseOutcome::kRefused;
    a.refusal = Refusal::kInvalid;
    a.reason = why;
    return a;
  }
  auto it = leases_.find(ask.pair);
  if (it == leases_.end() || it->second.expires <= now || it->second.holder != ask.node ||
      it->second.epoch != ask.epoch) {
    LeaseAnswer a = answer(ask.pair, now);
    a.refusal = Refusal::kNotHolder;
    a.reason = ask.node + " holds no running lease in epoch " + std::to_string(ask.epoch);
    return a;
  }
  it->second.expires = now;
  LeaseAnswer a = answer(ask.pair, now);
  a.outcome = LeaseOutcome::kReleased;
  a.reason = "released";
  return a;
}

}  // namespace duet::ha
