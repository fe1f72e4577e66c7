// The notification cores: suppression, calendars, templates, definitions.
#include <catch2/catch.hpp>

#include "notify/board.h"
#include "notify/calendar.h"
#include "notify/definitions.h"
#include "notify/suppression.h"
#include "notify/template.h"

using duet::Priority;
using namespace duet::notify;

namespace {

// Feeds `seq` of priorities one second apart and returns which notified.
std::vector<bool> run(const Suppression& rule, const std::vector<Priority>& seq,
                      std::int64_t step_ms = 1000, const std::set<Priority>& wanted = {}) {
  std::optional<KeyState> state;
  std::vector<bool> out;
  std::int64_t now = 1'000'000;
  for (auto p : seq) {
    auto d = decide(rule, state, p, now, wanted.empty() || wanted.count(p) != 0);
    out.push_back(d.notify);
    state = d.next;
    now += step_ms;
  }
  return out;
}

constexpr auto C = Priority::kCritical;
constexpr auto W = Priority::kWarning;
constexpr auto I = Priority::kInfo;

std::int64_t utc_ms(int y, int mo, int d, int h, int mi) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

TEST_CASE("suppression: after N notifies only on the Nth consecutive result", "[notify]") {
  Suppression rule{.after = 3, .repeat = Repeat::kNever};
  CHECK(run(rule, {C, C, C, C, C}) == std::vector<bool>{false, false, true, false, false});
  // A different priority in between starts the count again.
  CHECK(run(rule, {C, C, W, C, C, C}) ==
        std::vector<bool>{false, false, false, false, false, true});
  Suppression one{.after = 1, .repeat = Repeat::kNever};
  CHECK(run(one, {C}) == std::vector<bool>{true});
}

TEST_CASE("suppression: a change of priority always notifies", "[notify]") {
  Suppression rule{.after = 1, .repeat = Repeat::kNever};
  CHECK(run(rule, {C, C, W, W, C, I, I}) ==
        std::vector<bool>{true, false, true, false, true, true, false});
  // Even critical, info, critical with only critical wanted: a new run.
  CHECK(run(rule, {C, I, C}, 1000, {C}) == std::vector<bool>{true, false, true});
}

TEST_CASE("suppression: the same priority repeats always, per period, or never", "[notify]") {
  Suppression always{.after = 1, .repeat = Repeat::kAlways};
  CHECK(run(always, {W, W, W}) == std::vector<bool>{true, true, true});
  Suppression never{.after = 1, .repeat = Repeat::kNever};
  CHECK(run(never, {W, W, W, W}) == std::vector<bool>{true, false, false, false});
  // Period 3 s, results every second: t=0 notifies, t=1,2 not, t=3 again, ...
  Suppression period{.after = 1, .repeat = Repeat::kPeriod, .period_ms = 3000};
  CHECK(run(period, {W, W, W, W, W, W, W}) ==
        std::vector<bool>{true, false, false, true, false, false, true});
  // With after = 2 the period counts from the first notification.
  Suppression both{.after = 2, .repeat = Repeat::kPeriod, .period_ms = 2000};
  CHECK(run(both, {W, W, W, W, W}) == std::vector<bool>{false, true, false, true, false});
}

TEST_CASE("suppression: an unwanted priority counts but never notifies", "[notify]") {
  Suppression rule{.after = 2, .repeat = Repeat::kAlways};
  CHECK(run(rule, {I, I, I, C, C, C}, 1000, {C}) ==
        std::vector<bool>{false, false, false, false, true, true});
}

TEST_CASE("suppression: the state survives its text form", "[notify]") {
  KeyState s{
      .priority = W, .count = 3, .notified = true, .last_notified_ms = 123, .last_at_ms = 456};
  CHECK(decode_state(encode_state(s)) == s);
  CHECK_FALSE(decode_state("warning 3 1 123"));
  CHECK_FALSE(decode_state("bad 3 1 1 2"));
  CHECK_FALSE(decode_state("warning x 1 1 2"));
}

TEST_CASE("calendar: weekdays in a time zone, across midnight and DST", "[notify]") {
  duet::v1::Calendar def;
  def.set_zone("Europe/London");
  for (auto d : {"mon", "tue", "wed", "thu", "fri"}) def.add_days(d);
  def.set_from("08:00");
  def.set_to("18:00");
  def.add_except("2026-12-25");
  auto cal = Calendar::make(def);
  REQUIRE(cal.ok());
  // Wed 2026-07-01: BST (UTC+1). 07:30 UTC is 08:30 local: open; 17:30 UTC is 18:30: closed.
  CHECK(cal->open_at(utc_ms(2026, 7, 1, 7, 30)));
  CHECK_FALSE(cal->open_at(utc_ms(2026, 7, 1, 17, 30)));
  CHECK_FALSE(cal->open_at(utc_ms(2026, 7, 1, 6, 59)));
  // Wed 2026-01-07: GMT. 08:00 UTC is 08:00 local: open; 07:59 not.
  CHECK(cal->open_at(utc_ms(2026, 1, 7, 8, 0)));
  CHECK_FALSE(cal->open_at(utc_ms(2026, 1, 7, 7, 59)));
  // Saturday closed; Christmas (a Friday) closed.
  CHECK_FALSE(cal->open_at(utc_ms(2026, 7, 4, 12, 0)));
  CHECK_FALSE(cal->open_at(utc_ms(2026, 12, 25, 12, 0)));
  CHECK(cal->open_at(utc_ms(2026, 12, 24, 12, 0)));

  duet::v1::Calendar night;
  night.set_zone("Asia/Tokyo");
  night.add_days("fri");
  night.set_from("22:00");
  night.set_to("06:00");
  auto n = Calendar::make(night);
  REQUIRE(n.ok());
  // Fri 2026-07-03 23:00 JST = 14:00 UTC: open; Sat 05:00 JST = Fri 20:00 UTC: open;
  // Sat 23:00 JST: closed (the window starts on Fridays only).
  CHECK(n->open_at(utc_ms(2026, 7, 3, 14, 0)));
  CHECK(n->open_at(utc_ms(2026, 7, 3, 20, 0)));
  CHECK_FALSE(n->open_at(utc_ms(2026, 7, 4, 14, 0)));
  CHECK_FALSE(n->open_at(utc_ms(2026, 7, 3, 12, 0)));  // Fri 21:00 JST
}

TEST_CASE("calendar: bad fields are named", "[notify]") {
  duet::v1::Calendar bad;
  bad.set_zone("Mars/Olympus");
  CHECK(Calendar::make(bad).error().message.rfind("calendar.zone:", 0) == 0);
  duet::v1::Calendar day;
  day.add_days("funday");
  CHECK(Calendar::make(day).error().message.rfind("calendar.days:", 0) == 0);
  duet::v1::Calendar from;
  from.set_from("25:00");
  CHECK(Calendar::make(from).error().message.rfind("calendar.from:", 0) == 0);
  duet::v1::Calendar except;
  except.add_except("2026-02-30");
  CHECK(Calendar::make(except).error().message.rfind("calendar.except:", 0) == 0);
}

TEST_CASE("template: placeholders, escaping, checks", "[notify]") {
  std::map<std::string, std::string> vars{{"node", "web01"}, {"message", "a \"b\"\nc"}};
  CHECK(render("[{{ node }}] {{message}}{{missing}}", vars, Escape::kNone) == "[web01] a \"b\"\nc");
  CHECK(render(R"({"text": "{{message}}"})", vars, Escape::kJsonString) ==
        R"({"text": "a \"b\"\nc"})");
  CHECK(render("Subject: {{message}}", vars, Escape::kHeaderLine) == "Subject: a \"b\" c");
  CHECK(render("no close {{node", vars, Escape::kNone) == "no close {{node");
  CHECK(check_template("ok {{node}} {{fields.x-y}}").ok());
  CHECK_FALSE(check_template("{{node").ok());
  CHECK_FALSE(check_template("{{}}").ok());
  CHECK_FALSE(check_template("{{a b}}").ok());
}

TEST_CASE("definitions: a file parses, checks and round-trips", "[notify]") {
  const std::string text = R"(nodes: []
channels:
  - name: ops-mail
    kind: mail
    params: {url: "smtp://127.0.0.1:2525", from: duet@example.com, to: ops@example.com}
    timeout: 5s
    retry: {attempts: 3, backoff: 500ms}
    calendar: {zone: Europe/London, days: [mon, fri], from: "08:00", to: "18:00"}
  - name: chat
    kind: webhook
    params: {url: "http://127.0.0.1:8080/hook", body: '{"text": "{{message}}"}'}
    headers: {X-Team: ops}
notifications:
  - name: web-down
    monitors: [web-http]
    priorities: [critical, warning]
    channels: [ops-mail, chat]
    after: 3
    repeat: period
    period: 30m
)";
  auto f = parse_notify_file(text, {});
  INFO(duet::format_file_problems("n.yaml", f.problems));
  REQUIRE(f.problems.empty());
  CHECK(f.present);
  REQUIRE(f.channels.size() == 2);
  REQUIRE(f.notifications.size() == 1);
  CHECK(f.channels[0].timeout_ms() == 5000);
  CHECK(f.channels[0].retry().backoff_ms() == 500);
  CHECK(f.channels[0].has_calendar());
  CHECK_FALSE(f.channels[1].has_calendar());
  CHECK(f.notifications[0].period_s() == 1800);
  // Exported and read back: every definition unchanged.
  auto again = parse_notify_file(notify_section(f.channels, f.notifications), {});
  REQUIRE(again.problems.empty());
  REQUIRE(again.channels.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    auto it = std::find_if(again.channels.begin(), again.channels.end(),
                           [&](const auto& c) { return c.name() == f.channels[i].name(); });
    CHECK(changed_fields(*it, f.channels[i]).empty());
  }
  CHECK(changed_fields(again.notifications[0], f.notifications[0]).empty());
  auto changed = f.notifications[0];
  changed.set_after(1);
  changed.add_nodes("web01");
  CHECK(changed_fields(changed, f.notifications[0]) == std::vector<std::string>{"nodes", "after"});
  // Defaults are not changes.
  auto c = f.channels[1];
  c.set_timeout_ms(kDefaultTimeoutMs);
  CHECK(changed_fields(c, f.channels[1]).empty());
}

TEST_CASE("definitions: every problem is named with its line", "[notify]") {
  const std::string text = R"(channels:
  - name: m
    kind: mail
    params: {url: "http://x", from: a, to: b}
  - name: w
    kind: webhook
    params: {url: "http://x", bogus: 1}
  - name: s
    kind: fax
  - name: c
    kind: command
    params: {command: "true"}
    calendar: {zone: Nowhere/Land}
notifications:
  - name: n1
    channels: [m, nope]
    repeat: sometimes
  - name: n2
    channels: [c]
    pattern: "(["
  - name: n3
    channels: [c, elsewhere]
    priorities: [bad]
)";
  auto f = parse_notify_file(text, {"elsewhere"});
  const auto all = duet::format_file_problems("n.yaml", f.problems);
  INFO(all);
  CHECK(all.find("n.yaml:4: channel 'm': params.url: 'http://x' is not smtp://") !=
        std::string::npos);
  CHECK(all.find("n.yaml:7: channel 'w': params.bogus: not a webhook channel's param") !=
        std::string::npos);
  CHECK(all.find("n.yaml:9: channel 's': kind: 'fax' is not one of") != std::string::npos);
  CHECK(all.find("n.yaml:13: channel 'c': calendar.zone: unknown time zone 'Nowhere/Land'") !=
        std::string::npos);
  CHECK(all.find("n.yaml:17: notification 'n1': repeat: 'sometimes'") != std::string::npos);
  CHECK(all.find("n.yaml:20: notification 'n2': pattern:") != std::string::npos);
  CHECK(all.find("n.yaml:23: notification 'n3': priorities: 'bad'") != std::string::npos);
  // n1 was refused for its repeat; its missing channel is not reported twice.
  CHECK(all.find("nope") == std::string::npos);
  CHECK(f.channels.empty());  // each has a problem
}

TEST_CASE("definitions: matching by monitor, node, scope, pattern", "[notify]") {
  duet::v1::NotificationDef d;
  d.set_name("n");
  d.set_enabled(true);
  d.add_channels("x");
  d.add_monitors("web-http");
  d.add_scopes("prod");
  d.add_priorities("critical");
  d.set_pattern("down|timeout");
  d.set_by_message(true);
  auto c = compile(d);
  REQUIRE(c.ok());
  Occurrence o;
  o.node = "web01";
  o.monitor = "web-http";
  o.scopes = {"web", "prod"};
  o.priority = Priority::kCritical;
  o.message = "web01 is down";
  CHECK(c->matches(o));
  CHECK(c->wants(Priority::kCritical));
  CHECK_FALSE(c->wants(Priority::kWarning));
  CHECK(c->key_of(o) == std::string("web01\x1fweb-http\x1fn\x1f\x1fweb01 is down"));
  auto other = o;
  other.monitor = "db";
  CHECK_FALSE(c->matches(other));
  other = o;
  other.scopes = {"test"};
  CHECK_FALSE(c->matches(other));
  other = o;
  other.message = "all fine";
  CHECK_FALSE(c->matches(other));
  d.set_enabled(false);
  CHECK_FALSE(compile(d)->matches(o));
}

TEST_CASE("board: worst per node and scope, expired statuses unknown", "[notify]") {
  const std::int64_t now = 1'000'000'000;
  std::vector<StatusRow> rows{
      {"web01", "http", "warning", "slow", now - 50'000, now - 10'000, 180'000},
      {"web01", "ping", "info", "", now - 50'000, now - 10'000, 180'000},
      {"web02", "http", "info", "", now - 50'000, now - 400'000, 180'000},  // expired
      {"db01", "disk", "critical", "full", now - 50'000, now - 10'000, 180'000},
      {"db01", "log", "warning", "", now - 50'000, now - 900'000, 0},  // never expires
  };
  std::map<std::string, std::vector<std::string>> scopes{
      {"prod", {"db01", "web01", "web02"}}, {"web", {"web01", "web02"}}, {"empty", {}}};
  auto b = make_board(rows, scopes, {"db01", "web01", "web02", "idle"}, now, "");
  std::map<std::string, duet::v1::BoardRow> nodes, by_scope;
  for (const auto& r : b.nodes()) nodes[r.node()] = r;
  for (const auto& r : b.scopes()) by_scope[r.scope()] = r;
  CHECK(nodes["web01"].worst() == "warning");
  CHECK(nodes["web02"].worst() == "unknown");
  CHECK(nodes["web02"].cells(0).expired());
  CHECK(nodes["db01"].worst() == "critical");
  CHECK(nodes["db01"].warning() == 1);  // the log monitor's status does not expire
  CHECK(nodes["idle"].worst().empty());
  CHECK(by_scope["web"].worst() == "unknown");  // unknown ranks above warning
  CHECK(by_scope["prod"].worst() == "critical");
  CHECK(by_scope["prod"].critical() == 1);
  CHECK(by_scope["prod"].info() == 1);
  CHECK(by_scope["empty"].worst().empty());
  CHECK(board_rank("critical") < board_rank("unknown"));
  CHECK(board_rank("unknown") < board_rank("warning"));
  CHECK(board_rank("warning") < board_rank("info"));
  // One scope: its nodes and its sub-scopes only.
  auto web = make_board(rows, scopes, {"db01", "web01", "web02", "idle"}, now, "web");
  CHECK(web.nodes_size() == 2);
  CHECK(web.scopes_size() == 1);
}
