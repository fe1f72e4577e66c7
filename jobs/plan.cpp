#include "jobs/plan.h"

#include <charconv>
#include <functional>
#include <map>

#include "common/errors.h"

namespace duet::jobs {
namespace {

Error bad(const std::string& path, const std::string& why) {
  return make_error(CommonErrc::kInvalidArgument,
                    "unit " + (path.empty() ? std::string("(root)") : path) + ": " + why);
}

std::optional<std::int64_t> as_integer(std::string_view s) {
  std::int64_t v = 0;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end || s.empty()) return std::nullopt;
  return v;
}

// Resolves a reference to the job it reuses (a reference to a reference is
// refused by the definitions' checks; here it is followed once only).
const duet::v1::JobUnitDef* find_by_path(const duet::v1::JobUnitDef& root, std::string_view path) {
  const duet::v1::JobUnitDef* at = &root;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto name = path.substr(0, slash);
    const duet::v1::JobUnitDef* next = nullptr;
    for (const auto& u : at->units()) {
      if (u.name() == name) next = &u;
    }
    if (next == nullptr) return nullptr;
    at = next;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return at;
}

}  // namespace

const char* end_status_name(EndStatus s) {
  switch (s) {
    case EndStatus::kNormal:
      return "normal";
    case EndStatus::kWarning:
      return "warning";
    case EndStatus::kAbnormal:
      return "abnormal";
  }
  return "abnormal";
}

std::optional<EndStatus> parse_end_status(std::string_view text) {
  if (text == "normal") return EndStatus::kNormal;
  if (text == "warning") return EndStatus::kWarning;
  if (text == "abnormal") return EndStatus::kAbnormal;
  return std::nullopt;
}

bool Comparison::holds(std::string_view lhs) const {
  int c = 0;
  const auto a = as_integer(lhs);
  const auto b = as_integer(value);
  if (a && b) {
    c = *a < *b ? -1 : (*a > *b ? 1 : 0);
  } else {
    const int r = lhs.compare(value);
    c = r < 0 ? -1 : (r > 0 ? 1 : 0);
  }
  switch (op) {
    case Op::kEq:
      return c == 0;
    case Op::kNe:
      return c != 0;
    case Op::kLt:
      return c < 0;
    case Op::kLe:
      return c <= 0;
    case Op::kGt:
      return c > 0;
    case Op::kGe:
      return c >= 0;
  }
  return false;
}

Result<Comparison> parse_comparison(std::string_view text) {
  static const std::pair<const char*, Comparison::Op> kOps[] = {
      {"==", Comparison::Op::kEq}, {"!=", Comparison::Op::kNe}, {"<=", Comparison::Op::kLe},
      {">=", Comparison::Op::kGe}, {"<", Comparison::Op::kLt},  {">", Comparison::Op::kGt}};
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  for (const auto& [sym, op] : kOps) {
    const std::string_view s(sym);
    if (text.substr(0, s.size()) != s) continue;
    auto rest = text.substr(s.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
    if (rest.empty()) break;
    return Comparison{op, std::string(rest)};
  }
  return make_error(CommonErrc::kInvalidArgument,
                    "'" + std::string(text) + "' is not OP VALUE (OP: == != < <= > >=)");
}

std::optional<int> parse_time_of_day(std::string_view t) {
  if (t.size() != 5 && t.size() != 8) return std::nullopt;
  int h = -1, m = -1, s = 0;
  auto two = [&](std::size_t at, int& out) {
    auto [p, ec] = std::from_chars(t.data() + at, t.data() + at + 2, out);
    return ec == std::errc() && p == t.data() + at + 2;
  };
  if (t[2] != ':' || !two(0, h) || !two(3, m)) return std::nullopt;
  if (t.size() == 8 && (t[5] != ':' || !two(6, s))) return std::nullopt;
  if (h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59) return std::nullopt;
  return h * 3600 + m * 60 + s;
}

Result<std::shared_ptr<const Plan>> Plan::compile(duet::v1::JobNetDef def,
                                                  const duet::v1::JobCalendarDef* calendar) {
  std::shared_ptr<Plan> plan(new Plan());
  plan->def_ = std::move(def);
  BusinessCalendarDef cal;
  if (calendar != nullptr) {
    cal.zone = calendar->zone();
    cal.weekdays.assign(calendar->weekdays().begin(), calendar->weekdays().end());
    cal.holidays.assign(calendar->holidays().begin(), calendar->holidays().end());
    cal.extra_days.assign(calendar->extra_days().begin(), calendar->extra_days().end());
    cal.base_time = calendar->base_time();
  } else {
    cal.zone = plan->def_.zone();
    cal.weekdays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  }
  auto made = BusinessCalendar::make(cal);
  if (!made) return std::move(made).take_error();
  plan->calendar_ = std::move(*made);

  // Pre-order flattening; a unit's index is fixed by its place in the file.
  auto& units = plan->units_;
  const auto& root = plan->def_.root();
  std::function<void(const duet::v1::JobUnitDef&, std::int32_t, const std::string&, int)> add =
      [&](const duet::v1::JobUnitDef& u, std::int32_t parent, const std::string& path, int depth) {
        PlanUnit p;
        p.index = static_cast<std::uint32_t>(units.size());
        p.path = path;
        p.parent = parent;
        p.def = &u;
        p.spec = &u;
        p.depth = depth;
        p.kind = u.kind().empty() ? (u.units_size() > 0 ? "net" : "command") : u.kind();
        units.push_back(std::move(p));
        const auto me = static_cast<std::int32_t>(units.size() - 1);
        if (parent >= 0)
          units[static_cast<std::size_t>(parent)].children.push_back(units.back().index);
        for (const auto& c : u.units()) {
          add(c, me, path.empty() ? c.name() : path + "/" + c.name(), depth + 1);
        }
      };
  add(root, -1, "", 0);
  if (units[0].kind != "net") return bad("", "the root of a job net must be a net");
  for (std::size_t u = 0; u < units.size(); ++u) {
    auto end = u + 1;
    while (end < units.size() && units[end].depth > units[u].depth) ++end;
    units[u].end = static_cast<std::uint32_t>(end);
  }

  for (auto& p : units) {
    if (p.kind == "reference") {
      const auto* target = find_by_path(root, p.def->reference());
      if (target == nullptr || target->kind() == "net" || target->kind() == "reference" ||
          target->kind() == "approval" || target->units_size() > 0) {
        return bad(p.path, "reference '" + p.def->reference() + "' is not a job of this net");
      }
      p.spec = target;
      p.kind = target->kind().empty() ? "command" : target->kind();
    }
  }

  // Conditions: sibling names -> indices (one map per net); dependents; cycles.
  std::map<std::int32_t, std::map<std::string, std::uint32_t>> names;
  for (const auto& p : units) {
    if (p.parent >= 0) names[p.parent][p.def->name()] = p.index;
  }
  for (auto& p : units) {
    if (p.parent < 0) continue;
    const auto& siblings = names[p.parent];
    const auto& wait = p.def->wait();
    p.any_groups = wait.combine() == "any";
    for (const auto& g : wait.groups()) {
      PlanGroup group;
      group.any = g.combine() == "any";
      for (const auto& c : g.conditions()) {
        PlanCondition pc;
        if (!c.unit().empty()) {
          auto it = siblings.find(c.unit());
          if (it == siblings.end() || it->second == p.index) {
            return bad(p.path, "waits on '" + c.unit() + "', which is not a sibling");
          }
          pc.kind = PlanCondition::Kind::kUnit;
          pc.unit = it->second;
          if (!c.end_value().empty()) {
            auto cmp = parse_comparison(c.end_value());
            if (!cmp || !as_integer(cmp->value)) {
              return bad(p.path, "end_value '" + c.end_value() + "' is not OP INTEGER");
            }
            pc.compare = *cmp;
          } else {
            pc.want = c.status().empty() ? "ok" : c.status();
          }
        } else if (!c.time().empty()) {
          auto t = parse_time_of_day(c.time());
          if (!t) return bad(p.path, "time '" + c.time() + "' is not HH:MM[:SS]");
          pc.kind = PlanCondition::Kind::kTime;
          pc.time_of_day_s = *t;
        } else if (!c.variable().empty()) {
          auto cmp = parse_comparison(c.compare());
          if (!cmp) return bad(p.path, "compare: " + cmp.error().message);
          pc.kind = PlanCondition::Kind::kVariable;
          pc.variable = c.variable();
          pc.compare = *cmp;
        } else {
          pc.kind = PlanCondition::Kind::kAfterStart;
          pc.after_s = c.after_start_s();
        }
        group.conditions.push_back(std::move(pc));
      }
      p.groups.push_back(std::move(group));
    }
  }
  for (auto& p : units) {
    for (const auto& g : p.groups) {
      for (const auto& c : g.conditions) {
        if (c.kind != PlanCondition::Kind::kUnit) continue;
        auto& deps = units[c.unit].dependents;
        if (deps.empty() || deps.back() != p.index) deps.push_back(p.index);
      }
    }
  }
  // Cycles: depth-first over "waits on" among siblings (iterative: a net may
  // hold 10,000 units in a row).
  std::vector<std::uint8_t> mark(units.size(), 0);  // 0 new, 1 on the path, 2 done
  for (std::uint32_t start = 0; start < units.size(); ++start) {
    if (mark[start] != 0) continue;
    std::vector<std::pair<std::uint32_t, std::size_t>> stack{{start, 0}};
    mark[start] = 1;
    while (!stack.empty()) {
      auto& [u, next] = stack.back();
      if (next < units[u].dependents.size()) {
        const auto d = units[u].dependents[next++];
        if (mark[d] == 1) return bad(units[d].path, "is part of a cycle of wait conditions");
        if (mark[d] == 0) {
          mark[d] = 1;
          stack.emplace_back(d, 0);
        }
      } else {
        mark[u] = 2;
        stack.pop_back();
      }
    }
  }
  return std::shared_ptr<const Plan>(std::move(plan));
}

std::optional<std::uint32_t> Plan::find(std::string_view path) const {
  const auto* u = find_by_path(def_.root(), path);
  if (u == nullptr) return std::nullopt;
  for (const auto& p : units_) {
    if (p.def == u) return p.index;
  }
  return std::nullopt;
}

EndStatus Plan::judge(std::uint32_t unit, std::int64_t value) const {
  for (const auto& r : units_[unit].spec->end()) {
    if (value >= r.min() && value <= r.max()) {
      if (auto s = parse_end_status(r.status())) return *s;
    }
  }
  if (value == 0) return EndStatus::kNormal;
  if (value == 1) return EndStatus::kWarning;
  return EndStatus::kAbnormal;
}

std::vector<std::pair<std::string, std::string>> Plan::user_variables_of(std::uint32_t unit) const {
  std::vector<std::uint32_t> chain;
  for (auto at = units_[unit].parent; at >= 0; at = units_[static_cast<std::size_t>(at)].parent) {
    chain.push_back(static_cast<std::uint32_t>(at));
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    std::map<std::string, std::string> sorted(units_[*it].def->variables().begin(),
                                              units_[*it].def->variables().end());
    for (auto& kv : sorted) out.push_back(kv);
  }
  return out;
}

}  // namespace duet::jobs
