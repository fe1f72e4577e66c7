#include "monitors/ping.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "common/icmp_echo.h"

namespace duet::monitors {
namespace {

using Clock = std::chrono::steady_clock;

struct Socket {
  int fd = -1;
  bool raw = false;  // raw sockets read the IPv4 header too, and see every ICMP packet
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

PingResult ping(const PingCheck& check) {
  PingResult r;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  if (::inet_pton(AF_INET, check.address.c_str(), &to.sin_addr) != 1) {
    r.error = "not an IPv4 address: '" + check.address + "'";
    return r;
  }
  const int count = std::clamp(check.count, 1, 100);
  const int payload_bytes = std::clamp(check.payload_bytes, 16, 1400);

  Socket s;
  s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (s.fd < 0) {
    const int dgram_errno = errno;
    s.fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    s.raw = true;
    if (s.fd < 0) {
      r.error = std::string("no ICMP socket: ") + std::strerror(dgram_errno) +
                " (datagram; allow the group in net.ipv4.ping_group_range) and " +
                std::strerror(errno) + " (raw; needs CAP_NET_RAW)";
      return r;
    }
  }

  std::random_device rd;
  const auto identifier = static_cast<std::uint16_t>(rd());
  std::vector<std::uint8_t> payload(static_cast<std::size_t>(payload_bytes));
  for (auto& b : payload) b = static_cast<std::uint8_t>(rd());

  std::vector<std::optional<Clock::time_point>> sent_at(static_cast<std::size_t>(count));
  std::vector<double> rtts;
  const auto first = Clock::now();
  auto send_at = [&](int i) { return first + check.interval * i; };
  const auto base_sequence = static_cast<std::uint16_t>(rd());
  int next = 0;
  std::array<std::uint8_t, 2048> buf{};
  while (true) {
    const auto now = Clock::now();
    if (next < count && now >= send_at(next)) {
      const auto sequence = static_cast<std::uint16_t>(base_sequence + next);
      const auto request = icmp_echo::make_request(s.raw ? identifier : 0, sequence, payload);
      const auto n = ::sendto(s.fd, request.data(), request.size(), 0,
                              reinterpret_cast<const sockaddr*>(&to), sizeof to);
      if (n == static_cast<ssize_t>(request.size())) {
        sent_at[static_cast<std::size_t>(next)] = Clock::now();
        ++r.sent;
      }
      ++next;
      continue;
    }
    // The last moment anything may still arrive, and the next thing to do.
    Clock::time_point until = next < count ? send_at(next) : first;
    if (next >= count) {
      for (const auto& at : sent_at) {
        if (at) until = std::max(until, *at + check.timeout);
      }
      if (now >= until || static_cast<int>(rtts.size()) == r.sent) break;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    pollfd p{s.fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(wait.count(), 0) + 1)) <= 0) continue;
    const auto n = ::recv(s.fd, buf.data(), buf.size(), MSG_DONTWAIT);
    const auto received = Clock::now();
    if (n <= 0) continue;
    const std::span<const std::uint8_t> datagram(buf.data(), static_cast<std::size_t>(n));
    for (int i = 0; i < next; ++i) {
      auto& at = sent_at[static_cast<std::size_t>(i)];
      if (!at || received - *at > check.timeout) continue;
      const icmp_echo::Expected expected{identifier, s.raw,
                                         static_cast<std::uint16_t>(base_sequence + i), payload};
      if (icmp_echo::match_reply(datagram, s.raw, expected) == icmp_echo::Match::kOurs) {
        rtts.push_back(std::chrono::duration<double, std::milli>(received - *at).count());
        at.reset();  // a duplicate reply counts once
        break;
      }
    }
  }
  r.received = static_cast<int>(rtts.size());
  r.loss_percent = r.sent == 0 ? 100.0 : 100.0 * (r.sent - r.received) / r.sent;
  if (!rtts.empty()) {
    r.rtt_min_ms = *std::min_element(rtts.begin(), rtts.end());
    r.rtt_max_ms = *std::max_element(rtts.begin(), rtts.end());
    double sum = 0;
    for (double v : rtts) sum += v;
    r.rtt_avg_ms = sum / static_cast<double>(rtts.size());
  }
  return r;
}

}  // namespace duet::monitors
