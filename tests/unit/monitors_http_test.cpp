// The HTTP(S) monitor (monitors/http.h) against a small HTTP server in this
// test (a thread on loopback) and `openssl s_server -www` for HTTPS.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "monitors/http.h"
#include "tests/support/temp_dir.h"

using duet::monitors::check_http;
using duet::monitors::HttpCheck;
using duet::monitors::HttpStep;

namespace {

// A TCP socket bound to 127.0.0.1 on a free port, and that port.
int bound_loopback_socket(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// Serves, one connection at a time, until destroyed:
//   GET /health  -> 200 "all good"
//   POST /login  -> 200, Set-Cookie: session=s3cret
//   GET /secret  -> 200 "the secret page" with that cookie, else 403
//   anything else -> 404
class TinyServer {
 public:
  TinyServer() {
    fd_ = bound_loopback_socket(port_);
    REQUIRE(::listen(fd_, 16) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      std::string status = "404 Not Found", body = "no such page", extra;
      if (req.rfind("GET /health ", 0) == 0) {
        status = "200 OK", body = "all good";
      } else if (req.rfind("POST /login ", 0) == 0) {
        status = "200 OK", body = "welcome", extra = "Set-Cookie: session=s3cret; Path=/\r\n";
      } else if (req.rfind("GET /secret ", 0) == 0) {
        if (req.find("session=s3cret") != std::string::npos) {
          status = "200 OK", body = "the secret page";
        } else {
          status = "403 Forbidden", body = "log in first";
        }
      }
      const std::string resp = "HTTP/1.1 " + status + "\r\n" + extra +
                               "Content-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + body;
      (void)::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

HttpCheck one(const std::string& url) {
  HttpCheck c;
  c.timeout = std::chrono::milliseconds(5000);
  c.steps.push_back(HttpStep{url, "GET", "", {}, {}, ""});
  return c;
}

}  // namespace

TEST_CASE("http: status, time and a regex over the body", "[monitors][http]") {
  TinyServer server;
  auto c = one(server.url("/health"));
  c.steps[0].body_regex = "all\\s+good";
  auto r = check_http(c);
  INFO(r.error());
  CHECK(r.ok());
  REQUIRE(r.steps.size() == 1);
  CHECK(r.steps[0].status == 200);
  CHECK(r.steps[0].time.count() > 0);
  CHECK_FALSE(r.cert_days_left.has_value());

  c.steps[0].body_regex = "broken";
  r = check_http(c);
  CHECK_FALSE(r.ok());
  CHECK(r.error() == "body does not match 'broken'");

  c = one(server.url("/missing"));
  r = check_http(c);
  CHECK_FALSE(r.ok());
  CHECK(r.error() == "status 404 not expected");
  c.steps[0].expect_status = {404};
  CHECK(check_http(c).ok());

  c.steps[0].body_regex = "([";
  r = check_http(c);
  CHECK_FALSE(r.ok());
  CHECK(r.error().find("invalid body_regex") == 0);
}

TEST_CASE("http: a scenario keeps its cookies from step to step", "[monitors][http]") {
  TinyServer server;
  HttpCheck c;
  c.steps.push_back(HttpStep{server.url("/login"), "POST", "user=ops&pw=x", {}, {}, "welcome"});
  c.steps.push_back(HttpStep{server.url("/secret"), "GET", "", {}, {}, "secret page"});
  auto r = check_http(c);
  INFO(r.error());
  CHECK(r.ok());
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[1].status == 200);

  // Without the login the same page is refused; the scenario stops at the failed step.
  HttpCheck direct;
  direct.steps.push_back(HttpStep{server.url("/secret"), "GET", "", {}, {}, ""});
  direct.steps.push_back(HttpStep{server.url("/health"), "GET", "", {}, {}, ""});
  r = check_http(direct);
  CHECK_FALSE(r.ok());
  CHECK(r.steps.size() == 1);
  CHECK(r.error() == "step 1: status 403 not expected");
}

TEST_CASE("http: nothing listening is an error, not a hang", "[monitors][http]") {
  std::uint16_t port = 0;
  {
    TinyServer gone;  // a port that was just free
    port = static_cast<std::uint16_t>(std::stoi(gone.url("").substr(17)));
  }
  auto c = one("http://127.0.0.1:" + std::to_string(port) + "/");
  c.timeout = std::chrono::milliseconds(2000);
  const auto r = check_http(c);
  CHECK_FALSE(r.ok());
  CHECK(r.steps[0].status == 0);
  CHECK_FALSE(r.error().empty());
}

TEST_CASE("https: the days until the certificate expires", "[monitors][http]") {
  duet::testing::TempDir dir;
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  const std::string gen =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=127.0.0.1"
      " -addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(gen.c_str()) == 0);
  // A free port: bind, read it, release it.
  std::uint16_t port = 0;
  ::close(bound_loopback_socket(port));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("openssl", "openssl", "s_server", "-quiet", "-www", "-accept",
             ("127.0.0.1:" + std::to_string(port)).c_str(), "-cert", cert.c_str(), "-key",
             key.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  REQUIRE(pid > 0);
  HttpCheck c = one("https://127.0.0.1:" + std::to_string(port) + "/");
  c.ca_file = cert;  // verified: chain and the IP in the certificate
  duet::monitors::HttpResult r;
  for (int i = 0; i < 50; ++i) {  // until s_server listens (at most 5 s)
    r = check_http(c);
    if (r.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  INFO(r.error());
  REQUIRE(r.ok());
  CHECK(r.steps[0].status == 200);
  REQUIRE(r.cert_days_left.has_value());
  CHECK(*r.cert_days_left > 29.0);
  CHECK(*r.cert_days_left <= 30.01);
}
