#include "monitors/multi_ping.h"

#include <arpa/inet.h>
#include <fcntl.h>
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

#include "common/errors.h"
#include "common/icmp_echo.h"

namespace duet::monitors {

using SteadyClock = std::chrono::steady_clock;

struct MultiPinger::Probe {
  PingCheck check;
  Done done;
  in_addr to{};
  std::vector<std::uint8_t> payload;
  int count = 0;
  int next = 0;  // requests sent so far
  std::vector<std::optional<SteadyClock::time_point>> sent_at;
  std::vector<std::uint16_t> seqs;
  std::vector<double> rtts;
  PingResult result;
  bool finished = false;
  SteadyClock::time_point last_deadline{};
};

Result<std::unique_ptr<MultiPinger>> MultiPinger::create() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
  bool raw = false;
  if (fd < 0) {
    const int dgram_errno = errno;
    fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
    raw = true;
    if (fd < 0) {
      return make_error(CommonErrc::kIo,
                        std::string("no ICMP socket: ") + std::strerror(dgram_errno) +
                            " (datagram; allow the group in net.ipv4.ping_group_range) and " +
                            std::strerror(errno) + " (raw; needs CAP_NET_RAW)");
    }
  }
  // Room for bursts of replies from thousands of targets.
  int size = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return std::unique_ptr<MultiPinger>(new MultiPinger(fd, raw));
}

MultiPinger::MultiPinger(int fd, bool raw) : fd_(fd), raw_(raw) {
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
  std::random_device rd;
  next_seq_ = static_cast<std::uint16_t>(rd());
  thread_ = std::thread([this] { loop(); });
}

MultiPinger::~MultiPinger() {
  stopping_ = true;
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int f : {fd_, wake_[0], wake_[1]}) {
    if (f >= 0) ::close(f);
  }
}

void MultiPinger::submit(const PingCheck& check, Done done) {
  ++in_flight_;
  {
    std::lock_guard lock(mu_);
    submitted_.emplace_back(check, std::move(done));
  }
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
}

void MultiPinger::start_probe(std::shared_ptr<Probe> p) {
  if (::inet_pton(AF_INET, p->check.address.c_str(), &p->to) != 1) {
    p->result.error = "not an IPv4 address: '" + p->check.address + "'";
    finish(p);
    return;
  }
  p->count = std::clamp(p->check.count, 1, 100);
  p->payload.resize(static_cast<std::size_t>(std::clamp(p->check.payload_bytes, 16, 1400)));
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (auto& b : p->payload) b = static_cast<std::uint8_t>(rng());
  p->sent_at.resize(static_cast<std::size_t>(p->count));
  p->seqs.resize(static_cast<std::size_t>(p->count));
  events_.push(Event{SteadyClock::now(), order_++, p});
}

void MultiPinger::send_next(const std::shared_ptr<Probe>& p) {
  const int i = p->next++;
  // A sequence number not in flight (65,536 of them; a wrap finds a free one).
  for (int tries = 0; tries < 65536 && by_seq_.count(next_seq_) != 0; ++tries) ++next_seq_;
  const std::uint16_t seq = next_seq_++;
  const auto request = icmp_echo::make_request(0, seq, p->payload);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = p->to;
  const auto n = ::sendto(fd_, request.data(), request.size(), 0,
                          reinterpret_cast<const sockaddr*>(&to), sizeof to);
  const auto now = SteadyClock::now();
  if (n == static_cast<ssize_t>(request.size())) {
    p->sent_at[static_cast<std::size_t>(i)] = now;
    p->seqs[static_cast<std::size_t>(i)] = seq;
    by_seq_[seq] = {p, i};
    ++p->result.sent;
    p->last_deadline = std::max(p->last_deadline, now + p->check.timeout);
  }
  if (p->next < p->count) {
    events_.push(Event{now + p->check.interval, order_++, p});
  } else {
    // Done sending: the check ends when the last reply is due.
    events_.push(Event{std::max(p->last_deadline, now), order_++, p});
  }
}

void MultiPinger::on_datagram(const std::uint8_t* data, std::size_t n, std::uint32_t from) {
  // The sequence number, to find the request; match_reply checks the rest.
  std::size_t off = 0;
  if (raw_) {
    if (n < 20) return;
    off = static_cast<std::size_t>(data[0] & 0x0f) * 4;
  }
  if (n < off + icmp_echo::kHeaderSize) return;
  const std::uint16_t seq = static_cast<std::uint16_t>((data[off + 6] << 8) | data[off + 7]);
  auto it = by_seq_.find(seq);
  if (it == by_seq_.end()) return;
  auto [p, i] = it->second;
  if (p->to.s_addr != from) return;
  auto& at = p->sent_at[static_cast<std::size_t>(i)];
  if (!at) return;
  const auto now = SteadyClock::now();
  if (now - *at > p->check.timeout) return;
  // On a datagram socket the kernel set the identifier and delivers only ours.
  const icmp_echo::Expected expected{0, false, seq, p->payload};
  if (icmp_echo::match_reply({data, n}, raw_, expected) != icmp_echo::Match::kOurs) return;
  p->rtts.push_back(std::chrono::duration<double, std::milli>(now - *at).count());
  at.reset();  // a duplicate counts once
  by_seq_.erase(it);
  if (p->next >= p->count && static_cast<int>(p->rtts.size()) == p->result.sent) finish(p);
}

void MultiPinger::finish(const std::shared_ptr<Probe>& p) {
  if (p->finished) return;
  p->finished = true;
  for (std::size_t i = 0; i < p->seqs.size(); ++i) {
    if (p->sent_at[i]) {
      auto it = by_seq_.find(p->seqs[i]);
      if (it != by_seq_.end() && it->second.first == p) by_seq_.erase(it);
    }
  }
  auto& r = p->result;
  r.received = static_cast<int>(p->rtts.size());
  if (r.error.empty()) {
    r.loss_percent = r.sent == 0 ? 100.0 : 100.0 * (r.sent - r.received) / r.sent;
    if (r.sent == 0) r.error = "no echo request could be sent";
  }
  if (!p->rtts.empty()) {
    r.rtt_min_ms = *std::min_element(p->rtts.begin(), p->rtts.end());
    r.rtt_max_ms = *std::max_element(p->rtts.begin(), p->rtts.end());
    double sum = 0;
    for (double v : p->rtts) sum += v;
    r.rtt_avg_ms = sum / static_cast<double>(p->rtts.size());
  }
  --in_flight_;
  if (p->done) p->done(std::move(r));
}

void MultiPinger::loop() {
  std::array<std::uint8_t, 2048> buf{};
  while (!stopping_) {
    {
      std::vector<std::pair<PingCheck, Done>> batch;
      {
        std::lock_guard lock(mu_);
        batch.swap(submitted_);
      }
      for (auto& [check, done] : batch) {
        auto p = std::make_shared<Probe>();
        p->check = std::move(check);
        p->done = std::move(done);
        start_probe(std::move(p));
      }
    }
    // Due events: the next send, or the end of a check.
    auto now = SteadyClock::now();
    while (!events_.empty() && events_.top().at <= now) {
      auto e = events_.top();
      events_.pop();
      if (e.probe->finished) continue;
      if (e.probe->next < e.probe->count) {
        send_next(e.probe);
      } else {
        finish(e.probe);
      }
      now = SteadyClock::now();
    }
    int wait_ms = 1000;
    if (!events_.empty()) {
      const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(events_.top().at - now);
      wait_ms = static_cast<int>(std::clamp<long long>(d.count() + 1, 0, 1000));
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, wake_[0] >= 0 ? 2 : 1, wait_ms) <= 0) continue;
    if (fds[1].revents & POLLIN) {
      char drain[256];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    if (fds[0].revents & POLLIN) {
      for (int k = 0; k < 256; ++k) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const auto n = ::recvfrom(fd_, buf.data(), buf.size(), MSG_DONTWAIT,
                                  reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0) break;
        on_datagram(buf.data(), static_cast<std::size_t>(n), from.sin_addr.s_addr);
      }
    }
  }
}

}  // namespace duet::monitors
