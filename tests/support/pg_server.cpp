#include "tests/support/pg_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "common/errors.h"

namespace duet::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr auto kInitdbTimeout = std::chrono::seconds(120);
constexpr auto kReadyTimeout = std::chrono::seconds(30);
constexpr auto kStopTimeout = std::chrono::seconds(20);
constexpr int kPortAttempts = 3;  // a port picked free can be taken before postgres binds it

Error io_error(const std::string& message) { return make_error(CommonErrc::kIo, message); }

std::string errno_text() { return std::strerror(errno); }

// Who the server runs as: root cannot run initdb or postgres.
struct RunAs {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<RunAs> server_user() {
  if (geteuid() != 0) return RunAs{};
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r("postgres", &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return io_error("running as root, and there is no 'postgres' user to run PostgreSQL as");
  }
  return RunAs{true, pw.pw_uid, pw.pw_gid};
}

// $DUET_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin, else $PATH.
Result<std::string> find_program(const std::string& name) {
  if (const char* dir = std::getenv("DUET_PG_BINDIR"); dir != nullptr && *dir != '\0') {
    return std::string(dir) + "/" + name;
  }
  std::error_code ec;
  int best = -1;
  std::string found;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string major = e.path().filename().string();
    const fs::path candidate = e.path() / "bin" / name;
    if (major.empty() || major.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stoi(major) > best && fs::exists(candidate, ec)) {
      best = std::stoi(major);
      found = candidate.string();
    }
  }
  if (!found.empty()) return found;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      const std::string candidate = dir + "/" + name;
      if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return io_error("cannot find the PostgreSQL program '" + name +
                  "': install PostgreSQL (postgresql-15) or set DUET_PG_BINDIR");
}

// The last lines of a log, for error messages.
std::string tail(const std::string& path) {
  constexpr std::streamoff kMaxBytes = 3000;
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(" + path + " is missing)";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(std::max<std::streamoff>(0, size - kMaxBytes));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (size > kMaxBytes) {
    const auto nl = text.find('\n');
    text = "...\n" + (nl == std::string::npos ? text : text.substr(nl + 1));
  }
  if (text.empty()) return "(" + path + " is empty)";
  return text;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Starts `argv` as `user` with stdin from /dev/null and stdout and stderr
// appended to `log`. Everything the child needs is prepared before fork():
// between fork() and exec() it only makes async-signal-safe calls.
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::string& log,
                    const RunAs& user) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return io_error("cannot create " + log + ": " + errno_text());
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    return io_error("cannot open /dev/null: " + errno_text());
  }
  rlimit nofile{};
  const int max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                         ? static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 65536))
                         : 65536;
  const pid_t pid = fork();
  if (pid < 0) {
    const std::string why = errno_text();
    ::close(log_fd);
    ::close(null_fd);
    return io_error("fork failed: " + why);
  }
  if (pid == 0) {
    const char* program = args[0];
    auto fail = [program](const char* what) {
      const char* why = strerrordesc_np(errno);  // unlike strerror, async-signal-safe
      for (const char* part :
           std::initializer_list<const char*>{what, " ", program, ": ", why, "\n"}) {
        (void)!write(2, part, std::strlen(part));
      }
      _exit(127);
    };
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) _exit(127);
    // Inherited descriptors (sockets, database files of the test) stay with the test.
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
    }
    // A signal mask or ignored signals of the test (pg_throwaway blocks
    // SIGTERM and SIGINT) must not reach the server.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    }
    if (user.drop) {
      if (setgroups(0, nullptr) != 0) fail("setgroups before running");
      if (setgid(user.gid) != 0) fail("setgid before running");
      if (setuid(user.uid) != 0) fail("setuid before running");
    }
    execv(args[0], args.data());
    fail("cannot run");
  }
  ::close(log_fd);
  ::close(null_fd);
  return pid;
}

// Waits for `pid` to exit, at most `timeout`; nullopt if it is still running.
std::optional<int> wait_exit(pid_t pid, steady_clock::duration timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return 0;  // not our child any more (SIGCHLD ignored)
    if (steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<std::uint16_t> free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error("socket: " + errno_text());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    return io_error("cannot find a free port on 127.0.0.1: " + why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string make_conninfo(std::uint16_t port, const std::string& dbname) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " user=duet dbname=" + dbname +
         " connect_timeout=5";
}

// Polls until the server accepts connections. If it exits first, it is
// reaped and `pid` set to -1. The ping goes to the Unix socket in the
// server's own directory: on TCP, another server already on the port would
// answer. PostgreSQL creates that socket only after its TCP one.
Status wait_ready(pid_t& pid, const std::string& dir, std::uint16_t port, const std::string& log) {
  const std::string conninfo =
      "host=" + dir + " port=" + std::to_string(port) + " user=duet dbname=postgres";
  const auto deadline = steady_clock::now() + kReadyTimeout;
  for (;;) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return ok_status();
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return io_error("postgres exited during start-up (" + describe_exit(status) + "); " + log +
                      " ends with:\n" + tail(log));
    }
    if (steady_clock::now() >= deadline) {
      return io_error("postgres did not accept connections on 127.0.0.1:" + std::to_string(port) +
                      " within 30 s; " + log + " ends with:\n" + tail(log));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

Result<std::unique_ptr<PgServer>> PgServer::start(const Options& options) {
  DUET_ASSIGN_OR_RETURN(const RunAs user, server_user());
  DUET_ASSIGN_OR_RETURN(const std::string initdb, find_program("initdb"));
  DUET_ASSIGN_OR_RETURN(const std::string postgres, find_program("postgres"));

  std::unique_ptr<PgServer> server(new PgServer());
  char dir[] = "/tmp/duet-pg-XXXXXX";  // recognisable if a killed test leaves it behind
  if (mkdtemp(dir) == nullptr) return io_error("mkdtemp /tmp/duet-pg-*: " + errno_text());
  server->dir_ = dir;  // from here on, the destructor removes it
  if (user.drop && chown(dir, user.uid, user.gid) != 0) {
    return io_error(std::string("chown ") + dir + " to postgres: " + errno_text());
  }
  const std::string data = server->dir_ + "/data";

  // --locale=C: the result must not depend on the locales the host has.
  const std::string initdb_log = server->dir_ + "/initdb.log";
  DUET_ASSIGN_OR_RETURN(pid_t initdb_pid, spawn({initdb, "-D", data, "-U", "duet", "-A", "trust",
                                                 "--no-sync", "-E", "UTF8", "--locale=C"},
                                                initdb_log, user));
  const std::optional<int> initdb_status = wait_exit(initdb_pid, kInitdbTimeout);
  if (!initdb_status) {
    kill(initdb_pid, SIGKILL);
    (void)wait_exit(initdb_pid, kStopTimeout);
    return io_error("initdb did not finish within 120 s; its output ends with:\n" +
                    tail(initdb_log));
  }
  if (*initdb_status != 0) {
    return io_error("initdb failed (" + describe_exit(*initdb_status) +
                    "); its output ends with:\n" + tail(initdb_log));
  }

  std::vector<std::string> settings = {"listen_addresses=127.0.0.1"};
  if (options.fsync) {
    settings.push_back("fsync=on");
  } else {
    settings.insert(settings.end(),
                    {"fsync=off", "synchronous_commit=off", "full_page_writes=off"});
  }
  const std::string log = server->dir_ + "/server.log";
  for (int attempt = 1;; ++attempt) {
    if (options.port != 0) {
      server->port_ = options.port;
    } else {
      DUET_ASSIGN_OR_RETURN(server->port_, free_port());
    }
    std::vector<std::string> argv = {postgres,    "-D",         data,
                                     "-k",        server->dir_, "-h",
                                     "127.0.0.1", "-p",         std::to_string(server->port_)};
    for (const auto& s : settings) argv.insert(argv.end(), {"-c", s});
    DUET_ASSIGN_OR_RETURN(server->pid_, spawn(argv, log, user));
    Status ready = wait_ready(server->pid_, server->dir_, server->port_, log);
    if (ready.ok()) return server;
    const bool port_taken = options.port == 0 && server->pid_ < 0 &&
                            tail(log).find("could not bind") != std::string::npos;
    if (!port_taken || attempt == kPortAttempts) return std::move(ready).take_error();
  }
}

PgServer::~PgServer() { stop(); }

std::string PgServer::conninfo(const std::string& dbname) const {
  return make_conninfo(port_, dbname);
}

Result<std::string> PgServer::create_database() {
  if (pid_ < 0) return io_error("the PostgreSQL server is stopped");
  PGconn* conn = PQconnectdb(conninfo("postgres").c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
    PQfinish(conn);
    return io_error("cannot connect to the test server on port " + std::to_string(port_) + ": " +
                    why);
  }
  const std::string name = "t" + std::to_string(++next_db_);
  PGresult* r = PQexec(conn, ("CREATE DATABASE " + name).c_str());
  const bool ok = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string why = ok ? "" : PQerrorMessage(conn);
  PQclear(r);
  PQfinish(conn);
  if (!ok) return io_error("CREATE DATABASE " + name + " failed: " + why);
  return conninfo(name);
}

void PgServer::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGINT);  // fast shutdown: roll back sessions, checkpoint, exit
    if (!wait_exit(pid_, kStopTimeout)) {
      kill(pid_, SIGKILL);
      (void)wait_exit(pid_, kStopTimeout);
    }
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

Result<PgServer*> shared_pg_server() {
  // Destroyed, and so stopped, at process exit.
  static std::unique_ptr<PgServer> server;
  static std::optional<Error> failure;
  static std::once_flag once;
  std::call_once(once, [] {
    auto started = PgServer::start(PgServer::Options{});
    if (started.ok()) {
      server = std::move(started).value();
    } else {
      failure = std::move(started).take_error();
    }
  });
  if (failure) return *failure;
  return server.get();
}

}  // namespace duet::testing
