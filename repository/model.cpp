#include "repository/model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "repository/repository_error.h"

namespace duet::repository {
namespace {

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
}

bool has_control(std::string_view s, bool allow_newline) {
  return std::any_of(s.begin(), s.end(), [allow_newline](char c) {
    const auto u = static_cast<unsigned char>(c);
    if (allow_newline && (c == '\n' || c == '\t')) return false;
    return u < 0x20 || u == 0x7f;
  });
}

// Well-formed UTF-8 (protobuf strings and JSON must be), no overlongs or surrogates.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// Why free text `what` is refused, or nullopt.
std::optional<std::string> text_problem(std::string_view what, std::string_view s, std::size_t max,
                                        bool allow_newline) {
  if (s.size() > max) {
    return std::string(what) + " is longer than " + std::to_string(max) + " bytes";
  }
  if (!valid_utf8(s)) return std::string(what) + " is not valid UTF-8";
  if (has_control(s, allow_newline)) {
    return std::string(what) + " has control characters" +
           (allow_newline ? " (other than newline and tab)" : "");
  }
  return std::nullopt;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// One RFC 1123 label: letters, digits and '-', not at either end, 1 to 63.
bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
  });
}

std::optional<std::string> canonical_host_name(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty() || text.size() > 253) return std::nullopt;
  std::string out;
  std::string_view last;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!valid_label(label)) return std::nullopt;
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // "10.0.0.300" is a mistyped address, not a host name.
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  for (char c : text) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

}  // namespace

bool same_content(const Node& a, const Node& b) {
  return a.name == b.name && a.addresses == b.addresses && a.os == b.os &&
         a.attributes == b.attributes;
}

bool same_content(const Scope& a, const Scope& b) {
  return a.name == b.name && a.parent == b.parent && a.description == b.description;
}

std::vector<std::string> State::scopes_of(const std::string& node) const {
  std::vector<std::string> out;
  for (const auto& m : members) {
    if (m.node == node) out.push_back(m.scope);
  }
  return out;  // members are ordered by scope first
}

std::map<std::string, std::vector<std::string>> State::scopes_by_node() const {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& m : members) out[m.node].push_back(m.scope);  // in scope order
  return out;
}

std::vector<std::string> State::children_of(const std::string& scope) const {
  std::vector<std::string> out;
  for (const auto& [name, s] : scopes) {
    if (s.parent == scope) out.push_back(name);
  }
  return out;
}

std::vector<std::string> State::lineage(const std::string& scope) const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::string at = scope;
  while (!at.empty() && seen.insert(at).second) {
    auto it = scopes.find(at);
    if (it == scopes.end()) break;
    out.push_back(at);
    at = it->second.parent;
  }
  return out;
}

std::vector<std::string> State::nodes_within(const std::string& scope) const {
  std::map<std::string, bool> within;  // scope -> in `scope`'s subtree (memo)
  auto in_subtree = [&](const std::string& start) {
    if (auto it = within.find(start); it != within.end()) return it->second;
    const auto line = lineage(start);
    const bool in = std::find(line.begin(), line.end(), scope) != line.end();
    within[start] = in;
    return in;
  };
  std::set<std::string> out;
  for (const auto& m : members) {
    if (in_subtree(m.scope)) out.insert(m.node);
  }
  return {out.begin(), out.end()};
}

std::vector<ScopeInTree> tree_order(const State& state) {
  // Parent -> children, each list in name order (the scopes map is).
  std::map<std::string, std::vector<std::string>> children;
  for (const auto& [name, s] : state.scopes) children[s.parent].push_back(name);
  std::vector<ScopeInTree> out;
  std::set<std::string> placed;
  // Depth first with an explicit stack; children pushed in reverse name order.
  auto walk = [&](const std::string& root) {
    std::vector<std::pair<std::string, int>> stack{{root, 0}};
    while (!stack.empty()) {
      auto [name, depth] = stack.back();
      stack.pop_back();
      if (!placed.insert(name).second) continue;
      out.push_back({&state.scopes.at(name), depth});
      const auto& below = children[name];
      for (auto it = below.rbegin(); it != below.rend(); ++it) stack.emplace_back(*it, depth + 1);
    }
  };
  for (const auto& [name, s] : state.scopes) {
    if (s.parent.empty() || state.scopes.count(s.parent) == 0) walk(name);
  }
  // Only a damaged state (a cycle) leaves scopes unplaced; list them anyway.
  for (const auto& [name, s] : state.scopes) {
    if (placed.count(name) == 0) walk(name);
  }
  return out;
}

std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty()) return std::string("name must not be empty");
  if (name.size() > 63 || std::isalnum(static_cast<unsigned char>(name.front())) == 0 ||
      !std::all_of(name.begin(), name.end(), name_char)) {
    return "name " + quoted(name) +
           " is not valid: use 1 to 63 letters, digits, '.', '_' or '-', starting with a "
           "letter or digit";
  }
  return std::nullopt;
}

std::optional<std::string> scope_name_problem(std::string_view name) {
  if (auto why = name_problem(name)) return why;
  if (name == kUnregistered) {
    return std::string("name 'unregistered' is reserved (it stands for addresses of no node)");
  }
  return std::nullopt;
}

std::optional<std::string> attribute_key_problem(std::string_view key) {
  const bool ok = !key.empty() && key.size() <= kMaxAttributeKey &&
                  std::isalnum(static_cast<unsigned char>(key.front())) != 0 &&
                  std::all_of(key.begin(), key.end(),
                              [](char c) { return name_char(c) || c == '/' || c == ':'; });
  if (ok) return std::nullopt;
  return "attribute key " + quoted(key) + " is not valid: use 1 to " +
         std::to_string(kMaxAttributeKey) +
         " letters, digits, '.', '_', '-', '/' or ':', starting with a letter or digit";
}

std::optional<std::string> attribute_value_problem(std::string_view value) {
  return text_problem("attribute value", value, kMaxAttributeValue, false);
}

std::optional<std::string> os_problem(std::string_view os) {
  return text_problem("os", os, kMaxOs, false);
}

std::optional<std::string> description_problem(std::string_view description) {
  return text_problem("description", description, kMaxDescription, true);
}

std::optional<std::string> canonical_ip(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string s(text);
  std::array<unsigned char, 16> bytes{};
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (inet_pton(AF_INET, s.c_str(), bytes.data()) == 1) {
    return std::string(inet_ntop(AF_INET, bytes.data(), buf.data(), buf.size()));
  }
  if (inet_pton(AF_INET6, s.c_str(), bytes.data()) != 1) return std::nullopt;
  static constexpr std::array<unsigned char, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), bytes.begin())) {
    return std::string(inet_ntop(AF_INET, bytes.data() + 12, buf.data(), buf.size()));
  }
  return std::string(inet_ntop(AF_INET6, bytes.data(), buf.data(), buf.size()));
}

Result<std::string> canonical_address(std::string_view text) {
  if (auto ip = canonical_ip(text)) return *ip;
  if (auto host = canonical_host_name(text)) return *host;
  return make_error(RepoErrc::kInvalid,
                    "address " + quoted(text) + " is neither an IPv4/IPv6 address nor a host name");
}

}  // namespace duet::repository
