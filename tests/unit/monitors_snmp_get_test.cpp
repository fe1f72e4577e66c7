// The SNMP get monitor (monitors/snmp_get.h): its protocol core
// (snmp/get_exchange.h) against our own agent side (snmp/inbound.h), and the
// monitor against Debian's real snmpd, started by each test on a free
// loopback port with a generated configuration and killed at its end.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "monitors/snmp_get.h"
#include "snmp/errors.h"
#include "snmp/get_exchange.h"
#include "snmp/inbound.h"
#include "snmp/usm_message.h"
#include "tests/support/temp_dir.h"

extern char** environ;

using namespace std::chrono_literals;
using duet::monitors::snmp_get;
using duet::monitors::SnmpGetCheck;
using duet::monitors::SnmpGetFailure;
using duet::monitors::SnmpGetResult;
namespace snmp = duet::snmp;

namespace {

const std::string kSysDescr0 = "1.3.6.1.2.1.1.1.0";
const std::string kSysUpTime0 = "1.3.6.1.2.1.1.3.0";
const std::string kSysContact0 = "1.3.6.1.2.1.1.4.0";
const std::string kSysLocation0 = "1.3.6.1.2.1.1.6.0";
const std::string kContact = "duet-ops@example.com";
const std::string kLocation = "rack 7, row B";
const std::string kCommunity = "duet-ro";
const std::string kAuthPassword = "auth-pass-123";
const std::string kPrivPassword = "priv-pass-456";

// ---- The protocol core against snmp/inbound.h as the agent ----

const snmp::Bytes kAgentEngine{0x80, 0x00, 0x1F, 0x88, 0x04, 'a', 'g', 'e', 'n', 't'};
const snmp::Oid kSysDescr0Oid{1, 3, 6, 1, 2, 1, 1, 1, 0};

snmp::UsmUserConfig sha_aes_user(std::string auth_password = kAuthPassword) {
  snmp::UsmUserConfig u;
  u.name = "ops";
  u.auth = snmp::AuthProtocol::kHmacSha1;
  u.auth_password = std::move(auth_password);
  u.priv = snmp::PrivProtocol::kAes128;
  u.priv_password = kPrivPassword;
  return u;
}

// An agent made of the receiver's code: it answers discovery and USM errors
// with Reports, and a GetRequest it accepts with a Response built here.
struct FakeAgent {
  snmp::Credentials credentials{{kCommunity},
                                snmp::UsmUserTable::build({sha_aes_user()}, kAgentEngine).value()};
  snmp::LocalEngine engine{kAgentEngine, 5, 1000};
  snmp::UsmStats stats;
  std::optional<snmp::UsmKeys> seal_with;  // keys for the Response other than the user's

  // The Report for `request`, or the Response with sysDescr.0 = "fake agent".
  snmp::Bytes answer(const snmp::Bytes& request) {
    auto in = snmp::process_inbound(request, credentials, engine, stats);
    if (!in.message.ok()) return in.report;
    const snmp::InboundMessage& m = in.message.value();
    const auto& get = std::get<snmp::Pdu>(m.pdu);
    REQUIRE(get.type == snmp::PduType::kGetRequest);
    snmp::Pdu response;
    response.type = snmp::PduType::kResponse;
    response.request_id = get.request_id;
    response.varbinds = {{kSysDescr0Oid, snmp::OctetString::from("fake agent")}};
    snmp::SealParams p;
    p.msg_id = m.msg_id;
    p.level = m.level;
    p.engine_id = engine.engine_id;
    p.engine_boots = engine.boots;
    p.engine_time = engine.time;
    p.salt = snmp::random_salt();
    const snmp::UsmKeys* keys = credentials.users.find(engine.engine_id, m.user_name);
    REQUIRE(keys != nullptr);
    return snmp::seal_v3(p, seal_with ? *seal_with : *keys,
                         {m.context_engine_id, m.context_name, response})
        .value();
  }
};

snmp::GetExchange v3_exchange(snmp::UsmUserConfig user) {
  snmp::GetTarget t;
  t.version = snmp::Version::kV3;
  t.user = std::move(user);
  return snmp::GetExchange::start(t, {kSysDescr0Oid}, {100, 200, 300}, 10).value();
}

snmp::SnmpErrc code_of(const snmp::GetExchange& x) {
  REQUIRE(x.outcome().has_value());
  REQUIRE_FALSE(x.outcome()->ok());
  return static_cast<snmp::SnmpErrc>(x.outcome()->error().code.value());
}

// ---- Debian's snmpd ----

std::string find_snmpd() {
  std::vector<std::string> dirs{"/usr/sbin", "/usr/local/sbin", "/sbin"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream in(path);
    for (std::string dir; std::getline(in, dir, ':');) dirs.push_back(dir);
  }
  for (const std::string& dir : dirs) {
    const std::string candidate = dir + "/snmpd";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// snmpd in the foreground on 127.0.0.1:<port>, reading only the generated
// configuration (-C -c) and keeping its persistent files in a temp directory;
// SIGTERM (then SIGKILL) and reaped on destruction.
class Snmpd {
 public:
  explicit Snmpd(const std::string& binary) : dir_("duet-snmpd-") {
    std::filesystem::create_directory(dir_.path() / "persist");
    std::ofstream(dir_.file("snmpd.conf"))
        << "rocommunity " << kCommunity << " 127.0.0.1\n"
        << "sysContact " << kContact << "\n"
        << "sysLocation " << kLocation << "\n"
        << "createUser plainuser\n"
        << "createUser authuser SHA " << kAuthPassword << "\n"
        << "createUser privuser SHA " << kAuthPassword << " AES " << kPrivPassword << "\n"
        << "rouser plainuser noauth\n"
        << "rouser authuser auth\n"
        << "rouser privuser priv\n";
    // A port taken between the probe and snmpd's bind makes snmpd exit: try another.
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) {
      port_ = free_udp_port();
      start(binary);
      ready_ = wait_until_answering();
      if (!ready_) stop();
    }
  }
  ~Snmpd() { stop(); }
  Snmpd(const Snmpd&) = delete;
  Snmpd& operator=(const Snmpd&) = delete;

  bool ready() const { return ready_; }
  std::uint16_t port() const { return port_; }
  std::string log() const {
    std::ifstream in(dir_.file("snmpd.log"));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  void start(const std::string& binary) {
    const std::vector<std::string> args{binary, "-f",
                                        "-Lo",  "-C",
                                        "-c",   dir_.file("snmpd.conf"),
                                        "-p",   dir_.file("snmpd.pid"),
                                        "-r",   "udp:127.0.0.1:" + std::to_string(port_)};
    std::vector<std::string> env{"SNMP_PERSISTENT_DIR=" + dir_.file("persist"), "MIBS="};
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view v(*e);
      if (v.rfind("SNMP_PERSISTENT_DIR=", 0) != 0 && v.rfind("MIBS=", 0) != 0) env.emplace_back(v);
    }
    std::vector<char*> argv, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    argv.push_back(nullptr);
    envp.push_back(nullptr);
    const std::string log_path = dir_.file("snmpd.log");
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      const int null = ::open("/dev/null", O_RDONLY);
      if (log >= 0) {
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
      }
      if (null >= 0) ::dup2(null, STDIN_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }

  // Bounded: about 5 s, asking sysDescr.0 over v2c every 100 ms.
  bool wait_until_answering() {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // exited (the port was taken, or a bad configuration)
        return false;
      }
      SnmpGetCheck c;
      c.host = "127.0.0.1";
      c.port = port_;
      c.community = kCommunity;
      c.oids = {kSysDescr0};
      c.timeout = 100ms;
      c.retries = 0;
      auto r = snmp_get(c);
      if (r.ok() && r->ok()) return true;
      if (r.ok() && r->failure == SnmpGetFailure::kNetwork) std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  duet::testing::TempDir dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  bool ready_ = false;
};

SnmpGetCheck v2c(const Snmpd& agent, std::vector<std::string> oids) {
  SnmpGetCheck c;
  c.host = "127.0.0.1";
  c.port = agent.port();
  c.community = kCommunity;
  c.oids = std::move(oids);
  c.timeout = 1000ms;
  c.retries = 1;
  return c;
}

SnmpGetCheck v3(const Snmpd& agent, std::string user, snmp::AuthProtocol auth,
                snmp::PrivProtocol priv) {
  SnmpGetCheck c;
  c.host = "127.0.0.1";
  c.port = agent.port();
  c.version = snmp::Version::kV3;
  c.user = std::move(user);
  c.auth = auth;
  c.priv = priv;
  if (auth != snmp::AuthProtocol::kNone) c.auth_password = kAuthPassword;
  if (priv != snmp::PrivProtocol::kNone) c.priv_password = kPrivPassword;
  c.oids = {kSysContact0, kSysLocation0};
  c.timeout = 1000ms;
  c.retries = 1;
  return c;
}

SnmpGetResult run(const SnmpGetCheck& c) {
  auto r = snmp_get(c);
  REQUIRE(r.ok());
  return std::move(r).value();
}

// Starts snmpd for one test; null (after a WARN) when it is not installed.
#define DUET_START_SNMPD(agent)                                               \
  const std::string snmpd_binary = find_snmpd();                              \
  if (snmpd_binary.empty()) {                                                 \
    WARN("snmpd not found (Debian package snmpd): skipping the agent tests"); \
    return;                                                                   \
  }                                                                           \
  Snmpd agent(snmpd_binary);                                                  \
  INFO("snmpd log:\n" << agent.log());                                        \
  REQUIRE(agent.ready())

}  // namespace

TEST_CASE("snmp get core: v3 discovery, a time-window retry, spoofed replies ignored",
          "[snmpget]") {
  FakeAgent agent;
  auto x = v3_exchange(sha_aes_user());
  CHECK(x.stage() == snmp::GetExchange::Stage::kDiscovery);
  CHECK(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kSend);
  CHECK(x.stage() == snmp::GetExchange::Stage::kGet);
  CHECK(x.engine().engine_id == kAgentEngine);
  CHECK(x.engine().boots == 5);

  // The agent restarts: its authenticated Report gives the new boots/time, once.
  agent.engine.boots = 6;
  agent.engine.time = 3;
  const snmp::Bytes time_report = agent.answer(x.request());
  CHECK(agent.stats.not_in_time_windows == 1);
  CHECK(x.on_datagram(time_report, 11) == snmp::GetExchange::Step::kSend);
  CHECK(x.engine().boots == 6);

  const snmp::Bytes response = agent.answer(x.request());
  REQUIRE_FALSE(response.empty());
  // The same Response with one MAC bit flipped, and garbage: ignored.
  auto decoded = snmp::decode_v3_message(response).value();
  snmp::Bytes bad_mac = response;
  bad_mac[decoded.auth_params_offset] ^= 0x01;
  CHECK(x.on_datagram(bad_mac, 11) == snmp::GetExchange::Step::kIgnored);
  CHECK_THAT(x.last_ignored(), Catch::Contains("MAC"));
  CHECK(x.on_datagram(snmp::Bytes{0x30, 0x00}, 11) == snmp::GetExchange::Step::kIgnored);
  // The Report to the earlier stage (its msgID is no longer ours): ignored.
  CHECK(x.on_datagram(time_report, 11) == snmp::GetExchange::Step::kIgnored);
  CHECK_THAT(x.last_ignored(), Catch::Contains("msgID"));
  CHECK(x.ignored() == 3);

  CHECK(x.on_datagram(response, 11) == snmp::GetExchange::Step::kDone);
  REQUIRE(x.outcome()->ok());
  const snmp::Pdu& pdu = x.outcome()->value();
  REQUIRE(pdu.varbinds.size() == 1);
  CHECK(pdu.varbinds[0].value == snmp::Value(snmp::OctetString::from("fake agent")));
}

TEST_CASE("snmp get core: a second time-window report, an undecryptable reply, a wrong digest",
          "[snmpget]") {
  {
    FakeAgent agent;
    auto x = v3_exchange(sha_aes_user());
    REQUIRE(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kSend);
    agent.engine.boots = 6;
    REQUIRE(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kSend);
    agent.engine.boots = 7;
    CHECK(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kDone);
    CHECK(code_of(x) == snmp::SnmpErrc::kNotInTimeWindow);
    CHECK_THAT(x.outcome()->error().message, Catch::Contains("after a retry"));
  }
  {
    // A Response with a MAC that verifies but encrypted with another privacy key.
    FakeAgent agent;
    auto x = v3_exchange(sha_aes_user());
    REQUIRE(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kSend);
    auto other = sha_aes_user();
    other.priv_password = "another-privacy-password";
    agent.seal_with = snmp::localize_user(other, kAgentEngine).value();
    CHECK(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kDone);
    CHECK(code_of(x) == snmp::SnmpErrc::kDecryptionError);
    CHECK_THAT(x.outcome()->error().message, Catch::Contains("cannot decrypt the agent's reply"));
  }
  {
    FakeAgent agent;
    auto x = v3_exchange(sha_aes_user("not-the-password"));
    REQUIRE(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kSend);
    CHECK(x.on_datagram(agent.answer(x.request()), 10) == snmp::GetExchange::Step::kDone);
    CHECK(code_of(x) == snmp::SnmpErrc::kWrongDigest);
    CHECK_THAT(x.outcome()->error().message, Catch::Contains("wrong digest"));
  }
}

TEST_CASE("snmp get core: v2c replies matched by community and request-id; a wrong reply",
          "[snmpget]") {
  snmp::GetTarget t;
  t.community = kCommunity;
  auto x = snmp::GetExchange::start(t, {kSysDescr0Oid}, {41, 0, 0}, 0).value();
  const auto request = snmp::decode_community_message(x.request()).value();
  REQUIRE(std::get<snmp::Pdu>(request.pdu).request_id == 42);  // stage 1 of 41
  auto reply = [&](std::string community, int32_t request_id, snmp::Oid name) {
    snmp::Pdu pdu;
    pdu.type = snmp::PduType::kResponse;
    pdu.request_id = request_id;
    pdu.varbinds = {{std::move(name), snmp::Integer32{1}}};
    return snmp::encode_community_message({snmp::Version::kV2c, std::move(community), pdu}).value();
  };
  CHECK(x.on_datagram(reply("public", 42, kSysDescr0Oid), 0) == snmp::GetExchange::Step::kIgnored);
  CHECK(x.on_datagram(reply(kCommunity, 43, kSysDescr0Oid), 0) ==
        snmp::GetExchange::Step::kIgnored);
  CHECK_THAT(x.last_ignored(), Catch::Contains("request-id 43"));
  CHECK(x.on_datagram(reply(kCommunity, 42, snmp::Oid{1, 3, 6, 1, 2, 1, 1, 2, 0}), 0) ==
        snmp::GetExchange::Step::kDone);
  CHECK(code_of(x) == snmp::SnmpErrc::kMalformed);
  CHECK_THAT(x.outcome()->error().message, Catch::Contains("wrong reply"));
  CHECK(snmp::error_status_name(2) == "noSuchName");
  CHECK(snmp::error_status_name(18) == "inconsistentName");
  CHECK(snmp::error_status_name(19) == "error-status 19");
}

TEST_CASE("snmp get: invalid arguments are errors", "[snmpget]") {
  SnmpGetCheck c;
  c.host = "127.0.0.1";
  c.oids = {kSysDescr0};
  auto error_of = [](const SnmpGetCheck& check) {
    auto r = snmp_get(check);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  SnmpGetCheck bad = c;
  bad.oids = {};
  CHECK_THAT(error_of(bad), Catch::Contains("no OIDs"));
  bad.oids = {"1.3.6.x"};
  CHECK_THAT(error_of(bad), Catch::Contains("1.3.6.x"));
  bad = c;
  bad.host.clear();
  CHECK_THAT(error_of(bad), Catch::Contains("no host"));
  bad = c;
  bad.retries = 11;
  CHECK_THAT(error_of(bad), Catch::Contains("retries"));
  bad = c;
  bad.version = snmp::Version::kV3;
  CHECK_THAT(error_of(bad), Catch::Contains("user"));
  bad.user = "ops";
  bad.auth = snmp::AuthProtocol::kHmacSha1;
  bad.auth_password = "short";
  CHECK_THAT(error_of(bad), Catch::Contains("at least 8"));
  bad.auth = snmp::AuthProtocol::kNone;
  bad.priv = snmp::PrivProtocol::kAes128;
  bad.priv_password = kPrivPassword;
  CHECK_THAT(error_of(bad), Catch::Contains("privacy needs an auth protocol"));
}

TEST_CASE("snmp get: nothing listening is a network failure", "[snmpget]") {
  SnmpGetCheck c;
  c.host = "127.0.0.1";
  c.port = free_udp_port();
  c.oids = {kSysDescr0};
  c.timeout = 500ms;
  const auto r = run(c);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.answered);
  CHECK(r.failure == SnmpGetFailure::kNetwork);
  CHECK_THAT(r.error, Catch::Contains("port unreachable"));
}

TEST_CASE("snmp get: v2c from snmpd, strings and numbers", "[snmpget]") {
  DUET_START_SNMPD(agent);
  const auto r = run(v2c(agent, {kSysDescr0, kSysUpTime0, kSysContact0, kSysLocation0}));
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(r.failure == SnmpGetFailure::kNone);
  CHECK(r.response_time.count() > 0);
  CHECK(r.response_time < 1s);
  REQUIRE(r.values.size() == 4);
  CHECK(r.values[0].oid == kSysDescr0);
  CHECK(r.values[0].type == "OCTET STRING");
  CHECK_FALSE(r.values[0].text.empty());
  CHECK_FALSE(r.values[0].number.has_value());
  CHECK(r.values[1].type == "TimeTicks");
  REQUIRE(r.values[1].number.has_value());
  CHECK(*r.values[1].number >= 0);
  CHECK(r.values[1].text == std::to_string(static_cast<std::uint64_t>(*r.values[1].number)));
  CHECK(r.values[2].text == kContact);
  CHECK(r.values[3].text == kLocation);
}

TEST_CASE("snmp get: a wrong community gets no answer: a timeout", "[snmpget]") {
  DUET_START_SNMPD(agent);
  auto c = v2c(agent, {kSysDescr0});
  c.community = "not-" + kCommunity;
  c.timeout = 300ms;
  c.retries = 1;
  const auto r = run(c);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.answered);
  CHECK(r.failure == SnmpGetFailure::kTimeout);
  CHECK(r.datagrams_sent == 2);
  CHECK_THAT(r.error, Catch::Contains("no reply to the Get within 300 ms, sent 2 times"));
  CHECK(r.elapsed >= 600ms);
  CHECK(r.elapsed < 2s);
}

TEST_CASE("snmp get: v3 at noAuthNoPriv, authNoPriv (SHA) and authPriv (SHA/AES)", "[snmpget]") {
  DUET_START_SNMPD(agent);
  using snmp::AuthProtocol;
  using snmp::PrivProtocol;
  for (const auto& c : {v3(agent, "plainuser", AuthProtocol::kNone, PrivProtocol::kNone),
                        v3(agent, "authuser", AuthProtocol::kHmacSha1, PrivProtocol::kNone),
                        v3(agent, "privuser", AuthProtocol::kHmacSha1, PrivProtocol::kAes128)}) {
    INFO("user " << c.user);
    const auto r = run(c);
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.datagrams_sent == 2);              // the discovery probe and the Get
    CHECK(r.engine_id.rfind("0x80", 0) == 0);  // RFC 3411 format, as net-snmp makes it
    REQUIRE(r.values.size() == 2);
    CHECK(r.values[0].text == kContact);
    CHECK(r.values[1].text == kLocation);
  }
}

TEST_CASE("snmp get: v3 wrong auth password, wrong privacy password, unknown user", "[snmpget]") {
  DUET_START_SNMPD(agent);
  using snmp::AuthProtocol;
  using snmp::PrivProtocol;
  {
    auto c = v3(agent, "authuser", AuthProtocol::kHmacSha1, PrivProtocol::kNone);
    c.auth_password = "wrong-" + kAuthPassword;
    const auto r = run(c);
    CHECK_FALSE(r.answered);
    CHECK(r.failure == SnmpGetFailure::kSecurity);
    CHECK_THAT(r.error, Catch::Contains("authentication failure") &&
                            Catch::Contains("wrong digest") && Catch::Contains("authuser"));
  }
  {
    // snmpd drops a request it cannot decrypt without a Report: no reply.
    auto c = v3(agent, "privuser", AuthProtocol::kHmacSha1, PrivProtocol::kAes128);
    c.priv_password = "wrong-" + kPrivPassword;
    c.timeout = 300ms;
    c.retries = 0;
    const auto r = run(c);
    CHECK_FALSE(r.answered);
    CHECK(r.failure == SnmpGetFailure::kTimeout);
    CHECK_THAT(r.error,
               Catch::Contains("no reply to the Get") && Catch::Contains("wrong privacy password"));
  }
  {
    const auto r = run(v3(agent, "nobody", AuthProtocol::kHmacSha1, PrivProtocol::kNone));
    CHECK(r.failure == SnmpGetFailure::kSecurity);
    CHECK_THAT(r.error, Catch::Contains("does not know user 'nobody'"));
  }
}

TEST_CASE("snmp get: OIDs that do not exist are reported per OID", "[snmpget]") {
  DUET_START_SNMPD(agent);
  const std::string no_object = "1.3.6.1.2.1.1.99.0";
  const std::string no_instance = "1.3.6.1.2.1.1.1.7";  // sysDescr.7
  auto secure = v3(agent, "privuser", snmp::AuthProtocol::kHmacSha1, snmp::PrivProtocol::kAes128);
  secure.oids = {kSysDescr0, no_object, no_instance};
  for (const auto& c : {v2c(agent, {kSysDescr0, no_object, no_instance}), secure}) {
    INFO(snmp::to_string(c.version));
    const auto r = run(c);
    INFO(r.error);
    CHECK(r.answered);
    CHECK(r.failure == SnmpGetFailure::kNone);
    CHECK_FALSE(r.ok());
    REQUIRE(r.values.size() == 3);
    CHECK(r.values[0].ok());
    CHECK(r.values[1].oid == no_object);
    CHECK(r.values[1].error == "noSuchObject");
    CHECK(r.values[1].type == "noSuchObject");
    CHECK(r.values[2].error == "noSuchInstance");
  }
  // v1 has no exception values: the agent answers with an error-status for the request.
  auto old = v2c(agent, {kSysDescr0, no_object});
  old.version = snmp::Version::kV1;
  const auto r = run(old);
  CHECK(r.answered);
  CHECK(r.failure == SnmpGetFailure::kErrorStatus);
  CHECK(r.error_status == 2);
  CHECK(r.error_index == 2);
  CHECK_THAT(r.error, Catch::Contains("noSuchName") && Catch::Contains(no_object));
  REQUIRE(r.values.size() == 2);
  CHECK(r.values[1].error == "noSuchName");
  CHECK_THAT(r.values[0].error, Catch::Contains("not returned"));
}
