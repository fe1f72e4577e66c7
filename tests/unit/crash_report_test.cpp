#include "common/crash_report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace {

struct Ending {
  int signal = 0;  // the signal that ended the child, 0 if it exited
  std::string stderr_text;
  std::string log_text;
};

// Runs `crash` in a child with the crash report installed; its standard error
// goes to a pipe, its log to a file under a fresh directory.
Ending run_child(const std::function<void()>& crash) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("duet-crash-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  const auto log = (dir / "child.log").string();
  std::ofstream(log) << "before\n";
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::signal(SIGABRT, SIG_DFL);
    duet::install_crash_report("duet-test", log);
    // Nothing may escape to Catch2's handlers in the child: an exception
    // leaving this noexcept call goes to std::terminate, as one would in a
    // thread of the real process.
    [&]() noexcept { crash(); }();
    ::_exit(0);
  }
  ::close(fds[1]);
  Ending e;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) e.stderr_text.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  e.log_text = text.str();
  std::filesystem::remove_all(dir);
  return e;
}

struct Base {
  Base();
  virtual ~Base() = default;
  virtual void act() = 0;
};
void call_act(Base* b) { b->act(); }
// Calls a pure virtual function during construction, through a helper the
// compiler cannot see through at the call site.
Base::Base() { call_act(this); }
struct Derived final : Base {
  void act() override {}
};

}  // namespace

TEST_CASE("A crash writes its cause and stack, then ends with the same signal", "[crash]") {
  SECTION("a segmentation fault") {
    const Ending e = run_child([] { ::raise(SIGSEGV); });
    CHECK(e.signal == SIGSEGV);
    CHECK(e.stderr_text.find("duet-test: fatal: SIGSEGV; stack:\n") != std::string::npos);
    CHECK(e.log_text.rfind("before\nduet-test: fatal: SIGSEGV; stack:\n", 0) == 0);
  }
  SECTION("an uncaught exception names what it said") {
    const Ending e = run_child([] { throw std::runtime_error("the disk said no"); });
    CHECK(e.signal == SIGABRT);
    CHECK(e.stderr_text.find("fatal: std::terminate with an uncaught exception; stack:") !=
          std::string::npos);
    CHECK(e.stderr_text.find("  what(): the disk said no\n") != std::string::npos);
    CHECK(e.log_text.find("  what(): the disk said no\n") != std::string::npos);
    // Reported once: the abort that follows does not report again.
    CHECK(e.stderr_text.find("SIGABRT") == std::string::npos);
  }
  SECTION("a pure virtual call") {
    const Ending e = run_child([] { Derived d; });
    CHECK(e.signal == SIGABRT);
    CHECK(e.stderr_text.find("fatal: std::terminate; stack:") != std::string::npos);
  }
  SECTION("an abort") {
    const Ending e = run_child([] { std::abort(); });
    CHECK(e.signal == SIGABRT);
    CHECK(e.stderr_text.find("fatal: SIGABRT; stack:") != std::string::npos);
  }
  SECTION("a stack has frames") {
    const Ending e = run_child([] { ::raise(SIGBUS); });
    CHECK(e.signal == SIGBUS);
    const auto at = e.stderr_text.find("stack:\n");
    REQUIRE(at != std::string::npos);
    // At least the handler and the function that raised the signal.
    const auto lines = std::count(e.stderr_text.begin() + at, e.stderr_text.end(), '\n');
    CHECK(lines >= 3);
  }
}
