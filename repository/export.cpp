#include "repository/export.h"

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "repository/plan.h"

namespace duet::repository {
namespace {

// A plain scalar that YAML would read as null (or as nothing) must be quoted
// to come back as text; yaml-cpp quotes everything else that needs it.
bool needs_quotes(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

YAML::Emitter& text(YAML::Emitter& out, const std::string& s) {
  if (needs_quotes(s)) return out << YAML::DoubleQuoted << s;
  return out << s;
}

}  // namespace

std::string export_yaml(const State& state, const std::string& comment) {
  const Document doc = document_of(state);
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::BeginMap;
  // An empty list reads better as "[]" on the key's line.
  out << YAML::Key << "scopes" << YAML::Value;
  if (doc.scopes.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& ds : doc.scopes) {
    const Scope& s = ds.scope;
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value;
    text(out, s.name);
    if (!s.parent.empty()) text(out << YAML::Key << "parent" << YAML::Value, s.parent);
    if (!s.description.empty()) {
      text(out << YAML::Key << "description" << YAML::Value, s.description);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "nodes" << YAML::Value;
  if (doc.nodes.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& dn : doc.nodes) {
    const Node& n = dn.node;
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value;
    text(out, n.name);
    out << YAML::Key << "addresses" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& a : n.addresses) text(out, a);
    out << YAML::EndSeq;
    if (!n.os.empty()) text(out << YAML::Key << "os" << YAML::Value, n.os);
    if (!n.attributes.empty()) {
      out << YAML::Key << "attributes" << YAML::Value << YAML::BeginMap;
      for (const auto& [k, v] : n.attributes) text(text(out << YAML::Key, k) << YAML::Value, v);
      out << YAML::EndMap;
    }
    if (!dn.scopes.empty()) {
      out << YAML::Key << "scopes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& s : dn.scopes) text(out, s);
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;

  std::ostringstream text_out;
  std::istringstream lines(comment);
  for (std::string line; std::getline(lines, line);) text_out << "# " << line << "\n";
  text_out << out.c_str() << "\n";
  return text_out.str();
}

}  // namespace duet::repository
