#pragma once

// The repository model: nodes (managed hosts and devices), scopes (a tree)
// and memberships (node <-> scope, many to many), and the rules a single
// value keeps. Plain values, no I/O; every function is pure and safe to call
// from any thread on values it does not share.
//
// Canonical forms: an address is stored as inet_ntop prints it (IPv4-mapped
// IPv6 as IPv4) or, for a host name, in lower case without a trailing dot.
// Equal content therefore compares equal whatever the operator typed, which
// is what makes `apply` idempotent.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duet::repository {

// The scope an address with no node belongs to (see resolver.h); reserved.
inline constexpr std::string_view kUnregistered = "unregistered";

// Limits, so one object cannot grow without bound (docs/repository.md).
inline constexpr std::size_t kMaxAddresses = 64;
inline constexpr std::size_t kMaxAttributes = 256;
inline constexpr std::size_t kMaxAttributeKey = 128;
inline constexpr std::size_t kMaxAttributeValue = 1024;
inline constexpr std::size_t kMaxOs = 128;
inline constexpr std::size_t kMaxDescription = 1024;

// Who wrote a row and when: bookkeeping, never compared or exported.
struct Stamp {
  std::int64_t at_ms = 0;
  std::string by;
};

struct Node {
  std::string name;
  std::vector<std::string> addresses;  // canonical, in the operator's order, no duplicates
  std::string os;
  std::map<std::string, std::string> attributes;
  Stamp updated;
};

struct Scope {
  std::string name;
  std::string parent;  // empty: a top scope
  std::string description;
  Stamp updated;
};

struct Membership {
  std::string scope;
  std::string node;
  auto operator<=>(const Membership&) const = default;
};

// Content equality (the stamps are ignored).
bool same_content(const Node& a, const Node& b);
bool same_content(const Scope& a, const Scope& b);

// A stored row that could not be read back (store_rows.h): a bug or a
// damaged database. It is left out of the State; writing the object again
// replaces the row, removing it deletes the row.
struct DamagedRow {
  enum class Kind { kNode, kScope, kMembership };
  Kind kind = Kind::kNode;
  std::string key;  // a name, or "scope/node" for a membership
  std::string why;  // "repo_nodes row 'x': addresses is not a JSON list"
};

// The whole repository as one node's store holds it.
struct State {
  std::map<std::string, Node> nodes;
  std::map<std::string, Scope> scopes;
  std::set<Membership> members;  // ordered by (scope, node)
  std::vector<DamagedRow> damaged;

  // Scopes `node` sits in directly, sorted (a scan of every membership).
  std::vector<std::string> scopes_of(const std::string& node) const;
  // The same for every node at once (nodes in no scope are absent).
  std::map<std::string, std::vector<std::string>> scopes_by_node() const;
  // Child scopes of `scope` (empty: the top scopes), sorted.
  std::vector<std::string> children_of(const std::string& scope) const;
  // `scope` and its ancestors up to the top, nearest first (stops at a
  // missing parent or a repeat, so a damaged state cannot loop).
  std::vector<std::string> lineage(const std::string& scope) const;
  // Nodes in `scope` or in any scope below it, sorted.
  std::vector<std::string> nodes_within(const std::string& scope) const;
};

struct ScopeInTree {
  const Scope* scope = nullptr;
  int depth = 0;  // 0 for a top scope
};

// Every scope in tree order: top scopes by name, each followed by its
// children depth first, by name. A scope whose parent is missing is listed
// as a top scope.
std::vector<ScopeInTree> tree_order(const State& state);

// --- The rules for one value. Each returns why the value is refused, or
// nullopt when it is valid.

// Names of nodes and scopes: [A-Za-z0-9][A-Za-z0-9._-]{0,62}; "unregistered"
// is reserved for scopes.
[[nodiscard]] std::optional<std::string> name_problem(std::string_view name);
[[nodiscard]] std::optional<std::string> scope_name_problem(std::string_view name);
[[nodiscard]] std::optional<std::string> attribute_key_problem(std::string_view key);
[[nodiscard]] std::optional<std::string> attribute_value_problem(std::string_view value);
[[nodiscard]] std::optional<std::string> os_problem(std::string_view os);
[[nodiscard]] std::optional<std::string> description_problem(std::string_view description);

// The canonical form of an IPv4/IPv6 address or a host name (RFC 1123
// labels, the last one not all digits), or kInvalid saying why not.
Result<std::string> canonical_address(std::string_view text);
// The canonical form of an IP address only (the resolver's input), or nullopt.
[[nodiscard]] std::optional<std::string> canonical_ip(std::string_view text);

}  // namespace duet::repository
