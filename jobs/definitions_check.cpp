// The checks of job-net definitions, their defaults and the unit path helpers
// (jobs/definitions.h). The file reader (definitions.cpp) maps the problems
// found here to lines.
#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <regex>

#include "common/errors.h"
#include "common/priority.h"
#include "jobs/business_calendar.h"
#include "jobs/cron.h"
#include "jobs/definitions.h"
#include "jobs/plan.h"

namespace duet::jobs {
namespace {

using duet::v1::JobCondition;
using duet::v1::JobDelay;
using duet::v1::JobNetDef;
using duet::v1::JobUnitDef;

bool is_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

bool is_variable_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])) != 0) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string with_article(const std::string& kind) {
  return (kind == "approval" ? "an " : "a ") + kind;
}

// "a -> b -> a"; a long cycle shortened: "a -> b -> ... -> z -> a (26 units)".
std::string cycle_text(const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 10;
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names.size() > kShown + 2 && i == kShown) {
      out += "... -> ";
      i = names.size() - 1;
    }
    out += names[i] + " -> ";
  }
  out += names.front();
  if (names.size() > kShown + 2) out += " (" + std::to_string(names.size()) + " units)";
  return out;
}

std::string name_problem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  return q(name) + " is not a name (letters, digits, _ . - only)";
}

std::optional<std::string> zone_problem(const std::string& zone) {
  if (zone.empty() || CronSchedule::parse("* * * * * *", zone).ok()) return std::nullopt;
  return "unknown time zone " + q(zone);
}

bool is_integer(std::string_view s) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// The kind a unit's contents say, "" when they say none or several.
std::string inferred_kind(const JobUnitDef& u) {
  std::vector<const char*> kinds;
  if (u.has_command()) kinds.push_back("command");
  if (u.has_transfer()) kinds.push_back("transfer");
  if (u.has_approval()) kinds.push_back("approval");
  if (u.has_monitor()) kinds.push_back("monitor");
  if (!u.reference().empty()) kinds.push_back("reference");
  if (u.units_size() > 0) kinds.push_back("net");
  return kinds.size() == 1 ? kinds[0] : "";
}

void fill_delay(JobDelay& d) {
  if ((!d.at().empty() || d.after_s() != 0) && d.action().empty()) d.set_action("notify");
}

void fill_unit(JobUnitDef& u, int depth) {
  if (u.kind().empty()) u.set_kind(inferred_kind(u));
  if (u.has_wait()) {
    auto& w = *u.mutable_wait();
    if (w.groups_size() > 0 && w.combine().empty()) w.set_combine("all");
    for (auto& g : *w.mutable_groups()) {
      if (g.combine().empty()) g.set_combine("all");
      for (auto& c : *g.mutable_conditions()) {
        if (!c.unit().empty() && c.status().empty() && c.end_value().empty()) c.set_status("ok");
      }
    }
    if (w.end_if_unmet() && w.unmet_status().empty()) w.set_unmet_status("abnormal");
  }
  if (u.has_retry() && u.retry().count() > 0 && u.retry().on().empty()) {
    u.mutable_retry()->add_on("abnormal");
  }
  if (u.has_start_delay()) fill_delay(*u.mutable_start_delay());
  if (u.has_end_delay()) fill_delay(*u.mutable_end_delay());
  if (u.has_command() && !u.command().scope().empty() && u.command().on().empty()) {
    u.mutable_command()->set_on("all");
  }
  // An empty sub-message is no sub-message (so a round trip compares equal).
  if (u.has_wait() && u.wait().ByteSizeLong() == 0) u.clear_wait();
  if (u.has_command() && u.command().ByteSizeLong() == 0) u.clear_command();
  if (u.has_transfer() && u.transfer().ByteSizeLong() == 0) u.clear_transfer();
  if (u.has_monitor() && u.monitor().ByteSizeLong() == 0) u.clear_monitor();
  if (u.has_approval() && u.approval().ByteSizeLong() == 0) u.clear_approval();
  if (u.has_retry() && u.retry().ByteSizeLong() == 0) u.clear_retry();
  if (u.has_start_delay() && u.start_delay().ByteSizeLong() == 0) u.clear_start_delay();
  if (u.has_end_delay() && u.end_delay().ByteSizeLong() == 0) u.clear_end_delay();
  if (depth > kMaxDepth) return;  // refused by the checks; no deeper recursion
  for (auto& child : *u.mutable_units()) fill_unit(child, depth + 1);
}

// Where a problem is: a unit's path by name and by position.
struct At {
  std::string unit, index;
  At child(const JobUnitDef& u, int i) const {
    const std::string name = u.name().empty() ? "units[" + std::to_string(i) + "]" : u.name();
    return {unit.empty() ? name : unit + "/" + name,
            index.empty() ? std::to_string(i) : index + "/" + std::to_string(i)};
  }
};

class Checker {
 public:
  Checker(const JobNetDef& def, const KnownNames& known) : def_(def), known_(known) {}

  std::vector<NetProblem> run() {
    index_paths(def_.root(), "", 1);
    net_fields();
    unit(def_.root(), At{}, 1, nullptr);
    return std::move(out_);
  }

 private:
  void add(const At& at, std::string field, std::string why) {
    out_.push_back({at.unit, at.index, std::move(field), std::move(why)});
  }

  void index_paths(const JobUnitDef& u, const std::string& path, int depth) {
    if (depth > kMaxDepth) return;
    for (const auto& c : u.units()) {
      const std::string p = path.empty() ? c.name() : path + "/" + c.name();
      by_path_.emplace(p, &c);
      index_paths(c, p, depth + 1);
    }
  }

  std::string unknown(const char* what, const std::string& name) const {
    return "no " + std::string(what) + " " + q(name) + " (neither in this file nor on the manager)";
  }

  void net_fields() {
    const At net;
    if (!is_name(def_.root().name())) add(net, "name", name_problem(def_.root().name()));
    if (auto why = zone_problem(def_.zone())) add(net, "zone", *why);
    if (!def_.calendar().empty() && known_.calendars.count(def_.calendar()) == 0) {
      add(net, "calendar", unknown("calendar", def_.calendar()));
    }
    if (def_.max_sessions() < 1 || def_.max_sessions() > kMaxSessions) {
      add(net, "max_sessions", "outside 1.." + std::to_string(kMaxSessions));
    }
    for (const auto& [k, v] : def_.params()) {
      if (!is_variable_name(k)) add(net, "params", q(k) + " is not a parameter name");
    }
    for (int i = 0; i < def_.schedules_size(); ++i) schedule(i);
    for (int i = 0; i < def_.triggers_size(); ++i) trigger(i);
  }

  void schedule(int i) {
    const auto& s = def_.schedules(i);
    const At net;
    const std::string p = "schedules[" + std::to_string(i) + "]";
    auto zone = zone_problem(s.zone());
    if (zone) add(net, p + ".zone", *zone);
    if (auto c = CronSchedule::parse(s.cron(), zone ? "" : s.zone()); !c.ok()) {
      std::string why = c.error().message;
      if (why.rfind("cron: ", 0) == 0) why.erase(0, 6);
      add(net, p + ".cron", why);
    }
    if (!s.calendar().empty() && known_.calendars.count(s.calendar()) == 0) {
      add(net, p + ".calendar", unknown("calendar", s.calendar()));
    }
    if (!one_of(s.shift(), {"none", "next", "previous"})) {
      add(net, p + ".shift", q(s.shift()) + " is not none, next or previous");
    } else if (s.shift() != "none" && s.calendar().empty()) {
      add(net, p + ".shift", "shift " + s.shift() + " needs a calendar");
    }
  }

  void trigger(int i) {
    const auto& t = def_.triggers(i);
    const At net;
    const std::string p = "triggers[" + std::to_string(i) + "]";
    auto only = [&](bool set, const char* key, const char* kind) {
      if (set) add(net, p + "." + key, std::string("only for a ") + kind + " trigger");
    };
    if (t.kind() == "file") {
      if (t.node().empty()) add(net, p + ".node", "a file trigger needs a node");
      if (t.path().empty()) add(net, p + ".path", "a file trigger needs a path");
      if (!one_of(t.on(), {"created", "modified", "deleted"})) {
        add(net, p + ".on", q(t.on()) + " is not created, modified or deleted");
      }
      only(!t.sources().empty(), "sources", "event");
      only(!t.scopes().empty(), "scopes", "event");
      only(!t.priorities().empty(), "priorities", "event");
      only(!t.pattern().empty(), "pattern", "event");
    } else if (t.kind() == "event") {
      if (t.sources().empty() && t.scopes().empty() && t.priorities().empty() &&
          t.pattern().empty()) {
        add(net, p, "an event trigger needs sources, scopes, priorities or a pattern");
      }
      for (const auto& pr : t.priorities()) {
        if (!parse_priority(pr)) {
          add(net, p + ".priorities", q(pr) + " is not one of critical, warning, info, unknown");
        }
      }
      if (!t.pattern().empty()) {
        try {
          std::regex re(t.pattern(), std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          add(net, p + ".pattern", q(t.pattern()) + " is not a regex: " + e.what());
        }
      }
      only(!t.node().empty(), "node", "file");
      only(!t.path().empty(), "path", "file");
      only(!t.on().empty(), "on", "file");
      only(t.interval_s() != 0, "interval", "file");
    } else {
      add(net, p + ".kind",
          t.kind().empty() ? "give file or event" : q(t.kind()) + " is not file or event");
    }
  }

  // `siblings`: name -> position among the units of its net (null for the net itself).
  void unit(const JobUnitDef& u, const At& at, int depth, const std::map<std::string, int>* sibs) {
    const bool root = sibs == nullptr;
    if (root && u.kind() != "net") add(at, "kind", "the net itself is of kind net");
    if (!root) {
      if (!is_name(u.name())) add(at, "name", name_problem(u.name()));
      kind(u, at);
    }
    // What belongs to another kind (nothing to say when the kind itself is wrong).
    const std::string kind = root ? "net" : u.kind();
    auto only = [&](bool set, const char* key, const char* of) {
      if (set && !kind.empty() && kind != of) {
        add(at, key,
            std::string(of) == "net" ? std::string("only a net has ") + key
                                     : "only for " + with_article(of) + " unit");
      }
    };
    only(u.has_command(), "command", "command");
    only(u.has_transfer(), "transfer", "transfer");
    only(u.has_monitor(), "monitor", "monitor");
    only(u.has_approval(), "approval", "approval");
    only(!u.reference().empty(), "reference", "reference");
    only(u.units_size() > 0, "units", "net");
    only(!u.variables().empty(), "variables", "net");
    for (const auto& [k, v] : u.variables()) {
      if (!is_variable_name(k)) add(at, "variables", q(k) + " is not a variable name");
    }
    if (root) {
      not_for(u, at, "the net itself");
    } else {
      if (u.has_wait()) wait(u, at, *sibs);
      control(u, at);
    }
    if (kind != "net") return job(u, at);
    if (depth > kMaxDepth) {
      return add(at, "units", "nets nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    children(u, at, depth);
  }

  void kind(const JobUnitDef& u, const At& at) {
    if (u.kind().empty()) {
      add(at, "", "give exactly one of command, transfer, approval, monitor, reference, units");
    } else if (!one_of(u.kind(),
                       {"net", "command", "transfer", "approval", "monitor", "reference"})) {
      add(at, "kind",
          q(u.kind()) + " is not one of net, command, transfer, approval, monitor, reference");
    }
    if (u.kind() == "net") not_for(u, at, "a net");
    if (u.kind() == "approval") {
      if (u.end_size() > 0) add(at, "end", "not for an approval (it has no end value)");
      if (u.has_retry()) add(at, "retry", "not for an approval");
    }
  }

  // What only a job has (and the net itself has none of the rest).
  void not_for(const JobUnitDef& u, const At& at, const std::string& what) {
    const bool root = what == "the net itself";
    auto no = [&](bool set, const char* key) {
      if (set) add(at, key, std::string("not for ") + what);
    };
    no(root && u.has_wait(), "wait");
    no(u.end_size() > 0, "end");
    no(u.has_retry(), "retry");
    no(root && u.has_start_delay(), "start_delay");
    no(root && u.has_end_delay(), "end_delay");
    no(u.time_limit_s() != 0, "time_limit");
    no(!u.queue().empty(), "queue");
    no(root && u.hold(), "hold");
  }

  void job(const JobUnitDef& u, const At& at) {
    if (u.kind() == "command") {
      const auto& c = u.command();
      if (c.run().empty()) add(at, "command.run", "must not be empty");
      if (c.node().empty() == c.scope().empty()) {
        add(at, c.node().empty() ? "command" : "command.scope", "give one of node and scope");
      }
      if (!c.on().empty() && c.scope().empty()) {
        add(at, "command.on", "only with a scope");
      } else if (!c.on().empty() && !one_of(c.on(), {"all", "any"})) {
        add(at, "command.on", q(c.on()) + " is not all or any");
      }
      for (const auto& [k, v] : c.env()) {
        if (!is_variable_name(k)) add(at, "command.env", q(k) + " is not a variable name");
      }
    } else if (u.kind() == "transfer") {
      const auto& t = u.transfer();
      for (const auto& [key, v] :
           {std::pair{"from_node", &t.from_node()}, std::pair{"from_path", &t.from_path()},
            std::pair{"to_node", &t.to_node()}, std::pair{"to_path", &t.to_path()}}) {
        if (v->empty()) add(at, std::string("transfer.") + key, "required");
      }
      for (const auto& [key, v] :
           {std::pair{"from_path", &t.from_path()}, std::pair{"to_path", &t.to_path()}}) {
        if (!v->empty() && v->front() != '/' && v->rfind("${", 0) != 0) {
          add(at, std::string("transfer.") + key, q(*v) + " is not an absolute path");
        }
      }
    } else if (u.kind() == "monitor") {
      if (u.monitor().monitor().empty()) add(at, "monitor.monitor", "name the monitor to run");
    } else if (u.kind() == "reference") {
      auto it = by_path_.find(u.reference());
      if (u.reference().empty()) {
        add(at, "reference", "must not be empty");
      } else if (it == by_path_.end()) {
        add(at, "reference", "no unit " + q(u.reference()) + " in this net");
      } else if (!it->second->kind().empty() &&  // else a problem of its own
                 !one_of(it->second->kind(), {"command", "transfer", "monitor"})) {
        add(at, "reference",
            q(u.reference()) + " is " + with_article(it->second->kind()) +
                "; name a command, transfer or monitor job");
      }
    }
  }

  void control(const JobUnitDef& u, const At& at) {
    for (int i = 0; i < u.end_size(); ++i) {
      const auto& e = u.end(i);
      const std::string p = "end[" + std::to_string(i) + "]";
      if (e.min() > e.max()) {
        add(at, p, "min " + std::to_string(e.min()) + " is above max " + std::to_string(e.max()));
      }
      if (e.status().empty()) {
        add(at, p + ".status", "required: normal, warning or abnormal");
      } else if (!one_of(e.status(), {"normal", "warning", "abnormal"})) {
        add(at, p + ".status", q(e.status()) + " is not normal, warning or abnormal");
      }
    }
    if (u.retry().count() > kMaxRetries) {
      add(at, "retry.count", "outside 0.." + std::to_string(kMaxRetries));
    }
    for (const auto& s : u.retry().on()) {
      if (!one_of(s, {"abnormal", "warning"})) {
        add(at, "retry.on", q(s) + " is not abnormal or warning");
      }
    }
    if (u.has_start_delay()) delay(u.start_delay(), at, "start_delay");
    if (u.has_end_delay()) delay(u.end_delay(), at, "end_delay");
    if (!u.queue().empty() && known_.queues.count(u.queue()) == 0) {
      add(at, "queue", unknown("queue", u.queue()));
    }
  }

  void delay(const JobDelay& d, const At& at, const std::string& key) {
    if (d.at().empty() == (d.after_s() == 0)) {
      add(at, key, d.at().empty() ? "give at or after" : "give at or after, not both");
    }
    if (!d.at().empty() && !parse_time_of_day(d.at())) {
      add(at, key + ".at", q(d.at()) + " is not a time HH:MM or HH:MM:SS");
    }
    if (key == "start_delay" && !one_of(d.action(), {"notify", "hold", "skip", "stop"})) {
      add(at, key + ".action", q(d.action()) + " is not notify, hold, skip or stop");
    }
    if (key == "end_delay" && !one_of(d.action(), {"notify", "stop"})) {
      add(at, key + ".action", q(d.action()) + " is not notify or stop");
    }
  }

  void wait(const JobUnitDef& u, const At& at, const std::map<std::string, int>& sibs) {
    const auto& w = u.wait();
    if (w.groups().empty()) add(at, "wait", "give at least one group of conditions");
    if (!w.groups().empty() && !one_of(w.combine(), {"all", "any"})) {
      add(at, "wait.combine", q(w.combine()) + " is not all or any");
    }
    if (!w.end_if_unmet() && (!w.unmet_status().empty() || w.unmet_value() != 0)) {
      add(at, "wait.end_if_unmet", "an unmet status or value needs end_if_unmet");
    } else if (w.end_if_unmet() && !one_of(w.unmet_status(), {"normal", "warning", "abnormal"})) {
      add(at, "wait.end_if_unmet.status",
          q(w.unmet_status()) + " is not normal, warning or abnormal");
    }
    for (int g = 0; g < w.groups_size(); ++g) {
      const auto& group = w.groups(g);
      const std::string p = "wait.groups[" + std::to_string(g) + "]";
      if (!one_of(group.combine(), {"all", "any"})) {
        add(at, p + ".combine", q(group.combine()) + " is not all or any");
      }
      if (group.conditions().empty()) add(at, p + ".conditions", "give at least one condition");
      for (int c = 0; c < group.conditions_size(); ++c) {
        condition(group.conditions(c), u.name(), at, p + ".conditions[" + std::to_string(c) + "]",
                  sibs);
      }
    }
  }

  void condition(const JobCondition& c, const std::string& self, const At& at, const std::string& p,
                 const std::map<std::string, int>& sibs) {
    const int given = int{!c.unit().empty()} + int{!c.time().empty()} +
                      int{c.after_start_s() != 0} + int{!c.variable().empty()};
    if (given != 1) {
      add(at, p,
          std::string(given == 0 ? "give" : "give only") +
              " one of unit, time, after_start, variable");
    }
    if (!c.unit().empty()) {
      if (c.unit() == self) {
        add(at, p + ".unit", "a unit cannot wait for itself");
      } else if (sibs.count(c.unit()) == 0) {
        add(at, p + ".unit", "no unit " + q(c.unit()) + " in the same net");
      }
      if (!c.status().empty() && !c.end_value().empty()) {
        add(at, p + ".end_value", "give status or end_value, not both");
      } else if (!c.status().empty() &&
                 !one_of(c.status(), {"ok", "normal", "warning", "abnormal", "any"})) {
        add(at, p + ".status", q(c.status()) + " is not ok, normal, warning, abnormal or any");
      }
      auto cmp = parse_comparison(c.end_value());
      if (!c.end_value().empty() && (!cmp.ok() || !is_integer(cmp->value))) {
        add(at, p + ".end_value",
            q(c.end_value()) + " is not OP NUMBER (OP: == != < <= > >=, NUMBER an integer)");
      }
    } else {
      if (!c.status().empty()) add(at, p + ".status", "only with unit");
      if (!c.end_value().empty()) add(at, p + ".end_value", "only with unit");
    }
    if (!c.time().empty() && !parse_time_of_day(c.time())) {
      add(at, p + ".time", q(c.time()) + " is not a time HH:MM or HH:MM:SS");
    }
    if (!c.variable().empty()) {
      if (!is_variable_name(c.variable())) {
        add(at, p + ".variable", q(c.variable()) + " is not a variable name");
      }
      if (c.compare().empty()) add(at, p + ".variable", "needs compare: \"OP VALUE\"");
    } else if (!c.compare().empty()) {
      add(at, p + ".compare", "only with variable");
    }
    if (!c.compare().empty() && !parse_comparison(c.compare()).ok()) {
      add(at, p + ".compare", q(c.compare()) + " is not OP VALUE (OP: == != < <= > >=)");
    }
  }

  void children(const JobUnitDef& net, const At& at, int depth) {
    std::map<std::string, int> sibs;
    for (int i = 0; i < net.units_size(); ++i) {
      const auto& c = net.units(i);
      if (!sibs.emplace(c.name(), i).second && !c.name().empty()) {
        add(at.child(c, i), "name", q(c.name()) + " is the name of another unit of the same net");
      }
    }
    for (int i = 0; i < net.units_size(); ++i) {
      unit(net.units(i), at.child(net.units(i), i), depth + 1, &sibs);
    }
    cycles(net, at, sibs);
  }

  // Each cycle of units waiting for each other, named once.
  void cycles(const JobUnitDef& net, const At& at, const std::map<std::string, int>& sibs) {
    const int n = net.units_size();
    std::vector<std::vector<int>> waits_for(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      for (const auto& g : net.units(i).wait().groups()) {
        for (const auto& c : g.conditions()) {
          auto it = sibs.find(c.unit());
          if (!c.unit().empty() && it != sibs.end() && it->second != i) {
            waits_for[static_cast<std::size_t>(i)].push_back(it->second);
          }
        }
      }
    }
    std::vector<int> state(static_cast<std::size_t>(n), 0);  // 0 new, 1 on the path, 2 done
    std::vector<bool> named(static_cast<std::size_t>(n), false);
    std::vector<std::pair<int, std::size_t>> path;  // unit, next edge
    for (int s = 0; s < n; ++s) {
      if (state[static_cast<std::size_t>(s)] != 0) continue;
      state[static_cast<std::size_t>(s)] = 1;
      path.push_back({s, 0});
      while (!path.empty()) {
        auto& [v, e] = path.back();
        const auto& edges = waits_for[static_cast<std::size_t>(v)];
        if (e == edges.size()) {
          state[static_cast<std::size_t>(v)] = 2;
          path.pop_back();
          continue;
        }
        const int w = edges[e++];
        if (state[static_cast<std::size_t>(w)] == 0) {
          state[static_cast<std::size_t>(w)] = 1;
          path.push_back({w, 0});
        } else if (state[static_cast<std::size_t>(w)] == 1 && !named[static_cast<std::size_t>(w)]) {
          std::vector<std::string> names;
          bool in = false;
          for (const auto& [u, unused] : path) {
            in = in || u == w;
            if (!in) continue;
            named[static_cast<std::size_t>(u)] = true;
            names.push_back(net.units(u).name());
          }
          add(at.child(net.units(w), w), "wait",
              "units wait for each other in a cycle: " + cycle_text(names));
        }
      }
    }
  }

  const JobNetDef& def_;
  const KnownNames& known_;
  std::map<std::string, const JobUnitDef*> by_path_;
  std::vector<NetProblem> out_;
};

}  // namespace

const duet::v1::JobUnitDef* find_unit(const duet::v1::JobUnitDef& root, std::string_view path) {
  const JobUnitDef* at = &root;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto name = path.substr(0, slash);
    auto& units = at->units();
    auto it = std::find_if(units.begin(), units.end(),
                           [&](const JobUnitDef& u) { return !name.empty() && u.name() == name; });
    if (it == units.end()) return nullptr;
    at = &*it;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (path.empty()) return nullptr;  // "a/"
  }
  return at;
}

duet::v1::JobNetDef with_defaults(duet::v1::JobNetDef def) {
  def.clear_version();
  def.clear_updated_at_ms();
  def.clear_updated_by();
  if (def.max_sessions() == 0) def.set_max_sessions(1);
  if (def.root().kind().empty()) def.mutable_root()->set_kind("net");
  fill_unit(*def.mutable_root(), 1);
  for (auto& s : *def.mutable_schedules()) {
    if (s.shift().empty()) s.set_shift("none");
  }
  for (auto& t : *def.mutable_triggers()) {
    if (t.kind() != "file") continue;
    if (t.on().empty()) t.set_on("created");
    if (t.interval_s() == 0) t.set_interval_s(kDefaultFileInterval);
  }
  return def;
}

std::vector<NetProblem> net_problems(const duet::v1::JobNetDef& def, const KnownNames& known) {
  const JobNetDef full = with_defaults(def);
  return Checker(full, known).run();
}

std::vector<std::string> check_net(const duet::v1::JobNetDef& def, const KnownNames& known) {
  std::vector<std::string> out;
  for (const auto& p : net_problems(def, known)) {
    std::string text = "jobnet " + def.root().name() + ": ";
    if (!p.unit.empty()) text += "unit " + p.unit + ": ";
    if (!p.field.empty()) text += p.field + ": ";
    out.push_back(text + p.why);
  }
  return out;
}

Status check_calendar(const duet::v1::JobCalendarDef& def) {
  if (!is_name(def.name())) {
    return make_error(CommonErrc::kInvalidArgument, "name: " + name_problem(def.name()));
  }
  BusinessCalendarDef d{def.zone(),
                        {def.weekdays().begin(), def.weekdays().end()},
                        {def.holidays().begin(), def.holidays().end()},
                        {def.extra_days().begin(), def.extra_days().end()},
                        def.base_time()};
  if (auto c = BusinessCalendar::make(d); !c.ok()) {
    std::string why = c.error().message;
    if (why.rfind("calendar.", 0) == 0) why.erase(0, 9);
    return make_error(CommonErrc::kInvalidArgument, why);
  }
  return ok_status();
}

namespace {

Status limit_problem(std::uint32_t limit) {
  if (limit >= 1 && limit <= kMaxLimit) return ok_status();
  return make_error(CommonErrc::kInvalidArgument, "limit: outside 1.." + std::to_string(kMaxLimit));
}

}  // namespace

Status check_queue(const duet::v1::JobQueueDef& def) {
  if (!is_name(def.name())) {
    return make_error(CommonErrc::kInvalidArgument, "name: " + name_problem(def.name()));
  }
  return limit_problem(def.limit());
}

Status check_node_limit(const duet::v1::JobNodeLimit& def) {
  if (def.node().empty())
    return make_error(CommonErrc::kInvalidArgument, "node: must not be empty");
  return limit_problem(def.limit());
}

}  // namespace duet::jobs
