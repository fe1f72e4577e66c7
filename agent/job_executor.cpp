#include "agent/job_executor.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/errors.h"
#include "monitors/judge.h"

extern char** environ;

namespace duet::agent {
namespace {

constexpr auto kKillGrace = std::chrono::seconds(5);
constexpr std::int64_t kKeepRecordsMs = 7LL * 24 * 3600 * 1000;
constexpr std::size_t kMaxScan = 16u << 20;  // of stdout, for ::duet-set lines

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string tail_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const auto size = static_cast<std::size_t>(in.tellg());
  const std::size_t from = size > kTailBytes ? size - kTailBytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string out(size - from, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

std::map<std::string, std::string> set_variables(const std::string& path) {
  std::map<std::string, std::string> vars;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::size_t read = 0;
  while (read < kMaxScan && std::getline(in, line)) {
    read += line.size() + 1;
    constexpr std::string_view kSet = "::duet-set ";
    if (line.rfind(kSet, 0) != 0) continue;
    const auto eq = line.find('=', kSet.size());
    if (eq == std::string::npos || eq == kSet.size()) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vars[line.substr(kSet.size(), eq - kSet.size())] = line.substr(eq + 1);
  }
  return vars;
}

std::optional<int> read_status(const std::string& path) {
  std::ifstream in(path);
  int code = 0;
  if (in >> code) return code;
  return std::nullopt;
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Async-signal-safe writing of a decimal (the keeper runs after fork()).
void write_number(int fd, int value) {
  char buf[16];
  int n = 0;
  unsigned v = value < 0 ? 0u : static_cast<unsigned>(value);
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 15);
  char out[16];
  for (int i = 0; i < n; ++i) out[i] = buf[n - 1 - i];
  out[n] = '\n';
  (void)!::write(fd, out, static_cast<std::size_t>(n + 1));
}

// After fork(), in the job: report why it could not start, then exit.
[[noreturn]] void fail_child(int fd, const char* what) {
  const int e = errno;
  (void)!::write(fd, what, std::strlen(what));
  (void)!::write(fd, ": ", 2);
  const char* why = ::strerror(e);
  (void)!::write(fd, why, std::strlen(why));
  ::_exit(127);
}

}  // namespace

JobExecutor::JobExecutor(std::string runs_dir, Hooks hooks)
    : runs_dir_(std::move(runs_dir)), hooks_(std::move(hooks)) {}

JobExecutor::~JobExecutor() { stop(); }

std::string JobExecutor::path_of(const std::string& run_id, const char* suffix) const {
  return runs_dir_ + "/" + run_id + suffix;
}

std::size_t JobExecutor::running() const {
  std::lock_guard lock(mu_);
  return runs_.size();
}

Status JobExecutor::start() {
  std::error_code ec;
  std::filesystem::create_directories(runs_dir_, ec);
  if (ec) {
    return make_error(CommonErrc::kIo, "jobs: cannot create " + runs_dir_ + ": " + ec.message());
  }
  std::vector<Outbox::Position> records;
  hooks_.with_outbox([&](Outbox& o) {
    if (auto r = o.positions(kRunPrefix); r.ok()) records = std::move(*r);
  });
  const auto now = now_ms();
  for (const auto& rec : records) {
    const std::string run_id = rec.key.substr(std::strlen(kRunPrefix));
    std::istringstream in(rec.value);
    std::string state;
    std::int64_t a = 0, b = 0, c = 0;
    in >> state >> a >> b >> c;
    if (state == "transfer" || state == "renaming") {
      resume_transfer(run_id, state, a, b);
      continue;
    }
    if (state == "ended" || state == "killed") {
      if (now - a > kKeepRecordsMs)
        hooks_.with_outbox([&](Outbox& o) { (void)o.erase_position(rec.key); });
      continue;
    }
    duet::v1::JobRunResult r;
    r.set_run_id(run_id);
    r.set_at_ms(now);
    if (state == "running" && a > 0) {
      auto run = std::make_shared<Run>();
      run->run_id = run_id;
      run->keeper = static_cast<pid_t>(a);
      run->child = false;
      run->started_ms = b;
      run->deadline_ms = c;
      const bool ours = ::getpgid(run->keeper) == run->keeper;
      if (ours || std::filesystem::exists(path_of(run_id, ".rc"))) {
        spdlog::info("jobs: run {} found again (keeper {})", run_id, run->keeper);
        watch(run);
        continue;
      }
    }
    r.set_end_value(kEndFailedToStart);
    r.set_error(state == "starting" ? "the agent stopped while starting this run; it may have run"
                                    : "the agent restarted and the run's status was lost");
    report(r, "ended " + std::to_string(now));
  }
  return ok_status();
}

void JobExecutor::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();  // transfers waiting for a piece
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return threads_.empty(); });
}

void JobExecutor::report(const duet::v1::JobRunResult& result, const std::string& record) {
  std::string payload;
  result.SerializeToString(&payload);
  bool ok = false;
  hooks_.with_outbox([&](Outbox& o) {
    auto a = o.append("job", payload, result.at_ms(),
                      Outbox::Position{kRunPrefix + result.run_id(), record});
    ok = a.ok();
    if (!a.ok()) {
      spdlog::error("jobs: run {}: the result could not be kept: {}", result.run_id(),
                    a.error().to_string());
    }
  });
  if (ok && hooks_.notify) hooks_.notify();
}

void JobExecutor::on_start(const duet::v1::JobStart& s) {
  const std::string key = kRunPrefix + s.run_id();
  bool known = false, recorded = false;
  hooks_.with_outbox([&](Outbox& o) {
    auto existing = o.position(key);
    if (!existing.ok()) return;
    if (existing->has_value()) {
      known = true;
      return;
    }
    recorded = o.set_position({key, "starting"}).ok();
  });
  if (known) {
    spdlog::debug("jobs: run {} already known: not started again", s.run_id());
    return;
  }
  if (!recorded) {
    spdlog::error("jobs: run {} could not be recorded; not started", s.run_id());
    return;
  }
  spdlog::info("jobs: run {} ({} {} of session {})", s.run_id(), s.kind(), s.unit(), s.session());
  duet::v1::JobRunResult failed;
  failed.set_run_id(s.run_id());
  failed.set_end_value(kEndFailedToStart);
  if (s.kind() == "monitor") {
    run_monitor(s);
    return;
  }
  if (s.kind() == "transfer") {
    start_transfer(s);
    return;
  }
  if (s.kind() != "command") {
    failed.set_at_ms(now_ms());
    failed.set_error("this agent cannot run jobs of kind '" + s.kind() + "'");
    report(failed, "ended " + std::to_string(failed.at_ms()));
    return;
  }
  // Everything the children need, made before fork().
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  std::string home;
  if (!s.user().empty()) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    ::getpwnam_r(s.user().c_str(), &pw, buf.data(), buf.size(), &found);
    std::string why;
    if (found == nullptr) {
      why = "no user '" + s.user() + "' on this host";
    } else if (::geteuid() != 0 && found->pw_uid != ::geteuid()) {
      why = "the agent does not run as root; it cannot run jobs as " + s.user();
    }
    if (!why.empty()) {
      failed.set_at_ms(now_ms());
      failed.set_error(why);
      report(failed, "ended " + std::to_string(failed.at_ms()));
      return;
    }
    uid = found->pw_uid;
    gid = found->pw_gid;
    home = found->pw_dir;
  }
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v(*e);
    const auto name = v.substr(0, v.find('='));
    if (s.env().count(name) == 0 && !(name == "HOME" && !home.empty())) env_text.push_back(v);
  }
  if (!home.empty()) env_text.push_back("HOME=" + home);
  for (const auto& [k, v] : s.env()) env_text.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out = path_of(s.run_id(), ".out"), err = path_of(s.run_id(), ".err");
  const std::string rc = path_of(s.run_id(), ".rc"), rc_tmp = rc + ".tmp";
  const std::string user = s.user(), dir = s.directory(), command = s.command();
  const bool change_user = !user.empty() && uid != ::geteuid();
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    failed.set_at_ms(now_ms());
    failed.set_error(std::string("pipe: ") + std::strerror(errno));
    report(failed, "ended " + std::to_string(failed.at_ms()));
    return;
  }
  const auto started = now_ms();
  const pid_t keeper = ::fork();
  if (keeper == 0) {
    // The keeper: its own session; waits for the job and records its
    // status. It ignores the signals a kill of the group sends at once (the
    // job sets them back), and holds none of the agent's descriptors.
    ::setsid();
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &ign, nullptr);
    if (pipefd[1] > 3) ::close_range(3, static_cast<unsigned>(pipefd[1]) - 1, 0);
    ::close_range(static_cast<unsigned>(pipefd[1]) + 1, ~0U, 0);
    if (const int null = ::open("/dev/null", O_RDWR); null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
    const pid_t job = ::fork();
    if (job == 0) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      const int in = ::open("/dev/null", O_RDONLY);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
      if (in < 0 || o < 0 || e < 0) fail_child(pipefd[1], "cannot open the output files");
      ::dup2(in, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      if (change_user) {
        if (::setgid(gid) != 0) fail_child(pipefd[1], "setgid");
        if (::initgroups(user.c_str(), gid) != 0) fail_child(pipefd[1], "initgroups");
        if (::setuid(uid) != 0) fail_child(pipefd[1], "setuid");
      }
      if (!dir.empty() && ::chdir(dir.c_str()) != 0)
        fail_child(pipefd[1], "cannot enter the directory");
      const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
      ::execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
      fail_child(pipefd[1], "cannot run /bin/sh");
    }
    if (job < 0) fail_child(pipefd[1], "fork");
    ::close(pipefd[1]);
    int status = 0;
    while (::waitpid(job, &status, 0) < 0 && errno == EINTR) {
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const int fd = ::open(rc_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd >= 0) {
      write_number(fd, code);
      ::fsync(fd);
      ::close(fd);
      ::rename(rc_tmp.c_str(), rc.c_str());
    }
    ::_exit(0);
  }
  ::close(pipefd[1]);
  if (keeper < 0) {
    ::close(pipefd[0]);
    failed.set_at_ms(now_ms());
    failed.set_error(std::string("fork: ") + std::strerror(errno));
    report(failed, "ended " + std::to_string(failed.at_ms()));
    return;
  }
  // The job's exec closes the pipe; anything read is why it did not start.
  std::string why;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) why.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  if (!why.empty()) {
    int status = 0;
    ::waitpid(keeper, &status, 0);
    std::error_code ec;
    for (const auto& p : {out, err, rc}) std::filesystem::remove(p, ec);
    failed.set_at_ms(now_ms());
    failed.set_error(why);
    report(failed, "ended " + std::to_string(failed.at_ms()));
    return;
  }
  auto run = std::make_shared<Run>();
  run->run_id = s.run_id();
  run->keeper = keeper;
  run->started_ms = started;
  run->deadline_ms = s.time_limit_s() > 0 ? started + s.time_limit_s() * 1000LL : 0;
  duet::v1::JobRunResult r;
  r.set_run_id(s.run_id());
  r.set_started(true);
  r.set_at_ms(started);
  r.set_pid(keeper);
  report(r, "running " + std::to_string(keeper) + " " + std::to_string(started) + " " +
                std::to_string(run->deadline_ms));
  watch(run);
}

void JobExecutor::watch(std::shared_ptr<Run> run) {
  std::lock_guard lock(mu_);
  runs_[run->run_id] = run;
  threads_[run->run_id] = std::thread([this, run] {
    const int fd = pidfd_open(run->keeper);
    std::optional<std::chrono::steady_clock::time_point> term_sent;
    bool ended = fd < 0;  // already gone
    while (!ended && !stopping_) {
      pollfd p{fd, POLLIN, 0};
      const int rc = ::poll(&p, 1, 100);
      if (rc > 0) {
        ended = true;
        break;
      }
      if (run->deadline_ms > 0 && now_ms() >= run->deadline_ms && run->kill_reason == 0) {
        run->kill_reason = 2;
      }
      if (run->kill_reason != 0) {
        if (!term_sent) {
          ::kill(-run->keeper, SIGTERM);
          term_sent = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - *term_sent > kKillGrace) {
          ::kill(-run->keeper, SIGKILL);
        }
      }
    }
    if (fd >= 0) ::close(fd);
    if (ended) {
      if (run->child) {
        int status = 0;
        ::waitpid(run->keeper, &status, 0);
      }
      duet::v1::JobRunResult r;
      r.set_run_id(run->run_id);
      r.set_at_ms(now_ms());
      const auto code = read_status(path_of(run->run_id, ".rc"));
      if (run->kill_reason == 2) {
        r.set_end_value(kEndTimeLimit);
        r.set_error("killed: the run-time limit was reached");
      } else if (run->kill_reason == 1) {
        r.set_end_value(kEndKilled);
        r.set_error("killed by an operator");
      } else if (code) {
        r.set_end_value(*code);
      } else {
        r.set_end_value(kEndFailedToStart);
        r.set_error("the job's exit status was lost");
      }
      r.set_stdout_tail(tail_of(path_of(run->run_id, ".out")));
      r.set_stderr_tail(tail_of(path_of(run->run_id, ".err")));
      for (auto& [k, v] : set_variables(path_of(run->run_id, ".out"))) {
        (*r.mutable_set_variables())[k] = v;
      }
      report(r, "ended " + std::to_string(r.at_ms()));
      std::error_code ec;
      for (const char* sfx : {".out", ".err", ".rc"}) {
        std::filesystem::remove(path_of(run->run_id, sfx), ec);
      }
    }
    std::lock_guard done(mu_);
    runs_.erase(run->run_id);
    threads_[run->run_id].detach();
    threads_.erase(run->run_id);
    cv_.notify_all();
  });
}

void JobExecutor::on_kill(const duet::v1::JobKill& k) {
  {
    std::lock_guard lock(mu_);
    if (auto it = runs_.find(k.run_id()); it != runs_.end()) {
      if (it->second->kill_reason == 0) it->second->kill_reason = 1;
      spdlog::info("jobs: run {}: killing ({})", k.run_id(), k.reason());
      cv_.notify_all();  // a transfer waiting for a piece
      return;
    }
  }
  const std::string key = kRunPrefix + k.run_id();
  bool unseen = false;
  hooks_.with_outbox([&](Outbox& o) {
    auto existing = o.position(key);
    unseen = existing.ok() && !existing->has_value();
  });
  if (!unseen) return;  // ended already, or being started on this thread's watch
  duet::v1::JobRunResult r;
  r.set_run_id(k.run_id());
  r.set_at_ms(now_ms());
  r.set_end_value(kEndKilled);
  r.set_error("killed before it started: " + k.reason());
  report(r, "killed " + std::to_string(r.at_ms()));
}

void JobExecutor::run_monitor(const duet::v1::JobStart& s) {
  duet::v1::JobRunResult r;
  r.set_run_id(s.run_id());
  const auto started = now_ms();
  r.set_at_ms(started);
  r.set_started(true);
  report(r, "running 0 " + std::to_string(started) + " 0");
  // One check, here on the reader's thread would stall the session: a thread.
  std::lock_guard lock(mu_);
  threads_[s.run_id()] = std::thread([this, s] {
    duet::v1::JobRunResult end;
    end.set_run_id(s.run_id());
    auto check = monitors::make_check(s.monitor(), hooks_.check_context());
    auto judgement = monitors::judgement_of(s.monitor());
    if (!check.ok() || !judgement.ok()) {
      end.set_end_value(kEndFailedToStart);
      end.set_error(!check.ok() ? check.error().message : judgement.error().message);
    } else {
      auto outputs = (*check)->run();
      if (outputs.empty()) {
        end.set_end_value(kEndFailedToStart);
        end.set_error("the check gave no result");
      } else {
        auto v = monitors::judge(*judgement, outputs.front().measurement);
        // info 0, warning 1, critical 2, unknown 3 (the default judgement: normal, warning,
        // abnormal).
        const std::int64_t value = v.priority == Priority::kInfo       ? 0
                                   : v.priority == Priority::kWarning  ? 1
                                   : v.priority == Priority::kCritical ? 2
                                                                       : 3;
        end.set_end_value(value);
        end.set_stdout_tail(v.message.substr(0, kTailBytes));
      }
    }
    end.set_at_ms(now_ms());
    report(end, "ended " + std::to_string(end.at_ms()));
    std::lock_guard done(mu_);
    threads_[s.run_id()].detach();
    threads_.erase(s.run_id());
    cv_.notify_all();
  });
}

}  // namespace duet::agent
