#pragma once

// Planning a change of the repository: from the current state and what the
// operator asked for, the list of row upserts and deletes, and what happens
// to each object (created / updated / unchanged / removed). Pure functions;
// the caller commits the plan (store_rows.h: to_batch) or only shows it
// (a dry run).
//
// apply is create/update only: objects that are not in the document stay as
// they are. An object in the document is set to exactly what it says, its
// memberships included (a node's `scopes` replaces the scopes it sat in).
// Planning the same document against the state it produced yields no writes
// and every object "unchanged": applying twice changes nothing.

#include <string>
#include <vector>

#include "common/result.h"
#include "repository/document.h"
#include "repository/model.h"

namespace duet::repository {

enum class Action { kCreate, kUpdate, kUnchanged, kRemove };

// "created", "updated", "unchanged", "removed".
const char* action_name(Action action);

struct Change {
  std::string kind;  // "scope", "node", "membership" (named "scope/node")
  std::string name;
  Action action = Action::kUnchanged;
  std::vector<std::string> fields;  // kUpdate: what changed ("addresses", "scopes", ...)
};

struct Plan {
  std::vector<Change> changes;  // scopes, then nodes, in document order; then memberships
  std::vector<Scope> put_scopes;
  std::vector<Node> put_nodes;
  std::vector<Membership> put_members;
  std::vector<std::string> erase_scopes;
  std::vector<std::string> erase_nodes;
  std::vector<Membership> erase_members;

  bool writes() const;
  std::size_t count(Action action) const;
};

// Checks `doc` whole and plans it: each object on its own (normalize()), each
// scope's parent and each node's scopes exist in the document or the
// repository, and the scope tree that would result has no cycle. kInvalid
// lists every problem, those of `problems` (from parse_into()) included, as
// "FILE:LINE: ..." lines.
Result<Plan> plan_apply(const State& current, Document doc, std::vector<Problem> problems = {});

// The same for `nodes add` / `scopes add`: an object that exists with other
// content is kExists (change it with apply, or remove it first); one that
// exists as given is "unchanged".
Result<Plan> plan_add(const State& current, Document doc);

// A node and its memberships; kNotFound when there is no such node.
Result<Plan> plan_remove_node(const State& current, const std::string& name);
// A scope and its memberships (the nodes stay); kNotFound, or kHasChildren
// naming the child scopes.
Result<Plan> plan_remove_scope(const State& current, const std::string& name);

// `state` with `plan` carried out (what the store holds after committing it).
State applied(State state, const Plan& plan);

// The document equal to `state` (export; see export_yaml in export.h).
Document document_of(const State& state);

}  // namespace duet::repository
