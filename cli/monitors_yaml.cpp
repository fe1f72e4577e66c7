#include "cli/monitors_yaml.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>

#include "common/priority.h"
#include "common/yaml_reader.h"

namespace duet::cli {
namespace {

// The manager's limits (monitors/check.cpp validate_monitor()), checked here
// too so that a file breaking them is refused before anything is written.
constexpr std::uint32_t kMinIntervalS = 10;
constexpr std::uint32_t kMaxIntervalS = 86400;
constexpr std::uint32_t kMaxTimeoutS = 3600;
constexpr std::uint32_t kDefaultIntervalS = 60;
constexpr std::uint32_t kDefaultTimeoutS = 10;

const std::vector<std::string> kMonitorKeys{"name",        "kind",     "node",     "scope",
                                            "runs_on",     "interval", "timeout",  "enabled",
                                            "description", "params",   "judgement"};
const std::vector<std::string> kJudgementKeys{"metric", "info", "warning", "patterns", "otherwise"};
const std::vector<std::string> kPatternKeys{"regex", "priority"};

using Reader = FieldReader;
using Field = YamlField;
int line_of(const YAML::Node& n) { return yaml_line(n); }

void parse_params(Reader& r, const Field& f, const std::string& where, FileMonitor& m) {
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    r.problem(f.line, where + ": 'params' must be a mapping, found " + yaml_type_name(f.value));
    return;
  }
  auto& params = *m.def.mutable_params();
  for (const auto& p : r.fields(f.value, where + ": params", nullptr)) {
    m.lines["params." + p.key] = p.line;
    if (auto value = r.text(p, where + ": params")) params[p.key] = *value;
  }
}

void parse_patterns(Reader& r, const Field& f, const std::string& where, FileMonitor& m) {
  if (f.value.IsNull()) return;
  if (!f.value.IsSequence()) {
    r.problem(f.line,
              where + ": judgement.patterns must be a list, found " + yaml_type_name(f.value));
    return;
  }
  auto* j = m.def.mutable_judgement();
  std::size_t i = 0;
  for (const auto& item : f.value) {
    const std::string path = "judgement.patterns[" + std::to_string(i++) + "]";
    const int line = line_of(item) == 0 ? f.line : line_of(item);
    m.lines[path] = line;
    if (!item.IsMap()) {
      r.problem(line, where + ": " + path + ": expected a mapping with regex and priority, found " +
                          yaml_type_name(item));
      continue;
    }
    auto* pattern = j->add_patterns();
    bool has_regex = false, has_priority = false;
    for (const auto& p : r.fields(item, where + ": " + path, &kPatternKeys)) {
      m.lines[path + "." + p.key] = p.line;
      if (p.key == "regex") {
        if (auto v = r.text(p, where + ": " + path)) pattern->set_regex(*v);
        has_regex = true;
      } else {
        if (auto v = r.priority(p, where, path + ".priority")) pattern->set_priority(*v);
        has_priority = true;
      }
    }
    if (!has_regex) r.problem(line, where + ": " + path + ": missing 'regex'");
    if (!has_priority) r.problem(line, where + ": " + path + ": missing 'priority'");
  }
}

void parse_judgement(Reader& r, const Field& f, const std::string& where, FileMonitor& m) {
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    r.problem(f.line, where + ": 'judgement' must be a mapping, found " + yaml_type_name(f.value));
    return;
  }
  auto* j = m.def.mutable_judgement();
  for (const auto& g : r.fields(f.value, where + ": judgement", &kJudgementKeys)) {
    m.lines["judgement." + g.key] = g.line;
    if (g.key == "patterns") {
      parse_patterns(r, g, where, m);
    } else if (g.key == "otherwise") {
      if (auto v = r.priority(g, where, "judgement.otherwise")) j->set_otherwise(*v);
    } else if (auto v = r.text(g, where + ": judgement")) {
      if (g.key == "metric") {
        j->set_metric(*v);
      } else if (g.key == "info") {
        j->set_info_range(*v);
      } else {
        j->set_warning_range(*v);
      }
    }
  }
}

// One item of `monitors:`; nullopt when it has a problem (reported).
std::optional<FileMonitor> parse_monitor(Reader& r, const YAML::Node& item,
                                         const std::string& where, const std::string& index) {
  const std::size_t before = r.count();
  FileMonitor m;
  m.line = line_of(item);
  auto& d = m.def;
  d.set_enabled(true);
  std::set<std::string> bad;  // keys whose value is reported already
  for (const auto& f : r.fields(item, where, &kMonitorKeys)) {
    m.lines[f.key] = f.line;
    const std::size_t problems_before = r.count();
    if (f.key == "params") {
      parse_params(r, f, where, m);
    } else if (f.key == "judgement") {
      parse_judgement(r, f, where, m);
    } else if (f.key == "enabled") {
      if (auto v = r.boolean(f, where)) d.set_enabled(*v);
    } else if (f.key == "interval") {
      if (auto v = r.seconds(f, where)) d.set_interval_s(*v);
    } else if (f.key == "timeout") {
      if (auto v = r.seconds(f, where)) d.set_timeout_s(*v);
    } else if (auto v = r.text(f, where)) {
      if (f.key == "name") d.set_name(*v);
      if (f.key == "kind") d.set_kind(*v);
      if (f.key == "node") d.set_node(*v);
      if (f.key == "scope") d.set_scope(*v);
      if (f.key == "runs_on") d.set_runs_on(*v);
      if (f.key == "description") d.set_description(*v);
    }
    if (r.count() != problems_before) bad.insert(f.key);
  }
  auto required = [&](const std::string& key, const std::string& value, const std::string& who) {
    if (bad.count(key) != 0) return;
    if (m.lines.count(key) == 0) {
      r.problem(m.line, who + ": missing '" + key + "'");
    } else if (value.empty()) {
      r.problem(m.line_of(key), where + ": '" + key + "' must not be empty");
    }
  };
  required("name", d.name(), index);
  required("kind", d.kind(), where);
  if (bad.count("node") == 0 && bad.count("scope") == 0 && d.node().empty() == d.scope().empty()) {
    r.problem(m.lines.count("scope") != 0 ? m.line_of("scope") : m.line_of("node"),
              where + ": give a node or a scope (one of them)");
  }
  if (!d.runs_on().empty() && d.runs_on() != "agent" && d.runs_on() != "manager") {
    r.problem(m.line_of("runs_on"),
              where + ": runs_on: '" + d.runs_on() + "' is not agent or manager");
  }
  if (m.lines.count("interval") != 0 && bad.count("interval") == 0 &&
      (d.interval_s() < kMinIntervalS || d.interval_s() > kMaxIntervalS)) {
    r.problem(m.line_of("interval"), where + ": interval: " + std::to_string(d.interval_s()) +
                                         " s is outside 10 s .. 24 h");
  }
  const std::uint32_t interval = d.interval_s() == 0 ? kDefaultIntervalS : d.interval_s();
  if (d.timeout_s() > kMaxTimeoutS) {
    r.problem(m.line_of("timeout"), where + ": timeout: at most 1 h");
  } else if (d.timeout_s() > interval) {
    r.problem(m.line_of("timeout"), where + ": timeout: " + std::to_string(d.timeout_s()) +
                                        " s is longer than the interval (" +
                                        std::to_string(interval) + " s)");
  }
  if (r.count() != before) return std::nullopt;
  return m;
}

// The names given by the items of a top-level `scopes:` or `nodes:` list (the
// manager checks the rest of them).
void names_of(const YAML::Node& list, std::set<std::string>& out) {
  if (!list.IsSequence()) return;
  for (const auto& item : list) {
    if (!item.IsMap()) continue;
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar()) {
        out.insert(it->second.Scalar());
      }
    }
  }
}

bool taken_out(const YAML::Node& key) {
  return key.IsScalar() &&
         (key.Scalar() == "monitors" || key.Scalar() == "channels" || key.Scalar() == "notifications");
}

// `text` without the top-level entries of monitors, channels and notifications. In block style
// each key starts its line, so an entry is the lines from its key to the next
// key (or the end): those are left empty and every other line keeps its
// number. A flow-style mapping is written anew without them.
std::string without_monitors(std::string_view text, const YAML::Node& root) {
  struct Entry {
    int line;  // 0-based
    bool monitors;
  };
  std::vector<Entry> entries;
  bool own_lines = root.Style() != YAML::EmitterStyle::Flow;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const int line = it->first.Mark().line;
    if (line < 0 || (!entries.empty() && line <= entries.back().line)) own_lines = false;
    entries.push_back({line, taken_out(it->first)});
  }
  if (!own_lines) {
    YAML::Emitter out;
    out << YAML::BeginMap;
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (taken_out(it->first)) continue;
      out << YAML::Key << it->first << YAML::Value << it->second;
    }
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
  }
  std::vector<std::string_view> lines;  // each with its '\n'
  for (std::size_t at = 0; at < text.size();) {
    const auto nl = text.find('\n', at);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(at, end - at));
    at = end;
  }
  std::vector<bool> blank(lines.size(), false);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].monitors) continue;
    const std::size_t to =
        i + 1 < entries.size() ? static_cast<std::size_t>(entries[i + 1].line) : lines.size();
    for (std::size_t l = static_cast<std::size_t>(entries[i].line); l < to && l < lines.size();
         ++l) {
      blank[l] = true;
    }
  }
  std::string out;
  out.reserve(text.size());
  for (std::size_t l = 0; l < lines.size(); ++l) {
    if (!blank[l]) {
      out += lines[l];
    } else if (!lines[l].empty() && lines[l].back() == '\n') {
      out += '\n';
    }
  }
  return out;
}

}  // namespace

int FileMonitor::line_of(std::string path) const {
  while (true) {
    if (auto it = lines.find(path); it != lines.end()) return it->second;
    const auto cut = path.find_last_of(".[");
    if (cut == std::string::npos || cut == 0) return line;
    path.resize(cut);
  }
}

ApplyFile split_apply_file(std::string_view text) {
  ApplyFile out;
  std::vector<YAML::Node> roots;
  try {
    roots = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception&) {
    return out;  // the manager names the syntax error
  }
  // More than one document, or not a mapping: the manager refuses it as it is.
  if (roots.size() != 1 || !roots[0].IsMap()) return out;
  const YAML::Node& root = roots[0];
  std::optional<Field> monitors;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    if (key == "scopes") names_of(it->second, out.scopes);
    if (key == "nodes") names_of(it->second, out.nodes);
    if (key == "channels" || key == "notifications") out.has_notify = true;
    if (key != "monitors") continue;
    if (monitors) {
      out.problems.push_back(
          {line_of(it->first), "document: key 'monitors' appears twice (first at line " +
                                   std::to_string(monitors->line) + ")"});
      continue;
    }
    monitors = Field{key, line_of(it->first), it->second};
  }
  if (monitors || out.has_notify) out.repository_yaml = without_monitors(text, root);
  if (!monitors) return out;
  out.has_monitors = true;

  Reader r(out.problems);
  const YAML::Node& list = monitors->value;
  if (list.IsNull()) return out;
  if (!list.IsSequence()) {
    r.problem(monitors->line,
              std::string("'monitors' must be a list, found ") + yaml_type_name(list));
    return out;
  }
  std::map<std::string, int> seen;
  std::size_t i = 0;
  for (const auto& item : list) {
    const std::string index = "monitors[" + std::to_string(i++) + "]";
    if (!item.IsMap()) {
      r.problem(line_of(item) == 0 ? monitors->line : line_of(item),
                index + ": expected a mapping, found " + yaml_type_name(item));
      continue;
    }
    std::string where = index;
    bool twice = false;
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar()) {
        where = "monitor '" + it->second.Scalar() + "'";
        if (auto [at, fresh] = seen.emplace(it->second.Scalar(), line_of(item)); !fresh) {
          r.problem(line_of(it->first), where + " appears twice in this document (first at line " +
                                            std::to_string(at->second) + ")");
          twice = true;
        }
        break;
      }
    }
    auto m = parse_monitor(r, item, where, index);
    if (m && !twice) out.monitors.push_back(std::move(*m));
  }
  return out;
}

duet::v1::MonitorDef with_defaults(duet::v1::MonitorDef def) {
  if (def.interval_s() == 0) def.set_interval_s(kDefaultIntervalS);
  if (def.timeout_s() == 0) def.set_timeout_s(std::min(kDefaultTimeoutS, def.interval_s()));
  if (def.runs_on().empty()) def.set_runs_on("agent");
  def.clear_updated_at_ms();
  def.clear_updated_by();
  return def;
}

std::vector<std::string> changed_fields(const duet::v1::MonitorDef& want_given,
                                        const duet::v1::MonitorDef& have_given) {
  const auto want = with_defaults(want_given);
  const auto have = with_defaults(have_given);
  std::vector<std::string> out;
  auto differs = [&](bool d, const char* field) {
    if (d) out.emplace_back(field);
  };
  differs(want.kind() != have.kind(), "kind");
  differs(want.node() != have.node(), "node");
  differs(want.scope() != have.scope(), "scope");
  differs(want.runs_on() != have.runs_on(), "runs_on");
  differs(want.interval_s() != have.interval_s(), "interval");
  differs(want.timeout_s() != have.timeout_s(), "timeout");
  differs(want.enabled() != have.enabled(), "enabled");
  differs(want.description() != have.description(), "description");
  // Compared as sorted maps: a protobuf map's order (and so its serialization) varies.
  differs(std::map<std::string, std::string>(want.params().begin(), want.params().end()) !=
              std::map<std::string, std::string>(have.params().begin(), have.params().end()),
          "params");
  // Judgement has no map field: its serialization is the same for the same value.
  differs(want.judgement().SerializeAsString() != have.judgement().SerializeAsString(),
          "judgement");
  return out;
}

int line_of_error(const FileMonitor& m, const std::string& message) {
  const auto colon = message.find(": ");
  if (colon == std::string::npos || colon == 0) return m.line;
  std::string path = message.substr(0, colon);
  if (path.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.[]") !=
      std::string::npos) {
    return m.line;  // not a field: "monitor 'x' exists ..."
  }
  // The manager's names for what the file calls otherwise.
  if (path == "target") path = m.def.node().empty() ? "scope" : "node";
  for (const auto& [theirs, ours] :
       {std::pair<std::string, std::string>{"judgement.info_range", "judgement.info"},
        {"judgement.warning_range", "judgement.warning"}}) {
    if (path.rfind(theirs, 0) == 0) path = ours + path.substr(theirs.size());
  }
  return m.line_of(path);
}

std::string monitors_section(std::vector<duet::v1::MonitorDef> defs) {
  if (defs.empty()) return "";
  std::sort(defs.begin(), defs.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::BeginMap << YAML::Key << "monitors" << YAML::Value << YAML::BeginSeq;
  for (const auto& d : defs) {
    out << YAML::BeginMap;
    emit_key_text(out, "name", d.name());
    emit_key_text(out, "kind", d.kind());
    if (!d.node().empty()) emit_key_text(out, "node", d.node());
    if (!d.scope().empty()) emit_key_text(out, "scope", d.scope());
    if (!d.runs_on().empty()) emit_key_text(out, "runs_on", d.runs_on());
    if (d.interval_s() != 0)
      out << YAML::Key << "interval" << YAML::Value << seconds_text(d.interval_s());
    if (d.timeout_s() != 0)
      out << YAML::Key << "timeout" << YAML::Value << seconds_text(d.timeout_s());
    out << YAML::Key << "enabled" << YAML::Value << d.enabled();
    if (!d.description().empty()) emit_key_text(out, "description", d.description());
    if (!d.params().empty()) {
      out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
      for (const auto& [k, v] :
           std::map<std::string, std::string>(d.params().begin(), d.params().end())) {
        emit_text(emit_text(out << YAML::Key, k) << YAML::Value, v);
      }
      out << YAML::EndMap;
    }
    const auto& j = d.judgement();
    if (!j.metric().empty() || !j.info_range().empty() || !j.warning_range().empty() ||
        j.patterns_size() > 0 || !j.otherwise().empty()) {
      out << YAML::Key << "judgement" << YAML::Value << YAML::BeginMap;
      if (!j.metric().empty()) emit_key_text(out, "metric", j.metric());
      if (!j.info_range().empty()) emit_key_text(out, "info", j.info_range());
      if (!j.warning_range().empty()) emit_key_text(out, "warning", j.warning_range());
      if (j.patterns_size() > 0) {
        out << YAML::Key << "patterns" << YAML::Value << YAML::BeginSeq;
        for (const auto& p : j.patterns()) {
          out << YAML::BeginMap;
          emit_key_text(out, "regex", p.regex());
          emit_key_text(out, "priority", p.priority());
          out << YAML::EndMap;
        }
        out << YAML::EndSeq;
      }
      if (!j.otherwise().empty()) emit_key_text(out, "otherwise", j.otherwise());
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace duet::cli
