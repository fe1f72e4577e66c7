#include "monitors/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/errors.h"

namespace duet::monitors {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  int r = -1, w = -1;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    r = fds[0];
    w = fds[1];
    return true;
  }
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

[[noreturn]] void child(const CommandSpec& spec, const Pipe& out, const Pipe& err,
                        const Pipe& report) {
  ::setpgid(0, 0);
  auto fail = [&](int e) {
    (void)!::write(report.w, &e, sizeof e);
    ::_exit(127);
  };
  if (!spec.working_directory.empty() && ::chdir(spec.working_directory.c_str()) != 0) {
    fail(errno);
  }
  for (const auto& [k, v] : spec.environment) ::setenv(k.c_str(), v.c_str(), 1);
  const int null = ::open("/dev/null", O_RDONLY);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out.w, 1) < 0 || ::dup2(err.w, 2) < 0) fail(errno);
  ::execl("/bin/sh", "sh", "-c", spec.command.c_str(), static_cast<char*>(nullptr));
  fail(errno);
  ::_exit(127);
}

}  // namespace

std::optional<double> first_number(const std::string& text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    // The first token that is a number from its start ("93%" gives 93).
    const char* p = line.c_str();
    while (*p != '\0') {
      while (*p == ' ' || *p == '\t') ++p;
      char* after = nullptr;
      const double v = std::strtod(p, &after);
      if (after != p && std::isfinite(v)) return v;
      while (*p != '\0' && *p != ' ' && *p != '\t') ++p;
    }
    return std::nullopt;  // only the first non-empty line counts
  }
  return std::nullopt;
}

Result<CommandResult> run_command(const CommandSpec& spec) {
  Pipe out, err, report;
  if (!out.open() || !err.open() || !report.open()) {
    return make_error(CommonErrc::kIo, std::string("command: pipe: ") + std::strerror(errno));
  }
  const auto started = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    for (int* fd : {&out.r, &out.w, &err.r, &err.w, &report.r, &report.w}) close_fd(*fd);
    return make_error(CommonErrc::kIo, std::string("command: fork: ") + std::strerror(e));
  }
  if (pid == 0) child(spec, out, err, report);
  ::setpgid(pid, pid);  // also here: no race with the kill below
  close_fd(out.w);
  close_fd(err.w);
  close_fd(report.w);
  // Did the child get as far as exec?
  int child_errno = 0;
  const ssize_t n = ::read(report.r, &child_errno, sizeof child_errno);
  close_fd(report.r);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    ::waitpid(pid, nullptr, 0);
    close_fd(out.r);
    close_fd(err.r);
    return make_error(
        CommonErrc::kIo,
        "command could not start (" + std::string(std::strerror(child_errno)) +
            (spec.working_directory.empty() ? std::string()
                                            : ", working directory " + spec.working_directory) +
            ")");
  }

  CommandResult r;
  const auto deadline = started + spec.timeout;
  // When SIGKILL follows, once SIGTERM went (max(): not pending). A plain
  // time point: GCC's -O2 flow analysis misreads an optional here.
  auto kill_at = Clock::time_point::max();
  int status = 0;
  bool reaped = false;
  std::optional<Clock::time_point> drain_until;  // after the child exited
  char buf[8192];
  // Past the limit: SIGTERM to the group, SIGKILL after the grace.
  auto escalate = [&](Clock::time_point now) {
    if (!r.timed_out && now >= deadline) {
      r.timed_out = true;
      ::killpg(pid, SIGTERM);
      kill_at = now + spec.kill_grace;
    }
    if (kill_at != Clock::time_point::max() && now >= kill_at) {
      ::killpg(pid, SIGKILL);
      kill_at = Clock::time_point::max();
    }
  };
  while (out.r >= 0 || err.r >= 0) {
    const auto now = Clock::now();
    escalate(now);
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      // What a background child of the command keeps open is not waited for long.
      drain_until = now + std::chrono::milliseconds(200);
    }
    if (drain_until && now >= *drain_until) break;
    auto next =
        r.timed_out
            ? (kill_at != Clock::time_point::max() ? kill_at : now + std::chrono::milliseconds(50))
            : deadline;
    if (drain_until) next = std::min(next, *drain_until);
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    pollfd fds[2] = {{out.r, POLLIN, 0}, {err.r, POLLIN, 0}};
    const int timeout = static_cast<int>(std::clamp<long long>(wait_ms, 1, 50));
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      int& fd = i == 0 ? out.r : err.r;
      if (fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::read(fd, buf, sizeof buf);
      if (got <= 0) {
        close_fd(fd);
        continue;
      }
      std::string& into = i == 0 ? r.stdout_text : r.stderr_text;
      into.append(buf, static_cast<std::size_t>(got));
      if (into.size() > spec.max_output_bytes) {
        r.output_truncated = true;
        if (i == 0) {
          into.resize(spec.max_output_bytes);  // the first bytes carry the value
        } else {
          into.erase(0, into.size() - spec.max_output_bytes);  // the last bytes say why
        }
      }
    }
  }
  close_fd(out.r);
  close_fd(err.r);
  if (!reaped) {
    // Output closed; the child is exiting, or still running past its limit.
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      escalate(Clock::now());
      ::usleep(5000);
    }
  }
  if (r.timed_out) ::killpg(pid, SIGKILL);  // whatever it left behind
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.value = first_number(r.stdout_text);
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return r;
}

}  // namespace duet::monitors
