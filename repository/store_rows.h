#pragma once

// The repository in the replicated store (schema migration 4): one row per
// node, scope and membership, so every change is journaled and replicated
// like any other table.
//
//   repo_nodes    name | addresses (JSON list) | os | attributes (JSON object) | updated_at_ms |
//   updated_by repo_scopes   name | parent ('' = top) | description | updated_at_ms | updated_by
//   repo_members  key ("scope/node") | scope | node | updated_at_ms | updated_by
//
// load_state() reads a store synchronously (call it on the store's owner
// thread); to_batch() makes the WriteBatch that carries a plan out in one
// transaction.

#include <string>

#include "common/result.h"
#include "repository/model.h"
#include "repository/plan.h"
#include "store/store.h"

namespace duet::repository {

inline constexpr const char* kNodesTable = "repo_nodes";
inline constexpr const char* kScopesTable = "repo_scopes";
inline constexpr const char* kMembersTable = "repo_members";

// "scope/node": names never hold '/', so the key is unambiguous.
std::string member_key(const Membership& m);

store::Row node_row(const Node& node);
store::Row scope_row(const Scope& scope);
store::Row member_row(const Membership& m, const Stamp& stamp);
Result<Node> node_from_row(const store::Row& row);
Result<Scope> scope_from_row(const store::Row& row);
Result<Membership> member_from_row(const store::Row& row);

// Every node, scope and membership `store` holds. A row that cannot be read
// is left out and listed in State::damaged; a store error is passed on as it
// is.
Result<State> load_state(store::Store& store);

// kBadRow naming every damaged row of `state` and what to do, or OK.
Status check_damage(const State& state);

// The writes of `plan`, each row stamped with `stamp`.
store::WriteBatch to_batch(const Plan& plan, const Stamp& stamp);

}  // namespace duet::repository
