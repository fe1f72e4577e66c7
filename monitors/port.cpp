#include "monitors/port.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace duet::monitors {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

}  // namespace

bool greeting_ok(Greeting g, const std::string& line) {
  switch (g) {
    case Greeting::kNone:
      return true;
    case Greeting::kSmtp:
    case Greeting::kFtp:
      return line.rfind("220", 0) == 0;
    case Greeting::kPop3:
      return line.rfind("+OK", 0) == 0;
    case Greeting::kImap:
      return line.rfind("* OK", 0) == 0 || line.rfind("* PREAUTH", 0) == 0;
  }
  return false;
}

PortResult check_port(const PortCheck& check) {
  PortResult r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(check.port);
  if (const int rc = ::getaddrinfo(check.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    r.error = "cannot resolve " + check.host + ": " + ::gai_strerror(rc);
    return r;
  }
  const auto started = Clock::now();
  const auto deadline = started + check.timeout;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, ms_left(deadline));
      if (rc == 0) {
        r.error = "connect timed out after " + std::to_string(check.timeout.count()) + " ms";
      } else if (rc > 0) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        rc = so_error == 0 ? 0 : -1;
        if (so_error != 0) r.error = std::string("connect: ") + std::strerror(so_error);
      } else {
        r.error = std::string("connect: ") + std::strerror(errno);
      }
    } else if (rc != 0) {
      r.error = std::string("connect: ") + std::strerror(errno);
    }
    if (rc != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return r;
  r.connected = true;
  r.error.clear();
  r.connect_time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  if (check.greeting != Greeting::kNone) {
    // The greeting: the first line, within its own time limit.
    const auto greet_deadline = Clock::now() + check.timeout;
    std::string line;
    char buf[512];
    bool done = false;
    while (!done && line.size() < 4096) {
      pollfd p{fd, POLLIN, 0};
      const int rc = ::poll(&p, 1, ms_left(greet_deadline));
      if (rc <= 0) {
        r.error = "no greeting within " + std::to_string(check.timeout.count()) + " ms";
        break;
      }
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        r.error = "the server closed the connection before greeting";
        break;
      }
      for (ssize_t i = 0; i < n && !done; ++i) {
        if (buf[i] == '\n') {
          done = true;
        } else if (buf[i] != '\r') {
          line.push_back(buf[i]);
        }
      }
    }
    r.greeting = line;
    if (done) {
      r.greeting_ok = greeting_ok(check.greeting, line);
      if (!r.greeting_ok) r.error = "unexpected greeting: " + line.substr(0, 200);
    }
  }
  ::close(fd);
  return r;
}

}  // namespace duet::monitors
