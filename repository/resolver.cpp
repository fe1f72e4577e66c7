#include "repository/resolver.h"

#include <set>

namespace duet::repository {

Resolver::Resolver(const State& state) {
  auto scopes = state.scopes_by_node();
  for (const auto& [name, node] : state.nodes) {
    for (const auto& a : node.addresses) nodes_by_address_[a].push_back(name);
    auto& own = scopes_[name];
    std::set<std::string> all;
    for (const auto& s : scopes[name]) {
      own.push_back(s);
      for (const auto& up : state.lineage(s)) all.insert(up);
    }
    enclosing_[name].assign(all.begin(), all.end());
  }
}

Resolution Resolver::resolve(std::string_view address) const {
  Resolution r;
  auto canonical = canonical_address(address);
  auto it = canonical.ok() ? nodes_by_address_.find(*canonical) : nodes_by_address_.end();
  if (it == nodes_by_address_.end()) {
    r.scopes = {std::string(kUnregistered)};
    r.enclosing = r.scopes;
    return r;
  }
  r.nodes = it->second;  // built in name order
  std::set<std::string> own;
  std::set<std::string> all;
  for (const auto& n : r.nodes) {
    own.insert(scopes_.at(n).begin(), scopes_.at(n).end());
    all.insert(enclosing_.at(n).begin(), enclosing_.at(n).end());
  }
  r.scopes.assign(own.begin(), own.end());
  r.enclosing.assign(all.begin(), all.end());
  return r;
}

}  // namespace duet::repository
