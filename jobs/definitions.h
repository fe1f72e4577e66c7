#pragma once

// Job-net definitions: the `jobnets:`, `calendars:`, `queues:` and
// `node_limits:` sections of an apply file, their checks, their defaults and
// their export. Pure: no clock, no store.
//
//   calendars:
//     - name: jp-business
//       zone: Asia/Tokyo
//       weekdays: [mon, tue, wed, thu, fri]     # default mon..fri
//       holidays: ["2027-01-01"]
//       extra_days: ["2027-01-09"]
//       base_time: "05:00"                      # a business day begins then
//   queues:
//     - {name: db, limit: 2}                    # limit 1..10000
//   node_limits:
//     - {node: db1, limit: 4}                   # limit 1..10000
//   jobnets:
//     - name: nightly
//       description: the nightly batch
//       enabled: true                 # default true
//       zone: Asia/Tokyo              # for times of day and delays; default UTC
//       calendar: jp-business         # business day of a session
//       max_sessions: 1               # 1..100, default 1
//       params: {TARGET: prod}        # runtime parameters with their defaults
//       variables: {OUT: /data/out}   # user variables of the net
//       schedules:
//         - {cron: "0 0 1 * * *", zone: Asia/Tokyo, calendar: jp-business, shift: next}
//           # shift: none (default) | next | previous; next and previous need a calendar
//       triggers:
//         - {kind: file, node: db1, path: /data/in/ready, on: created, interval: 10s}
//           # on: created (default) | modified | deleted; interval default 10s
//         - {kind: event, sources: [db1], scopes: [dbs], priorities: [critical], pattern: "ORA-"}
//           # at least one of sources, scopes, priorities, pattern (an ECMAScript regex)
//       units:
//         - name: extract
//           command: {run: "extract.sh ${TARGET}", user: batch, directory: /srv, env: {A: b},
//                     node: db1}      # or scope: dbs with on: all (default) | any
//           end: [{min: 0, max: 0, status: normal}, {min: 1, max: 4, status: warning}]
//           retry: {count: 2, interval: 30s, on: [abnormal]}   # count 0..100; on: abnormal
//                                                              # (default), warning
//           start_delay: {at: "02:00", action: notify}  # or after: 30m; notify (default),
//                                                       # hold, skip, stop
//           end_delay: {after: 1h, action: stop}        # notify (default) or stop
//           time_limit: 2h
//           queue: db
//           hold: false
//         - name: load
//           after: [extract]    # one wait group (all) of {unit: X, status: ok}; an entry may
//                               # also be {unit: extract, status: normal}
//           command: {run: load.sh, node: db1}
//         - {name: approve, approval: {prompt: "Release?"}, after: [load]}
//         - {name: check, monitor: {monitor: web-http, node: web1}}
//         - {name: again, reference: extract, after: [check]}  # a job of this net: "sub/job"
//         - name: copy
//           transfer: {from_node: a, from_path: /x, to_node: b, to_path: /y, overwrite: true}
//         - name: sub           # a nested net (at most kMaxDepth levels of nets)
//           variables: {X: "1"}
//           units: [...]
//         - name: on-error
//           wait:
//             combine: any      # over the groups: all (default) | any
//             groups:
//               - conditions: [{unit: extract, status: abnormal}]
//               - combine: all  # default all
//                 conditions:
//                   - {unit: load, end_value: ">= 8"}   # or status: ok (default) | normal |
//                                                       # warning | abnormal | any
//                   - {time: "03:00"}                   # HH:MM or HH:MM:SS
//                   - {after_start: 30m}
//                   - {variable: MODE, compare: "== full"}  # OP: == != < <= > >=
//             end_if_unmet: {status: normal, value: 0}      # status default abnormal
//           command: {run: alert.sh, node: db1}
//
// A unit is exactly one of command, transfer, approval, monitor, reference or
// units (a nested net). Durations are seconds or 30s, 5m, 1h. Names of nets,
// units, calendars and queues are [A-Za-z0-9_.-]+; names of params,
// variables and env [A-Za-z_][A-Za-z0-9_]*. Units wait only for their
// siblings, and not in a cycle.
//
// Problems are collected, never thrown: every one of a file with its line.
// A net with a problem of form (an unknown key, a value of the wrong type) is
// not checked further, so its other problems show once that one is fixed.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/yaml_fields.h"
#include "duet/v1/jobs.pb.h"

namespace duet::jobs {

// Nesting levels of nets, the net itself being the first.
inline constexpr int kMaxDepth = 64;
inline constexpr std::uint32_t kMaxSessions = 100;
inline constexpr std::uint32_t kMaxRetries = 100;
inline constexpr std::uint32_t kMaxLimit = 10'000;  // of a queue or a node
inline constexpr std::uint32_t kDefaultFileInterval = 10;

// Calendars and queues already defined (on the manager), which a definition
// may name besides those of its own file.
struct KnownNames {
  std::set<std::string> calendars, queues;
  bool operator==(const KnownNames&) const = default;
};

// The sections of one apply file.
struct JobsFile {
  bool present = false;                   // the text has jobnets, calendars, queues or node_limits
  std::vector<duet::v1::JobNetDef> nets;  // each as with_defaults() gives it
  std::vector<duet::v1::JobCalendarDef> calendars;
  std::vector<duet::v1::JobQueueDef> queues;
  std::vector<duet::v1::JobNodeLimit> node_limits;
  // "jobnet NAME", "calendar NAME", "queue NAME", "node_limit NODE",
  // "unit NET/PATH/TO/UNIT" -> line of the item.
  std::map<std::string, int> lines;
  std::vector<FileProblem> problems;
};

// Reads the four sections of `text` (other top-level keys, such as monitors:
// or channels:, are not looked at) and checks every definition. Only
// definitions without problems are returned. A calendar or queue named must
// be in the file or in `known`.
JobsFile parse_jobs_file(std::string_view text, const KnownNames& known);

// One problem of a net. `unit` is the unit's path ("sub/job"; "" for the net
// itself), `index` the same path by position ("3/0"), which tells apart two
// siblings of the same name; `field` the key as a file names it
// ("command.run", "wait.groups[1].conditions[0].unit"; "" for the unit).
struct NetProblem {
  std::string unit, index, field, why;
};

// Every check of the net (on with_defaults(def)), in the order of the units.
std::vector<NetProblem> net_problems(const duet::v1::JobNetDef& def, const KnownNames& known);

// The same, as texts: "jobnet NAME: unit a/b: field: why" ("jobnet NAME:
// field: why" for the net itself); empty: valid.
std::vector<std::string> check_net(const duet::v1::JobNetDef& def, const KnownNames& known);
// Errors name the field: "holidays: '2027-02-30' is not a date YYYY-MM-DD".
Status check_calendar(const duet::v1::JobCalendarDef& def);
Status check_queue(const duet::v1::JobQueueDef& def);
Status check_node_limit(const duet::v1::JobNodeLimit& def);

// Defaults filled in: max_sessions 1; each unit's kind (from what it has);
// condition status ok (with a unit and no end_value); combine all;
// unmet_status abnormal; retry on abnormal (with a count); delay action
// notify; command on all (with a scope); file trigger on created, every 10s;
// schedule shift none. Empty sub-messages cleared; version and updated_*
// cleared. Idempotent. (`enabled` has no default here: a file's is true.)
duet::v1::JobNetDef with_defaults(duet::v1::JobNetDef def);

// What differs after with_defaults: the net's keys ("schedules", "params",
// "units" when only the order of the top units changed, ...) and
// "unit PATH" for each unit added, removed or changed (a nested net counts
// as changed when the order of its units did). Empty: unchanged.
std::vector<std::string> changed_fields(const duet::v1::JobNetDef& want,
                                        const duet::v1::JobNetDef& have);

// The four sections of an export, each sorted by name (node limits by node),
// with_defaults() applied; "" when all are empty. Parsed back it gives
// exactly the same messages, so applying it changes nothing.
std::string jobs_section(std::vector<duet::v1::JobNetDef> nets,
                         std::vector<duet::v1::JobCalendarDef> calendars,
                         std::vector<duet::v1::JobQueueDef> queues,
                         std::vector<duet::v1::JobNodeLimit> node_limits);

// The unit at `path` ("sub/job") below `root`; nullptr when none. "" is root.
const duet::v1::JobUnitDef* find_unit(const duet::v1::JobUnitDef& root, std::string_view path);

}  // namespace duet::jobs
