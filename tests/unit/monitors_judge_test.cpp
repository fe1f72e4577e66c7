#include <catch2/catch.hpp>

#include "monitors/judge.h"

using duet::Priority;
using namespace duet::monitors;

namespace {

Judgement compiled(JudgementSpec spec) {
  auto j = compile_judgement(spec);
  REQUIRE(j.ok());
  return *j;
}

Measurement values(std::vector<Measurement::Metric> metrics) {
  Measurement m;
  m.metrics = std::move(metrics);
  return m;
}

}  // namespace

TEST_CASE("ranges: both ends included, either end open", "[judge]") {
  auto r = parse_range("0:80");
  REQUIRE(r.ok());
  CHECK(r->contains(0));
  CHECK(r->contains(80));
  CHECK_FALSE(r->contains(80.01));
  CHECK_FALSE(r->contains(-1));
  auto open_high = parse_range("90:");
  REQUIRE(open_high.ok());
  CHECK(open_high->contains(1e9));
  CHECK_FALSE(open_high->contains(89));
  auto open_low = parse_range(":10");
  REQUIRE(open_low.ok());
  CHECK(open_low->contains(-1e9));
  auto single = parse_range("0");
  REQUIRE(single.ok());
  CHECK(single->contains(0));
  CHECK_FALSE(single->contains(1));
  CHECK_FALSE(parse_range("abc").ok());
  CHECK_FALSE(parse_range("5:1").ok());
  CHECK_FALSE(parse_range("1:x").ok());
}

TEST_CASE("numeric judgement: info, warning, everything else critical", "[judge]") {
  auto j = compiled({.metric = "", .info_range = "0:80", .warning_range = "80:90"});
  CHECK(judge(j, values({{"cpu", "", 12}})).priority == Priority::kInfo);
  CHECK(judge(j, values({{"cpu", "", 85}})).priority == Priority::kWarning);
  CHECK(judge(j, values({{"cpu", "", 95}})).priority == Priority::kCritical);
  CHECK(judge(j, values({{"cpu", "", -5}})).priority == Priority::kCritical);
  // The boundary belongs to the first range that holds it: info.
  CHECK(judge(j, values({{"cpu", "", 80}})).priority == Priority::kInfo);
  auto v = judge(j, values({{"cpu", "", 85}}));
  REQUIRE(v.value);
  CHECK(*v.value == 85);
  CHECK(v.message.find("cpu 85") != std::string::npos);
}

TEST_CASE("a failed check, or a missing metric, is unknown", "[judge]") {
  auto j = compiled({.metric = "loss_percent", .info_range = "0:0", .warning_range = "0:50"});
  Measurement failed;
  failed.ok = false;
  failed.error = "no route to host";
  auto v = judge(j, failed);
  CHECK(v.priority == Priority::kUnknown);
  CHECK(v.message == "no route to host");
  CHECK(judge(j, values({{"rtt_ms", "", 1}})).priority == Priority::kUnknown);
  CHECK(judge(j, values({{"loss_percent", "", 0}})).priority == Priority::kInfo);
  CHECK(judge(j, values({{"loss_percent", "", 34}})).priority == Priority::kWarning);
  CHECK(judge(j, values({{"loss_percent", "", 100}})).priority == Priority::kCritical);
}

TEST_CASE("a metric with several labels is judged by its worst label", "[judge]") {
  auto j = compiled({.metric = "disk.used_pct", .info_range = ":80", .warning_range = ":90"});
  auto m = values({{"disk.used_pct", "/", 40},
                   {"disk.used_pct", "/var", 95},
                   {"disk.used_pct", "/home", 85},
                   {"other", "", 99}});
  auto v = judge(j, m);
  CHECK(v.priority == Priority::kCritical);
  CHECK(v.message.find("[/var]") != std::string::npos);
  auto only_root = compiled({.metric = "disk.used_pct@/", .info_range = ":80"});
  CHECK(judge(only_root, m).priority == Priority::kInfo);
  auto only_home =
      compiled({.metric = "disk.used_pct@/home", .info_range = ":80", .warning_range = ":90"});
  CHECK(judge(only_home, m).priority == Priority::kWarning);
}

TEST_CASE("text judgement: the first matching pattern, else otherwise", "[judge]") {
  auto j = compiled(
      {.patterns = {{"ERROR|FATAL", "critical"}, {"WARN", "warning"}}, .otherwise = "info"});
  Measurement m;
  m.text = "2026-11-21 FATAL disk gone";
  CHECK(judge(j, m).priority == Priority::kCritical);
  m.text = "WARN slow";
  CHECK(judge(j, m).priority == Priority::kWarning);
  m.text = "all fine";
  CHECK(judge(j, m).priority == Priority::kInfo);
  auto quiet = compiled({.patterns = {{"down", "critical"}}, .otherwise = "unknown"});
  CHECK(judge(quiet, m).priority == Priority::kUnknown);
}

TEST_CASE("no judgement: measured is info", "[judge]") {
  auto j = compiled({});
  CHECK(judge(j, values({{"x", "", 1e9}})).priority == Priority::kInfo);
  Measurement failed;
  failed.ok = false;
  CHECK(judge(j, failed).priority == Priority::kUnknown);
}

TEST_CASE("invalid judgements name the field", "[judge]") {
  auto bad_range = compile_judgement({.info_range = "1:x"});
  REQUIRE_FALSE(bad_range.ok());
  CHECK(bad_range.error().message.find("judgement.info_range") != std::string::npos);
  auto bad_re = compile_judgement({.patterns = {{"(", "critical"}}});
  REQUIRE_FALSE(bad_re.ok());
  CHECK(bad_re.error().message.find("judgement.patterns[0].regex") != std::string::npos);
  auto bad_p = compile_judgement({.patterns = {{"x", "severe"}}});
  REQUIRE_FALSE(bad_p.ok());
  CHECK(bad_p.error().message.find("judgement.patterns[0].priority") != std::string::npos);
  auto both = compile_judgement({.info_range = "0:1", .patterns = {{"x", "info"}}});
  CHECK_FALSE(both.ok());
}
