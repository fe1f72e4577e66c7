// JobRunner's triggers: schedules (with their progress in job_meta), file
// checks on agents, and events (see job_runner.h).

#include <spdlog/spdlog.h>

#include "common/errors.h"
#include "jobs/business_calendar.h"
#include "manager/job_rows.h"
#include "manager/job_runner.h"
#include "store/row.h"

namespace duet::manager {

void JobRunner::load_triggers(std::int64_t now) {
  std::map<std::string, std::int64_t> known;
  for (const auto& sc : schedules_) known[sc.key] = sc.last_ms;
  schedules_.clear();
  event_triggers_.clear();
  for (const auto& [name, net] : nets_) {
    if (!net.enabled()) continue;
    for (int i = 0; i < net.schedules_size(); ++i) {
      const auto& def = net.schedules(i);
      const auto& cal_name = def.calendar().empty() ? net.calendar() : def.calendar();
      const duet::v1::JobCalendarDef* cal = nullptr;
      if (auto c = calendars_.find(cal_name); c != calendars_.end()) cal = &c->second;
      auto made = jobs::NetSchedule::make(def, cal, net.zone());
      if (!made) {
        spdlog::error("jobs: net {} schedule {}: {}", name, i + 1, made.error().message);
        continue;
      }
      // A changed expression is a new schedule: it starts from now.
      const std::string key = "schedule\x1f" + name + "\x1f" + def.cron() + "\x1f" + def.zone() +
                              "\x1f" + cal_name + "\x1f" + def.shift();
      Schedule sc{name, key, std::move(*made), now, std::nullopt, true};
      if (auto k = known.find(key); k != known.end()) {
        sc.last_ms = k->second;
        sc.dirty = false;
      } else if (auto c = counters_.find(key); c != counters_.end()) {
        sc.last_ms = static_cast<std::int64_t>(c->second);
        sc.dirty = false;
      }
      sc.next = sc.schedule.next_after(sc.last_ms);
      schedules_.push_back(std::move(sc));
    }
    for (const auto& t : net.triggers()) {
      if (t.kind() != "event") continue;
      EventTrigger et;
      et.net = name;
      et.sources.insert(t.sources().begin(), t.sources().end());
      et.scopes.insert(t.scopes().begin(), t.scopes().end());
      for (const auto& p : t.priorities()) {
        if (auto pr = parse_priority(p)) et.priorities.insert(*pr);
      }
      if (!t.pattern().empty()) {
        try {
          et.pattern.emplace(t.pattern(), std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          continue;  // the definitions' checks refuse it; never here
        }
      }
      event_triggers_.push_back(std::move(et));
    }
  }
}

void JobRunner::check_schedules(std::int64_t now, store::WriteBatch& batch) {
  for (auto& sc : schedules_) {
    bool changed = sc.dirty;
    while (sc.next && sc.next->at_ms <= now) {
      const auto at = sc.next->at_ms;
      const std::string when = sc.schedule.text() + " at " + format_utc_ms(at);
      if (now - at > options_.catch_up_ms) {
        skipped_.push_back(jobs::Notice{0, sc.net, "", Priority::kWarning,
                                        "job net " + sc.net + ": schedule " + when +
                                            " was missed (no master was acting); not run late"});
      } else {
        auto started =
            start_into(sc.net, {}, jobs::BusinessCalendar::date_text(sc.next->business_day),
                       "schedule " + when, batch, now);
        if (!started) {
          skipped_.push_back(
              jobs::Notice{0, sc.net, "", Priority::kWarning,
                           "job net " + sc.net + ": schedule " + when +
                               " did not start a session: " + started.error().message});
        }
      }
      sc.last_ms = at;
      changed = true;
      sc.next = sc.schedule.next_after(at);
    }
    if (!changed) continue;
    sc.dirty = false;
    counters_[sc.key] = static_cast<std::uint64_t>(sc.last_ms);
    batch.put("job_meta", store::Row{{"key", sc.key}, {"value", sc.last_ms}});
  }
}

namespace {
// A file trigger's identity: its net, and the trigger as defined (a changed
// trigger is a new watch, looked at afresh).
std::string watch_id(const std::string& net, const duet::v1::JobTriggerDef& t) {
  return net + "\x1f" + t.node() + "\x1f" + t.path() + "\x1f" +
         (t.on().empty() ? "created" : t.on());
}
}  // namespace

std::vector<duet::v1::FileWatch> JobRunner::watches_for(const std::string& node) const {
  std::vector<duet::v1::FileWatch> out;
  for (const auto& [name, net] : nets_) {
    if (!net.enabled()) continue;
    for (const auto& t : net.triggers()) {
      if (t.kind() != "file" || t.node() != node) continue;
      duet::v1::FileWatch w;
      w.set_id(watch_id(name, t));
      w.set_path(t.path());
      w.set_on(t.on().empty() ? "created" : t.on());
      w.set_interval_s(t.interval_s() == 0 ? 10 : t.interval_s());
      out.push_back(std::move(w));
    }
  }
  return out;
}

void JobRunner::file_into(const std::string& node, const duet::v1::FileEvent& ev) {
  if (!engine_) return;
  const auto now = to_unix_ms(clock_.wall_now());
  const auto net = ev.id().substr(0, ev.id().find('\x1f'));
  auto it = nets_.find(net);
  bool current = false;
  if (it != nets_.end() && it->second.enabled()) {
    for (const auto& t : it->second.triggers()) {
      current |= t.kind() == "file" && t.node() == node && watch_id(net, t) == ev.id();
    }
  }
  if (!current) {
    spdlog::info("jobs: file trigger {} from {}: no such trigger any more; ignored", ev.path(),
                 node);
    return;
  }
  // Started by take_into(), into the batch that takes this result.
  file_starts_.push_back({net, "file " + ev.path() + " " + ev.what() + " on " + node, now});
}

bool JobRunner::EventTrigger::matches(const notify::Occurrence& o) const {
  if (!sources.empty() && sources.count(o.node) == 0) return false;
  if (!priorities.empty() && priorities.count(o.priority) == 0) return false;
  if (!scopes.empty()) {
    bool in = false;
    for (const auto& sc : o.scopes) in |= scopes.count(sc) != 0;
    if (!in) return false;
  }
  return !pattern || std::regex_search(o.message, *pattern);
}

bool JobRunner::wants_event(const notify::Occurrence& o) const {
  for (const auto& t : event_triggers_) {
    if (t.matches(o)) return true;
  }
  return false;
}

void JobRunner::events_into(const std::vector<notify::Occurrence>& events,
                            store::WriteBatch& batch) {
  if (!engine_) return;
  const auto now = to_unix_ms(clock_.wall_now());
  for (const auto& o : events) {
    for (const auto& t : event_triggers_) {
      if (!t.matches(o)) continue;
      auto started = start_into(t.net, {}, "", "event " + std::to_string(o.event_id), batch, now);
      if (!started) {
        skipped_.push_back(
            jobs::Notice{0, t.net, "", Priority::kWarning,
                         "job net " + t.net + ": event " + std::to_string(o.event_id) +
                             " did not start a session: " + started.error().message});
      }
    }
  }
}

}  // namespace duet::manager
