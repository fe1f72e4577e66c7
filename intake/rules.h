#pragma once

// Event rules, as a pure core: each event passes the rule list once, on the
// master, and the first rule that matches decides its priority and whether it
// is kept. A rule matches on any combination of the source (an address or a
// CIDR block), the repository scope or node the source maps to, parsed fields
// (a regex per field) and a regex over the message text; an empty criterion
// matches everything. No rule matched: the default (keep, priority unknown
// unless configured otherwise), so an event nobody thought of is never lost.
//
// Regexes are ECMAScript (std::regex) and searched, not anchored: write ^...$
// to anchor. Rules are compiled once (compile_rules) and then immutable, so a
// RuleSet may be shared by threads.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/priority.h"
#include "common/result.h"

namespace duet::intake {

using duet::parse_priority;
using duet::Priority;
using duet::priority_name;

// A rule as written in configuration.
struct RuleSpec {
  std::string name;
  std::vector<std::string> sources;           // "10.1.2.3", "10.0.0.0/8", "::1", "fd00::/8"
  std::vector<std::string> scopes;            // repository scope or node names
  std::map<std::string, std::string> fields;  // field name -> regex
  std::string message;                        // regex; empty: any
  Priority priority = Priority::kUnknown;
  bool keep = true;
};

// What the rules look at.
struct EventView {
  std::string_view source;               // address of the sender, without port
  std::vector<std::string_view> scopes;  // the repository node and its scopes
  const std::map<std::string, std::string>* fields = nullptr;
  std::string_view message;
};

struct RuleDecision {
  Priority priority = Priority::kUnknown;
  bool keep = true;
  std::string rule;  // the matching rule's name; empty for the default
};

class RuleSet {
 public:
  RuleDecision evaluate(const EventView& event) const;
  std::size_t size() const { return rules_.size(); }
  // The field names some rule matches on, sorted: the only fields an event
  // must carry to be judged (none when no rule looks at fields).
  const std::vector<std::string>& field_names() const { return field_names_; }

 private:
  friend Result<RuleSet> compile_rules(const std::vector<RuleSpec>&, RuleDecision);
  struct Cidr {
    std::array<std::uint8_t, 16> addr{};
    int bits = 0;
    bool v6 = false;
  };
  struct Compiled {
    std::string name;
    std::vector<Cidr> sources;
    std::vector<std::string> scopes;
    std::vector<std::pair<std::string, std::regex>> fields;
    std::optional<std::regex> message;
    Priority priority;
    bool keep;
  };
  static std::optional<Cidr> parse_cidr(std::string_view text);
  static bool in(const Cidr& net, std::string_view address);

  std::vector<Compiled> rules_;
  std::vector<std::string> field_names_;
  RuleDecision fallback_;
};

// Checks and compiles `specs`; an error names the rule (by position and name)
// and what is wrong with it.
Result<RuleSet> compile_rules(const std::vector<RuleSpec>& specs, RuleDecision fallback = {});

}  // namespace duet::intake
