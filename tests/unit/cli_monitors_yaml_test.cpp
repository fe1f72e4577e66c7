#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "cli/monitors_yaml.h"

using duet::cli::ApplyFile;
using duet::cli::changed_fields;
using duet::cli::FileMonitor;
using duet::cli::format_file_problems;
using duet::cli::line_of_error;
using duet::cli::monitors_section;
using duet::cli::parse_seconds;
using duet::cli::seconds_text;
using duet::cli::split_apply_file;
using duet::cli::with_defaults;
using duet::v1::MonitorDef;

namespace {

// The problems of `text`'s monitors as "m.yaml:LINE: ..." lines ("" when none).
std::string problems(const std::string& text) {
  auto f = split_apply_file(text);
  return format_file_problems("m.yaml", f.problems);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

std::vector<std::string> top_keys(const std::string& text) {
  std::vector<std::string> out;
  YAML::Node root = YAML::Load(text);
  for (auto it = root.begin(); it != root.end(); ++it) out.push_back(it->first.Scalar());
  return out;
}

const char* const kFile = R"(# scopes, nodes and monitors
scopes:
  - name: web
monitors:
  - name: web01-http
    kind: http
    node: web01
    interval: 5m
    timeout: 30
    description: the shop
    params:
      url: "https://web01/"
      expect_status: 200
      verify: true
    judgement:
      metric: duration_ms
      info: ":500"
      warning: ":2000"
  - name: web-log
    kind: log_file
    scope: web
    enabled: false
    params: {path: /var/log/app.log}
    judgement:
      patterns:
        - {regex: "ERROR", priority: critical}
        - regex: warn
          priority: warning
      otherwise: info
# nodes come last
nodes:
  - name: web01
    addresses: [10.0.0.11]
    scopes: [web]
)";

}  // namespace

TEST_CASE("monitors of an apply file become definitions", "[cli_monitors_yaml]") {
  auto f = split_apply_file(kFile);
  REQUIRE(f.has_monitors);
  REQUIRE(f.problems.empty());
  REQUIRE(f.monitors.size() == 2);
  CHECK(f.nodes == std::set<std::string>{"web01"});
  CHECK(f.scopes == std::set<std::string>{"web"});

  const FileMonitor& http = f.monitors[0];
  const MonitorDef& d = http.def;
  CHECK(d.name() == "web01-http");
  CHECK(d.kind() == "http");
  CHECK(d.node() == "web01");
  CHECK(d.scope().empty());
  CHECK(d.runs_on().empty());  // the manager's default (agent)
  CHECK(d.interval_s() == 300);
  CHECK(d.timeout_s() == 30);
  CHECK(d.enabled());
  CHECK(d.description() == "the shop");
  // Numbers and booleans are kept as written.
  CHECK(d.params().at("url") == "https://web01/");
  CHECK(d.params().at("expect_status") == "200");
  CHECK(d.params().at("verify") == "true");
  CHECK(d.judgement().metric() == "duration_ms");
  CHECK(d.judgement().info_range() == ":500");
  CHECK(d.judgement().warning_range() == ":2000");
  CHECK(http.line == 5);
  CHECK(http.line_of("params.expect_status") == 13);
  CHECK(http.line_of("judgement.warning") == 18);

  const MonitorDef& log = f.monitors[1].def;
  CHECK(log.scope() == "web");
  CHECK_FALSE(log.enabled());
  CHECK(log.params().at("path") == "/var/log/app.log");
  REQUIRE(log.judgement().patterns_size() == 2);
  CHECK(log.judgement().patterns(0).regex() == "ERROR");
  CHECK(log.judgement().patterns(0).priority() == "critical");
  CHECK(log.judgement().patterns(1).regex() == "warn");
  CHECK(log.judgement().patterns(1).priority() == "warning");
  CHECK(log.judgement().otherwise() == "info");
  CHECK(f.monitors[1].line_of("judgement.patterns[1].priority") == 28);
}

TEST_CASE("the repository's part keeps every other line where it was", "[cli_monitors_yaml]") {
  auto f = split_apply_file(kFile);
  const auto before = lines_of(kFile);
  const auto after = lines_of(f.repository_yaml);
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    INFO("line " << i + 1);
    const bool monitors = i >= 3 && i < 30;  // from "monitors:" to the comment before "nodes:"
    CHECK(after[i] == (monitors ? "" : before[i]));
  }
  CHECK(top_keys(f.repository_yaml) == std::vector<std::string>{"scopes", "nodes"});

  // Monitors last: the rest of the file goes.
  auto last = split_apply_file("nodes: []\nmonitors:\n  - name: a\n    kind: ping\n    node: x\n");
  REQUIRE(last.has_monitors);
  CHECK(last.repository_yaml == "nodes: []\n\n\n\n\n");

  // CRLF lines stay lines.
  auto crlf = split_apply_file("monitors: []\r\nscopes: []\r\n");
  CHECK(crlf.repository_yaml == "\nscopes: []\r\n");

  // A flow-style mapping is written anew.
  auto flow = split_apply_file("{scopes: [{name: s}], monitors: [], nodes: []}");
  REQUIRE(flow.has_monitors);
  CHECK(top_keys(flow.repository_yaml) == std::vector<std::string>{"scopes", "nodes"});
}

TEST_CASE("a file without monitors is left to the manager", "[cli_monitors_yaml]") {
  CHECK_FALSE(split_apply_file("scopes: []\nnodes: []\n").has_monitors);
  CHECK_FALSE(split_apply_file("").has_monitors);
  CHECK_FALSE(split_apply_file("scopes: [\n").has_monitors);  // a syntax error: the manager says
  CHECK_FALSE(split_apply_file("monitors: []\n---\nnodes: []\n").has_monitors);  // two documents
  CHECK_FALSE(split_apply_file("- a\n").has_monitors);
  auto empty = split_apply_file("monitors:\n");
  CHECK(empty.has_monitors);
  CHECK(empty.monitors.empty());
  CHECK(empty.problems.empty());
}

TEST_CASE("problems of monitors name FILE:LINE", "[cli_monitors_yaml]") {
  CHECK(problems(R"(monitors:
  - name: a
    kind: ping
    node: web01
    colour: blue
    interval: 5x
)") == "m.yaml:5: monitor 'a': unknown key 'colour' (expected name, kind, node, scope, runs_on, "
       "interval, timeout, enabled, description, params, judgement)\n"
       "m.yaml:6: monitor 'a': interval: '5x' is not a duration (write seconds, or 30s, 5m, 1h)");

  CHECK(problems(R"(monitors:
  - name: a
    kind: ping
    node: web01
    scope: web
    runs_on: cloud
    interval: 5
    timeout: 2m
    enabled: maybe
)") == "m.yaml:5: monitor 'a': give a node or a scope (one of them)\n"
       "m.yaml:6: monitor 'a': runs_on: 'cloud' is not agent or manager\n"
       "m.yaml:7: monitor 'a': interval: 5 s is outside 10 s .. 24 h\n"
       "m.yaml:8: monitor 'a': timeout: 120 s is longer than the interval (5 s)\n"
       "m.yaml:9: monitor 'a': 'enabled' must be true or false");

  CHECK(problems(R"(monitors:
  - kind: ping
    node: web01
  - name: b
    node: web01
  - name: c
    kind: port
    kind: ping
    params: {port: [1, 2]}
    judgement:
      patterns:
        - {regex: x, priority: urgent}
        - {priority: info}
      otherwise: fine
  - name: b
    kind: ping
    node: n
  - just text
)") == "m.yaml:2: monitors[0]: missing 'name'\n"
       "m.yaml:4: monitor 'b': missing 'kind'\n"
       "m.yaml:6: monitor 'c': give a node or a scope (one of them)\n"
       "m.yaml:8: monitor 'c': key 'kind' appears twice (first at line 7)\n"
       "m.yaml:9: monitor 'c': params: 'port' must be a text value, found a list\n"
       "m.yaml:12: monitor 'c': judgement.patterns[0].priority: 'urgent' is not one of critical, "
       "warning, info, unknown\n"
       "m.yaml:13: monitor 'c': judgement.patterns[1]: missing 'regex'\n"
       "m.yaml:14: monitor 'c': judgement.otherwise: 'fine' is not one of critical, warning, info, "
       "unknown\n"
       "m.yaml:15: monitor 'b' appears twice in this document (first at line 4)\n"
       "m.yaml:18: monitors[4]: expected a mapping, found a scalar");

  // A name given twice: the second is refused (the first one is kept).
  auto twice = split_apply_file(R"(monitors:
  - {name: a, kind: ping, node: n}
  - {name: a, kind: port, node: n}
)");
  CHECK(format_file_problems("m.yaml", twice.problems) ==
        "m.yaml:3: monitor 'a' appears twice in this document (first at line 2)");
  CHECK(twice.monitors.size() == 1);

  CHECK(problems("monitors: {a: 1}\n") == "m.yaml:1: 'monitors' must be a list, found a mapping");
  CHECK(problems("monitors: []\nmonitors: []\n") ==
        "m.yaml:2: document: key 'monitors' appears twice (first at line 1)");
  CHECK(problems("monitors:\n  - {name: a, kind: ping, node: n, params: [x]}\n") ==
        "m.yaml:2: monitor 'a': 'params' must be a mapping, found a list");
  CHECK(problems("monitors:\n  - {name: a, kind: ping, node: n, timeout: 2h}\n") ==
        "m.yaml:2: monitor 'a': timeout: at most 1 h");
}

TEST_CASE("durations", "[cli_monitors_yaml]") {
  CHECK(parse_seconds("30") == 30u);
  CHECK(parse_seconds("30s") == 30u);
  CHECK(parse_seconds("5m") == 300u);
  CHECK(parse_seconds("1h") == 3600u);
  CHECK(parse_seconds("0") == 0u);
  CHECK_FALSE(parse_seconds(""));
  CHECK_FALSE(parse_seconds("s"));
  CHECK_FALSE(parse_seconds("-5"));
  CHECK_FALSE(parse_seconds("1.5m"));
  CHECK_FALSE(parse_seconds("5 m"));
  CHECK_FALSE(parse_seconds("1d"));
  CHECK_FALSE(parse_seconds("99999999999"));
  CHECK_FALSE(parse_seconds("2000000h"));
  CHECK(seconds_text(3600) == "1h");
  CHECK(seconds_text(7200) == "2h");
  CHECK(seconds_text(300) == "5m");
  CHECK(seconds_text(90) == "90s");
  CHECK(seconds_text(10) == "10s");
  for (std::uint32_t s : {10u, 59u, 60u, 61u, 3599u, 3600u, 5400u, 86400u}) {
    CHECK(parse_seconds(seconds_text(s)) == s);
  }
}

TEST_CASE("a definition compared with the stored one", "[cli_monitors_yaml]") {
  MonitorDef want;
  want.set_name("a");
  want.set_kind("port");
  want.set_node("web01");
  want.set_enabled(true);
  (*want.mutable_params())["host"] = "10.0.0.1";
  (*want.mutable_params())["port"] = "22";

  // As the manager keeps it: defaults filled, stamped, params in another order.
  MonitorDef have;
  have.set_name("a");
  have.set_kind("port");
  have.set_node("web01");
  have.set_enabled(true);
  have.set_runs_on("agent");
  have.set_interval_s(60);
  have.set_timeout_s(10);
  have.set_updated_at_ms(1700000000000);
  have.set_updated_by("a");
  (*have.mutable_params())["port"] = "22";
  (*have.mutable_params())["host"] = "10.0.0.1";
  CHECK(changed_fields(want, have).empty());

  const auto d = with_defaults(want);
  CHECK(d.interval_s() == 60);
  CHECK(d.timeout_s() == 10);
  CHECK(d.runs_on() == "agent");
  MonitorDef short_interval = want;
  short_interval.set_interval_s(10);
  CHECK(with_defaults(short_interval).timeout_s() == 10);

  MonitorDef other = want;
  other.set_interval_s(120);
  other.set_enabled(false);
  (*other.mutable_params())["port"] = "2222";
  other.mutable_judgement()->set_metric("connect_ms");
  other.set_description("ssh");
  CHECK(changed_fields(other, have) ==
        std::vector<std::string>{"interval", "enabled", "description", "params", "judgement"});
  other = want;
  other.clear_node();
  other.set_scope("web");
  other.set_runs_on("manager");
  other.set_kind("ping");
  other.set_timeout_s(5);
  CHECK(changed_fields(other, have) ==
        std::vector<std::string>{"kind", "node", "scope", "runs_on", "timeout"});
}

TEST_CASE("the manager's refusal points at the key's line", "[cli_monitors_yaml]") {
  auto f = split_apply_file(kFile);
  REQUIRE(f.monitors.size() == 2);
  const FileMonitor& http = f.monitors[0];
  CHECK(line_of_error(http, "params.expect_status: 'x' is not a whole number") == 13);
  CHECK(line_of_error(http, "params.body: required") == 11);  // not given: params
  CHECK(line_of_error(http, "judgement.info_range: ':x': the high end is not a number") == 17);
  CHECK(line_of_error(http, "judgement.warning_range: 'x': not a number or a range") == 18);
  CHECK(line_of_error(http, "judgement: give ranges or patterns, not both") == 15);
  CHECK(line_of_error(http, "target: give a node or a scope (one of them)") == 7);
  CHECK(line_of_error(http, "node: no node 'web01' in the repository") == 7);
  CHECK(line_of_error(http, "interval: 5 s is outside 10 s .. 24 h") == 8);
  CHECK(line_of_error(http, "runs_on: a log file is read by the agent on its node") == 5);
  CHECK(line_of_error(http, "monitor 'web01-http' exists (change it with apply)") == 5);
  CHECK(line_of_error(http, "store not open yet") == 5);
  const FileMonitor& log = f.monitors[1];
  CHECK(line_of_error(log, "judgement.patterns[1].regex: '(' is not a valid regex: x") == 27);
  CHECK(line_of_error(log, "target: x") == 21);  // its scope
}

TEST_CASE("an export's monitors come back unchanged", "[cli_monitors_yaml]") {
  std::vector<MonitorDef> defs;
  MonitorDef a;
  a.set_name("z-ssh");
  a.set_kind("port");
  a.set_node("web01");
  a.set_runs_on("manager");
  a.set_interval_s(90);
  a.set_timeout_s(10);
  a.set_enabled(false);
  a.set_description("two lines:\nof text # not a comment");
  a.set_updated_at_ms(1700000000000);
  a.set_updated_by("a");
  auto& p = *a.mutable_params();
  p["port"] = "22";
  p["expect"] = "^SSH-2\\.0-.*: {x}, [y]";
  p["empty"] = "";
  p["null"] = "null";
  p["tilde"] = "~";
  p["bool"] = "true";
  p["octal"] = "0123";
  p["spaced"] = "  padded  ";
  p["quote"] = "it's \"quoted\"";
  p["key with spaces"] = "- dash";
  a.mutable_judgement()->set_metric("connect_ms@x");
  a.mutable_judgement()->set_info_range(":500");
  a.mutable_judgement()->set_warning_range("500:2000");
  defs.push_back(a);

  MonitorDef b;
  b.set_name("a-log");
  b.set_kind("log_file");
  b.set_scope("web");
  b.set_runs_on("agent");
  b.set_interval_s(3600);
  b.set_timeout_s(10);
  b.set_enabled(true);
  (*b.mutable_params())["path"] = "/var/log/app.log";
  auto* j = b.mutable_judgement();
  auto* pat = j->add_patterns();
  pat->set_regex("^\\s*ERROR [0-9]+$");
  pat->set_priority("critical");
  pat = j->add_patterns();
  pat->set_regex("{warn}, #1");
  pat->set_priority("warning");
  j->set_otherwise("unknown");
  defs.push_back(b);

  const std::string section = monitors_section(defs);
  INFO(section);
  CHECK(section.rfind("monitors:\n  - name: a-log\n", 0) == 0);  // by name
  CHECK(section.find("interval: 1h") != std::string::npos);
  CHECK(section.find("interval: 90s") != std::string::npos);
  CHECK(section.find("updated") == std::string::npos);
  // After an export's scopes and nodes, as `duetctl export` prints it.
  auto f = split_apply_file("# exported\nscopes: []\nnodes: []\n" + section);
  REQUIRE(f.problems.empty());
  REQUIRE(f.monitors.size() == 2);
  for (const auto& m : f.monitors) {
    const MonitorDef& stored = m.def.name() == "a-log" ? b : a;
    INFO(m.def.name());
    CHECK(changed_fields(m.def, stored).empty());
  }
  CHECK(f.monitors[1].def.params().at("empty").empty());
  CHECK(f.monitors[1].def.params().at("null") == "null");
  CHECK(f.monitors[1].def.params().at("spaced") == "  padded  ");

  // Stable: the same definitions give the same text.
  std::reverse(defs.begin(), defs.end());
  CHECK(monitors_section(defs) == section);
  CHECK(monitors_section({}).empty());
}

TEST_CASE("problems are sorted by line", "[cli_monitors_yaml]") {
  CHECK(format_file_problems("f.yaml", {{9, "b"}, {0, "no line"}, {3, "a"}}) ==
        "no line\nf.yaml:3: a\nf.yaml:9: b");
  CHECK(format_file_problems("", {{3, "a"}}) == "a");
}
