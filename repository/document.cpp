#include "repository/document.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <set>

#include "common/yaml_reader.h"
#include "repository/repository_error.h"

namespace duet::repository {
namespace {

int line_of(const YAML::Node& n) { return n.Mark().line < 0 ? 0 : n.Mark().line + 1; }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

struct Field {
  std::string key;
  int line = 0;
  YAML::Node value;
};

// Reads one YAML mapping strictly: unknown and repeated keys are problems
// (yaml-cpp itself keeps a repeated key silently).
class Parser {
 public:
  explicit Parser(std::vector<Problem>& problems) : problems_(problems) {}

  void problem(int line, std::string what) { problems_.push_back({line, std::move(what)}); }

  std::vector<Field> fields(const YAML::Node& map, const std::string& where,
                            const std::vector<std::string>& allowed) {
    std::vector<Field> out;
    std::map<std::string, int> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const int line = line_of(it->first);
      if (!it->first.IsScalar()) {
        problem(line, where + ": a key must be a text value, found " + yaml_type_name(it->first));
        continue;
      }
      const std::string key = it->first.Scalar();
      if (auto [at, fresh] = seen.emplace(key, line); !fresh) {
        problem(line, where + ": key '" + key + "' appears twice (first at line " +
                          std::to_string(at->second) + ")");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        problem(line, where + ": unknown key '" + key + "' (expected " + join(allowed) + ")");
        continue;
      }
      out.push_back({key, line, it->second});
    }
    return out;
  }

  std::optional<std::string> text(const Field& f, const std::string& where) {
    if (f.value.IsNull()) return std::string();
    if (f.value.IsScalar()) return f.value.Scalar();
    problem(f.line,
            where + ": '" + f.key + "' must be a text value, found " + yaml_type_name(f.value));
    return std::nullopt;
  }

  // A list of text values, or one text value standing for a list of one.
  std::vector<std::string> text_list(const Field& f, const std::string& where, Lines& lines) {
    std::vector<std::string> out;
    lines.at[f.key] = f.line;
    if (f.value.IsNull()) return out;
    if (f.value.IsScalar()) {
      lines.at[f.key + "[0]"] = f.line;
      return {f.value.Scalar()};
    }
    if (!f.value.IsSequence()) {
      problem(f.line, where + ": '" + f.key + "' must be a list, found " + yaml_type_name(f.value));
      return out;
    }
    for (const auto& item : f.value) {
      const int line = line_of(item) == 0 ? f.line : line_of(item);
      if (!item.IsScalar()) {
        problem(line, where + ": each of '" + f.key + "' must be a text value, found " +
                          yaml_type_name(item));
        continue;
      }
      lines.at[f.key + "[" + std::to_string(out.size()) + "]"] = line;
      out.push_back(item.Scalar());
    }
    return out;
  }

  // Each item of a top-level list: a mapping with a name; `where` names it.
  template <typename Fn>
  void each_object(const YAML::Node& list, int line, const std::string& key, Fn fn) {
    if (list.IsNull()) return;
    if (!list.IsSequence()) {
      problem(line, "'" + key + "' must be a list, found " + yaml_type_name(list));
      return;
    }
    std::size_t i = 0;
    for (const auto& item : list) {
      const std::string index = key + "[" + std::to_string(i++) + "]";
      if (!item.IsMap()) {
        problem(line_of(item) == 0 ? line : line_of(item),
                index + ": expected a mapping, found " + yaml_type_name(item));
        continue;
      }
      std::string where = index;
      for (auto it = item.begin(); it != item.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar()) {
          where = (key == "scopes" ? "scope '" : "node '") + it->second.Scalar() + "'";
          break;
        }
      }
      fn(item, where, index);
    }
  }

 private:
  std::vector<Problem>& problems_;
};

void parse_scope(Parser& p, const YAML::Node& item, const std::string& where,
                 const std::string& index, Document& doc) {
  DocScope ds;
  ds.lines.object = line_of(item);
  bool named = false;
  bool bad_name = false;
  for (const auto& f : p.fields(item, where, {"name", "parent", "description"})) {
    ds.lines.at[f.key] = f.line;
    auto value = p.text(f, where);
    named = named || (f.key == "name" && value);  // a bad value is reported already
    if (f.key == "name" && !value) bad_name = true;
    if (!value) continue;
    if (f.key == "name") {
      ds.scope.name = *value;
    } else if (f.key == "parent") {
      ds.scope.parent = *value;
    } else {
      ds.scope.description = *value;
    }
  }
  if (!named) {
    if (!bad_name) p.problem(ds.lines.object, index + ": missing 'name'");
    return;
  }
  doc.scopes.push_back(std::move(ds));
}

void parse_node(Parser& p, const YAML::Node& item, const std::string& where,
                const std::string& index, Document& doc) {
  DocNode dn;
  dn.lines.object = line_of(item);
  bool named = false;
  bool bad_name = false;
  for (const auto& f : p.fields(item, where, {"name", "addresses", "os", "attributes", "scopes"})) {
    dn.lines.at[f.key] = f.line;
    if (f.key == "addresses") {
      dn.node.addresses = p.text_list(f, where, dn.lines);
    } else if (f.key == "scopes") {
      dn.scopes = p.text_list(f, where, dn.lines);
    } else if (f.key == "attributes") {
      if (f.value.IsNull()) continue;
      if (!f.value.IsMap()) {
        p.problem(f.line,
                  where + ": 'attributes' must be a mapping, found " + yaml_type_name(f.value));
        continue;
      }
      std::vector<std::string> keys;
      for (auto it = f.value.begin(); it != f.value.end(); ++it) {
        if (it->first.IsScalar()) keys.push_back(it->first.Scalar());
      }
      for (const auto& a : p.fields(f.value, where + ": attributes", keys)) {
        dn.lines.at["attributes." + a.key] = a.line;
        if (auto value = p.text(a, where + ": attributes")) dn.node.attributes[a.key] = *value;
      }
    } else if (auto value = p.text(f, where)) {
      (f.key == "name" ? dn.node.name : dn.node.os) = *value;
      named = named || f.key == "name";
    } else if (f.key == "name") {
      bad_name = true;  // reported already
    }
  }
  if (!named) {
    if (!bad_name) p.problem(dn.lines.object, index + ": missing 'name'");
    return;
  }
  doc.nodes.push_back(std::move(dn));
}

void check_scope(DocScope& ds, std::map<std::string, int>& seen, std::vector<Problem>& out) {
  const Scope& s = ds.scope;
  const std::string who = "scope '" + s.name + "'";
  if (auto why = scope_name_problem(s.name)) {
    out.push_back({ds.lines.of("name"), "scope " + *why});
  } else if (auto [at, fresh] = seen.emplace(s.name, ds.lines.object); !fresh) {
    out.push_back({ds.lines.of("name"), who + " appears twice in this document (first at line " +
                                            std::to_string(at->second) + ")"});
  }
  if (!s.parent.empty()) {
    if (auto why = scope_name_problem(s.parent)) {
      out.push_back({ds.lines.of("parent"), who + ": parent " + *why});
    }
  }
  if (auto why = description_problem(s.description)) {
    out.push_back({ds.lines.of("description"), who + ": " + *why});
  }
}

void check_node(DocNode& dn, std::map<std::string, int>& seen, std::vector<Problem>& out) {
  Node& n = dn.node;
  const std::string who = "node '" + n.name + "'";
  auto add = [&](const std::string& key, const std::string& why) {
    out.push_back({dn.lines.of(key), who + ": " + why});
  };
  if (auto why = name_problem(n.name)) {
    out.push_back({dn.lines.of("name"), "node " + *why});
  } else if (auto [at, fresh] = seen.emplace(n.name, dn.lines.object); !fresh) {
    out.push_back({dn.lines.of("name"), who + " appears twice in this document (first at line " +
                                            std::to_string(at->second) + ")"});
  }
  if (n.addresses.empty()) add("addresses", "give at least one address (an IP or a host name)");
  if (n.addresses.size() > kMaxAddresses) {
    add("addresses", "more than " + std::to_string(kMaxAddresses) + " addresses");
  }
  std::set<std::string> addresses;
  for (std::size_t i = 0; i < n.addresses.size(); ++i) {
    const std::string key = "addresses[" + std::to_string(i) + "]";
    auto canonical = canonical_address(n.addresses[i]);
    if (!canonical.ok()) {
      add(key, canonical.error().message);
      continue;
    }
    if (!addresses.insert(*canonical).second) {
      add(key, "address '" + *canonical + "' is listed twice");
    }
    n.addresses[i] = *canonical;
  }
  if (auto why = os_problem(n.os)) add("os", *why);
  if (n.attributes.size() > kMaxAttributes) {
    add("attributes", "more than " + std::to_string(kMaxAttributes) + " attributes");
  }
  for (const auto& [key, value] : n.attributes) {
    if (auto why = attribute_key_problem(key)) add("attributes." + key, *why);
    if (auto why = attribute_value_problem(value)) add("attributes." + key, key + ": " + *why);
  }
  std::set<std::string> scopes;
  for (std::size_t i = 0; i < dn.scopes.size(); ++i) {
    const std::string key = "scopes[" + std::to_string(i) + "]";
    if (auto why = scope_name_problem(dn.scopes[i])) {
      add(key, "scope " + *why);
    } else if (!scopes.insert(dn.scopes[i]).second) {
      add(key, "scope '" + dn.scopes[i] + "' is listed twice");
    }
  }
}

}  // namespace

int Lines::of(const std::string& key) const {
  if (auto it = at.find(key); it != at.end()) return it->second;
  const auto bracket = key.find_first_of("[.");
  if (bracket != std::string::npos) {
    if (auto it = at.find(key.substr(0, bracket)); it != at.end()) return it->second;
  }
  return object;
}

std::string format_problems(const std::string& file, std::vector<Problem> problems) {
  std::stable_sort(problems.begin(), problems.end(),
                   [](const Problem& a, const Problem& b) { return a.line < b.line; });
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += "\n";
    if (!file.empty() && p.line > 0) out += file + ":" + std::to_string(p.line) + ": ";
    out += p.what;
  }
  return out;
}

std::vector<Problem> normalize(Document& doc) {
  std::vector<Problem> out;
  std::map<std::string, int> scopes;
  for (auto& ds : doc.scopes) check_scope(ds, scopes, out);
  std::map<std::string, int> nodes;
  for (auto& dn : doc.nodes) check_node(dn, nodes, out);
  return out;
}

std::vector<Problem> parse_into(std::string_view text, Document& doc) {
  std::vector<Problem> problems;
  std::vector<YAML::Node> roots;
  try {
    roots = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    problems.push_back({e.mark.line < 0 ? 0 : e.mark.line + 1, "YAML syntax: " + e.msg});
    return problems;
  }
  if (roots.size() > 1) {
    problems.push_back({line_of(roots[1]), "more than one YAML document: put everything in one"});
  }
  Parser p(problems);
  if (!roots.empty() && !roots[0].IsNull()) {
    const YAML::Node& root = roots[0];
    if (!root.IsMap()) {
      p.problem(line_of(root), std::string("expected a mapping with 'scopes' and 'nodes', found ") +
                                   yaml_type_name(root));
    } else {
      for (const auto& f : p.fields(root, "document", {"scopes", "nodes"})) {
        if (f.key == "scopes") {
          p.each_object(f.value, f.line, "scopes",
                        [&](const YAML::Node& item, const std::string& where,
                            const std::string& index) { parse_scope(p, item, where, index, doc); });
        } else {
          p.each_object(f.value, f.line, "nodes",
                        [&](const YAML::Node& item, const std::string& where,
                            const std::string& index) { parse_node(p, item, where, index, doc); });
        }
      }
    }
  }
  return problems;
}

Result<Document> parse_document(std::string_view text, const std::string& file) {
  Document doc;
  doc.file = file;
  auto problems = parse_into(text, doc);
  auto more = normalize(doc);
  problems.insert(problems.end(), more.begin(), more.end());
  if (!problems.empty()) return make_error(RepoErrc::kInvalid, format_problems(file, problems));
  return doc;
}

}  // namespace duet::repository
