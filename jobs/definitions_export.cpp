// The export of job-net definitions and what changed between two of them
// (jobs/definitions.h). The export writes only what with_defaults() would
// not fill in again, so parsing it gives back the same messages.
#include <google/protobuf/util/message_differencer.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "jobs/definitions.h"

namespace duet::jobs {
namespace {

using duet::v1::JobNetDef;
using duet::v1::JobUnitDef;
using duet::v1::JobWait;

template <typename Map>
std::map<std::string, std::string> sorted(const Map& m) {
  return {m.begin(), m.end()};
}

// A wait that `after: [...]` writes: one group of all, each a unit's status.
bool is_after(const JobWait& w) {
  if (w.end_if_unmet() || w.combine() != "all" || w.groups_size() != 1) return false;
  const auto& g = w.groups(0);
  if (g.combine() != "all" || g.conditions().empty()) return false;
  return std::all_of(g.conditions().begin(), g.conditions().end(), [](const auto& c) {
    return !c.unit().empty() && !c.status().empty() && c.end_value().empty() && c.time().empty() &&
           c.after_start_s() == 0 && c.variable().empty() && c.compare().empty();
  });
}

class Writer {
 public:
  explicit Writer(YAML::Emitter& out) : out_(out) {}

  void text(const char* key, const std::string& v) {
    if (!v.empty()) emit_key_text(out_, key, v);
  }
  void seconds(const char* key, std::uint32_t s) {
    if (s != 0) out_ << YAML::Key << key << YAML::Value << seconds_text(s);
  }
  template <typename List>
  void texts(const char* key, const List& list) {
    if (list.empty()) return;
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& s : list) emit_text(out_, s);
    out_ << YAML::EndSeq;
  }
  template <typename Map>
  void map(const char* key, const Map& m) {
    if (m.empty()) return;
    out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : sorted(m))
      emit_text(emit_text(out_ << YAML::Key, k) << YAML::Value, v);
    out_ << YAML::EndMap;
  }

  void net(const JobNetDef& d) {
    out_ << YAML::BeginMap;
    emit_key_text(out_, "name", d.root().name());
    text("description", d.root().description());
    out_ << YAML::Key << "enabled" << YAML::Value << d.enabled();
    text("zone", d.zone());
    text("calendar", d.calendar());
    if (d.max_sessions() != 1) {
      out_ << YAML::Key << "max_sessions" << YAML::Value << d.max_sessions();
    }
    map("params", d.params());
    map("variables", d.root().variables());
    if (!d.schedules().empty()) {
      out_ << YAML::Key << "schedules" << YAML::Value << YAML::BeginSeq;
      for (const auto& s : d.schedules()) {
        out_ << YAML::Flow << YAML::BeginMap;
        text("cron", s.cron());
        text("zone", s.zone());
        text("calendar", s.calendar());
        if (s.shift() != "none") text("shift", s.shift());
        out_ << YAML::EndMap;
      }
      out_ << YAML::EndSeq;
    }
    if (!d.triggers().empty()) {
      out_ << YAML::Key << "triggers" << YAML::Value << YAML::BeginSeq;
      for (const auto& t : d.triggers()) {
        const bool file = t.kind() == "file";
        out_ << YAML::Flow << YAML::BeginMap;
        text("kind", t.kind());
        text("node", t.node());
        text("path", t.path());
        if (!file || t.on() != "created") text("on", t.on());
        if (!file || t.interval_s() != kDefaultFileInterval) seconds("interval", t.interval_s());
        texts("sources", t.sources());
        texts("scopes", t.scopes());
        texts("priorities", t.priorities());
        text("pattern", t.pattern());
        out_ << YAML::EndMap;
      }
      out_ << YAML::EndSeq;
    }
    if (d.root().units_size() > 0) units(d.root());
    out_ << YAML::EndMap;
  }

 private:
  void units(const JobUnitDef& net) {
    out_ << YAML::Key << "units" << YAML::Value;
    if (net.units().empty()) {
      out_ << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
      return;
    }
    out_ << YAML::BeginSeq;
    for (const auto& u : net.units()) unit(u);
    out_ << YAML::EndSeq;
  }

  void unit(const JobUnitDef& u) {
    out_ << YAML::BeginMap;
    emit_key_text(out_, "name", u.name());
    text("description", u.description());
    if (u.kind() == "command") {
      const auto& c = u.command();
      out_ << YAML::Key << "command" << YAML::Value << YAML::BeginMap;
      emit_key_text(out_, "run", c.run());
      text("user", c.user());
      text("directory", c.directory());
      map("env", c.env());
      text("node", c.node());
      text("scope", c.scope());
      if (c.scope().empty() || c.on() != "all") text("on", c.on());
      out_ << YAML::EndMap;
    } else if (u.kind() == "transfer") {
      const auto& t = u.transfer();
      out_ << YAML::Key << "transfer" << YAML::Value << YAML::BeginMap;
      text("from_node", t.from_node());
      text("from_path", t.from_path());
      text("to_node", t.to_node());
      text("to_path", t.to_path());
      if (t.overwrite()) out_ << YAML::Key << "overwrite" << YAML::Value << true;
      out_ << YAML::EndMap;
    } else if (u.kind() == "approval") {
      out_ << YAML::Key << "approval" << YAML::Value << YAML::Flow << YAML::BeginMap;
      text("prompt", u.approval().prompt());
      out_ << YAML::EndMap;
    } else if (u.kind() == "monitor") {
      out_ << YAML::Key << "monitor" << YAML::Value << YAML::Flow << YAML::BeginMap;
      text("monitor", u.monitor().monitor());
      text("node", u.monitor().node());
      out_ << YAML::EndMap;
    } else if (u.kind() == "reference") {
      text("reference", u.reference());
    }
    map("variables", u.variables());
    if (u.has_wait()) wait(u.wait());
    if (!u.end().empty()) {
      out_ << YAML::Key << "end" << YAML::Value << YAML::BeginSeq;
      for (const auto& e : u.end()) {
        out_ << YAML::Flow << YAML::BeginMap << YAML::Key << "min" << YAML::Value << e.min()
             << YAML::Key << "max" << YAML::Value << e.max();
        text("status", e.status());
        out_ << YAML::EndMap;
      }
      out_ << YAML::EndSeq;
    }
    if (u.has_retry()) {
      const auto& r = u.retry();
      out_ << YAML::Key << "retry" << YAML::Value << YAML::Flow << YAML::BeginMap;
      if (r.count() != 0) out_ << YAML::Key << "count" << YAML::Value << r.count();
      seconds("interval", r.interval_s());
      if (r.count() == 0 || r.on_size() != 1 || r.on(0) != "abnormal") texts("on", r.on());
      out_ << YAML::EndMap;
    }
    delay("start_delay", u.has_start_delay(), u.start_delay());
    delay("end_delay", u.has_end_delay(), u.end_delay());
    seconds("time_limit", u.time_limit_s());
    text("queue", u.queue());
    if (u.hold()) out_ << YAML::Key << "hold" << YAML::Value << true;
    if (u.kind() == "net") units(u);
    out_ << YAML::EndMap;
  }

  void wait(const JobWait& w) {
    if (is_after(w)) {
      out_ << YAML::Key << "after" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& c : w.groups(0).conditions()) {
        if (c.status() == "ok") {
          emit_text(out_, c.unit());
          continue;
        }
        out_ << YAML::Flow << YAML::BeginMap;
        text("unit", c.unit());
        text("status", c.status());
        out_ << YAML::EndMap;
      }
      out_ << YAML::EndSeq;
      return;
    }
    out_ << YAML::Key << "wait" << YAML::Value << YAML::BeginMap;
    if (w.combine() != "all") text("combine", w.combine());
    if (!w.groups().empty()) {
      out_ << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
      for (const auto& g : w.groups()) {
        out_ << YAML::BeginMap;
        if (g.combine() != "all") text("combine", g.combine());
        out_ << YAML::Key << "conditions" << YAML::Value << YAML::BeginSeq;
        for (const auto& c : g.conditions()) {
          out_ << YAML::Flow << YAML::BeginMap;
          text("unit", c.unit());
          if (c.status() != "ok" || !c.end_value().empty()) text("status", c.status());
          text("end_value", c.end_value());
          text("time", c.time());
          seconds("after_start", c.after_start_s());
          text("variable", c.variable());
          text("compare", c.compare());
          out_ << YAML::EndMap;
        }
        out_ << YAML::EndSeq << YAML::EndMap;
      }
      out_ << YAML::EndSeq;
    }
    if (w.end_if_unmet()) {
      out_ << YAML::Key << "end_if_unmet" << YAML::Value << YAML::Flow << YAML::BeginMap;
      if (w.unmet_status() != "abnormal") text("status", w.unmet_status());
      if (w.unmet_value() != 0) out_ << YAML::Key << "value" << YAML::Value << w.unmet_value();
      out_ << YAML::EndMap;
    }
    out_ << YAML::EndMap;
  }

  void delay(const char* key, bool has, const duet::v1::JobDelay& d) {
    if (!has) return;
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
    text("at", d.at());
    seconds("after", d.after_s());
    if ((d.at().empty() && d.after_s() == 0) || d.action() != "notify") text("action", d.action());
    out_ << YAML::EndMap;
  }

  YAML::Emitter& out_;
};

// The units below `u` by path (the first of two of the same name).
void flatten(const JobUnitDef& u, const std::string& path, int depth,
             std::map<std::string, const JobUnitDef*>& out) {
  if (depth > kMaxDepth) return;
  for (const auto& c : u.units()) {
    const std::string p = path.empty() ? c.name() : path + "/" + c.name();
    out.emplace(p, &c);
    flatten(c, p, depth + 1, out);
  }
}

std::vector<std::string> names_of(const JobUnitDef& u) {
  std::vector<std::string> out;
  for (const auto& c : u.units()) out.push_back(c.name());
  return out;
}

// Only the order of the units changed (the same names).
bool reordered(const JobUnitDef& a, const JobUnitDef& b) {
  auto x = names_of(a), y = names_of(b);
  if (x == y) return false;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return x == y;
}

}  // namespace

std::vector<std::string> changed_fields(const duet::v1::JobNetDef& want_given,
                                        const duet::v1::JobNetDef& have_given) {
  const JobNetDef want = with_defaults(want_given), have = with_defaults(have_given);
  std::vector<std::string> out;
  const auto* desc = JobNetDef::descriptor();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->name() == "root" || f->name() == "version" || f->name() == "updated_at_ms" ||
        f->name() == "updated_by") {
      continue;
    }
    google::protobuf::util::MessageDifferencer diff;
    for (int j = 0; j < desc->field_count(); ++j) {
      if (j != i) diff.IgnoreField(desc->field(j));
    }
    if (!diff.Compare(want, have)) out.push_back(f->name());
  }
  const auto& a = want.root();
  const auto& b = have.root();
  if (a.name() != b.name()) out.push_back("name");
  if (a.description() != b.description()) out.push_back("description");
  if (sorted(a.variables()) != sorted(b.variables())) out.push_back("variables");
  if (reordered(a, b)) out.push_back("units");
  // A unit by itself: its fields, and the order of its units.
  google::protobuf::util::MessageDifferencer shallow;
  shallow.IgnoreField(JobUnitDef::descriptor()->FindFieldByName("units"));
  std::map<std::string, const JobUnitDef*> x, y;
  flatten(a, "", 1, x);
  flatten(b, "", 1, y);
  for (const auto& [path, u] : x) {
    auto it = y.find(path);
    if (it == y.end() || !shallow.Compare(*u, *it->second) || reordered(*u, *it->second)) {
      out.push_back("unit " + path);
    }
  }
  for (const auto& [path, u] : y) {
    if (x.count(path) == 0) out.push_back("unit " + path);
  }
  return out;
}

std::string jobs_section(std::vector<duet::v1::JobNetDef> nets,
                         std::vector<duet::v1::JobCalendarDef> calendars,
                         std::vector<duet::v1::JobQueueDef> queues,
                         std::vector<duet::v1::JobNodeLimit> node_limits) {
  if (nets.empty() && calendars.empty() && queues.empty() && node_limits.empty()) return "";
  auto by_name = [](const auto& a, const auto& b) { return a.name() < b.name(); };
  std::sort(nets.begin(), nets.end(),
            [](const auto& a, const auto& b) { return a.root().name() < b.root().name(); });
  std::sort(calendars.begin(), calendars.end(), by_name);
  std::sort(queues.begin(), queues.end(), by_name);
  std::sort(node_limits.begin(), node_limits.end(),
            [](const auto& a, const auto& b) { return a.node() < b.node(); });
  YAML::Emitter out;
  out.SetIndent(2);
  Writer w(out);
  out << YAML::BeginMap;
  if (!calendars.empty()) {
    out << YAML::Key << "calendars" << YAML::Value << YAML::BeginSeq;
    for (const auto& c : calendars) {
      out << YAML::BeginMap;
      emit_key_text(out, "name", c.name());
      w.text("zone", c.zone());
      w.texts("weekdays", c.weekdays());
      w.texts("holidays", c.holidays());
      w.texts("extra_days", c.extra_days());
      w.text("base_time", c.base_time());
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!queues.empty()) {
    out << YAML::Key << "queues" << YAML::Value << YAML::BeginSeq;
    for (const auto& q : queues) {
      out << YAML::Flow << YAML::BeginMap;
      emit_key_text(out, "name", q.name());
      out << YAML::Key << "limit" << YAML::Value << q.limit() << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!node_limits.empty()) {
    out << YAML::Key << "node_limits" << YAML::Value << YAML::BeginSeq;
    for (const auto& n : node_limits) {
      out << YAML::Flow << YAML::BeginMap;
      emit_key_text(out, "node", n.node());
      out << YAML::Key << "limit" << YAML::Value << n.limit() << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!nets.empty()) {
    out << YAML::Key << "jobnets" << YAML::Value << YAML::BeginSeq;
    for (const auto& n : nets) w.net(with_defaults(n));
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace duet::jobs
