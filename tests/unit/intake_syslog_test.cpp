#include <catch2/catch.hpp>

#include "intake/intake_item.h"
#include "intake/syslog_framer.h"
#include "intake/syslog_parser.h"

using duet::intake::parse_syslog;
using duet::intake::SyslogFormat;
using duet::intake::SyslogFrame;
using duet::intake::SyslogFramer;

namespace {
// 2024-10-11T22:14:15Z in unix ms.
constexpr std::int64_t kOct11 = 1728684855000;
}  // namespace

TEST_CASE("RFC 5424 messages are parsed into their fields", "[intake]") {
  auto m = parse_syslog(
      "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
      "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
      "[meta sequenceId=\"42\"] \xEF\xBB\xBF"
      "An application event log entry...",
      kOct11);
  CHECK(m.format == SyslogFormat::kRfc5424);
  CHECK(m.facility == 20);
  CHECK(m.severity == 5);
  CHECK(m.timestamp_text == "2003-10-11T22:14:15.003Z");
  CHECK(m.timestamp_ms == 1065910455003);
  CHECK(m.hostname == "mymachine.example.com");
  CHECK(m.app_name == "evntslog");
  CHECK(m.procid.empty());
  CHECK(m.msgid == "ID47");
  REQUIRE(m.structured_data.size() == 2);
  CHECK(m.structured_data[0].id == "exampleSDID@32473");
  REQUIRE(m.structured_data[0].params.size() == 3);
  CHECK(m.structured_data[0].params[1] ==
        std::pair<std::string, std::string>{"eventSource", "Application"});
  CHECK(m.sequence_id == 42u);
  CHECK(m.message == "An application event log entry...");
}

TEST_CASE("RFC 5424: NIL values, escapes, offsets and no message", "[intake]") {
  auto m = parse_syslog("<34>1 - - - - - -", kOct11);
  CHECK(m.format == SyslogFormat::kRfc5424);
  CHECK(m.timestamp_text.empty());
  CHECK_FALSE(m.timestamp_ms);
  CHECK(m.hostname.empty());
  CHECK(m.message.empty());

  auto e =
      parse_syslog(R"(<13>1 2024-10-11T23:14:15+01:00 h a 77 - [x@1 v="a\"b\\c\]d"] hi)", kOct11);
  CHECK(e.format == SyslogFormat::kRfc5424);
  CHECK(e.timestamp_ms == kOct11);
  CHECK(e.procid == "77");
  REQUIRE(e.structured_data.size() == 1);
  CHECK(e.structured_data[0].params[0].second == "a\"b\\c]d");
  CHECK(e.message == "hi");
}

TEST_CASE("RFC 3164 and the variants devices send", "[intake]") {
  SECTION("classic") {
    auto m = parse_syslog("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed", kOct11);
    CHECK(m.format == SyslogFormat::kRfc3164);
    CHECK(m.facility == 4);
    CHECK(m.severity == 2);
    CHECK(m.timestamp_ms == kOct11);
    CHECK(m.hostname == "mymachine");
    CHECK(m.app_name == "su");
    CHECK(m.procid == "230");
    CHECK(m.message == "'su root' failed");
  }
  SECTION("no hostname") {
    auto m = parse_syslog("<13>Oct  1 22:14:15 sshd: Accepted key", kOct11);
    CHECK(m.format == SyslogFormat::kRfc3164);
    CHECK(m.hostname.empty());
    CHECK(m.app_name == "sshd");
    CHECK(m.message == "Accepted key");
    CHECK(m.timestamp_text == "Oct  1 22:14:15");
  }
  SECTION("ISO timestamp") {
    auto m = parse_syslog("<14>2024-10-11T22:14:15.250Z web01 nginx[9]: GET /", kOct11);
    CHECK(m.format == SyslogFormat::kRfc3164);
    CHECK(m.timestamp_ms == kOct11 + 250);
    CHECK(m.hostname == "web01");
    CHECK(m.app_name == "nginx");
    CHECK(m.procid == "9");
    CHECK(m.message == "GET /");
  }
  SECTION("Cisco: counter, unsynchronised clock, milliseconds, no hostname") {
    auto m = parse_syslog(
        "<189>52: *Oct 11 22:14:15.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
        kOct11);
    CHECK(m.format == SyslogFormat::kRfc3164);
    CHECK(m.timestamp_ms == kOct11 + 123);
    CHECK(m.hostname.empty());
    CHECK(m.app_name == "%LINK-3-UPDOWN");
    CHECK(m.message == "Interface Gi0/1, changed state to down");
  }
  SECTION("year after the day") {
    auto m = parse_syslog("<13>Oct 11 2024 22:14:15 host app: x", kOct11 + 400LL * 86400000);
    CHECK(m.timestamp_ms == kOct11);
    CHECK(m.hostname == "host");
  }
  SECTION("a December message received on 1 January belongs to the old year") {
    // Received 2025-01-01T00:00:05Z; sent 2024-12-31T23:59:59Z.
    auto m = parse_syslog("<13>Dec 31 23:59:59 host app: x", 1735689605000);
    CHECK(m.timestamp_ms == 1735689599000);
  }
  SECTION("no tag") {
    auto m = parse_syslog("<13>Oct 11 22:14:15 host just some text", kOct11);
    CHECK(m.hostname == "host");
    CHECK(m.app_name.empty());
    CHECK(m.message == "just some text");
  }
}

TEST_CASE("What fits no format is kept raw, with the PRI when there is one", "[intake]") {
  auto a = parse_syslog("<11>this is not a timestamp", kOct11);
  CHECK(a.format == SyslogFormat::kRaw);
  CHECK(a.facility == 1);
  CHECK(a.severity == 3);
  CHECK(a.message == "this is not a timestamp");

  auto b = parse_syslog("no pri at all\n", kOct11);
  CHECK(b.format == SyslogFormat::kRaw);
  CHECK_FALSE(b.facility);
  CHECK(b.message == "no pri at all");

  for (const char* bad : {"<192>1 - - - - - -", "<012>x", "<>x", "<1234>x", "<1", ""}) {
    INFO(bad);
    auto m = parse_syslog(bad, kOct11);
    CHECK(m.format == SyslogFormat::kRaw);
    CHECK_FALSE(m.facility);
    CHECK(m.message == bad);
  }
  // A broken RFC 5424 header falls back rather than half-parsing.
  auto c = parse_syslog("<13>1 2024-13-45T99:00:00Z h a - - - x", kOct11);
  CHECK(c.format == SyslogFormat::kRaw);
  auto d = parse_syslog("<13>1 2024-10-11T22:14:15Z h a - - [unterminated x", kOct11);
  CHECK(d.format == SyslogFormat::kRaw);
}

namespace {
std::vector<SyslogFrame> frame_all(SyslogFramer& f, const std::vector<std::string>& chunks) {
  std::vector<SyslogFrame> out;
  for (const auto& c : chunks) REQUIRE(f.feed(c, out));
  f.finish(out);
  return out;
}
}  // namespace

TEST_CASE("TCP framing is detected per connection: octet counting", "[intake]") {
  SyslogFramer f(8192);
  // Split at every awkward place: inside the length, at the space, in the body.
  auto out = frame_all(f, {"1", "0 <13>hello", "!", "5 <1>ab", "", "3 abc"});
  CHECK(f.mode() == SyslogFramer::Mode::kOctetCounting);
  REQUIRE(out.size() == 3);
  CHECK(out[0].data == "<13>hello!");
  CHECK(out[1].data == "<1>ab");
  CHECK(out[2].data == "abc");
  CHECK_FALSE(out[2].truncated);
}

TEST_CASE("TCP framing: LF-delimited, with CR and NUL trimmed", "[intake]") {
  SyslogFramer f(8192);
  using namespace std::string_literals;
  auto out = frame_all(f, {"<13>one\r\n<13>tw", "o\n\n<13>three\0\n<13>last"s});
  CHECK(f.mode() == SyslogFramer::Mode::kLineFeed);
  REQUIRE(out.size() == 4);
  CHECK(out[0].data == "<13>one");
  CHECK(out[1].data == "<13>two");
  CHECK(out[2].data == "<13>three");
  CHECK(out[3].data == "<13>last");
}

TEST_CASE("An over-long message is truncated and marked, and the stream stays in step",
          "[intake]") {
  SECTION("octet counting") {
    SyslogFramer f(4);
    auto out = frame_all(f, {"11 <13>abcdefg", "4 <1>x"});
    REQUIRE(out.size() == 2);
    CHECK(out[0].data == "<13>");
    CHECK(out[0].truncated);
    CHECK(out[1].data == "<1>x");
    CHECK_FALSE(out[1].truncated);
  }
  SECTION("line feed") {
    SyslogFramer f(4);
    auto out = frame_all(f, {"<13>abc", "defg\n<1>x\n"});
    REQUIRE(out.size() == 2);
    CHECK(out[0].data == "<13>");
    CHECK(out[0].truncated);
    CHECK(out[1].data == "<1>x");
  }
}

TEST_CASE("A stream that breaks the framing is an error", "[intake]") {
  std::vector<SyslogFrame> out;
  SyslogFramer a(8192);
  CHECK_FALSE(a.feed("hello\n", out));
  CHECK_THAT(a.error(), Catch::Contains("neither"));
  SyslogFramer b(8192);
  CHECK_FALSE(b.feed("12x <13>", out));
  CHECK_THAT(b.error(), Catch::Contains("not a number"));
  // A length of more than 9 digits (an over-long octet count) is refused, not allocated.
  SyslogFramer c(8192);
  CHECK_FALSE(c.feed("99999999999999999999 <13>x", out));
  CHECK(out.empty());
  CHECK_FALSE(c.feed("5 <1>ab", out));  // stays failed
}

TEST_CASE("A syslog item carries only the fields the rules read, when told which", "[intake]") {
  using duet::intake::Detail;
  using duet::intake::syslog_item;
  auto receipt = [] {
    duet::intake::Receipt r;
    r.source = "10.0.0.9";
    r.raw = "<11>1 2026-11-21T10:00:00Z web01 sshd 77 AUTH [origin ip=\"10.1.1.1\"] denied";
    return r;
  };
  const auto all = syslog_item(receipt(), Detail::kRules);
  CHECK(all.fields.at("severity") == "err");
  CHECK(all.fields.at("hostname") == "web01");
  CHECK(all.fields.at("origin.ip") == "10.1.1.1");

  const std::vector<std::string> read = {"origin.ip", "severity"};  // sorted, as RuleSet gives
  const auto some = syslog_item(receipt(), Detail::kRules, &read);
  CHECK(some.fields ==
        std::map<std::string, std::string>{{"origin.ip", "10.1.1.1"}, {"severity", "err"}});
  CHECK(some.message == "denied");
  CHECK(some.key == all.key);

  const std::vector<std::string> none;
  CHECK(syslog_item(receipt(), Detail::kRules, &none).fields.empty());

  // A full item (a query showing the event) has every field whatever it is told.
  const auto full = syslog_item(receipt(), Detail::kFull, &none);
  CHECK(full.fields == all.fields);
  CHECK_FALSE(full.fields_json.empty());

  // Detailing a held receipt later keeps to the same fields.
  auto held = syslog_item(receipt(), Detail::kKey);
  CHECK(held.fields.empty());
  const std::string held_protocol = held.protocol;
  duet::intake::detail(held, &read);
  CHECK(held.fields == some.fields);
  CHECK(held.message == "denied");
  // The same identity (kept, not computed again), protocol and raw bytes.
  CHECK(held.key == all.key);
  CHECK(held.detailed);
  CHECK(held.protocol == held_protocol);
  CHECK(held.receipt.raw == receipt().raw);
}
