// The agent's job executor (agent/job_executor.h): real /bin/sh jobs, results
// through a real outbox, at most once per run id, and found again by a new
// executor (an agent restart).

#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/job_executor.h"
#include "agent/outbox.h"
#include "tests/support/job_executor_harness.h"

using namespace std::chrono_literals;
using duet::agent::JobExecutor;
using duet::agent::kEndFailedToStart;
using duet::agent::kEndKilled;
using duet::agent::kEndTimeLimit;
using duet::agent::kTailBytes;
using duet::agent::Outbox;
using duet::testing::JobHarness;
using duet::testing::kJobWait;
using duet::v1::JobKill;
using duet::v1::JobRunResult;
using duet::v1::JobStart;

namespace {

JobStart command_job(const std::string& run_id, const std::string& command) {
  JobStart s;
  s.set_run_id(run_id);
  s.set_session(1);
  s.set_unit("net/unit");
  s.set_kind("command");
  s.set_command(command);
  return s;
}

JobKill kill_of(const std::string& run_id, const std::string& reason) {
  JobKill k;
  k.set_run_id(run_id);
  k.set_reason(reason);
  return k;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Whether a process of the group is alive (a zombie is not: an orphan of the
// group is reaped by init whenever init gets to it).
bool group_alive(pid_t pgid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;  // not a process, or gone meanwhile
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    long ppid = 0, group = 0;
    if (rest >> state >> ppid >> group && group == pgid && state != 'Z' && state != 'X') {
      return true;
    }
  }
  return false;
}

// Waits until nothing of the process group is alive; false if it still is after kJobWait.
bool group_gone(pid_t pgid) {
  const auto deadline = std::chrono::steady_clock::now() + kJobWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!group_alive(pgid)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// Kills what is left of a run's process group when a test ends early (a failed
// REQUIRE), so that a failing test leaves no job running behind it.
class KillGroupAtExit {
 public:
  explicit KillGroupAtExit(pid_t pgid) : pgid_(pgid) {}
  ~KillGroupAtExit() {
    if (pgid_ > 0 && group_alive(pgid_)) ::kill(-pgid_, SIGKILL);
  }
  KillGroupAtExit(const KillGroupAtExit&) = delete;
  KillGroupAtExit& operator=(const KillGroupAtExit&) = delete;

 private:
  pid_t pgid_;
};

}  // namespace

TEST_CASE("job executor: a command runs and its end is reported after its start",
          "[job_executor]") {
  JobHarness h;
  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());
  ex.on_start(command_job("r1",
                          "echo hello; echo '::duet-set A=1'; echo '::duet-set B'; "
                          "echo ' ::duet-set C=2'; echo oops >&2; exit 3"));
  auto end = h.wait_end("r1");
  REQUIRE(end);
  CHECK(end->result.end_value() == 3);
  CHECK(end->result.error().empty());
  CHECK(end->result.stdout_tail() == "hello\n::duet-set A=1\n::duet-set B\n ::duet-set C=2\n");
  CHECK(end->result.stderr_tail() == "oops\n");
  // Only a line that starts with the marker and has NAME=VALUE sets a variable.
  CHECK(end->result.set_variables().size() == 1);
  CHECK(end->result.set_variables().count("A") == 1);
  CHECK(end->result.set_variables().at("A") == "1");

  auto started = h.started("r1");
  REQUIRE(started);
  CHECK(started->seq < end->seq);
  CHECK(started->result.pid() > 0);
  CHECK(started->result.at_ms() <= end->result.at_ms());
  CHECK(h.results("r1").size() == 2);

  ex.stop();  // the watcher has finished: every report has notified
  CHECK(h.notified() == 2);
  auto rec = h.record("r1");
  REQUIRE(rec);
  CHECK(rec->rfind("ended ", 0) == 0);
}

TEST_CASE("job executor: the same JobStart sent again starts the run only once", "[job_executor]") {
  JobHarness h;
  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());
  const std::string marks = h.file("marks");
  const auto job = command_job("r1", "echo ran >> '" + marks + "'; sleep 0.2");
  // on_start reports "started" before it returns: a second start would show at once.
  ex.on_start(job);
  ex.on_start(job);  // while it runs
  CHECK(h.results("r1").size() == 1);
  REQUIRE(h.wait_end("r1"));
  ex.on_start(job);  // after it ended
  CHECK(h.results("r1").size() == 2);
  ex.stop();

  CHECK(lines_of(marks) == std::vector<std::string>{"ran"});
  CHECK(h.ends("r1").size() == 1);
}

TEST_CASE("job executor: environment, directory and user", "[job_executor]") {
  JobHarness h;
  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());

  SECTION("env values reach the job as given, and it runs in the directory") {
    const auto work = h.path() / "work";
    std::filesystem::create_directories(work);
    REQUIRE(::setenv("DUET_JOBEXEC_INHERITED", "from the agent", 1) == 0);
    REQUIRE(::setenv("DUET_JOBEXEC_OVERRIDDEN", "from the agent", 1) == 0);
    auto job = command_job("env",
                           "printf '%s|%s|%s|%s\\n' \"$DUET_A\" \"$DUET_B\" "
                           "\"$DUET_JOBEXEC_INHERITED\" \"$DUET_JOBEXEC_OVERRIDDEN\"; "
                           "env | grep -c '^DUET_JOBEXEC_OVERRIDDEN='; pwd");
    (*job.mutable_env())["DUET_A"] = "bar baz";
    (*job.mutable_env())["DUET_B"] = "${DUET_A}";  // the manager substitutes; not the agent
    (*job.mutable_env())["DUET_JOBEXEC_OVERRIDDEN"] = "from the job";
    job.set_directory(work.string());
    ex.on_start(job);
    auto end = h.wait_end("env");
    ::unsetenv("DUET_JOBEXEC_INHERITED");
    ::unsetenv("DUET_JOBEXEC_OVERRIDDEN");
    REQUIRE(end);
    CHECK(end->result.end_value() == 0);
    CHECK(end->result.stdout_tail() ==
          "bar baz|${DUET_A}|from the agent|from the job\n1\n" + work.string() + "\n");
  }

  SECTION("a directory that does not exist: failed to start, saying why") {
    const std::string missing = h.file("no-such-dir");
    auto job = command_job("dir", "echo should-not-run");
    job.set_directory(missing);
    ex.on_start(job);
    auto end = h.wait_end("dir");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndFailedToStart);
    CHECK_THAT(end->result.error(),
               Catch::Contains("directory") && Catch::Contains("No such file or directory"));
    CHECK(end->result.stdout_tail().empty());
    CHECK_FALSE(h.started("dir"));  // it never started
    CHECK(h.results("dir").size() == 1);
  }

  SECTION("a user that does not exist: failed to start, naming the user") {
    auto job = command_job("user", "echo should-not-run");
    job.set_user("duet-no-such-user-7f3a");
    ex.on_start(job);
    auto end = h.wait_end("user");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndFailedToStart);
    CHECK_THAT(end->result.error(), Catch::Contains("duet-no-such-user-7f3a"));
    CHECK_FALSE(h.started("user"));
    CHECK(h.results("user").size() == 1);
  }

  SECTION("another user that exists: as root the job runs as them; otherwise refused") {
    passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) {
      WARN("no user 'nobody' here: skipped");
      return;
    }
    const auto nobody_uid = nobody->pw_uid;
    auto job = command_job("as-nobody", "id -u");
    job.set_user("nobody");
    job.set_directory("/");
    ex.on_start(job);
    auto end = h.wait_end("as-nobody");
    REQUIRE(end);
    if (::geteuid() == 0) {
      CHECK(end->result.end_value() == 0);
      CHECK(end->result.stdout_tail() == std::to_string(nobody_uid) + "\n");
    } else {
      CHECK(end->result.end_value() == kEndFailedToStart);
      CHECK_THAT(end->result.error(), Catch::Contains("nobody"));
    }
  }

  SECTION("a kind this agent does not run: failed to start, naming the kind") {
    auto job = command_job("transfer", "");
    job.set_kind("teleport");
    ex.on_start(job);
    auto end = h.wait_end("transfer");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndFailedToStart);
    CHECK_THAT(end->result.error(), Catch::Contains("teleport"));
  }
}

TEST_CASE("job executor: a run past its time limit is killed and reported as -2",
          "[job_executor]") {
  JobHarness h;
  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());
  auto job = command_job("slow", "sleep 30");
  job.set_time_limit_s(1);
  ex.on_start(job);
  auto started = h.started("slow");
  REQUIRE(started);
  KillGroupAtExit cleanup(static_cast<pid_t>(started->result.pid()));
  auto end = h.wait_end("slow");  // within kJobWait: long before the 30 s
  REQUIRE(end);
  CHECK(end->result.end_value() == kEndTimeLimit);
  CHECK_THAT(end->result.error(), Catch::Contains("time limit"));
  CHECK(end->result.at_ms() - started->result.at_ms() >= 1000);  // not before the limit
}

TEST_CASE("job executor: JobKill stops a running run, and forbids one not seen yet",
          "[job_executor]") {
  JobHarness h;
  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());

  SECTION("a running run: its process group is killed, reported as -3") {
    ex.on_start(command_job("long", "sleep 30"));
    auto started = h.started("long");
    REQUIRE(started);
    const auto pgid = static_cast<pid_t>(started->result.pid());
    REQUIRE(pgid > 0);
    KillGroupAtExit cleanup(pgid);
    ex.on_kill(kill_of("long", "operator"));
    auto end = h.wait_end("long");  // within kJobWait: long before the 30 s
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndKilled);
    CHECK_THAT(end->result.error(), Catch::Contains("killed"));
    CHECK(group_gone(pgid));
    ex.on_kill(kill_of("long", "again"));  // ended already: nothing more
    ex.stop();
    CHECK(h.results("long").size() == 2);
  }

  SECTION("a run that ignores SIGTERM is killed all the same (after the grace time)") {
    const std::string marks = h.file("marks");
    ex.on_start(command_job(
        "stubborn", "trap '' TERM; echo trapped > '" + marks + "'; while :; do sleep 0.1; done"));
    auto started = h.started("stubborn");
    REQUIRE(started);
    KillGroupAtExit cleanup(static_cast<pid_t>(started->result.pid()));
    // Kill only once the trap is set, or SIGTERM alone would do.
    for (auto deadline = std::chrono::steady_clock::now() + kJobWait;
         lines_of(marks).empty() && std::chrono::steady_clock::now() < deadline;) {
      std::this_thread::sleep_for(20ms);
    }
    REQUIRE(lines_of(marks) == std::vector<std::string>{"trapped"});
    ex.on_kill(kill_of("stubborn", "operator"));
    auto end = h.wait_end("stubborn");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndKilled);
    CHECK(group_gone(static_cast<pid_t>(started->result.pid())));
  }

  SECTION("a run id never started: -3 at once, and a later JobStart does not run it") {
    ex.on_kill(kill_of("early", "cancelled by alice"));
    auto now = h.ends("early");  // synchronously: no wait
    REQUIRE(now.size() == 1);
    CHECK(now[0].result.end_value() == kEndKilled);
    CHECK_THAT(now[0].result.error(), Catch::Contains("cancelled by alice"));

    const std::string marks = h.file("marks");
    ex.on_start(command_job("early", "echo ran >> '" + marks + "'"));
    CHECK(ex.running() == 0);
    // A run after it, to the end: had "early" started, it would have written by now.
    ex.on_start(command_job("after", "echo after >> '" + marks + "'"));
    REQUIRE(h.wait_end("after"));
    ex.stop();
    CHECK(lines_of(marks) == std::vector<std::string>{"after"});
    CHECK(h.results("early").size() == 1);
  }
}

TEST_CASE("job executor: after an agent restart a running run is found and reported once",
          "[job_executor]") {
  JobHarness h;
  auto first = std::make_unique<JobExecutor>(h.runs_dir(), h.hooks());
  REQUIRE(first->start().ok());
  first->on_start(command_job("r1", "sleep 2; echo done; exit 7"));
  auto started = h.started("r1");
  REQUIRE(started);
  const auto keeper = static_cast<pid_t>(started->result.pid());
  first->stop();
  first.reset();                  // the agent went away ...
  CHECK(::kill(keeper, 0) == 0);  // ... the job did not
  CHECK(h.ends("r1").empty());

  JobExecutor second(h.runs_dir(), h.hooks());
  REQUIRE(second.start().ok());
  CHECK(second.running() == 1);
  auto end = h.wait_end("r1");
  REQUIRE(end);
  CHECK(end->result.end_value() == 7);
  CHECK(end->result.stdout_tail() == "done\n");
  CHECK(end->seq > started->seq);
  second.stop();
  CHECK(h.ends("r1").size() == 1);

  JobExecutor third(h.runs_dir(), h.hooks());  // and another restart: nothing again
  REQUIRE(third.start().ok());
  CHECK(third.running() == 0);
  third.stop();
  CHECK(h.ends("r1").size() == 1);
  CHECK(h.results("r1").size() == 2);
  ::waitpid(keeper, nullptr, WNOHANG);  // this test process was its parent: reap it
}

TEST_CASE("job executor: a run the agent left starting or lost is reported as -1 at start",
          "[job_executor]") {
  JobHarness h;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  h.set_record("x", "starting");
  // A keeper that is not there (past any pid_max) and no status file.
  h.set_record("lost", "running 2147483000 " + std::to_string(now_ms) + " 0");
  h.set_record("done", "ended " + std::to_string(now_ms));
  h.set_record("stopped", "killed " + std::to_string(now_ms));

  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());
  auto x = h.ends("x");  // start() reports before it returns
  REQUIRE(x.size() == 1);
  CHECK(x[0].result.end_value() == kEndFailedToStart);
  CHECK_THAT(x[0].result.error(), Catch::Contains("starting"));
  auto lost = h.ends("lost");
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].result.end_value() == kEndFailedToStart);
  CHECK(h.results("done").empty());  // reported by the agent before: not again
  CHECK(h.results("stopped").empty());
  CHECK(h.results().size() == 2);
  auto rec = h.record("x");
  REQUIRE(rec);
  CHECK(rec->rfind("ended ", 0) == 0);

  // x may have run: a JobStart for it now must not run it again.
  const std::string marks = h.file("marks");
  ex.on_start(command_job("x", "echo ran >> '" + marks + "'"));
  CHECK(ex.running() == 0);
  ex.stop();
  CHECK(h.results("x").size() == 1);
  CHECK_FALSE(std::filesystem::exists(marks));
}

TEST_CASE("job executor: the tails are the last 4 KiB; ::duet-set is read from all of stdout",
          "[job_executor]") {
  JobHarness h;
  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());
  ex.on_start(command_job("big", "echo '::duet-set EARLY=yes'; seq 1 5000; seq 1 5000 >&2"));
  auto end = h.wait_end("big");
  REQUIRE(end);
  ex.stop();
  std::string numbers;
  for (int i = 1; i <= 5000; ++i) numbers += std::to_string(i) + "\n";
  REQUIRE(numbers.size() > 2 * kTailBytes);
  const std::string expected = numbers.substr(numbers.size() - kTailBytes);
  CHECK(end->result.end_value() == 0);
  CHECK(end->result.stdout_tail().size() == kTailBytes);
  CHECK(end->result.stdout_tail() == expected);
  CHECK(end->result.stderr_tail() == expected);
  REQUIRE(end->result.set_variables().count("EARLY") == 1);
  CHECK(end->result.set_variables().at("EARLY") == "yes");
}

TEST_CASE("job executor: a monitor job runs its check once and reports the priority",
          "[job_executor]") {
  JobHarness h;
  JobExecutor ex(h.runs_dir(), h.hooks());
  REQUIRE(ex.start().ok());
  auto monitor_job = [](const std::string& run_id, const std::string& command) {
    JobStart s;
    s.set_run_id(run_id);
    s.set_kind("monitor");
    auto* m = s.mutable_monitor();
    m->set_name("disk");
    m->set_kind("command");
    (*m->mutable_params())["command"] = command;
    m->mutable_judgement()->set_info_range("0:80");
    m->mutable_judgement()->set_warning_range("80:90");
    return s;
  };
  ex.on_start(monitor_job("fine", "echo 42"));
  ex.on_start(monitor_job("bad", "echo 95"));
  auto fine = h.wait_end("fine");
  auto bad = h.wait_end("bad");
  REQUIRE(fine);
  REQUIRE(bad);
  CHECK(fine->result.end_value() == 0);  // info
  CHECK(bad->result.end_value() == 2);   // critical
  CHECK_THAT(bad->result.stdout_tail(), Catch::Contains("95"));
  auto started = h.started("bad");
  REQUIRE(started);
  CHECK(started->seq < bad->seq);
  ex.stop();
  CHECK(h.results("bad").size() == 2);
}
