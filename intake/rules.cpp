#include "intake/rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

#include "common/errors.h"

namespace duet::intake {

std::optional<RuleSet::Cidr> RuleSet::parse_cidr(std::string_view text) {
  Cidr c;
  std::string addr(text);
  const std::size_t slash = text.find('/');
  if (slash != std::string_view::npos) addr = std::string(text.substr(0, slash));
  if (inet_pton(AF_INET, addr.c_str(), c.addr.data()) == 1) {
    c.bits = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr.data()) == 1) {
    c.v6 = true;
    c.bits = 128;
  } else {
    return std::nullopt;
  }
  if (slash != std::string_view::npos) {
    const std::string_view b = text.substr(slash + 1);
    int bits = -1;
    if (b.empty() || std::from_chars(b.data(), b.data() + b.size(), bits).ec != std::errc() ||
        bits < 0 || bits > c.bits) {
      return std::nullopt;
    }
    c.bits = bits;
  }
  return c;
}

bool RuleSet::in(const Cidr& net, std::string_view address) {
  std::array<std::uint8_t, 16> a{};
  const std::string s(address);
  if (inet_pton(net.v6 ? AF_INET6 : AF_INET, s.c_str(), a.data()) != 1) return false;
  int bits = net.bits;
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (net.addr[i] & mask)) return false;
  }
  return true;
}

Result<RuleSet> compile_rules(const std::vector<RuleSpec>& specs, RuleDecision fallback) {
  RuleSet set;
  set.fallback_ = std::move(fallback);
  set.fallback_.rule.clear();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const RuleSpec& s = specs[i];
    const std::string where =
        "rule " + std::to_string(i + 1) + (s.name.empty() ? "" : " (" + s.name + ")");
    RuleSet::Compiled c;
    c.name = s.name.empty() ? "rule " + std::to_string(i + 1) : s.name;
    c.priority = s.priority;
    c.keep = s.keep;
    c.scopes = s.scopes;
    for (const auto& src : s.sources) {
      auto cidr = RuleSet::parse_cidr(src);
      if (!cidr) {
        return make_error(CommonErrc::kInvalidArgument,
                          where + ": source '" + src + "' is not an address or CIDR block");
      }
      c.sources.push_back(*cidr);
    }
    auto compile = [&](const std::string& what, const std::string& pattern) -> Result<std::regex> {
      try {
        return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        return make_error(CommonErrc::kInvalidArgument,
                          where + ": " + what + " regex '" + pattern + "': " + e.what());
      }
    };
    for (const auto& [field, pattern] : s.fields) {
      DUET_ASSIGN_OR_RETURN(std::regex re, compile("field " + field, pattern));
      c.fields.emplace_back(field, std::move(re));
      set.field_names_.push_back(field);
    }
    if (!s.message.empty()) {
      DUET_ASSIGN_OR_RETURN(std::regex re, compile("message", s.message));
      c.message = std::move(re);
    }
    set.rules_.push_back(std::move(c));
  }
  std::sort(set.field_names_.begin(), set.field_names_.end());
  set.field_names_.erase(std::unique(set.field_names_.begin(), set.field_names_.end()),
                         set.field_names_.end());
  return set;
}

RuleDecision RuleSet::evaluate(const EventView& event) const {
  for (const auto& r : rules_) {
    if (!r.sources.empty() &&
        std::none_of(r.sources.begin(), r.sources.end(),
                     [&](const Cidr& net) { return in(net, event.source); })) {
      continue;
    }
    if (!r.scopes.empty() &&
        std::none_of(r.scopes.begin(), r.scopes.end(), [&](const std::string& scope) {
          return std::find(event.scopes.begin(), event.scopes.end(), scope) != event.scopes.end();
        })) {
      continue;
    }
    bool fields_match = true;
    for (const auto& [name, re] : r.fields) {
      if (event.fields == nullptr) {
        fields_match = false;
        break;
      }
      const auto it = event.fields->find(name);
      if (it == event.fields->end() || !std::regex_search(it->second, re)) {
        fields_match = false;
        break;
      }
    }
    if (!fields_match) continue;
    if (r.message && !std::regex_search(event.message.begin(), event.message.end(), *r.message)) {
      continue;
    }
    return RuleDecision{r.priority, r.keep, r.name};
  }
  return fallback_;
}

}  // namespace duet::intake
