#include "repository/store_rows.h"

#include <nlohmann/json.hpp>

#include "repository/repository_error.h"

namespace duet::repository {
namespace {

using nlohmann::json;

const std::string* text_field(const store::Row& row, const char* name) {
  const store::Value* v = store::find_field(row, name);
  return v != nullptr && std::holds_alternative<std::string>(*v) ? &std::get<std::string>(*v)
                                                                 : nullptr;
}

Stamp stamp_of(const store::Row& row) {
  Stamp s;
  if (const store::Value* at = store::find_field(row, "updated_at_ms");
      at != nullptr && std::holds_alternative<std::int64_t>(*at)) {
    s.at_ms = std::get<std::int64_t>(*at);
  }
  if (const std::string* by = text_field(row, "updated_by")) s.by = *by;
  return s;
}

void add_stamp(store::Row& row, const Stamp& s) {
  row.push_back({"updated_at_ms", s.at_ms});
  row.push_back({"updated_by", s.by});
}

Error bad_row(const char* table, const std::string& key, const std::string& why) {
  return make_error(RepoErrc::kBadRow, std::string(table) + " row '" + key + "': " + why);
}

}  // namespace

std::string member_key(const Membership& m) { return m.scope + "/" + m.node; }

store::Row node_row(const Node& node) {
  json attributes = json::object();
  for (const auto& [k, v] : node.attributes) attributes[k] = v;
  store::Row row{{"name", node.name},
                 {"addresses", json(node.addresses).dump()},
                 {"os", node.os},
                 {"attributes", attributes.dump()}};
  add_stamp(row, node.updated);
  return row;
}

store::Row scope_row(const Scope& scope) {
  store::Row row{
      {"name", scope.name}, {"parent", scope.parent}, {"description", scope.description}};
  add_stamp(row, scope.updated);
  return row;
}

store::Row member_row(const Membership& m, const Stamp& stamp) {
  store::Row row{{"key", member_key(m)}, {"scope", m.scope}, {"node", m.node}};
  add_stamp(row, stamp);
  return row;
}

Result<Node> node_from_row(const store::Row& row) {
  const std::string* name = text_field(row, "name");
  const std::string* addresses = text_field(row, "addresses");
  const std::string* os = text_field(row, "os");
  const std::string* attributes = text_field(row, "attributes");
  const std::string key = name != nullptr ? *name : "?";
  if (name == nullptr || addresses == nullptr || os == nullptr || attributes == nullptr) {
    return bad_row(kNodesTable, key, "a column is missing or not text");
  }
  Node n;
  n.name = *name;
  n.os = *os;
  n.updated = stamp_of(row);
  const json a = json::parse(*addresses, nullptr, /*allow_exceptions=*/false);
  if (!a.is_array()) return bad_row(kNodesTable, key, "addresses is not a JSON list");
  for (const auto& item : a) {
    if (!item.is_string()) return bad_row(kNodesTable, key, "an address is not text");
    n.addresses.push_back(item.get<std::string>());
  }
  const json at = json::parse(*attributes, nullptr, /*allow_exceptions=*/false);
  if (!at.is_object()) return bad_row(kNodesTable, key, "attributes is not a JSON object");
  for (const auto& [k, v] : at.items()) {
    if (!v.is_string()) return bad_row(kNodesTable, key, "attribute '" + k + "' is not text");
    n.attributes[k] = v.get<std::string>();
  }
  return n;
}

Result<Scope> scope_from_row(const store::Row& row) {
  const std::string* name = text_field(row, "name");
  const std::string* parent = text_field(row, "parent");
  const std::string* description = text_field(row, "description");
  if (name == nullptr || parent == nullptr || description == nullptr) {
    return bad_row(kScopesTable, name != nullptr ? *name : "?", "a column is missing or not text");
  }
  return Scope{*name, *parent, *description, stamp_of(row)};
}

Result<Membership> member_from_row(const store::Row& row) {
  const std::string* key = text_field(row, "key");
  const std::string* scope = text_field(row, "scope");
  const std::string* node = text_field(row, "node");
  if (key == nullptr || scope == nullptr || node == nullptr) {
    return bad_row(kMembersTable, key != nullptr ? *key : "?", "a column is missing or not text");
  }
  return Membership{*scope, *node};
}

Result<State> load_state(store::Store& store) {
  State state;
  // Reads one table, decoding each row with `decode` and keeping it with
  // `keep`; a row that does not decode is listed as damaged under its key.
  auto read = [&](const char* table, const char* key_column, DamagedRow::Kind kind, auto decode,
                  auto keep) -> Status {
    return store.scan(table, [&](const store::Row& row) {
      auto value = decode(row);
      if (value.ok()) {
        keep(std::move(value).value());
      } else {
        const std::string* key = text_field(row, key_column);
        state.damaged.push_back({kind, key != nullptr ? *key : "", value.error().message});
      }
      return true;
    });
  };
  DUET_TRY(read(kScopesTable, "name", DamagedRow::Kind::kScope, scope_from_row,
                [&](Scope s) { state.scopes.emplace(s.name, std::move(s)); }));
  DUET_TRY(read(kNodesTable, "name", DamagedRow::Kind::kNode, node_from_row,
                [&](Node n) { state.nodes.emplace(n.name, std::move(n)); }));
  DUET_TRY(read(kMembersTable, "key", DamagedRow::Kind::kMembership, member_from_row,
                [&](Membership m) { state.members.insert(std::move(m)); }));
  return state;
}

Status check_damage(const State& state) {
  if (state.damaged.empty()) return ok_status();
  std::string text;
  for (const auto& d : state.damaged) text += (text.empty() ? "" : "; ") + d.why;
  return make_error(RepoErrc::kBadRow,
                    "damaged repository rows on this node: " + text +
                        ". Apply the object again (that replaces its row) or remove it, or "
                        "re-seed this node from its peer (docs/repository.md)");
}

store::WriteBatch to_batch(const Plan& plan, const Stamp& stamp) {
  store::WriteBatch batch;
  for (Scope s : plan.put_scopes) {
    s.updated = stamp;
    batch.put(kScopesTable, scope_row(s));
  }
  for (Node n : plan.put_nodes) {
    n.updated = stamp;
    batch.put(kNodesTable, node_row(n));
  }
  for (const auto& m : plan.erase_members) batch.erase(kMembersTable, member_key(m));
  for (const auto& m : plan.put_members) batch.put(kMembersTable, member_row(m, stamp));
  for (const auto& s : plan.erase_scopes) batch.erase(kScopesTable, s);
  for (const auto& n : plan.erase_nodes) batch.erase(kNodesTable, n);
  return batch;
}

}  // namespace duet::repository
