#include "monitors/ntp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <random>

#include "common/errors.h"

namespace duet::monitors {
namespace {

using Steady = std::chrono::steady_clock;

constexpr std::size_t kPacket = 48;                     // the header, without extensions
constexpr std::uint64_t kUnixToNtp = 2'208'988'800ULL;  // seconds from 1900 to 1970
constexpr std::uint8_t kVersion = 4;
constexpr std::uint8_t kModeClient = 3;
constexpr std::uint8_t kModeServer = 4;

// Offsets in the header (RFC 5905 figure 8).
constexpr std::size_t kRootDelay = 4, kRootDispersion = 8, kReferenceId = 12, kOrigin = 24,
                      kReceive = 32, kTransmit = 40;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int ms_left(Steady::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::uint64_t get64(const std::uint8_t* p) {
  return (std::uint64_t{get32(p)} << 32) | get32(p + 4);
}

void put64(std::uint64_t v, std::uint8_t* p) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v & 0xff);
}

// (a - b) in milliseconds, modulo 2^64 and signed.
double diff_ms(std::uint64_t a, std::uint64_t b) {
  return static_cast<double>(static_cast<std::int64_t>(a - b)) / 4294967296.0 * 1000.0;
}

// The printable part of a four-character code ("RATE", "GPS").
std::string ascii_code(const std::uint8_t* p) {
  std::string out;
  for (int i = 0; i < 4 && p[i] != 0; ++i) {
    out += (p[i] >= 0x20 && p[i] < 0x7f) ? static_cast<char>(p[i]) : '?';
  }
  return out;
}

std::string kiss_meaning(const std::string& code) {
  if (code == "RATE") return " (rate exceeded: poll less often)";
  if (code == "DENY") return " (access denied)";
  if (code == "RSTR") return " (access restricted)";
  return "";
}

std::string error_text(const char* what, int err) {
  if (err == ECONNREFUSED) return std::string(what) + ": refused (ICMP port unreachable)";
  if (err == EHOSTUNREACH || err == ENETUNREACH) {
    return std::string(what) + ": unreachable (" + std::strerror(err) + ")";
  }
  return std::string(what) + ": " + std::strerror(err);
}

// Fills `r` from a reply to our request (its originate timestamp matched).
void evaluate(const std::uint8_t* b, std::uint64_t t1, std::uint64_t t4, NtpResult& r) {
  r.answered = true;
  r.leap = b[0] >> 6;
  r.version = (b[0] >> 3) & 7;
  const int mode = b[0] & 7;
  r.stratum = b[1];
  r.root_delay_ms = get32(b + kRootDelay) / 65536.0 * 1000.0;
  r.root_dispersion_ms = get32(b + kRootDispersion) / 65536.0 * 1000.0;
  const std::uint8_t* ref = b + kReferenceId;
  if (r.stratum <= 1) {
    r.reference_id = ascii_code(ref);
  } else {
    r.reference_id = std::to_string(ref[0]) + "." + std::to_string(ref[1]) + "." +
                     std::to_string(ref[2]) + "." + std::to_string(ref[3]);
  }
  const std::uint64_t t2 = get64(b + kReceive);
  const std::uint64_t t3 = get64(b + kTransmit);
  if (mode != kModeServer) {
    r.error = "bad reply: mode " + std::to_string(mode) + ", not 4 (server)";
  } else if (r.stratum == 0) {
    r.kiss_code = r.reference_id;
    r.error = "kiss-o'-death " + r.kiss_code + kiss_meaning(r.kiss_code);
  } else if (r.leap == 3 || r.stratum >= 16) {
    r.error = "the server is not synchronized (leap indicator " + std::to_string(r.leap) +
              ", stratum " + std::to_string(r.stratum) + ")";
  } else if (t3 == 0) {
    r.error = "bad reply: zero transmit timestamp";
  } else if (t2 == 0) {
    r.error = "bad reply: zero receive timestamp";
  } else {
    const NtpSample s = ntp_sample(t1, t2, t3, t4);
    r.offset_ms = s.offset_ms;
    r.delay_ms = s.delay_ms;
  }
}

}  // namespace

std::uint64_t to_ntp_timestamp(WallTime t) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const auto secs = static_cast<std::uint64_t>(ns / 1'000'000'000);
  const auto frac_ns = static_cast<std::uint64_t>(ns % 1'000'000'000);
  const std::uint64_t frac = (frac_ns << 32) / 1'000'000'000ULL;
  return (((secs + kUnixToNtp) & 0xffff'ffffULL) << 32) | frac;
}

NtpSample ntp_sample(std::uint64_t t1, std::uint64_t t2, std::uint64_t t3, std::uint64_t t4) {
  NtpSample s;
  s.offset_ms = (diff_ms(t2, t1) + diff_ms(t3, t4)) / 2.0;
  s.delay_ms = diff_ms(t4, t1) - diff_ms(t3, t2);
  return s;
}

Result<NtpResult> check_ntp(const NtpCheck& check) {
  const SystemClock clock;
  return check_ntp(check, clock);
}

Result<NtpResult> check_ntp(const NtpCheck& check, const Clock& clock) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(check.port);
  if (::inet_pton(AF_INET, check.server.c_str(), &to.sin_addr) != 1) {
    return make_error(CommonErrc::kInvalidArgument,
                      "ntp: server is not an IPv4 address: '" + check.server + "'");
  }
  if (check.port == 0) return make_error(CommonErrc::kInvalidArgument, "ntp: port 0");
  if (check.timeout.count() <= 0) {
    return make_error(CommonErrc::kInvalidArgument, "ntp: the timeout must be positive");
  }

  NtpResult r;
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.fd < 0) {
    r.error = error_text("udp socket", errno);
    return r;
  }
  // Connected: only the server's datagrams come through, and its ICMP errors
  // as recv errors.
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    r.error = error_text("udp connect", errno);
    return r;
  }

  std::array<std::uint8_t, kPacket> request{};
  request[0] = (kVersion << 3) | kModeClient;  // leap indicator 0
  std::random_device rd;
  const auto random_fraction = static_cast<std::uint32_t>(rd());
  const auto deadline = Steady::now() + check.timeout;
  const std::uint64_t t1 = to_ntp_timestamp(clock.wall_now());
  const std::uint64_t nonce = (t1 & 0xffff'ffff'0000'0000ULL) | random_fraction;
  put64(nonce, request.data() + kTransmit);
  if (::send(s.fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
    r.error = error_text("udp send", errno);
    return r;
  }

  std::array<std::uint8_t, 1024> buf{};
  std::string last_ignored;
  while (true) {
    pollfd p{s.fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      r.error = "no reply within " + std::to_string(check.timeout.count()) + " ms";
      if (r.ignored > 0) {
        r.error += " (ignored " + std::to_string(r.ignored) +
                   " datagram(s); the last: " + last_ignored + ")";
      }
      return r;
    }
    const ssize_t n = ::recv(s.fd, buf.data(), buf.size(), 0);
    const std::uint64_t t4 = to_ntp_timestamp(clock.wall_now());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      r.error = error_text("udp", errno);
      return r;
    }
    if (static_cast<std::size_t>(n) < kPacket) {
      last_ignored = "too short (" + std::to_string(n) + " bytes)";
    } else if (get64(buf.data() + kOrigin) != nonce) {
      last_ignored = "originate timestamp not ours";
    } else {
      evaluate(buf.data(), t1, t4, r);
      return r;
    }
    ++r.ignored;
  }
}

}  // namespace duet::monitors
