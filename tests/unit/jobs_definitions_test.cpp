// Job-net definitions: the YAML reader, its checks, defaults, export and diff.
#include <google/protobuf/util/message_differencer.h>

#include <catch2/catch.hpp>

#include "jobs/definitions.h"

using namespace duet::jobs;
using duet::format_file_problems;
using google::protobuf::util::MessageDifferencer;

namespace {

const char* const kFull = R"(monitors:
  - name: ignored-here
calendars:
  - name: jp-business
    zone: Asia/Tokyo
    weekdays: [mon, tue, wed, thu, fri]
    holidays: ["2027-01-01"]
    extra_days: ["2027-01-09"]
    base_time: "05:00"
queues:
  - {name: db, limit: 2}
node_limits:
  - {node: db1, limit: 4}
jobnets:
  - name: nightly
    description: the nightly batch
    enabled: true
    zone: Asia/Tokyo
    calendar: jp-business
    max_sessions: 2
    params: {TARGET: prod}
    variables: {OUT: /data/out}
    schedules:
      - {cron: "0 0 1 * * *", zone: Asia/Tokyo, calendar: jp-business, shift: next}
    triggers:
      - {kind: file, node: db1, path: /data/in/ready, on: modified, interval: 30s}
      - {kind: event, sources: [db1], scopes: [dbs], priorities: [critical], pattern: "ORA-[0-9]+"}
    units:
      - name: extract
        description: pull the day's rows
        command: {run: "extract.sh ${TARGET}", user: batch, directory: /srv/batch, env: {A: b}, node: db1}
        end: [{min: 0, max: 0, status: normal}, {min: 1, max: 4, status: warning}]
        retry: {count: 2, interval: 30s, on: [abnormal]}
        start_delay: {at: "02:00", action: hold}
        end_delay: {after: 1h, action: stop}
        time_limit: 2h
        queue: db
        hold: false
      - name: load
        after: [extract]
        command: {run: load.sh, scope: dbs, on: any}
      - name: approve
        approval: {prompt: "Release the batch?"}
        after: [{unit: load, status: normal}]
      - name: check
        monitor: {monitor: web-http, node: web1}
      - name: again
        reference: extract
        after: [check]
      - name: copy
        transfer: {from_node: a, from_path: /x, to_node: b, to_path: /y, overwrite: true}
      - name: sub
        after: [again]
        variables: {X: "1"}
        units:
          - name: job
            command: {run: "echo ${X}", node: db1}
          - name: job2
            after: job
            reference: sub/job
      - name: on-error
        wait:
          combine: any
          groups:
            - conditions: [{unit: extract, status: abnormal}]
            - combine: all
              conditions:
                - {unit: load, end_value: ">= 8"}
                - {time: "03:00"}
                - {after_start: 30m}
                - {variable: MODE, compare: "== full"}
          end_if_unmet: {status: normal, value: 7}
        command: {run: alert.sh, node: db1}
)";

// One net around the given units (indented as list items under units:).
std::string net_with(const std::string& units, const std::string& net_keys = "") {
  return "jobnets:\n  - name: n\n" + net_keys + "    units:\n" + units;
}

std::string problems_of(const std::string& text, const KnownNames& known = {}) {
  return format_file_problems("f.yaml", parse_jobs_file(text, known).problems);
}

// Nets nested `levels` deep (the net itself is level 1), a command at the bottom.
std::string nested(int levels) {
  std::string y = "jobnets:\n  - name: deep\n    units:\n";
  std::string indent = "      ";
  for (int i = 2; i <= levels; ++i) {
    y += indent + "- name: n" + std::to_string(i) + "\n" + indent + "  units:\n";
    indent += "    ";
  }
  y += indent + "- {name: leaf, command: {run: x, node: a}}\n";
  return y;
}

}  // namespace

TEST_CASE("job definitions: a full file lands in the messages", "[jobdefs]") {
  const auto f = parse_jobs_file(kFull, {});
  INFO(format_file_problems("f", f.problems));
  REQUIRE(f.problems.empty());
  CHECK(f.present);
  REQUIRE(f.calendars.size() == 1);
  CHECK(f.calendars[0].zone() == "Asia/Tokyo");
  CHECK(f.calendars[0].holidays(0) == "2027-01-01");
  CHECK(f.calendars[0].extra_days(0) == "2027-01-09");
  CHECK(f.calendars[0].base_time() == "05:00");
  REQUIRE(f.queues.size() == 1);
  CHECK(f.queues[0].limit() == 2);
  REQUIRE(f.node_limits.size() == 1);
  CHECK(f.node_limits[0].node() == "db1");
  CHECK(f.node_limits[0].limit() == 4);
  REQUIRE(f.nets.size() == 1);
  const auto& n = f.nets[0];
  CHECK(n.root().name() == "nightly");
  CHECK(n.root().kind() == "net");
  CHECK(n.root().description() == "the nightly batch");
  CHECK(n.enabled());
  CHECK(n.zone() == "Asia/Tokyo");
  CHECK(n.calendar() == "jp-business");
  CHECK(n.max_sessions() == 2);
  CHECK(n.params().at("TARGET") == "prod");
  CHECK(n.root().variables().at("OUT") == "/data/out");
  REQUIRE(n.schedules_size() == 1);
  CHECK(n.schedules(0).cron() == "0 0 1 * * *");
  CHECK(n.schedules(0).shift() == "next");
  CHECK(n.schedules(0).calendar() == "jp-business");
  REQUIRE(n.triggers_size() == 2);
  CHECK(n.triggers(0).on() == "modified");
  CHECK(n.triggers(0).interval_s() == 30);
  CHECK(n.triggers(1).priorities(0) == "critical");
  CHECK(n.triggers(1).pattern() == "ORA-[0-9]+");
  REQUIRE(n.root().units_size() == 8);

  const auto& extract = n.root().units(0);
  CHECK(extract.kind() == "command");
  CHECK(extract.description() == "pull the day's rows");
  CHECK(extract.command().run() == "extract.sh ${TARGET}");
  CHECK(extract.command().user() == "batch");
  CHECK(extract.command().directory() == "/srv/batch");
  CHECK(extract.command().env().at("A") == "b");
  CHECK(extract.command().node() == "db1");
  REQUIRE(extract.end_size() == 2);
  CHECK(extract.end(1).max() == 4);
  CHECK(extract.end(1).status() == "warning");
  CHECK(extract.retry().count() == 2);
  CHECK(extract.retry().interval_s() == 30);
  CHECK(extract.start_delay().at() == "02:00");
  CHECK(extract.start_delay().action() == "hold");
  CHECK(extract.end_delay().after_s() == 3600);
  CHECK(extract.end_delay().action() == "stop");
  CHECK(extract.time_limit_s() == 7200);
  CHECK(extract.queue() == "db");
  CHECK_FALSE(extract.has_wait());

  const auto& load = n.root().units(1);
  CHECK(load.command().scope() == "dbs");
  CHECK(load.command().on() == "any");
  REQUIRE(load.wait().groups_size() == 1);
  CHECK(load.wait().combine() == "all");
  CHECK(load.wait().groups(0).combine() == "all");
  CHECK(load.wait().groups(0).conditions(0).unit() == "extract");
  CHECK(load.wait().groups(0).conditions(0).status() == "ok");  // the default
  CHECK(n.root().units(2).kind() == "approval");
  CHECK(n.root().units(2).approval().prompt() == "Release the batch?");
  CHECK(n.root().units(2).wait().groups(0).conditions(0).status() == "normal");
  CHECK(n.root().units(3).kind() == "monitor");
  CHECK(n.root().units(3).monitor().monitor() == "web-http");
  CHECK(n.root().units(4).kind() == "reference");
  CHECK(n.root().units(4).reference() == "extract");
  CHECK(n.root().units(5).kind() == "transfer");
  CHECK(n.root().units(5).transfer().overwrite());
  CHECK(n.root().units(5).transfer().to_path() == "/y");
  const auto& sub = n.root().units(6);
  CHECK(sub.kind() == "net");
  CHECK(sub.variables().at("X") == "1");
  CHECK(sub.units(1).reference() == "sub/job");

  const auto& w = n.root().units(7).wait();
  CHECK(w.combine() == "any");
  REQUIRE(w.groups_size() == 2);
  CHECK(w.groups(0).conditions(0).status() == "abnormal");
  const auto& g = w.groups(1);
  REQUIRE(g.conditions_size() == 4);
  CHECK(g.conditions(0).end_value() == ">= 8");
  CHECK(g.conditions(0).status().empty());  // end_value, not status
  CHECK(g.conditions(1).time() == "03:00");
  CHECK(g.conditions(2).after_start_s() == 1800);
  CHECK(g.conditions(3).variable() == "MODE");
  CHECK(g.conditions(3).compare() == "== full");
  CHECK(w.end_if_unmet());
  CHECK(w.unmet_status() == "normal");
  CHECK(w.unmet_value() == 7);

  CHECK(f.lines.at("jobnet nightly") == 15);
  CHECK(f.lines.at("calendar jp-business") == 4);
  CHECK(f.lines.at("queue db") == 11);
  CHECK(f.lines.at("unit nightly/extract") == 29);
  CHECK(f.lines.at("unit nightly/sub/job2") == 58);

  CHECK(find_unit(n.root(), "sub/job2") == &sub.units(1));
  CHECK(find_unit(n.root(), "") == &n.root());
  CHECK(find_unit(n.root(), "sub/none") == nullptr);
  CHECK(find_unit(n.root(), "sub/") == nullptr);
}

TEST_CASE("job definitions: defaults are filled", "[jobdefs]") {
  const auto f =
      parse_jobs_file(net_with(R"(      - {name: a, command: {run: x, scope: s}, retry: {count: 1},
         start_delay: {after: 5m}}
      - name: b
        command: {run: y, node: n1}
        wait:
          groups: [{conditions: [{unit: a}]}]
          end_if_unmet: {}
)",
                               R"(    schedules: [{cron: "0 0 1 * * *"}]
    triggers: [{kind: file, node: n1, path: /p}]
)"),
                      {});
  INFO(format_file_problems("f", f.problems));
  REQUIRE(f.nets.size() == 1);
  const auto& n = f.nets[0];
  CHECK(n.enabled());
  CHECK(n.max_sessions() == 1);
  CHECK(n.schedules(0).shift() == "none");
  CHECK(n.triggers(0).on() == "created");
  CHECK(n.triggers(0).interval_s() == 10);
  const auto& a = n.root().units(0);
  CHECK(a.command().on() == "all");
  CHECK(a.retry().on(0) == "abnormal");
  CHECK(a.start_delay().action() == "notify");
  const auto& w = n.root().units(1).wait();
  CHECK(w.combine() == "all");
  CHECK(w.groups(0).combine() == "all");
  CHECK(w.groups(0).conditions(0).status() == "ok");
  CHECK(w.unmet_status() == "abnormal");
  // Idempotent.
  CHECK(MessageDifferencer::Equals(with_defaults(n), n));
}

TEST_CASE("job definitions: each check names the key at its line", "[jobdefs]") {
  struct Case {
    std::string units;  // the units of net n (line 4 is the first)
    int line;
    std::string what;
  };
  const std::vector<Case> cases{
      // Names and kinds.
      {"      - {name: a/b, command: {run: x, node: a}}\n", 4,
       "unit a/b: name: 'a/b' is not a name"},
      {"      - {name: a, command: {run: x, node: a}}\n      - {name: a, command: {run: y, "
       "node: a}}\n",
       5, "unit a: name: 'a' is the name of another unit"},
      {"      - {name: a}\n", 4, "unit a: give one of command, transfer, approval"},
      {"      - name: a\n        command: {run: x, node: a}\n        units: []\n", 6,
       "found command and units"},
      {"      - {name: a, command: {run: x, node: a}, bogus: 1}\n", 4, "unknown key 'bogus'"},
      {"      - name: a\n        command: {run: x, node: a}\n        command: {run: y, node: "
       "a}\n",
       6, "key 'command' appears twice"},
      {"      - {name: a, command: {run: x, node: a}, variables: {1x: y}}\n", 4,
       "variables: '1x' is not a variable name"},
      // Conditions.
      {"      - {name: a, command: {run: x, node: a}, after: [b]}\n", 4,
       "unit a: after[0].unit: no unit 'b' in the same net"},
      {"      - {name: a, command: {run: x, node: a}, after: [a]}\n", 4,
       "after[0].unit: a unit cannot wait for itself"},
      {"      - {name: a, command: {run: x, node: a}}\n      - name: b\n        command: {run: "
       "x, node: a}\n        after:\n          - {unit: a, status: fine}\n",
       8, "after[0].status: 'fine' is not ok, normal, warning, abnormal or any"},
      {"      - {name: a, command: {run: x, node: a}}\n      - name: b\n        command: {run: "
       "x, node: a}\n        wait:\n          groups:\n            - conditions:\n"
       "                - {unit: a, time: \"03:00\"}\n",
       10, "wait.groups[0].conditions[0]: give only one of unit, time, after_start, variable"},
      {"      - name: b\n        command: {run: x, node: a}\n        wait:\n          groups:\n"
       "            - conditions: [{}]\n",
       8, "wait.groups[0].conditions[0]: give one of unit, time"},
      {"      - {name: a, command: {run: x, node: a}}\n      - name: b\n        command: {run: "
       "x, node: a}\n        wait:\n          groups:\n            - conditions:\n"
       "                - unit: a\n                  status: normal\n"
       "                  end_value: \">= 1\"\n",
       12, "end_value: give status or end_value, not both"},
      {"      - {name: a, command: {run: x, node: a}}\n      - name: b\n        command: {run: "
       "x, node: a}\n        wait:\n          groups:\n            - conditions:\n"
       "                - {unit: a, end_value: \"=> x\"}\n",
       10, "end_value: '=> x' is not OP NUMBER"},
      {"      - {name: a, command: {run: x, node: a}}\n      - name: b\n        command: {run: "
       "x, node: a}\n        wait:\n          groups:\n            - conditions:\n"
       "                - {unit: a, end_value: \">= x\"}\n",
       10, "'>= x' is not OP NUMBER"},
      {"      - name: b\n        command: {run: x, node: a}\n        wait:\n          groups:\n"
       "            - conditions: [{time: \"25:00\"}]\n",
       8, "conditions[0].time: '25:00' is not a time HH:MM or HH:MM:SS"},
      {"      - name: b\n        command: {run: x, node: a}\n        wait:\n          groups:\n"
       "            - conditions: [{variable: MODE}]\n",
       8, "conditions[0].variable: needs compare"},
      {"      - name: b\n        command: {run: x, node: a}\n        wait:\n          groups:\n"
       "            - conditions: [{time: \"03:00\", compare: \"== 1\"}]\n",
       8, "conditions[0].compare: only with variable"},
      {"      - name: b\n        command: {run: x, node: a}\n        wait:\n          groups:\n"
       "            - conditions: [{variable: M, compare: \"~ 1\"}]\n",
       8, "conditions[0].compare: '~ 1' is not OP VALUE"},
      {"      - name: b\n        command: {run: x, node: a}\n        wait:\n          combine: "
       "most\n          groups: [{conditions: [{time: \"03:00\"}]}]\n",
       7, "wait.combine: 'most' is not all or any"},
      {"      - name: b\n        command: {run: x, node: a}\n        wait:\n          groups: "
       "[{conditions: [{time: \"03:00\"}]}]\n          end_if_unmet: {status: ok}\n",
       8, "wait.end_if_unmet.status: 'ok' is not normal, warning or abnormal"},
      {"      - {name: a, command: {run: x, node: a}}\n      - name: b\n        command: {run: "
       "x, node: a}\n        after: [a]\n        wait: {groups: [{conditions: [{unit: a}]}]}\n",
       8, "give after or wait, not both"},
      // Reference.
      {"      - {name: a, reference: nowhere}\n", 4, "reference: no unit 'nowhere' in this net"},
      {"      - {name: s, units: []}\n      - {name: a, reference: s}\n", 5,
       "reference: 's' is a net; name a command, transfer or monitor job"},
      {"      - {name: p, approval: {}}\n      - {name: a, reference: p}\n", 5,
       "'p' is an approval"},
      {"      - {name: r, reference: a}\n      - {name: a, reference: r}\n", 4,
       "'a' is a reference"},
      // Jobs.
      {"      - {name: a, command: {node: a}}\n", 4, "command.run: must not be empty"},
      {"      - {name: a, command: {run: x}}\n", 4, "command: give one of node and scope"},
      {"      - name: a\n        command:\n          run: x\n          node: a\n          scope: "
       "s\n",
       8, "command.scope: give one of node and scope"},
      {"      - name: a\n        command:\n          run: x\n          node: a\n          on: "
       "any\n",
       8, "command.on: only with a scope"},
      {"      - {name: a, command: {run: x, scope: s, on: some}}\n", 4,
       "command.on: 'some' is not all or any"},
      {"      - name: a\n        transfer:\n          from_node: a\n          from_path: /x\n"
       "          to_node: b\n",
       5, "transfer.to_path: required"},
      {"      - {name: a, transfer: {from_node: a, from_path: data/x, to_node: b, to_path: /y}}\n",
       4, "transfer.from_path: 'data/x' is not an absolute path"},
      {"      - {name: a, monitor: {node: b}}\n", 4, "monitor.monitor: name the monitor"},
      // End, retry, delays, limits.
      {"      - name: a\n        command: {run: x, node: a}\n        end:\n          - {min: 0, "
       "max: 0, status: normal}\n          - {min: 5, max: 1, status: warning}\n",
       8, "end[1]: min 5 is above max 1"},
      {"      - name: a\n        command: {run: x, node: a}\n        end: [{min: 0, max: 1, "
       "status: bad}]\n",
       6, "end[0].status: 'bad' is not normal, warning or abnormal"},
      {"      - name: a\n        command: {run: x, node: a}\n        retry: {count: 101}\n", 6,
       "'count' must be a whole number from 0 to 100"},
      {"      - name: a\n        command: {run: x, node: a}\n        retry:\n          count: "
       "1\n          on: [normal]\n",
       8, "retry.on: 'normal' is not abnormal or warning"},
      {"      - name: a\n        command: {run: x, node: a}\n        start_delay: {action: "
       "hold}\n",
       6, "start_delay: give at or after"},
      {"      - name: a\n        command: {run: x, node: a}\n        start_delay: {at: "
       "\"02:00\", after: 5m}\n",
       6, "start_delay: give at or after, not both"},
      {"      - name: a\n        command: {run: x, node: a}\n        start_delay:\n          "
       "at: \"02:00\"\n          action: pause\n",
       8, "start_delay.action: 'pause' is not notify, hold, skip or stop"},
      {"      - name: a\n        command: {run: x, node: a}\n        end_delay: {after: 1h, "
       "action: hold}\n",
       6, "end_delay.action: 'hold' is not notify or stop"},
      {"      - name: a\n        command: {run: x, node: a}\n        time_limit: soon\n", 6,
       "time_limit: 'soon' is not a duration"},
      {"      - name: a\n        command: {run: x, node: a}\n        queue: nope\n", 6,
       "queue: no queue 'nope' (neither in this file nor on the manager)"},
      {"      - {name: s, units: [], retry: {count: 1}}\n", 4, "retry: not for a net"},
  };
  for (const auto& c : cases) {
    const auto f = parse_jobs_file(net_with(c.units), {});
    INFO(c.units);
    const std::string all = format_file_problems("f.yaml", f.problems);
    INFO(all);
    CHECK(f.nets.empty());
    bool found = false;
    for (const auto& p : f.problems) {
      if (p.line == c.line && p.what.find(c.what) != std::string::npos) found = true;
    }
    CHECK(found);
  }
}

TEST_CASE("job definitions: the net's own checks, with lines", "[jobdefs]") {
  const std::string unit = "      - {name: a, command: {run: x, node: a}}\n";
  CHECK(problems_of(net_with(unit, "    zone: Mars/Base\n")) ==
        "f.yaml:3: jobnet n: zone: unknown time zone 'Mars/Base'");
  CHECK(problems_of(net_with(unit, "    calendar: jp\n")) ==
        "f.yaml:3: jobnet n: calendar: no calendar 'jp' (neither in this file nor on the "
        "manager)");
  KnownNames known;
  known.calendars.insert("jp");
  known.queues.insert("db");
  CHECK(problems_of(net_with(unit, "    calendar: jp\n"), known).empty());
  CHECK(problems_of(net_with(unit, "    max_sessions: 101\n")) ==
        "f.yaml:3: jobnet n: 'max_sessions' must be a whole number from 1 to 100");
  CHECK(problems_of(net_with(unit, "    params: {bad-name: 1}\n")) ==
        "f.yaml:3: jobnet n: params: 'bad-name' is not a parameter name");
  CHECK(problems_of("jobnets:\n  - {name: n/1, units: []}\n") ==
        "f.yaml:2: jobnet n/1: name: 'n/1' is not a name (letters, digits, _ . - only)");
  CHECK(problems_of("jobnets:\n  - {name: n, units: []}\n  - {name: n, units: []}\n") ==
        "f.yaml:3: jobnet n appears twice in this file (first at line 2)");
  CHECK(problems_of("jobnets:\n  - {units: []}\n") ==
        "f.yaml:2: jobnet jobnets[0]: missing 'name'");

  // Schedules: the cron error is CronSchedule's; zone; shift.
  auto sched = [&](const std::string& s) {
    return problems_of(net_with(unit, "    schedules:\n      - " + s + "\n"), known);
  };
  CHECK(sched("{cron: \"0 0 25 * * *\"}") ==
        "f.yaml:4: jobnet n: schedules[0].cron: hour: '25' is outside 0..23");
  CHECK(sched("{cron: \"0 0 1 * *\"}").find("schedules[0].cron: '0 0 1 * *' has 5 fields") !=
        std::string::npos);
  CHECK(sched("{cron: \"0 0 1 * * *\", zone: Nowhere/City}") ==
        "f.yaml:4: jobnet n: schedules[0].zone: unknown time zone 'Nowhere/City'");
  CHECK(sched("{cron: \"0 0 1 * * *\", shift: later}") ==
        "f.yaml:4: jobnet n: schedules[0].shift: 'later' is not none, next or previous");
  CHECK(sched("{cron: \"0 0 1 * * *\", shift: next}") ==
        "f.yaml:4: jobnet n: schedules[0].shift: shift next needs a calendar");
  CHECK(sched("{cron: \"0 0 1 * * *\", calendar: other}") ==
        "f.yaml:4: jobnet n: schedules[0].calendar: no calendar 'other' (neither in this file "
        "nor on the manager)");
  CHECK(sched("{cron: \"0 0 1 * * *\", calendar: jp, shift: previous}").empty());
  CHECK(sched("{zone: UTC}") == "f.yaml:4: jobnet n: schedules[0]: missing 'cron'");

  // Triggers.
  auto trig = [&](const std::string& t) {
    return problems_of(net_with(unit, "    triggers:\n      - " + t + "\n"));
  };
  CHECK(trig("{kind: file, path: /p}") ==
        "f.yaml:4: jobnet n: triggers[0].node: a file trigger needs a node");
  CHECK(trig("{kind: file, node: a}") ==
        "f.yaml:4: jobnet n: triggers[0].path: a file trigger needs a path");
  CHECK(trig("{kind: file, node: a, path: /p, on: touched}") ==
        "f.yaml:4: jobnet n: triggers[0].on: 'touched' is not created, modified or deleted");
  CHECK(trig("{kind: event}") ==
        "f.yaml:4: jobnet n: triggers[0]: an event trigger needs sources, scopes, priorities or "
        "a pattern");
  CHECK(trig("{kind: event, pattern: \"([a-\"}")
            .find("triggers[0].pattern: '([a-' is not a "
                  "regex") != std::string::npos);
  CHECK(trig("{kind: event, priorities: [urgent]}") ==
        "f.yaml:4: jobnet n: triggers[0].priorities: 'urgent' is not one of critical, warning, "
        "info, unknown");
  CHECK(trig("{kind: event, sources: [a], path: /p}") ==
        "f.yaml:4: jobnet n: triggers[0].path: only for a file trigger");
  CHECK(trig("{kind: cron}") ==
        "f.yaml:4: jobnet n: triggers[0].kind: 'cron' is not file or event");
}

TEST_CASE("job definitions: calendars, queues and node limits", "[jobdefs]") {
  CHECK(problems_of("calendars:\n  - name: c\n    holidays: [\"2027-02-30\"]\n") ==
        "f.yaml:3: calendar c: holidays: '2027-02-30' is not a date YYYY-MM-DD");
  CHECK(problems_of("calendars:\n  - name: c\n    weekdays: [mon, funday]\n") ==
        "f.yaml:3: calendar c: weekdays: 'funday' is not one of mon tue wed thu fri sat sun");
  CHECK(problems_of("calendars:\n  - name: c\n    zone: X/Y\n") ==
        "f.yaml:3: calendar c: zone: unknown time zone 'X/Y'");
  CHECK(problems_of("calendars:\n  - name: c\n    base_time: \"5am\"\n") ==
        "f.yaml:3: calendar c: base_time: '5am' is not a time HH:MM (00:00 .. 23:59)");
  CHECK(problems_of("calendars:\n  - {name: c}\n  - {name: c}\n") ==
        "f.yaml:3: calendar c appears twice in this file (first at line 2)");
  CHECK(problems_of("queues:\n  - {name: q, limit: 0}\n") ==
        "f.yaml:2: queue q: 'limit' must be a whole number from 1 to 10000");
  CHECK(problems_of("queues:\n  - {name: q, limit: 10001}\n") ==
        "f.yaml:2: queue q: 'limit' must be a whole number from 1 to 10000");
  CHECK(problems_of("queues:\n  - {name: q}\n") == "f.yaml:2: queue q: missing 'limit'");
  CHECK(problems_of("queues:\n  - {name: \"q w\", limit: 1}\n") ==
        "f.yaml:2: queue q w: name: 'q w' is not a name (letters, digits, _ . - only)");
  CHECK(problems_of("node_limits:\n  - {node: a, limit: 20000}\n") ==
        "f.yaml:2: node_limit a: 'limit' must be a whole number from 1 to 10000");
  CHECK(problems_of("node_limits:\n  - {node: a, limit: 2}\n  - {node: a, limit: 3}\n") ==
        "f.yaml:3: node_limit a appears twice in this file (first at line 2)");
  // The same checks without a file.
  duet::v1::JobQueueDef q;
  q.set_name("q");
  CHECK(check_queue(q).error().message == "limit: outside 1..10000");
  q.set_limit(3);
  CHECK(check_queue(q).ok());
  duet::v1::JobCalendarDef c;
  c.set_name("c");
  c.add_weekdays("sun");
  CHECK(check_calendar(c).ok());
  c.add_extra_days("soon");
  CHECK(check_calendar(c).error().message == "extra_days: 'soon' is not a date YYYY-MM-DD");
  // A calendar defined later in the file counts, and not being a jobs file at all is no problem.
  CHECK(problems_of("jobnets:\n  - {name: n, calendar: c, units: []}\ncalendars:\n  - {name: "
                    "c}\n")
            .empty());
  const auto other = parse_jobs_file("monitors: []\nchannels: []\n", {});
  CHECK_FALSE(other.present);
  CHECK(other.problems.empty());
  CHECK(parse_jobs_file("queues: []\n", {}).present);
  CHECK(problems_of("jobnets: {name: n}\n") ==
        "f.yaml:1: 'jobnets' must be a list, found a mapping");
}

TEST_CASE("job definitions: dependency cycles are named", "[jobdefs]") {
  const auto text = net_with(R"(      - {name: a, command: {run: x, node: n}, after: [c]}
      - {name: b, command: {run: x, node: n}, after: [a]}
      - {name: c, command: {run: x, node: n}, after: [b]}
      - {name: d, command: {run: x, node: n}, after: [a]}
      - name: s
        units:
          - {name: x, command: {run: x, node: n}, after: [y]}
          - name: y
            command: {run: x, node: n}
            wait:
              groups:
                - conditions: [{time: "01:00"}]
                - conditions: [{unit: x, status: any}]
)");
  CHECK(problems_of(text) ==
        "f.yaml:4: jobnet n: unit a: after: units wait for each other in a cycle: a -> c -> b -> "
        "a\n"
        "f.yaml:10: jobnet n: unit s/x: after: units wait for each other in a cycle: x -> y -> x");
  // Waiting on each other in a diamond is not a cycle.
  CHECK(problems_of(net_with(R"(      - {name: a, command: {run: x, node: n}}
      - {name: b, command: {run: x, node: n}, after: [a]}
      - {name: c, command: {run: x, node: n}, after: [a]}
      - {name: d, command: {run: x, node: n}, after: [b, c]}
)"))
            .empty());
}

TEST_CASE("job definitions: nets nest up to kMaxDepth levels", "[jobdefs]") {
  for (int levels : {30, kMaxDepth}) {
    const auto f = parse_jobs_file(nested(levels), {});
    INFO(levels << ": " << format_file_problems("f", f.problems));
    CHECK(f.problems.empty());
    CHECK(f.nets.size() == 1);
  }
  const auto f = parse_jobs_file(nested(kMaxDepth + 1), {});
  REQUIRE(f.problems.size() == 1);
  CHECK(f.problems[0].what.find("units: nets nested deeper than 64 levels") != std::string::npos);
  CHECK(f.problems[0].line == 3 + 2 * kMaxDepth);  // the units: key of the 65th net
  CHECK(f.nets.empty());
  // The same in a definition built in code.
  duet::v1::JobNetDef d;
  d.mutable_root()->set_name("deep");
  auto* at = d.mutable_root();
  for (int i = 2; i <= kMaxDepth + 1; ++i) {
    at = at->add_units();
    at->set_name("n" + std::to_string(i));
    at->set_kind("net");
  }
  const auto problems = check_net(d, {});
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("jobnet deep: unit n2/n3/") == 0);
  CHECK(problems[0].find("/n65: units: nets nested deeper than 64 levels") != std::string::npos);
}

TEST_CASE("job definitions: a net of 10,000 units", "[jobdefs]") {
  // A chain: each waits for the one before (deep for a recursive search).
  std::string units;
  for (int i = 0; i < 10'000; ++i) {
    units += "      - {name: u" + std::to_string(i) + ", command: {run: x, node: n}";
    if (i > 0) units += ", after: [u" + std::to_string(i - 1) + "]";
    units += "}\n";
  }
  const auto f = parse_jobs_file(net_with(units), {});
  INFO(format_file_problems("f", f.problems));
  REQUIRE(f.problems.empty());
  REQUIRE(f.nets.size() == 1);
  CHECK(f.nets[0].root().units_size() == 10'000);
  CHECK(f.lines.at("unit n/u9999") == 10'003);
  // Closing the chain into a cycle names all of it once.
  auto cyclic = f.nets[0];
  auto* c = cyclic.mutable_root()->mutable_units(0)->mutable_wait()->add_groups()->add_conditions();
  c->set_unit("u9999");
  const auto problems = check_net(cyclic, {});
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("jobnet n: unit u0: wait: units wait for each other in a cycle: u0 -> "
                         "u9999 -> u9998") == 0);
}

TEST_CASE("job definitions: the export parses back to the same messages", "[jobdefs]") {
  const auto f = parse_jobs_file(kFull, {});
  REQUIRE(f.problems.empty());
  const std::string text = jobs_section(f.nets, f.calendars, f.queues, f.node_limits);
  INFO(text);
  const auto g = parse_jobs_file(text, {});
  INFO(format_file_problems("export", g.problems));
  REQUIRE(g.problems.empty());
  REQUIRE(g.nets.size() == 1);
  std::string diff;
  MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  CHECK(d.Compare(f.nets[0], g.nets[0]));
  CHECK(diff.empty());
  REQUIRE(g.calendars.size() == 1);
  CHECK(MessageDifferencer::Equals(f.calendars[0], g.calendars[0]));
  REQUIRE(g.queues.size() == 1);
  CHECK(MessageDifferencer::Equals(f.queues[0], g.queues[0]));
  REQUIRE(g.node_limits.size() == 1);
  CHECK(MessageDifferencer::Equals(f.node_limits[0], g.node_limits[0]));
  CHECK(changed_fields(g.nets[0], f.nets[0]).empty());
  CHECK(jobs_section(g.nets, g.calendars, g.queues, g.node_limits) == text);
  CHECK(jobs_section({}, {}, {}, {}).empty());

  // Awkward texts survive, and nets come out by name.
  duet::v1::JobNetDef b;
  b.mutable_root()->set_name("b");
  b.mutable_root()->set_description("null");
  (*b.mutable_params())["P"] = "";
  auto* u = b.mutable_root()->add_units();
  u->set_name("j");
  u->mutable_command()->set_run("echo '{a: [1, 2]}' # not a comment; ${X}");
  u->mutable_command()->set_node("true");
  duet::v1::JobNetDef a;
  a.mutable_root()->set_name("a");
  a.set_enabled(true);
  a.set_version(7);
  a.set_updated_by("alice");
  const auto h = parse_jobs_file(jobs_section({b, a}, {}, {}, {}), {});
  INFO(format_file_problems("export", h.problems));
  REQUIRE(h.nets.size() == 2);
  CHECK(h.nets[0].root().name() == "a");
  CHECK(MessageDifferencer::Equals(h.nets[0], with_defaults(a)));
  CHECK(MessageDifferencer::Equals(h.nets[1], with_defaults(b)));
  CHECK_FALSE(h.nets[1].enabled());
}

TEST_CASE("job definitions: changed fields name net keys and unit paths", "[jobdefs]") {
  const auto f = parse_jobs_file(kFull, {});
  REQUIRE(f.nets.size() == 1);
  const auto& have = f.nets[0];
  CHECK(changed_fields(have, have).empty());
  auto want = have;
  want.mutable_root()->mutable_units(6)->mutable_units(0)->mutable_command()->set_run("other");
  want.mutable_schedules(0)->set_cron("0 0 2 * * *");
  (*want.mutable_params())["NEW"] = "1";
  want.set_version(99);  // not a change
  CHECK(changed_fields(want, have) ==
        std::vector<std::string>{"schedules", "params", "unit sub/job"});
  auto fewer = have;
  fewer.mutable_root()->mutable_units()->RemoveLast();
  fewer.mutable_root()->mutable_units(0)->set_description("changed");
  CHECK(changed_fields(fewer, have) == std::vector<std::string>{"unit extract", "unit on-error"});
  auto swapped = have;
  swapped.mutable_root()->mutable_units()->SwapElements(0, 1);
  CHECK(changed_fields(swapped, have) == std::vector<std::string>{"units"});
  auto renamed = have;
  renamed.mutable_root()->set_description("other");
  (*renamed.mutable_root()->mutable_variables())["OUT"] = "/elsewhere";
  CHECK(changed_fields(renamed, have) == std::vector<std::string>{"description", "variables"});
  // A default written out is no change.
  auto explicit_defaults = have;
  explicit_defaults.mutable_root()->mutable_units(1)->mutable_wait()->set_combine("");
  CHECK(changed_fields(explicit_defaults, have).empty());
}

TEST_CASE("job definitions: check_net on a definition built in code", "[jobdefs]") {
  duet::v1::JobNetDef d;
  d.mutable_root()->set_name("api");
  auto* a = d.mutable_root()->add_units();
  a->set_name("a");
  a->mutable_command()->set_run("run.sh");
  a->mutable_command()->set_node("db1");
  a->set_queue("db");
  auto* s = d.mutable_root()->add_units();
  s->set_name("s");
  auto* b = s->add_units();
  b->set_name("b");
  b->set_reference("x");
  auto* c = s->add_units();
  c->set_name("c");
  c->mutable_transfer()->set_from_node("x");
  auto* cond = c->mutable_wait()->add_groups()->add_conditions();
  cond->set_unit("a");  // not a sibling of c
  KnownNames known;
  known.queues.insert("db");
  CHECK(check_net(d, known) == std::vector<std::string>{
                                   "jobnet api: unit s/b: reference: no unit 'x' in this net",
                                   "jobnet api: unit s/c: wait.groups[0].conditions[0].unit: no "
                                   "unit 'a' in the same net",
                                   "jobnet api: unit s/c: transfer.from_path: required",
                                   "jobnet api: unit s/c: transfer.to_node: required",
                                   "jobnet api: unit s/c: transfer.to_path: required",
                               });
  // A reference's path starts at the net itself.
  b->set_reference("s/c");
  c->clear_wait();
  c->mutable_transfer()->set_from_path("/a");
  c->mutable_transfer()->set_to_node("y");
  c->mutable_transfer()->set_to_path("/b");
  CHECK(check_net(d, known).empty());
  b->set_reference("a");
  s->mutable_units()->RemoveLast();
  CHECK(check_net(d, {}) ==
        std::vector<std::string>{"jobnet api: unit a: queue: no queue 'db' (neither in this file "
                                 "nor on the manager)"});
  CHECK(check_net(d, known).empty());
  CHECK(with_defaults(d).root().units(1).kind() == "net");
  CHECK(with_defaults(d).root().units(1).units(0).kind() == "reference");
  a->mutable_monitor()->set_monitor("m");
  CHECK(check_net(d, known) ==
        std::vector<std::string>{"jobnet api: unit a: give exactly one of command, transfer, "
                                 "approval, monitor, reference, units"});
  a->set_kind("command");
  CHECK(check_net(d, known) ==
        std::vector<std::string>{"jobnet api: unit a: monitor: only for a monitor unit"});
  a->clear_monitor();
  // The net itself has no job fields.
  d.mutable_root()->set_hold(true);
  d.mutable_root()->set_kind("command");
  CHECK(check_net(d, known) ==
        std::vector<std::string>{"jobnet api: kind: the net itself is of kind net",
                                 "jobnet api: hold: not for the net itself"});
  // Referring to what is not a job.
  d.mutable_root()->set_kind("net");
  d.mutable_root()->set_hold(false);
  b->set_reference("s");
  CHECK(check_net(d, known) ==
        std::vector<std::string>{"jobnet api: unit s/b: reference: 's' is a net; name a command, "
                                 "transfer or monitor job"});
}
