#pragma once

// Which node(s) a source address belongs to and which scopes they sit in,
// for event intake (a syslog or SNMP sender's address). Built once from a
// State; a later change of the repository needs a new Resolver.
//
// Addresses compare in canonical form (model.h): "::ffff:10.0.0.1" finds the
// node registered as 10.0.0.1, "Web01.Example.NET" the one registered as
// web01.example.net. An address no node has resolves to the scope
// "unregistered"; a node in no scope resolves to no scopes.
//
// Immutable after construction: resolve() is safe from any thread.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "repository/model.h"

namespace duet::repository {

struct Resolution {
  std::vector<std::string> nodes;      // sorted; empty: unregistered
  std::vector<std::string> scopes;     // the nodes' own scopes, sorted, or {"unregistered"}
  std::vector<std::string> enclosing;  // those and every scope above them, sorted

  bool registered() const { return !nodes.empty(); }
};

class Resolver {
 public:
  explicit Resolver(const State& state);

  Resolution resolve(std::string_view address) const;

 private:
  std::map<std::string, std::vector<std::string>> nodes_by_address_;
  std::map<std::string, std::vector<std::string>> scopes_;     // node -> own scopes
  std::map<std::string, std::vector<std::string>> enclosing_;  // node -> with ancestors
};

}  // namespace duet::repository
