// The command monitor (monitors/command.h): real /bin/sh commands.

#include <signal.h>

#include <catch2/catch.hpp>

#include "monitors/command.h"
#include "tests/support/temp_dir.h"

using namespace std::chrono_literals;
using duet::monitors::CommandResult;
using duet::monitors::CommandSpec;
using duet::monitors::first_number;
using duet::monitors::run_command;

namespace {

CommandResult run(const std::string& command, CommandSpec spec = {}) {
  spec.command = command;
  auto r = run_command(spec);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("command: the value is the first number of stdout's first non-empty line", "[command]") {
  CHECK(first_number("42\n") == 42.0);
  CHECK(first_number("\n  \n0.93 load\n7\n") == 0.93);
  CHECK(first_number("used: 93% of /\n") == 93.0);
  CHECK(first_number("-7e3\n") == -7000.0);
  CHECK_FALSE(first_number("hello\n42\n"));  // only the first non-empty line counts
  CHECK_FALSE(first_number(""));
  CHECK_FALSE(first_number("nan\n"));
}

TEST_CASE("command: exit status, value, output, environment and directory", "[command]") {
  auto r = run("echo 42.5; echo oops >&2; exit 3");
  CHECK(r.exit_code == 3);
  CHECK_FALSE(r.signal);
  CHECK_FALSE(r.timed_out);
  CHECK(r.value == 42.5);
  CHECK(r.stdout_text == "42.5\n");
  CHECK(r.stderr_text == "oops\n");

  duet::testing::TempDir dir;
  CommandSpec spec;
  spec.environment = {{"DUET_TEST_VAR", "bar baz"}};
  spec.working_directory = dir.path().string();
  r = run("echo \"$DUET_TEST_VAR\"; pwd", spec);
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_text == "bar baz\n" + dir.path().string() + "\n");
  CHECK_FALSE(r.value);

  r = run("exit 0");
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_text.empty());
}

TEST_CASE("command: a command past its time limit is stopped, also one that ignores SIGTERM",
          "[command]") {
  CommandSpec spec;
  spec.timeout = 200ms;
  spec.kill_grace = 200ms;
  auto r = run("sleep 10", spec);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGTERM);
  CHECK_FALSE(r.exit_code);
  CHECK(r.elapsed < 5s);  // far below the command's own 10 s

  r = run("trap '' TERM; echo started; sleep 10", spec);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGKILL);
  CHECK(r.value == std::nullopt);
  CHECK(r.stdout_text == "started\n");
  CHECK(r.elapsed < 5s);
}

TEST_CASE("command: output is bounded; a background child does not hold the result", "[command]") {
  CommandSpec spec;
  spec.max_output_bytes = 1000;
  auto r = run("yes 123 | head -c 200000; echo done >&2", spec);
  CHECK(r.exit_code == 0);
  CHECK(r.output_truncated);
  CHECK(r.stdout_text.size() == 1000);
  CHECK(r.value == 123.0);
  CHECK(r.stderr_text == "done\n");

  r = run("sleep 5 & echo 1");
  CHECK(r.exit_code == 0);
  CHECK(r.value == 1.0);
  CHECK(r.elapsed < 4s);
}

TEST_CASE("command: a working directory that does not exist is an error naming it", "[command]") {
  CommandSpec spec;
  spec.command = "true";
  spec.working_directory = "/nonexistent/duet-dir";
  auto r = run_command(spec);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("/nonexistent/duet-dir"));
}
