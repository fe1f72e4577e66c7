#include "common/crash_report.h"

#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <exception>

namespace duet {
namespace {

// Set once at start-up; read by the handlers, which may only use
// async-signal-safe calls (write, backtrace_symbols_fd, raise).
char g_process[64] = "duet";
int g_log_fd = -1;

constexpr std::array kFatalSignals{SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

void write_all(int fd, const char* text) {
  std::size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = ::write(fd, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<std::size_t>(n);
  }
}

void report(const char* what) {
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  for (int fd : {STDERR_FILENO, g_log_fd}) {
    if (fd < 0) continue;
    write_all(fd, g_process);
    write_all(fd, ": fatal: ");
    write_all(fd, what);
    write_all(fd, "; stack:\n");
    ::backtrace_symbols_fd(frames, n, fd);
  }
}

void on_fatal_signal(int signo) {
  // SA_RESETHAND has put the default action back: re-raising the signal ends
  // the process as it would have ended without this handler.
  const char* name = signo == SIGSEGV   ? "SIGSEGV"
                     : signo == SIGBUS  ? "SIGBUS"
                     : signo == SIGFPE  ? "SIGFPE"
                     : signo == SIGILL  ? "SIGILL"
                     : signo == SIGABRT ? "SIGABRT"
                                        : "a fatal signal";
  report(name);
  ::raise(signo);
}

[[noreturn]] void on_terminate() {
  // std::terminate: an uncaught exception, a pure virtual call, a joinable
  // thread destroyed. The stack is still the one that called it.
  const char* what = "std::terminate";
  if (auto ex = std::current_exception()) {
    try {
      std::rethrow_exception(ex);
    } catch (const std::exception& e) {
      report("std::terminate with an uncaught exception");
      for (int fd : {STDERR_FILENO, g_log_fd}) {
        if (fd < 0) continue;
        write_all(fd, "  what(): ");
        write_all(fd, e.what());
        write_all(fd, "\n");
      }
      what = nullptr;
    } catch (...) {
      what = "std::terminate with an uncaught exception of an unknown type";
    }
  }
  if (what != nullptr) report(what);
  // The SIGABRT handler would print the same stack again.
  ::signal(SIGABRT, SIG_DFL);
  std::abort();
}

}  // namespace

void install_crash_report(const std::string& process, const std::string& log_file) {
  std::strncpy(g_process, process.c_str(), sizeof g_process - 1);
  if (!log_file.empty()) g_log_fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  // backtrace() loads libgcc on its first call, which allocates: call it now,
  // not for the first time inside a handler.
  void* warm[1];
  ::backtrace(warm, 1);
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (int sig : kFatalSignals) ::sigaction(sig, &sa, nullptr);
  std::set_terminate(on_terminate);
}

}  // namespace duet
