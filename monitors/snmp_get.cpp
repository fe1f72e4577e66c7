#include "monitors/snmp_get.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <variant>

#include "common/errors.h"
#include "snmp/errors.h"
#include "snmp/get_exchange.h"
#include "snmp/value.h"

namespace duet::monitors {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxRetries = 10;
constexpr std::size_t kMaxDatagram = 65535;

Error invalid(const std::string& what) {
  return make_error(CommonErrc::kInvalidArgument, "snmp get: " + what);
}

// Rounded up, so poll() does not wake just before the deadline.
int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

std::uint64_t seconds_of(Clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

std::chrono::microseconds micros(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

std::optional<double> number_of(const snmp::Value& value) {
  if (const auto* v = std::get_if<snmp::Integer32>(&value)) return v->value;
  if (const auto* v = std::get_if<snmp::Counter32>(&value)) return v->value;
  if (const auto* v = std::get_if<snmp::Gauge32>(&value)) return v->value;
  if (const auto* v = std::get_if<snmp::TimeTicks>(&value)) return v->value;
  if (const auto* v = std::get_if<snmp::Counter64>(&value)) return static_cast<double>(v->value);
  return std::nullopt;
}

bool is_exception(const snmp::Value& value) {
  return std::holds_alternative<snmp::NoSuchObject>(value) ||
         std::holds_alternative<snmp::NoSuchInstance>(value) ||
         std::holds_alternative<snmp::EndOfMibView>(value);
}

SnmpGetFailure failure_of(const Error& error) {
  switch (static_cast<snmp::SnmpErrc>(error.code.value())) {
    case snmp::SnmpErrc::kUnknownUser:
    case snmp::SnmpErrc::kUnknownEngineId:
    case snmp::SnmpErrc::kWrongDigest:
    case snmp::SnmpErrc::kDecryptionError:
    case snmp::SnmpErrc::kNotInTimeWindow:
    case snmp::SnmpErrc::kUnsupportedSecurityLevel:
    case snmp::SnmpErrc::kCrypto:
      return SnmpGetFailure::kSecurity;
    default:
      return SnmpGetFailure::kWrongReply;
  }
}

// The Response as the result's values (one per OID asked) and error-status.
void read_response(const snmp::Pdu& pdu, const std::vector<snmp::Oid>& oids, SnmpGetResult& r) {
  r.answered = true;
  r.error_status = pdu.error_status;
  r.error_index = pdu.error_index;
  r.values.resize(oids.size());
  for (std::size_t i = 0; i < oids.size(); ++i) r.values[i].oid = oids[i].to_string();
  if (pdu.error_status != 0) {
    const std::string status = snmp::error_status_name(pdu.error_status);
    r.failure = SnmpGetFailure::kErrorStatus;
    r.error =
        "the agent answered " + status + " (error-status " + std::to_string(pdu.error_status) + ")";
    const auto index = static_cast<std::size_t>(pdu.error_index);
    if (index >= 1 && index <= oids.size()) {
      r.error += " for " + oids[index - 1].to_string() + " (index " +
                 std::to_string(pdu.error_index) + ")";
    }
    for (std::size_t i = 0; i < oids.size(); ++i) {
      const bool named = index == 0 || index > oids.size() || index == i + 1;
      r.values[i].error = named ? status : "not returned: " + status + " for another OID";
    }
    return;
  }
  // GetExchange checked the varbinds are the OIDs asked, in order.
  for (std::size_t i = 0; i < oids.size(); ++i) {
    const snmp::Value& value = pdu.varbinds[i].value;
    SnmpGetValue& v = r.values[i];
    v.type = snmp::type_name(value);
    v.text = snmp::value_text(value);
    v.number = number_of(value);
    if (is_exception(value)) v.error = v.text;
  }
}

std::string timeout_text(const snmp::GetExchange& exchange, const SnmpGetCheck& check) {
  std::string text = exchange.stage() == snmp::GetExchange::Stage::kDiscovery
                         ? "no reply to the v3 engine discovery"
                         : "no reply to the Get";
  text += " within " + std::to_string(check.timeout.count()) + " ms, sent " +
          std::to_string(check.retries + 1) + " times";
  if (exchange.stage() == snmp::GetExchange::Stage::kGet &&
      check.priv != snmp::PrivProtocol::kNone) {
    // net-snmp's agent drops what it cannot decrypt, without a Report.
    text +=
        " (the agent answered the discovery: a wrong privacy password or protocol also "
        "looks like this)";
  }
  if (exchange.ignored() > 0) {
    text += "; " + std::to_string(exchange.ignored()) +
            " datagram(s) ignored, the last: " + exchange.last_ignored();
  }
  return text;
}

}  // namespace

std::string to_string(SnmpGetFailure failure) {
  switch (failure) {
    case SnmpGetFailure::kNone:
      return "none";
    case SnmpGetFailure::kNetwork:
      return "network";
    case SnmpGetFailure::kTimeout:
      return "timeout";
    case SnmpGetFailure::kSecurity:
      return "security";
    case SnmpGetFailure::kWrongReply:
      return "wrong reply";
    case SnmpGetFailure::kErrorStatus:
      return "error-status";
  }
  return "unknown";
}

bool SnmpGetResult::ok() const {
  if (!answered || failure != SnmpGetFailure::kNone) return false;
  for (const SnmpGetValue& v : values) {
    if (!v.ok()) return false;
  }
  return true;
}

Result<SnmpGetResult> snmp_get(const SnmpGetCheck& check) {
  if (check.host.empty()) return invalid("no host");
  if (check.port == 0) return invalid("port 0");
  if (check.timeout.count() <= 0) return invalid("the timeout must be positive");
  if (check.retries < 0 || check.retries > kMaxRetries) {
    return invalid("retries " + std::to_string(check.retries) + " not in 0.." +
                   std::to_string(kMaxRetries));
  }
  std::vector<snmp::Oid> oids;
  for (const std::string& text : check.oids) {
    auto oid = snmp::Oid::parse(text);
    if (!oid.ok()) return invalid("OID '" + text + "': " + oid.error().message);
    oids.push_back(std::move(oid).value());
  }
  snmp::GetTarget target;
  target.version = check.version;
  if (check.version == snmp::Version::kV3) {
    if (check.user.empty()) return invalid("v3 needs a user");
    target.user.name = check.user;
    target.user.auth = check.auth;
    target.user.auth_password = check.auth_password;
    target.user.priv = check.priv;
    target.user.priv_password = check.priv_password;
    target.context_name.assign(check.context.begin(), check.context.end());
  } else {
    target.community = check.community;
  }
  std::random_device random;
  snmp::GetIds ids;
  ids.request_id = static_cast<std::int32_t>(random() & 0x7FFFFFFF);
  ids.msg_id = static_cast<std::int32_t>(random() & 0x7FFFFFFF);
  ids.salt = snmp::random_salt();

  const auto started = Clock::now();
  auto started_exchange =
      snmp::GetExchange::start(std::move(target), oids, ids, seconds_of(started));
  if (!started_exchange.ok()) return invalid(started_exchange.error().message);
  snmp::GetExchange exchange = std::move(started_exchange).value();

  SnmpGetResult r;
  const auto finish = [&](SnmpGetFailure failure, std::string error) {
    r.failure = failure;
    r.error = std::move(error);
    if (!exchange.engine().engine_id.empty()) {
      r.engine_id = snmp::to_hex(exchange.engine().engine_id);
    }
    r.elapsed = micros(Clock::now() - started);
    return r;
  };

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(check.port);
  if (const int rc = ::getaddrinfo(check.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return finish(SnmpGetFailure::kNetwork,
                  "cannot resolve " + check.host + ": " + ::gai_strerror(rc));
  }
  Socket s;
  std::string socket_error;
  for (addrinfo* a = found; a != nullptr && s.fd < 0; a = a->ai_next) {
    s.fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (s.fd < 0) {
      socket_error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    // Connected: only datagrams from the agent's address reach us.
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) {
      socket_error = std::string("connect: ") + std::strerror(errno);
      ::close(s.fd);
      s.fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (s.fd < 0) return finish(SnmpGetFailure::kNetwork, socket_error);

  std::vector<std::uint8_t> buf(kMaxDatagram);
  int sends = 0;  // of the current stage's request
  bool send_now = true;
  auto deadline = Clock::now();
  // The first sending of the current Get (a flag, not an optional: g++ 12 at
  // -O2 warns that an optional's time_point may be used uninitialized).
  Clock::time_point get_sent{};
  bool have_get_sent = false;
  while (exchange.stage() != snmp::GetExchange::Stage::kDone) {
    if (send_now) {
      if (sends > check.retries)
        return finish(SnmpGetFailure::kTimeout, timeout_text(exchange, check));
      const snmp::Bytes& request = exchange.request();
      const auto sent_at = Clock::now();
      const ssize_t n = ::send(s.fd, request.data(), request.size(), 0);
      if (n != static_cast<ssize_t>(request.size())) {
        return finish(SnmpGetFailure::kNetwork,
                      std::string("send: ") + (n < 0 ? std::strerror(errno) : "short write"));
      }
      if (exchange.stage() == snmp::GetExchange::Stage::kGet && !have_get_sent) {
        get_sent = sent_at;
        have_get_sent = true;
      }
      ++sends;
      ++r.datagrams_sent;
      deadline = sent_at + check.timeout;
      send_now = false;
    }
    pollfd p{s.fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc < 0 && errno != EINTR) {
      return finish(SnmpGetFailure::kNetwork, std::string("poll: ") + std::strerror(errno));
    }
    if (rc == 0) {
      send_now = Clock::now() >= deadline;  // this datagram's time is up
      continue;
    }
    if (rc < 0) continue;
    const ssize_t n = ::recv(s.fd, buf.data(), buf.size(), MSG_DONTWAIT);
    const auto received_at = Clock::now();
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      if (errno == ECONNREFUSED) {
        return finish(SnmpGetFailure::kNetwork,
                      "no agent at " + check.host + ":" + port + " (ICMP port unreachable)");
      }
      return finish(SnmpGetFailure::kNetwork, std::string("recv: ") + std::strerror(errno));
    }
    const auto step =
        exchange.on_datagram(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)),
                             seconds_of(received_at));
    if (step == snmp::GetExchange::Step::kSend) {
      sends = 0;
      send_now = true;
      have_get_sent = false;
    } else if (step == snmp::GetExchange::Step::kDone && have_get_sent) {
      r.response_time = micros(received_at - get_sent);
    }
  }
  const auto& outcome = *exchange.outcome();
  if (!outcome.ok()) return finish(failure_of(outcome.error()), outcome.error().message);
  read_response(outcome.value(), oids, r);
  return finish(r.failure, r.error);
}

}  // namespace duet::monitors
