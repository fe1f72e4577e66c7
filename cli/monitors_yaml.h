#pragma once

// The monitors of a declarative file (`duetctl apply -f FILE`, `duetctl
// export`): a top-level `monitors:` list beside `scopes:` and `nodes:`.
//
//   monitors:
//     - name: web01-http
//       kind: http
//       node: web01            # or: scope: web (every node of it)
//       runs_on: agent         # or manager; default agent
//       interval: 1m           # seconds, or 30s / 5m / 1h; default 60 s
//       timeout: 10s           # default 10 s (at most the interval)
//       enabled: true          # default true
//       description: the shop's front page
//       params: {url: "https://web01/", expect_status: 200}
//       judgement:
//         metric: duration_ms
//         info: ":500"
//         warning: ":2000"
//         patterns: [{regex: "ERROR", priority: critical}]
//         otherwise: info
//
// The repository's parser on the manager knows scopes and nodes only, so
// duetctl splits the file: split_apply_file() takes the monitors out (their
// lines blanked, so the manager's FILE:LINE problems still point into the
// operator's file) and turns each into a MonitorDef, noting the line of every
// key for the manager's answers about it ("params.port: ..." -> that line).
//
// Pure: text in, values out. The RPCs are in cli/monitors_apply.h.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/yaml_fields.h"
#include "duet/v1/monitoring.pb.h"

namespace duet::cli {

using duet::FileProblem;
using duet::format_file_problems;
using duet::parse_seconds;
using duet::seconds_text;

// One monitor of the file.
struct FileMonitor {
  duet::v1::MonitorDef def;  // as written: defaults not filled in (see with_defaults)
  int line = 0;              // the list item
  // Where each key was written: "kind", "params", "params.port", "judgement.info",
  // "judgement.patterns[0].regex", ...
  std::map<std::string, int> lines;

  // The line of `path`, else of the nearest key around it that was written
  // ("params.port" -> "params"), else of the item.
  int line_of(std::string path) const;
};

// An apply file split into the repository's part and the monitors.
struct ApplyFile {
  // One YAML document whose top-level mapping has a `monitors` key. When
  // false the file goes to the manager as it is (and nothing else is set).
  bool has_monitors = false;
  // The file has `channels:` or `notifications:` (the Notify service's; the
  // whole file goes there, which reads only those two keys).
  bool has_notify = false;
  // The text for Repository.Apply: the lines of monitors, channels and
  // notifications left empty, so that
  // line numbers stay (a flow-style top-level mapping is written anew instead).
  std::string repository_yaml;
  std::vector<FileMonitor> monitors;    // the well-formed ones, in file order
  std::set<std::string> nodes, scopes;  // the names the file's scopes and nodes give
  std::vector<FileProblem> problems;    // of the monitors part
};

[[nodiscard]] ApplyFile split_apply_file(std::string_view text);

// The definition as the manager keeps it: interval 60 s, timeout 10 s (at most
// the interval) and runs_on agent when not given; updated_at/by cleared.
duet::v1::MonitorDef with_defaults(duet::v1::MonitorDef def);

// The keys (as the file names them: kind, node, scope, runs_on, interval,
// timeout, enabled, description, params, judgement) in which `want` differs
// from `have`, after with_defaults() of both. Empty: unchanged.
std::vector<std::string> changed_fields(const duet::v1::MonitorDef& want,
                                        const duet::v1::MonitorDef& have);

// The line of the manager's refusal of `m`: its message starts with the field
// ("params.port: '99999' is outside 1..65535", "judgement.info_range: ...",
// "target: ..."); the item's line when it names none.
int line_of_error(const FileMonitor& m, const std::string& message);

// The `monitors:` section of an export (a top-level key, to follow `nodes:`),
// by name, keys in a fixed order, params sorted, empty keys left out; "" when
// there are none. Applied back, every monitor is unchanged.
std::string monitors_section(std::vector<duet::v1::MonitorDef> defs);

}  // namespace duet::cli
