// The log file monitor (monitors/log_file.h): rotation, truncation, partial
// and over-long lines, and a restart from a position kept in the outbox in
// the same transaction as the results.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "agent/outbox.h"
#include "monitors/log_file.h"
#include "tests/support/temp_dir.h"

using duet::agent::Outbox;
using duet::monitors::classify_line;
using duet::monitors::LogFollower;
using duet::monitors::LogLine;
using duet::monitors::LogPosition;
using duet::monitors::LogRule;

namespace {

void append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

std::vector<std::string> texts(const std::vector<LogLine>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.text);
  return out;
}

std::vector<std::string> poll(LogFollower& f) {
  auto r = f.poll();
  REQUIRE(r.ok());
  return texts(*r);
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("log file: a new monitor starts at the end; complete lines only", "[logfile]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("app.log");
  append(path, "old history\n");
  LogFollower f(path, std::nullopt);
  CHECK(poll(f).empty());
  append(path, "one\ntw");
  CHECK(poll(f) == Lines{"one"});
  append(path, "o\nthree\n");
  CHECK(poll(f) == Lines{"two", "three"});
  CHECK(poll(f).empty());
}

TEST_CASE("log file: rotation by rename, and truncation in place", "[logfile]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("app.log");
  append(path, "");
  LogFollower f(path, std::nullopt);
  CHECK(poll(f).empty());
  append(path, "a1\na2");  // a2 without its newline when rotated
  std::filesystem::rename(path, path + ".1");
  append(path + ".1", "\na3\n");  // written to the old file after the rename
  append(path, "b1\n");           // the new file
  CHECK(poll(f) == Lines{"a1", "a2", "a3", "b1"});

  // copytruncate: the file is emptied in place, seen, and written again.
  std::filesystem::resize_file(path, 0);
  CHECK(poll(f).empty());
  append(path, "c1\n");
  CHECK(poll(f) == Lines{"c1"});
}

TEST_CASE("log file: the file is waited for, and read from its start when it appears",
          "[logfile]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("later.log");
  LogFollower f(path, std::nullopt);
  CHECK(poll(f).empty());
  append(path, "first\n");
  CHECK(poll(f) == Lines{"first"});
}

TEST_CASE("log file: an over-long line is cut, kept and marked", "[logfile]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("app.log");
  append(path, "");
  LogFollower f(path, std::nullopt, 8);
  CHECK(poll(f).empty());
  append(path, std::string(20, 'x') + "\nshort\n");
  auto r = f.poll();
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].text == std::string(8, 'x'));
  CHECK((*r)[0].cut);
  CHECK((*r)[1].text == "short");
  CHECK_FALSE((*r)[1].cut);
}

TEST_CASE(
    "log file: a restart from the position kept with the results neither skips nor "
    "repeats",
    "[logfile][outbox]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("app.log");
  const std::string box_path = dir.file("outbox.db");
  append(path, "");
  std::vector<std::string> queued;
  auto run = [&](int lines_to_take) {
    auto box = Outbox::open(box_path, {});
    REQUIRE(box.ok());
    auto stored = (*box)->position("log:" + path);
    REQUIRE(stored.ok());
    std::optional<LogPosition> from;
    if (*stored) from = LogPosition::from_text(**stored);
    LogFollower f(path, from);
    auto lines = f.poll();
    REQUIRE(lines.ok());
    int taken = 0;
    for (const auto& l : *lines) {
      if (taken++ == lines_to_take) return;  // the agent "crashes" here
      REQUIRE(
          (*box)->append("log", l.text, 0, Outbox::Position{"log:" + path, l.end.to_text()}).ok());
      queued.push_back(l.text);
    }
    // Also when no line made a result: where the follower stands.
    REQUIRE(f.position());
    REQUIRE((*box)->set_position({"log:" + path, f.position()->to_text()}).ok());
  };
  run(100);  // first run: starts at the (empty) end and stores that
  append(path, "l1\nl2\nl3\nl4\n");
  run(2);  // takes l1, l2, then stops before l3
  append(path, "l5\n");
  run(100);  // restarts at l3
  CHECK(queued == Lines{"l1", "l2", "l3", "l4", "l5"});

  auto box = Outbox::open(box_path, {});
  REQUIRE(box.ok());
  auto p = (*box)->pending(0, 100);
  REQUIRE(p.ok());
  CHECK(p->size() == 5);
}

TEST_CASE("log file: positions as text, and classification by the first matching rule",
          "[logfile]") {
  const LogPosition p{2049, 123456, 789};
  CHECK(LogPosition::from_text(p.to_text()) == p);
  CHECK_FALSE(LogPosition::from_text("1:2"));
  CHECK_FALSE(LogPosition::from_text("1:2:3 extra"));
  const std::vector<LogRule> rules = {{std::regex("ERROR|FATAL"), "critical"},
                                      {std::regex("WARN"), "warning"}};
  CHECK(classify_line(rules, "12:00 FATAL disk gone") == "critical");
  CHECK(classify_line(rules, "12:00 WARN slow") == "warning");
  CHECK_FALSE(classify_line(rules, "12:00 all good"));
}
