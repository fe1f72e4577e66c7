// The file reader of job-net definitions (jobs/definitions.h): YAML to the
// messages, every problem with its line. The checks themselves are in
// definitions_check.cpp; this maps each problem they find back to the line
// of the key it names.
#include "jobs/definitions.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>

#include "common/yaml_reader.h"

namespace duet::jobs {
namespace {

using duet::v1::JobNetDef;
using duet::v1::JobUnitDef;
using Keys = std::vector<std::string>;

const Keys kNetKeys{"name",   "description", "enabled",   "zone",     "calendar", "max_sessions",
                    "params", "variables",   "schedules", "triggers", "units"};
const Keys kUnitKeys{"name",      "description", "command",   "transfer",   "approval", "monitor",
                     "reference", "units",       "variables", "after",      "wait",     "end",
                     "retry",     "start_delay", "end_delay", "time_limit", "queue",    "hold"};
const Keys kKindKeys{"command", "transfer", "approval", "monitor", "reference", "units"};
const Keys kCommandKeys{"run", "user", "directory", "env", "node", "scope", "on"};
const Keys kTransferKeys{"from_node", "from_path", "to_node", "to_path", "overwrite"};
const Keys kMonitorKeys{"monitor", "node"};
const Keys kApprovalKeys{"prompt"};
const Keys kWaitKeys{"combine", "groups", "end_if_unmet"};
const Keys kGroupKeys{"combine", "conditions"};
const Keys kConditionKeys{"unit",        "status",   "end_value", "time",
                          "after_start", "variable", "compare"};
const Keys kAfterKeys{"unit", "status"};
const Keys kUnmetKeys{"status", "value"};
const Keys kEndKeys{"min", "max", "status"};
const Keys kRetryKeys{"count", "interval", "on"};
const Keys kDelayKeys{"at", "after", "action"};
const Keys kScheduleKeys{"cron", "zone", "calendar", "shift"};
const Keys kTriggerKeys{"kind",    "node",   "path",       "on",     "interval",
                        "sources", "scopes", "priorities", "pattern"};
const Keys kCalendarKeys{"name", "zone", "weekdays", "holidays", "extra_days", "base_time"};
const Keys kQueueKeys{"name", "limit"};
const Keys kNodeLimitKeys{"node", "limit"};

std::string at(const std::string& list, std::size_t i) {
  return list + "[" + std::to_string(i) + "]";
}

// The value of the item's `name` (or other) key when it is text; "" else.
std::string text_of(const YAML::Node& item, const char* key) {
  if (!item.IsMap()) return "";
  for (auto it = item.begin(); it != item.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key && it->second.IsScalar()) {
      return it->second.Scalar();
    }
  }
  return "";
}

std::vector<YAML::Node> nodes(const YAML::Node& seq) {
  std::vector<YAML::Node> out;
  for (const auto& n : seq) out.push_back(n);
  return out;
}

int line_or(const YAML::Node& n, int fallback) {
  const int line = yaml_line(n);
  return line == 0 ? fallback : line;
}

class FileParser {
 public:
  FileParser(JobsFile& out, const KnownNames& known) : out_(out), r_(out.problems), known_(known) {}

  void calendars(const YamlField& f) {
    items(f, [&](const YAML::Node& item, std::size_t i, int line) {
      const std::string name = text_of(item, "name");
      const std::string where = name.empty() ? at("calendars", i) : "calendar " + name;
      duet::v1::JobCalendarDef d;
      std::map<std::string, int> lines;
      const std::size_t before = r_.count();
      for (const auto& g : fields(item, line, where, kCalendarKeys)) {
        lines[g.key] = g.line;
        if (g.key == "weekdays" || g.key == "holidays" || g.key == "extra_days") {
          auto v = r_.texts(g, where);
          if (!v) continue;
          auto* into = g.key == "weekdays"   ? d.mutable_weekdays()
                       : g.key == "holidays" ? d.mutable_holidays()
                                             : d.mutable_extra_days();
          for (auto& s : *v) into->Add(std::move(s));
        } else if (auto v = r_.text(g, where)) {
          if (g.key == "name") d.set_name(*v);
          if (g.key == "zone") d.set_zone(*v);
          if (g.key == "base_time") d.set_base_time(*v);
        }
      }
      if (!item.IsMap()) return;
      if (!name.empty()) known_.calendars.insert(name);
      finish(before, check_calendar(d), lines, line, where, "calendar " + d.name(), d,
             out_.calendars);
    });
  }

  void queues(const YamlField& f) {
    items(f, [&](const YAML::Node& item, std::size_t i, int line) {
      const std::string name = text_of(item, "name");
      const std::string where = name.empty() ? at("queues", i) : "queue " + name;
      duet::v1::JobQueueDef d;
      std::map<std::string, int> lines;
      const std::size_t before = r_.count();
      for (const auto& g : fields(item, line, where, kQueueKeys)) {
        lines[g.key] = g.line;
        if (g.key == "limit") {
          if (auto v = r_.count_of(g, where, 1, kMaxLimit)) d.set_limit(*v);
        } else if (auto v = r_.text(g, where)) {
          d.set_name(*v);
        }
      }
      if (!item.IsMap()) return;
      if (!name.empty()) known_.queues.insert(name);
      if (lines.count("limit") == 0) r_.problem(line, where + ": missing 'limit'");
      finish(before, check_queue(d), lines, line, where, "queue " + d.name(), d, out_.queues);
    });
  }

  void node_limits(const YamlField& f) {
    items(f, [&](const YAML::Node& item, std::size_t i, int line) {
      const std::string node = text_of(item, "node");
      const std::string where = node.empty() ? at("node_limits", i) : "node_limit " + node;
      duet::v1::JobNodeLimit d;
      std::map<std::string, int> lines;
      const std::size_t before = r_.count();
      for (const auto& g : fields(item, line, where, kNodeLimitKeys)) {
        lines[g.key] = g.line;
        if (g.key == "limit") {
          if (auto v = r_.count_of(g, where, 1, kMaxLimit)) d.set_limit(*v);
        } else if (auto v = r_.text(g, where)) {
          d.set_node(*v);
        }
      }
      if (!item.IsMap()) return;
      if (lines.count("limit") == 0) r_.problem(line, where + ": missing 'limit'");
      finish(before, check_node_limit(d), lines, line, where, "node_limit " + d.node(), d,
             out_.node_limits);
    });
  }

  void jobnets(const YamlField& f) {
    items(f, [&](const YAML::Node& item, std::size_t i, int line) { net(item, i, line); });
  }

 private:
  // Calls `each(item, index, line)` for the items of a list.
  void items(const YamlField& f,
             const std::function<void(const YAML::Node&, std::size_t, int)>& each) {
    if (f.value.IsNull()) return;
    if (!f.value.IsSequence()) {
      r_.problem(f.line, "'" + f.key + "' must be a list, found " + yaml_type_name(f.value));
      return;
    }
    std::size_t i = 0;
    for (const auto& item : f.value) each(item, i++, line_or(item, f.line));
  }

  // The entries of a mapping (of an item at `line`); a problem when it is not one.
  std::vector<YamlField> fields(const YAML::Node& map, int line, const std::string& where,
                                const Keys& keys) {
    if (map.IsMap()) return r_.fields(map, where, &keys);
    r_.problem(line, where + ": expected a mapping, found " + yaml_type_name(map));
    return {};
  }

  // The entries of the mapping that is the value of `f` (none: a null value).
  std::vector<YamlField> sub(const YamlField& f, const std::string& where, const Keys& keys) {
    if (f.value.IsNull()) return {};
    if (f.value.IsMap()) return r_.fields(f.value, where + ": " + f.key, &keys);
    r_.problem(f.line,
               where + ": '" + f.key + "' must be a mapping, found " + yaml_type_name(f.value));
    return {};
  }

  // The items of the list that is the value of `f`.
  std::vector<YAML::Node> list(const YamlField& f, const std::string& where) {
    if (f.value.IsNull()) return {};
    if (f.value.IsSequence()) return nodes(f.value);
    r_.problem(f.line,
               where + ": '" + f.key + "' must be a list, found " + yaml_type_name(f.value));
    return {};
  }

  template <typename Def>
  void finish(std::size_t before, const Status& check, std::map<std::string, int>& lines, int line,
              const std::string& where, const std::string& key, Def& d, std::vector<Def>& into) {
    if (r_.count() != before) return;
    if (!check.ok()) {
      const auto& why = check.error().message;
      const std::string field = why.substr(0, why.find_first_of(".:["));
      r_.problem(lines.count(field) != 0 ? lines[field] : line, where + ": " + why);
      return;
    }
    if (!out_.lines.emplace(key, line).second) {
      r_.problem(line, where + " appears twice in this file (first at line " +
                           std::to_string(out_.lines[key]) + ")");
      return;
    }
    into.push_back(std::move(d));
  }

  void string_map(const YamlField& f, const std::string& where,
                  google::protobuf::Map<std::string, std::string>& into) {
    if (f.value.IsNull()) return;
    if (!f.value.IsMap()) {
      r_.problem(f.line,
                 where + ": '" + f.key + "' must be a mapping, found " + yaml_type_name(f.value));
      return;
    }
    for (const auto& p : r_.fields(f.value, where + ": " + f.key, nullptr)) {
      if (auto v = r_.text(p, where + ": " + f.key)) into[p.key] = *v;
    }
  }

  std::optional<std::int64_t> integer(const YamlField& f, const std::string& where) {
    if (f.value.IsScalar()) {
      const auto& s = f.value.Scalar();
      std::int64_t n = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) return n;
    }
    r_.problem(f.line, where + ": '" + f.key + "' must be a whole number");
    return std::nullopt;
  }

  // The line of a key of a unit of the current net: "INDEX\x1fFIELD".
  void mark(const std::string& index, const std::string& field, int line) {
    lines_[index + '\x1f' + field] = line;
  }

  int line_of(const std::string& index, std::string field) const {
    while (true) {
      auto it = lines_.find(index + '\x1f' + field);
      if (it != lines_.end()) return it->second;
      if (field.empty()) return 0;
      const auto cut = field.find_last_of(".[");
      field.erase(cut == std::string::npos ? 0 : cut);
    }
  }

  void net(const YAML::Node& item, std::size_t i, int line) {
    const std::string name = text_of(item, "name");
    net_ = name.empty() ? at("jobnets", i) : name;
    const std::string where = "jobnet " + net_;
    lines_.clear();
    after_.clear();
    const std::size_t before = r_.count();
    JobNetDef d;
    d.set_enabled(true);
    auto& root = *d.mutable_root();
    root.set_kind("net");
    mark("", "", line);
    bool named = false;
    for (const auto& f : fields(item, line, where, kNetKeys)) {
      mark("", f.key, f.line);
      if (f.key == "enabled") {
        if (auto v = r_.boolean(f, where)) d.set_enabled(*v);
      } else if (f.key == "max_sessions") {
        if (auto v = r_.count_of(f, where, 1, kMaxSessions)) d.set_max_sessions(*v);
      } else if (f.key == "params") {
        string_map(f, where, *d.mutable_params());
      } else if (f.key == "variables") {
        string_map(f, where, *root.mutable_variables());
      } else if (f.key == "schedules") {
        const auto list_items = list(f, where);
        for (std::size_t s = 0; s < list_items.size(); ++s) {
          schedule(list_items[s], at("schedules", s), line_or(list_items[s], f.line), where, d);
        }
      } else if (f.key == "triggers") {
        const auto list_items = list(f, where);
        for (std::size_t t = 0; t < list_items.size(); ++t) {
          trigger(list_items[t], at("triggers", t), line_or(list_items[t], f.line), where, d);
        }
      } else if (f.key == "units") {
        units(f, root, "", "", 1, where);
      } else if (auto v = r_.text(f, where)) {
        if (f.key == "name") {
          named = true;
          root.set_name(*v);
        }
        if (f.key == "description") root.set_description(*v);
        if (f.key == "zone") d.set_zone(*v);
        if (f.key == "calendar") d.set_calendar(*v);
      }
    }
    if (!item.IsMap()) return;
    if (!named) r_.problem(line, where + ": missing 'name'");
    if (named && !out_.lines.emplace("jobnet " + name, line).second) {
      r_.problem(line, where + " appears twice in this file (first at line " +
                           std::to_string(out_.lines["jobnet " + name]) + ")");
      return;
    }
    if (r_.count() != before) return;
    d = with_defaults(std::move(d));
    const std::size_t checked = r_.count();
    for (const auto& p : net_problems(d, known_)) {
      std::string text = where + ": ";
      if (!p.unit.empty()) text += "unit " + p.unit + ": ";
      const std::string field = after_.count(p.index) != 0 ? as_after(p.field) : p.field;
      if (!field.empty()) text += field + ": ";
      r_.problem(line_of(p.index, p.field), text + p.why);
    }
    if (r_.count() == checked) out_.nets.push_back(std::move(d));
  }

  // A field of a wait written as `after`, as the file names it.
  static std::string as_after(const std::string& field) {
    static const std::string kCond = "wait.groups[0].conditions[";
    if (field.rfind(kCond, 0) == 0) return "after[" + field.substr(kCond.size());
    if (field.rfind("wait", 0) == 0) return "after" + field.substr(4);
    return field;
  }

  void schedule(const YAML::Node& item, const std::string& p, int line, const std::string& where,
                JobNetDef& d) {
    auto& s = *d.add_schedules();
    mark("", p, line);
    bool cron = false;
    for (const auto& g : fields(item, line, where + ": " + p, kScheduleKeys)) {
      mark("", p + "." + g.key, g.line);
      auto v = r_.text(g, where + ": " + p);
      if (!v) continue;
      if (g.key == "cron") {
        cron = true;
        s.set_cron(*v);
      }
      if (g.key == "zone") s.set_zone(*v);
      if (g.key == "calendar") s.set_calendar(*v);
      if (g.key == "shift") s.set_shift(*v);
    }
    if (item.IsMap() && !cron) r_.problem(line, where + ": " + p + ": missing 'cron'");
  }

  void trigger(const YAML::Node& item, const std::string& p, int line, const std::string& where,
               JobNetDef& d) {
    auto& t = *d.add_triggers();
    mark("", p, line);
    const std::string w = where + ": " + p;
    for (const auto& g : fields(item, line, w, kTriggerKeys)) {
      mark("", p + "." + g.key, g.line);
      if (g.key == "interval") {
        if (auto v = r_.seconds(g, w)) t.set_interval_s(*v);
      } else if (g.key == "sources" || g.key == "scopes" || g.key == "priorities") {
        auto v = r_.texts(g, w);
        if (!v) continue;
        auto* into = g.key == "sources"  ? t.mutable_sources()
                     : g.key == "scopes" ? t.mutable_scopes()
                                         : t.mutable_priorities();
        for (auto& s : *v) into->Add(std::move(s));
      } else if (auto v = r_.text(g, w)) {
        if (g.key == "kind") t.set_kind(*v);
        if (g.key == "node") t.set_node(*v);
        if (g.key == "path") t.set_path(*v);
        if (g.key == "on") t.set_on(*v);
        if (g.key == "pattern") t.set_pattern(*v);
      }
    }
  }

  // The units of `parent` (a net at `depth`, the net itself being 1).
  void units(const YamlField& f, JobUnitDef& parent, const std::string& path,
             const std::string& index, int depth, const std::string& where) {
    if (depth > kMaxDepth) {
      r_.problem(f.line, where + ": units: nets nested deeper than " + std::to_string(kMaxDepth) +
                             " levels");
      return;
    }
    const auto list_items = list(f, where);
    for (std::size_t i = 0; i < list_items.size(); ++i) {
      unit(list_items[i], i, line_or(list_items[i], f.line), parent, path, index, depth + 1);
    }
  }

  void unit(const YAML::Node& item, std::size_t i, int line, JobUnitDef& parent,
            const std::string& parent_path, const std::string& parent_index, int depth) {
    JobUnitDef& u = *parent.add_units();
    std::string name = text_of(item, "name");
    if (name.empty()) name = at("units", i);
    const std::string path = parent_path.empty() ? name : parent_path + "/" + name;
    const std::string index =
        parent_index.empty() ? std::to_string(i) : parent_index + "/" + std::to_string(i);
    const std::string where = "jobnet " + net_ + ": unit " + path;
    out_.lines.emplace("unit " + net_ + "/" + path, line);
    mark(index, "", line);
    std::vector<const YamlField*> kinds;
    const YamlField* after = nullptr;
    const YamlField* wait = nullptr;
    bool named = false;
    const auto all = fields(item, line, where, kUnitKeys);
    for (const auto& f : all) {
      mark(index, f.key, f.line);
      if (std::find(kKindKeys.begin(), kKindKeys.end(), f.key) != kKindKeys.end()) {
        kinds.push_back(&f);
      }
      if (f.key == "command") {
        command(f, where, index, u);
      } else if (f.key == "transfer" || f.key == "monitor" || f.key == "approval") {
        job(f, where, index, u);
      } else if (f.key == "units") {
        units(f, u, path, index, depth, where);
      } else if (f.key == "variables") {
        string_map(f, where, *u.mutable_variables());
      } else if (f.key == "after") {
        after = &f;
        after_fields(f, where, index, u);
      } else if (f.key == "wait") {
        wait = &f;
        wait_fields(f, where, index, u);
      } else if (f.key == "end") {
        end(f, where, index, u);
      } else if (f.key == "retry") {
        retry(f, where, index, *u.mutable_retry());
      } else if (f.key == "start_delay" || f.key == "end_delay") {
        delay(f, where, index,
              f.key == "start_delay" ? *u.mutable_start_delay() : *u.mutable_end_delay());
      } else if (f.key == "time_limit") {
        if (auto v = r_.seconds(f, where)) u.set_time_limit_s(*v);
      } else if (f.key == "hold") {
        if (auto v = r_.boolean(f, where)) u.set_hold(*v);
      } else if (auto v = r_.text(f, where)) {
        if (f.key == "name") {
          named = true;
          u.set_name(*v);
        }
        if (f.key == "description") u.set_description(*v);
        if (f.key == "reference") u.set_reference(*v);
        if (f.key == "queue") u.set_queue(*v);
      }
    }
    if (!item.IsMap()) return;
    if (!named) r_.problem(line, where + ": missing 'name'");
    if (kinds.empty()) {
      r_.problem(line, where +
                           ": give one of command, transfer, approval, monitor, reference, "
                           "units (what the unit is)");
    } else if (kinds.size() > 1) {
      r_.problem(kinds[1]->line, where +
                                     ": give only one of command, transfer, approval, "
                                     "monitor, reference, units (found " +
                                     kinds[0]->key + " and " + kinds[1]->key + ")");
    } else {
      u.set_kind(kinds[0]->key == "units" ? "net" : kinds[0]->key);
    }
    if (after != nullptr && wait != nullptr) {
      r_.problem(std::max(after->line, wait->line), where + ": give after or wait, not both");
    }
  }

  void command(const YamlField& f, const std::string& where, const std::string& index,
               JobUnitDef& u) {
    auto& c = *u.mutable_command();
    for (const auto& g : sub(f, where, kCommandKeys)) {
      mark(index, "command." + g.key, g.line);
      if (g.key == "env") {
        string_map(g, where + ": command", *c.mutable_env());
      } else if (auto v = r_.text(g, where + ": command")) {
        if (g.key == "run") c.set_run(*v);
        if (g.key == "user") c.set_user(*v);
        if (g.key == "directory") c.set_directory(*v);
        if (g.key == "node") c.set_node(*v);
        if (g.key == "scope") c.set_scope(*v);
        if (g.key == "on") c.set_on(*v);
      }
    }
  }

  // A transfer, monitor or approval.
  void job(const YamlField& f, const std::string& where, const std::string& index, JobUnitDef& u) {
    const std::string w = where + ": " + f.key;
    if (f.key == "transfer") {
      auto& t = *u.mutable_transfer();
      for (const auto& g : sub(f, where, kTransferKeys)) {
        mark(index, "transfer." + g.key, g.line);
        if (g.key == "overwrite") {
          if (auto v = r_.boolean(g, w)) t.set_overwrite(*v);
        } else if (auto v = r_.text(g, w)) {
          if (g.key == "from_node") t.set_from_node(*v);
          if (g.key == "from_path") t.set_from_path(*v);
          if (g.key == "to_node") t.set_to_node(*v);
          if (g.key == "to_path") t.set_to_path(*v);
        }
      }
    } else if (f.key == "monitor") {
      auto& m = *u.mutable_monitor();
      for (const auto& g : sub(f, where, kMonitorKeys)) {
        mark(index, "monitor." + g.key, g.line);
        if (auto v = r_.text(g, w)) (g.key == "monitor" ? m.set_monitor(*v) : m.set_node(*v));
      }
    } else {
      auto& a = *u.mutable_approval();
      for (const auto& g : sub(f, where, kApprovalKeys)) {
        mark(index, "approval." + g.key, g.line);
        if (auto v = r_.text(g, w)) a.set_prompt(*v);
      }
    }
  }

  void retry(const YamlField& f, const std::string& where, const std::string& index,
             duet::v1::JobRetry& rt) {
    const std::string w = where + ": retry";
    for (const auto& g : sub(f, where, kRetryKeys)) {
      mark(index, "retry." + g.key, g.line);
      if (g.key == "count") {
        if (auto v = r_.count_of(g, w, 0, kMaxRetries)) rt.set_count(*v);
      } else if (g.key == "interval") {
        if (auto v = r_.seconds(g, w)) rt.set_interval_s(*v);
      } else if (auto v = r_.texts(g, w)) {
        for (auto& s : *v) rt.add_on(std::move(s));
      }
    }
  }

  void after_fields(const YamlField& f, const std::string& where, const std::string& index,
                    JobUnitDef& u) {
    after_.insert(index);
    std::vector<YAML::Node> entries;
    if (f.value.IsScalar()) {
      entries.push_back(f.value);
    } else if (f.value.IsSequence()) {
      entries = nodes(f.value);
    } else if (!f.value.IsNull()) {
      r_.problem(f.line,
                 where + ": 'after' must be a list of units, found " + yaml_type_name(f.value));
      return;
    }
    if (entries.empty()) {
      r_.problem(f.line, where + ": after: name at least one unit");
      return;
    }
    auto& w = *u.mutable_wait();
    w.set_combine("all");
    auto& g = *w.add_groups();
    g.set_combine("all");
    mark(index, "wait", f.line);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto& c = *g.add_conditions();
      const std::string p = at("wait.groups[0].conditions", i);
      const int line = line_or(entries[i], f.line);
      mark(index, p, line);
      if (entries[i].IsScalar()) {
        c.set_unit(entries[i].Scalar());
        continue;
      }
      const std::string w_at = where + ": " + at("after", i);
      bool has_unit = false;
      for (const auto& h : fields(entries[i], line, w_at, kAfterKeys)) {
        mark(index, p + "." + h.key, h.line);
        auto v = r_.text(h, w_at);
        if (!v) continue;
        if (h.key == "unit") {
          has_unit = true;
          c.set_unit(*v);
        }
        if (h.key == "status") c.set_status(*v);
      }
      if (entries[i].IsMap() && !has_unit) r_.problem(line, w_at + ": missing 'unit'");
    }
  }

  void wait_fields(const YamlField& f, const std::string& where, const std::string& index,
                   JobUnitDef& u) {
    auto& w = *u.mutable_wait();
    const std::string ww = where + ": wait";
    for (const auto& g : sub(f, where, kWaitKeys)) {
      mark(index, "wait." + g.key, g.line);
      if (g.key == "combine") {
        if (auto v = r_.text(g, ww)) w.set_combine(*v);
      } else if (g.key == "end_if_unmet") {
        w.set_end_if_unmet(true);
        for (const auto& h : sub(g, ww, kUnmetKeys)) {
          mark(index, "wait.end_if_unmet." + h.key, h.line);
          if (h.key == "value") {
            if (auto v = integer(h, ww + ": end_if_unmet")) w.set_unmet_value(*v);
          } else if (auto v = r_.text(h, ww + ": end_if_unmet")) {
            w.set_unmet_status(*v);
          }
        }
      } else {
        const auto groups = list(g, ww);
        for (std::size_t k = 0; k < groups.size(); ++k) {
          group(groups[k], at("wait.groups", k), line_or(groups[k], g.line), where, index,
                *w.add_groups());
        }
      }
    }
  }

  void group(const YAML::Node& item, const std::string& p, int line, const std::string& where,
             const std::string& index, duet::v1::JobConditionGroup& g) {
    mark(index, p, line);
    const std::string wg = where + ": " + p;
    for (const auto& h : fields(item, line, wg, kGroupKeys)) {
      mark(index, p + "." + h.key, h.line);
      if (h.key == "combine") {
        if (auto v = r_.text(h, wg)) g.set_combine(*v);
        continue;
      }
      const auto conds = list(h, wg);
      for (std::size_t k = 0; k < conds.size(); ++k) {
        const std::string pc = at(p + ".conditions", k);
        const int cline = line_or(conds[k], h.line);
        mark(index, pc, cline);
        auto& c = *g.add_conditions();
        for (const auto& e : fields(conds[k], cline, where + ": " + pc, kConditionKeys)) {
          mark(index, pc + "." + e.key, e.line);
          if (e.key == "after_start") {
            auto v = r_.seconds(e, where + ": " + pc);
            if (v && *v == 0) r_.problem(e.line, where + ": " + pc + ": after_start: at least 1s");
            if (v) c.set_after_start_s(*v);
          } else if (auto v = r_.text(e, where + ": " + pc)) {
            if (e.key == "unit") c.set_unit(*v);
            if (e.key == "status") c.set_status(*v);
            if (e.key == "end_value") c.set_end_value(*v);
            if (e.key == "time") c.set_time(*v);
            if (e.key == "variable") c.set_variable(*v);
            if (e.key == "compare") c.set_compare(*v);
          }
        }
      }
    }
  }

  void end(const YamlField& f, const std::string& where, const std::string& index, JobUnitDef& u) {
    const auto ranges = list(f, where);
    for (std::size_t k = 0; k < ranges.size(); ++k) {
      const std::string p = at("end", k);
      const int line = line_or(ranges[k], f.line);
      mark(index, p, line);
      auto& e = *u.add_end();
      int bounds = 0;
      for (const auto& g : fields(ranges[k], line, where + ": " + p, kEndKeys)) {
        mark(index, p + "." + g.key, g.line);
        if (g.key == "status") {
          if (auto v = r_.text(g, where + ": " + p)) e.set_status(*v);
        } else if (auto v = integer(g, where + ": " + p)) {
          ++bounds;
          (g.key == "min" ? e.set_min(*v) : e.set_max(*v));
        }
      }
      if (ranges[k].IsMap() && bounds != 2)
        r_.problem(line, where + ": " + p + ": give min and max");
    }
  }

  void delay(const YamlField& f, const std::string& where, const std::string& index,
             duet::v1::JobDelay& d) {
    for (const auto& g : sub(f, where, kDelayKeys)) {
      mark(index, f.key + "." + g.key, g.line);
      const std::string w = where + ": " + f.key;
      if (g.key == "after") {
        auto v = r_.seconds(g, w);
        if (v && *v == 0) r_.problem(g.line, w + ": after: at least 1s");
        if (v) d.set_after_s(*v);
      } else if (auto v = r_.text(g, w)) {
        (g.key == "at" ? d.set_at(*v) : d.set_action(*v));
      }
    }
  }

  JobsFile& out_;
  FieldReader r_;
  KnownNames known_;                  // with the file's own calendars and queues
  std::string net_;                   // the net being read
  std::map<std::string, int> lines_;  // of its keys, by mark()
  std::set<std::string> after_;       // its units (by index) that wrote `after`
};

}  // namespace

JobsFile parse_jobs_file(std::string_view text, const KnownNames& known) {
  JobsFile out;
  std::vector<YAML::Node> roots;
  try {
    roots = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    out.problems.push_back({e.mark.line < 0 ? 0 : e.mark.line + 1, e.msg});
    return out;
  }
  if (roots.size() != 1 || !roots[0].IsMap()) return out;
  FieldReader r(out.problems);
  std::map<std::string, YamlField> sections;
  for (auto it = roots[0].begin(); it != roots[0].end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string key = it->first.Scalar();
    if (key != "jobnets" && key != "calendars" && key != "queues" && key != "node_limits") {
      continue;
    }
    out.present = true;
    const int line = yaml_line(it->first);
    if (auto [s, fresh] = sections.emplace(key, YamlField{key, line, it->second}); !fresh) {
      r.problem(line, "document: key '" + key + "' appears twice (first at line " +
                          std::to_string(s->second.line) + ")");
    }
  }
  // Calendars and queues first: the nets name them.
  FileParser parser(out, known);
  if (auto it = sections.find("calendars"); it != sections.end()) parser.calendars(it->second);
  if (auto it = sections.find("queues"); it != sections.end()) parser.queues(it->second);
  if (auto it = sections.find("node_limits"); it != sections.end()) parser.node_limits(it->second);
  if (auto it = sections.find("jobnets"); it != sections.end()) parser.jobnets(it->second);
  return out;
}

}  // namespace duet::jobs
