#include <catch2/catch.hpp>

#include "intake/rules.h"

using duet::intake::compile_rules;
using duet::intake::EventView;
using duet::intake::Priority;
using duet::intake::RuleDecision;
using duet::intake::RuleSpec;

TEST_CASE("The first matching rule decides priority and keep", "[intake]") {
  std::vector<RuleSpec> specs(3);
  specs[0].name = "noise";
  specs[0].message = "DEBUG";
  specs[0].keep = false;
  specs[1].name = "core link";
  specs[1].sources = {"10.0.0.0/8", "fd00::/8"};
  specs[1].fields = {{"app_name", "^%LINK"}};
  specs[1].priority = Priority::kCritical;
  specs[2].name = "web";
  specs[2].scopes = {"web-servers"};
  specs[2].message = "(?:5\\d\\d) ";
  specs[2].priority = Priority::kWarning;
  auto rules = compile_rules(specs, RuleDecision{Priority::kInfo, true, ""});
  REQUIRE(rules.ok());

  std::map<std::string, std::string> link{{"app_name", "%LINK-3-UPDOWN"}};
  std::map<std::string, std::string> other{{"app_name", "sshd"}};
  auto eval = [&](std::string_view src, std::vector<std::string_view> scopes,
                  const std::map<std::string, std::string>* f, std::string_view msg) {
    return rules->evaluate(EventView{src, std::move(scopes), f, msg});
  };

  auto d = eval("10.2.3.4", {}, &link, "Interface down");
  CHECK(d.rule == "core link");
  CHECK(d.priority == Priority::kCritical);
  CHECK(d.keep);
  CHECK(eval("fd00::1", {}, &link, "x").rule == "core link");
  CHECK(eval("11.2.3.4", {}, &link, "x").rule.empty());   // outside the block
  CHECK(eval("10.2.3.4", {}, &other, "x").rule.empty());  // field does not match
  CHECK(eval("10.2.3.4", {}, nullptr, "x").rule.empty());
  auto n = eval("10.2.3.4", {}, &link, "a DEBUG line");
  CHECK(n.rule == "noise");  // first match wins
  CHECK_FALSE(n.keep);
  auto w = eval("192.0.2.1", {"web01", "web-servers"}, &other, "GET / 503 12ms");
  CHECK(w.rule == "web");
  CHECK(w.priority == Priority::kWarning);
  auto def = eval("192.0.2.1", {"unregistered"}, &other, "hello");
  CHECK(def.rule.empty());
  CHECK(def.priority == Priority::kInfo);
  CHECK(def.keep);
}

TEST_CASE("Bad rules are refused with the rule named", "[intake]") {
  std::vector<RuleSpec> specs(1);
  specs[0].name = "broken";
  specs[0].message = "([unclosed";
  auto r = compile_rules(specs);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::StartsWith("rule 1 (broken): message regex"));
  specs[0].message.clear();
  specs[0].sources = {"10.0.0.0/33"};
  r = compile_rules(specs);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("'10.0.0.0/33' is not an address or CIDR"));
}

TEST_CASE("Priorities have names", "[intake]") {
  for (auto p : {Priority::kCritical, Priority::kWarning, Priority::kInfo, Priority::kUnknown}) {
    CHECK(duet::intake::parse_priority(duet::intake::priority_name(p)) == p);
  }
  CHECK_FALSE(duet::intake::parse_priority("fatal"));
}

TEST_CASE("The rules name the fields they read, once each and sorted", "[intake]") {
  using namespace duet::intake;
  std::vector<RuleSpec> specs(3);
  specs[0].name = "sev";
  specs[0].fields = {{"severity", "^err$"}, {"app_name", "sshd"}};
  specs[1].name = "msg";
  specs[1].message = "disk";
  specs[2].name = "sev-again";
  specs[2].fields = {{"severity", "crit"}};
  auto set = compile_rules(specs);
  REQUIRE(set.ok());
  CHECK(set->field_names() == std::vector<std::string>{"app_name", "severity"});
  auto none = compile_rules({specs[1]});
  REQUIRE(none.ok());
  CHECK(none->field_names().empty());
}
