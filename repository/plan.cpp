#include "repository/plan.h"

#include <algorithm>
#include <set>

#include "repository/repository_error.h"

namespace duet::repository {
namespace {

const std::string kNowhere = " does not exist (neither in this document nor in the repository)";

// The problems of `doc`'s references against `current` (see plan_apply).
std::vector<Problem> reference_problems(const State& current, const Document& doc) {
  std::vector<Problem> out;
  std::map<std::string, std::string> parents;  // the scope tree after the change
  for (const auto& [name, s] : current.scopes) parents[name] = s.parent;
  for (const auto& ds : doc.scopes) parents[ds.scope.name] = ds.scope.parent;

  // Names that break the rules are reported by normalize() already.
  for (const auto& ds : doc.scopes) {
    const Scope& s = ds.scope;
    if (!s.parent.empty() && parents.count(s.parent) == 0 && !scope_name_problem(s.parent)) {
      out.push_back(
          {ds.lines.of("parent"), "scope '" + s.name + "': parent '" + s.parent + "'" + kNowhere});
    }
  }
  // A cycle is reported once, at the first scope of the document on it.
  std::set<std::string> on_reported_cycle;
  for (const auto& ds : doc.scopes) {
    const std::string& name = ds.scope.name;
    if (on_reported_cycle.count(name) != 0) continue;
    std::vector<std::string> path{name};
    std::set<std::string> seen{name};
    std::string at = ds.scope.parent;
    while (!at.empty()) {
      if (at == name) {
        std::string text;
        for (const auto& p : path) text += p + " -> ";
        out.push_back({ds.lines.of("parent"), "scope '" + name + "': parent '" + ds.scope.parent +
                                                  "' makes a cycle: " + text + name});
        on_reported_cycle.insert(path.begin(), path.end());
        break;
      }
      auto it = parents.find(at);
      if (it == parents.end() || !seen.insert(at).second) break;  // missing: reported above
      path.push_back(at);
      at = it->second;
    }
  }
  for (const auto& dn : doc.nodes) {
    for (std::size_t i = 0; i < dn.scopes.size(); ++i) {
      if (parents.count(dn.scopes[i]) == 0 && !scope_name_problem(dn.scopes[i])) {
        out.push_back({dn.lines.of("scopes[" + std::to_string(i) + "]"),
                       "node '" + dn.node.name + "': scope '" + dn.scopes[i] + "'" + kNowhere});
      }
    }
  }
  return out;
}

void plan_scope(const State& current, const DocScope& ds, Plan& plan) {
  const Scope& want = ds.scope;
  Change change{"scope", want.name, Action::kCreate, {}};
  if (auto it = current.scopes.find(want.name); it != current.scopes.end()) {
    const Scope& have = it->second;
    if (have.parent != want.parent) change.fields.push_back("parent");
    if (have.description != want.description) change.fields.push_back("description");
    change.action = change.fields.empty() ? Action::kUnchanged : Action::kUpdate;
  }
  if (change.action != Action::kUnchanged) {
    plan.put_scopes.push_back(Scope{want.name, want.parent, want.description, {}});
  }
  plan.changes.push_back(std::move(change));
}

void plan_node(const State& current, const std::map<std::string, std::vector<std::string>>& scopes,
               const DocNode& dn, Plan& plan) {
  const Node& want = dn.node;
  const std::set<std::string> want_scopes(dn.scopes.begin(), dn.scopes.end());
  std::set<std::string> have_scopes;
  if (auto it = scopes.find(want.name); it != scopes.end()) {
    have_scopes.insert(it->second.begin(), it->second.end());
  }
  Change change{"node", want.name, Action::kCreate, {}};
  bool content_changed = true;
  if (auto it = current.nodes.find(want.name); it != current.nodes.end()) {
    const Node& have = it->second;
    if (have.addresses != want.addresses) change.fields.push_back("addresses");
    if (have.os != want.os) change.fields.push_back("os");
    if (have.attributes != want.attributes) change.fields.push_back("attributes");
    content_changed = !change.fields.empty();
    if (have_scopes != want_scopes) change.fields.push_back("scopes");
    change.action = change.fields.empty() ? Action::kUnchanged : Action::kUpdate;
  }
  if (content_changed) {
    plan.put_nodes.push_back(Node{want.name, want.addresses, want.os, want.attributes, {}});
  }
  for (const auto& s : want_scopes) {
    if (have_scopes.count(s) == 0) plan.put_members.push_back({s, want.name});
  }
  for (const auto& s : have_scopes) {
    if (want_scopes.count(s) == 0) plan.erase_members.push_back({s, want.name});
  }
  plan.changes.push_back(std::move(change));
}

void erase_memberships(const State& current, Plan& plan,
                       bool (*matches)(const Membership&, const std::string&),
                       const std::string& name) {
  for (const auto& m : current.members) {
    if (!matches(m, name)) continue;
    plan.erase_members.push_back(m);
    plan.changes.push_back({"membership", m.scope + "/" + m.node, Action::kRemove, {}});
  }
}

// `name` has a row of `kind` that could not be read.
bool damaged(const State& current, DamagedRow::Kind kind, const std::string& name) {
  return std::any_of(current.damaged.begin(), current.damaged.end(),
                     [&](const DamagedRow& d) { return d.kind == kind && d.key == name; });
}

}  // namespace

const char* action_name(Action action) {
  switch (action) {
    case Action::kCreate:
      return "created";
    case Action::kUpdate:
      return "updated";
    case Action::kUnchanged:
      return "unchanged";
    case Action::kRemove:
      return "removed";
  }
  return "unchanged";
}

bool Plan::writes() const {
  return !put_scopes.empty() || !put_nodes.empty() || !put_members.empty() ||
         !erase_scopes.empty() || !erase_nodes.empty() || !erase_members.empty();
}

std::size_t Plan::count(Action action) const {
  return static_cast<std::size_t>(std::count_if(
      changes.begin(), changes.end(), [action](const Change& c) { return c.action == action; }));
}

Result<Plan> plan_apply(const State& current, Document doc, std::vector<Problem> problems) {
  auto own = normalize(doc);
  auto references = reference_problems(current, doc);
  problems.insert(problems.end(), own.begin(), own.end());
  problems.insert(problems.end(), references.begin(), references.end());
  if (!problems.empty()) {
    return make_error(RepoErrc::kInvalid, format_problems(doc.file, std::move(problems)));
  }
  Plan plan;
  for (const auto& ds : doc.scopes) plan_scope(current, ds, plan);
  const auto scopes = current.scopes_by_node();
  for (const auto& dn : doc.nodes) plan_node(current, scopes, dn, plan);
  return plan;
}

Result<Plan> plan_add(const State& current, Document doc) {
  DUET_ASSIGN_OR_RETURN(Plan plan, plan_apply(current, std::move(doc)));
  for (const auto& c : plan.changes) {
    if (c.action != Action::kUpdate) continue;
    std::string fields;
    for (const auto& f : c.fields) fields += (fields.empty() ? "" : ", ") + f;
    return make_error(RepoErrc::kExists, c.kind + " '" + c.name + "' exists with other " + fields +
                                             "; change it with 'duetctl apply -f FILE' or " +
                                             "remove it first");
  }
  return plan;
}

Result<Plan> plan_remove_node(const State& current, const std::string& name) {
  if (current.nodes.count(name) == 0 && !damaged(current, DamagedRow::Kind::kNode, name)) {
    return make_error(RepoErrc::kNotFound, "no node '" + name + "'");
  }
  Plan plan;
  plan.erase_nodes.push_back(name);
  plan.changes.push_back({"node", name, Action::kRemove, {}});
  erase_memberships(
      current, plan, [](const Membership& m, const std::string& n) { return m.node == n; }, name);
  return plan;
}

Result<Plan> plan_remove_scope(const State& current, const std::string& name) {
  if (current.scopes.count(name) == 0 && !damaged(current, DamagedRow::Kind::kScope, name)) {
    return make_error(RepoErrc::kNotFound, "no scope '" + name + "'");
  }
  if (auto children = current.children_of(name); !children.empty()) {
    std::string list;
    for (const auto& c : children) list += (list.empty() ? "" : ", ") + c;
    return make_error(RepoErrc::kHasChildren,
                      "scope '" + name + "' has child scopes: " + list +
                          "; remove them or give them another parent first");
  }
  Plan plan;
  plan.erase_scopes.push_back(name);
  plan.changes.push_back({"scope", name, Action::kRemove, {}});
  erase_memberships(
      current, plan, [](const Membership& m, const std::string& s) { return m.scope == s; }, name);
  return plan;
}

State applied(State state, const Plan& plan) {
  for (const auto& s : plan.put_scopes) state.scopes[s.name] = s;
  for (const auto& n : plan.put_nodes) state.nodes[n.name] = n;
  for (const auto& m : plan.erase_members) state.members.erase(m);
  for (const auto& m : plan.put_members) state.members.insert(m);
  for (const auto& s : plan.erase_scopes) state.scopes.erase(s);
  for (const auto& n : plan.erase_nodes) state.nodes.erase(n);
  return state;
}

Document document_of(const State& state) {
  Document doc;
  for (const auto& entry : tree_order(state)) {
    const Scope& s = *entry.scope;
    doc.scopes.push_back(DocScope{Scope{s.name, s.parent, s.description, {}}, {}});
  }
  auto scopes = state.scopes_by_node();
  for (const auto& [name, n] : state.nodes) {
    doc.nodes.push_back(
        DocNode{Node{n.name, n.addresses, n.os, n.attributes, {}}, std::move(scopes[name]), {}});
  }
  return doc;
}

}  // namespace duet::repository
