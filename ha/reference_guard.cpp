#include "ha/reference_guard.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/icmp.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <random>
#include <system_error>
#include <utility>

#include "common/result.h"

namespace duet::ha {

namespace asio = boost::asio;
using asio::ip::icmp;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// From <linux/icmp.h>, which cannot be included beside <net/if.h> (Asio
// includes the latter): the raw-socket option that drops ICMP types by mask.
constexpr int kIcmpFilterOption = 1;  // ICMP_FILTER, level SOL_RAW
struct IcmpFilter {
  std::uint32_t data;  // bit t set: drop type t
};
constexpr std::uint8_t kIcmpEchoReplyType = 0;

constexpr std::array<std::uint8_t, 8> kPayloadTag = {'d', 'u', 'e', 't', '-', 'r', 'e', 'f'};
constexpr Duration kMalformedLogEvery = std::chrono::minutes(1);

// One target in one round. Shared by the round and the Asio handlers of its
// I/O, so a handler that runs after the round ended (a cancelled operation)
// finds it still alive, sees `done` and returns.
struct Probe {
  explicit Probe(std::size_t i) : index(i) {}

  std::size_t index;  // into the guard's targets
  TimePoint started{};
  bool done = false;
  bool ok = false;
  Duration took{};
  std::string why;  // why it failed: "refused", "timeout", ...

  std::optional<tcp::resolver> tcp_resolver;
  std::optional<tcp::socket> tcp_socket;

  std::optional<icmp::resolver> icmp_resolver;
  std::optional<icmp::socket> icmp_socket;
  bool icmp_raw = false;
  icmp::endpoint icmp_target;
  icmp::endpoint icmp_from;
  std::vector<std::uint8_t> icmp_request;
  icmp_echo::Expected icmp_expected;
  std::array<std::uint8_t, 2048> icmp_buffer{};

  void cancel_io() {
    error_code ignored;
    if (tcp_resolver) tcp_resolver->cancel();
    if (tcp_socket) tcp_socket->close(ignored);
    if (icmp_resolver) icmp_resolver->cancel();
    if (icmp_socket) icmp_socket->close(ignored);
  }
};

struct Round {
  std::uint64_t number = 0;
  TimePoint started{};
  std::vector<std::shared_ptr<Probe>> probes;
  std::size_t pending = 0;  // probes not done, plus one while they are being launched
};

std::string failure_text(const error_code& ec) {
  if (ec == asio::error::connection_refused) return "refused";
  if (ec == asio::error::timed_out) return "timeout";
  if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable) {
    return "unreachable";
  }
  return ec.message();
}

std::string format_ms(Duration d) {
  std::array<char, 32> text{};
  const double ms = static_cast<double>(d.count()) / 1e6;
  std::snprintf(text.data(), text.size(), "%.1f ms", ms);
  return text.data();
}

struct IcmpSocket {
  int fd = -1;
  bool raw = false;
};

// An unprivileged ICMP datagram socket, or a raw one when that is not
// permitted (net.ipv4.ping_group_range excludes us, or the kernel has none).
Result<IcmpSocket> open_icmp_socket() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd >= 0) return IcmpSocket{fd, false};
  const int dgram_errno = errno;
  if (dgram_errno != EACCES && dgram_errno != EPERM && dgram_errno != EPROTONOSUPPORT &&
      dgram_errno != ESOCKTNOSUPPORT) {
    const std::error_code ec(dgram_errno, std::system_category());
    return Error{ec, "no icmp socket (" + ec.message() + ")"};
  }
  fd = ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) {
    const std::error_code ec(errno, std::system_category());
    return Error{ec, "no icmp socket (" + ec.message() + ")"};
  }
  // A raw socket sees every ICMP message the host receives; let only echo
  // replies through. Best effort: without the filter, match_reply sorts them.
  IcmpFilter filter{~(1U << kIcmpEchoReplyType)};
  (void)::setsockopt(fd, SOL_RAW, kIcmpFilterOption, &filter, sizeof filter);
  return IcmpSocket{fd, true};
}

}  // namespace

// ---- Engine: the rounds of one start()..stop() ----

class ReferenceGuard::Engine : public std::enable_shared_from_this<ReferenceGuard::Engine> {
 public:
  Engine(asio::any_io_executor executor, const Clock& clock, std::vector<ReferenceTarget> targets,
         Duration interval, Duration probe_timeout, Duration validity,
         std::shared_ptr<ReferenceGuardStats> stats, Listener listener)
      : executor_(std::move(executor)),
        clock_(clock),
        targets_(std::move(targets)),
        interval_(interval),
        probe_timeout_(probe_timeout),
        validity_(validity),
        stats_(std::move(stats)),
        listener_(std::move(listener)),
        schedule_(executor_),
        deadline_(executor_) {
    std::random_device seed;
    rng_.seed((std::uint64_t{seed()} << 32) | seed());
    identifier_ = static_cast<std::uint16_t>(rng_());
    next_sequence_ = static_cast<std::uint16_t>(rng_());
  }

  void start() { schedule_round(Duration::zero()); }

  // Verdicts from the current round on get the new validity. Between
  // rounds, a shorter interval brings the next round forward (a verdict
  // must not wait a whole old interval once the timing has shrunk).
  void set_timing(Duration interval, Duration validity) {
    const bool sooner = interval < interval_;
    interval_ = interval;
    validity_ = validity;
    if (sooner && !round_ && !stopped_ && last_started_) {
      const TimePoint next = *last_started_ + interval_;
      const TimePoint now = clock_.now();
      schedule_round(next > now ? next - now : Duration::zero());
    }
  }

  void stop() {
    stopped_ = true;
    listener_ = nullptr;
    schedule_.cancel();
    deadline_.cancel();
    if (round_) {
      for (auto& p : round_->probes) {
        p->done = true;
        p->cancel_io();
      }
      round_.reset();
    }
  }

 private:
  // A handler for `p` may act only while the guard runs and `p` is open.
  bool live(const std::shared_ptr<Probe>& p) const { return !stopped_ && !p->done; }

  void schedule_round(Duration delay) {
    // Re-arming cancels a pending wait, but not one whose handler is already
    // queued: only the latest schedule may begin a round.
    const std::uint64_t gen = ++schedule_gen_;
    schedule_.expires_after(delay);
    schedule_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
      if (ec || self->stopped_ || gen != self->schedule_gen_ || self->round_) return;
      self->begin_round();
    });
  }

  void begin_round() {
    assert(!round_);
    round_ = std::make_shared<Round>();
    round_->number = ++rounds_begun_;
    round_->started = clock_.now();
    last_started_ = round_->started;
    round_->pending = targets_.size() + 1;  // + 1: no round end while probes are launched

    for (std::size_t i = 0; i < targets_.size(); ++i) {
      auto p = std::make_shared<Probe>(i);
      round_->probes.push_back(p);
      p->started = clock_.now();
      if (targets_[i].kind == ReferenceTarget::Kind::kTcp) {
        probe_tcp(p);
      } else {
        probe_icmp(p);
      }
    }
    // Armed after every probe started: each gets at least probe_timeout.
    deadline_.expires_after(probe_timeout_);
    deadline_.async_wait([self = shared_from_this(), n = round_->number](const error_code& ec) {
      if (ec || self->stopped_ || !self->round_ || self->round_->number != n) return;
      self->on_deadline();
    });
    if (--round_->pending == 0) end_round();
  }

  // ---- TCP ----

  void probe_tcp(const std::shared_ptr<Probe>& p) {
    const HostPort& target = targets_[p->index].tcp;
    p->tcp_socket.emplace(executor_);
    error_code ec;
    const auto address = asio::ip::make_address(target.host, ec);
    if (!ec) {
      p->tcp_socket->async_connect(
          tcp::endpoint(address, target.port),
          [self = shared_from_this(), p](const error_code& ec) { self->on_connected(p, ec); });
      return;
    }
    p->tcp_resolver.emplace(executor_);
    p->tcp_resolver->async_resolve(
        target.host, std::to_string(target.port), tcp::resolver::numeric_service,
        [self = shared_from_this(), p](const error_code& ec,
                                       const tcp::resolver::results_type& results) {
          if (!self->live(p)) return;
          if (ec) {
            self->settle(p, false, "unresolved (" + ec.message() + ")");
            return;
          }
          asio::async_connect(
              *p->tcp_socket, results,
              [self, p](const error_code& ec, const tcp::endpoint&) { self->on_connected(p, ec); });
        });
  }

  void on_connected(const std::shared_ptr<Probe>& p, const error_code& ec) {
    if (!live(p)) return;
    if (ec) {
      settle(p, false, failure_text(ec));
    } else {
      settle(p, true, {});  // settle() closes the connection
    }
  }

  // ---- ICMP ----

  void probe_icmp(const std::shared_ptr<Probe>& p) {
    const std::string& host = targets_[p->index].host;
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (!ec) {
      if (!address.is_v4()) {
        settle(p, false, "icmp is IPv4 only");
        return;
      }
      p->icmp_target = icmp::endpoint(address, 0);
      send_icmp(p);
      return;
    }
    p->icmp_resolver.emplace(executor_);
    p->icmp_resolver->async_resolve(
        icmp::v4(), host, "",
        [self = shared_from_this(), p](const error_code& ec,
                                       const icmp::resolver::results_type& results) {
          if (!self->live(p)) return;
          if (ec || results.empty()) {
            self->settle(p, false, "unresolved (" + (ec ? ec.message() : "no IPv4 address") + ")");
            return;
          }
          p->icmp_target = icmp::endpoint(results.begin()->endpoint().address(), 0);
          self->send_icmp(p);
        });
  }

  void send_icmp(const std::shared_ptr<Probe>& p) {
    auto opened = open_icmp_socket();
    if (!opened.ok()) {
      settle(p, false, opened.error().message);
      return;
    }
    p->icmp_socket.emplace(executor_);
    error_code ec;
    p->icmp_socket->assign(icmp::v4(), opened->fd, ec);
    if (ec) {
      ::close(opened->fd);
      settle(p, false, "icmp socket: " + ec.message());
      return;
    }
    p->icmp_raw = opened->raw;
    ++(p->icmp_raw ? stats_->icmp_raw_probes : stats_->icmp_datagram_probes);

    std::vector<std::uint8_t> payload(8);
    const std::uint64_t nonce = rng_();
    for (std::size_t i = 0; i < 8; ++i) payload[i] = static_cast<std::uint8_t>(nonce >> (8 * i));
    payload.insert(payload.end(), kPayloadTag.begin(), kPayloadTag.end());

    const std::uint16_t sequence = next_sequence_++;
    // A datagram socket puts its own identifier in (and filters replies by
    // it); a raw socket sends ours as is.
    p->icmp_request = icmp_echo::make_request(p->icmp_raw ? identifier_ : 0, sequence, payload);
    p->icmp_expected = icmp_echo::Expected{identifier_, p->icmp_raw, sequence, std::move(payload)};

    p->icmp_socket->async_send_to(
        asio::buffer(p->icmp_request), p->icmp_target,
        [self = shared_from_this(), p](const error_code& ec, std::size_t) {
          if (!self->live(p)) return;
          if (ec) {
            self->settle(p, false, failure_text(ec));
            return;
          }
          self->receive_icmp(p);
        });
  }

  void receive_icmp(const std::shared_ptr<Probe>& p) {
    p->icmp_socket->async_receive_from(
        asio::buffer(p->icmp_buffer), p->icmp_from,
        [self = shared_from_this(), p](const error_code& ec, std::size_t size) {
          if (!self->live(p)) return;
          if (ec) {
            self->settle(p, false, failure_text(ec));
            return;
          }
          self->on_icmp_datagram(p, size);
        });
  }

  void on_icmp_datagram(const std::shared_ptr<Probe>& p, std::size_t size) {
    const std::span<const std::uint8_t> datagram(p->icmp_buffer.data(), size);
    if (p->icmp_from.address() != p->icmp_target.address()) {
      ++stats_->icmp_ignored;
    } else {
      switch (icmp_echo::match_reply(datagram, p->icmp_raw, p->icmp_expected)) {
        case icmp_echo::Match::kOurs:
          settle(p, true, {});
          return;
        case icmp_echo::Match::kNotOurs:
          ++stats_->icmp_ignored;
          break;
        case icmp_echo::Match::kMalformed:
          ++stats_->icmp_malformed;
          log_malformed();
          break;
      }
    }
    receive_icmp(p);  // keep waiting for ours until the deadline
  }

  void log_malformed() {
    const TimePoint now = clock_.now();
    if (last_malformed_log_ && now - *last_malformed_log_ < kMalformedLogEvery) return;
    last_malformed_log_ = now;
    spdlog::warn("reference guard: ignored a malformed ICMP datagram ({} so far)",
                 stats_->icmp_malformed);
  }

  // ---- Round end ----

  // Records the outcome of `p` (a probe of the current round, not yet done).
  void settle(const std::shared_ptr<Probe>& p, bool ok, std::string why) {
    assert(round_ && p->index < round_->probes.size() && round_->probes[p->index] == p);
    p->done = true;
    p->ok = ok;
    p->why = std::move(why);
    p->took = clock_.now() - p->started;
    p->cancel_io();
    if (--round_->pending == 0) end_round();
  }

  void on_deadline() {
    const TimePoint now = clock_.now();
    for (auto& p : round_->probes) {
      if (p->done) continue;
      p->done = true;
      p->why = "timeout";
      p->took = now - p->started;
      p->cancel_io();
    }
    // Probes not launched yet cannot exist: launching is synchronous.
    round_->pending = 0;
    end_round();
  }

  void end_round() {
    const std::shared_ptr<Round> round = std::move(round_);
    round_.reset();
    deadline_.cancel();

    GuardVerdict verdict;
    verdict.valid_until = round->started;
    std::string detail;
    for (const auto& p : round->probes) {
      if (!detail.empty()) detail += "; ";
      detail += targets_[p->index].to_string();
      if (p->ok) {
        detail += " ok " + format_ms(p->took);
        const TimePoint until = p->started + validity_;
        if (!verdict.ok || until > verdict.valid_until) verdict.valid_until = until;
        verdict.ok = true;
      } else {
        detail += " " + p->why;
      }
    }
    verdict.detail = detail.empty() ? "no reference targets" : std::move(detail);
    ++stats_->rounds;

    // A copy: the listener may stop (even destroy) the guard from inside.
    const Listener listener = listener_;
    if (listener) listener(verdict);
    if (stopped_) return;

    const TimePoint next = round->started + interval_;
    const TimePoint now = clock_.now();
    schedule_round(next > now ? next - now : Duration::zero());
  }

  asio::any_io_executor executor_;
  const Clock& clock_;
  const std::vector<ReferenceTarget> targets_;
  Duration interval_;
  const Duration probe_timeout_;
  Duration validity_;
  const std::shared_ptr<ReferenceGuardStats> stats_;
  Listener listener_;

  asio::steady_timer schedule_;   // the next round's start
  asio::steady_timer deadline_;   // the current round's probe_timeout
  std::shared_ptr<Round> round_;  // null between rounds
  std::optional<TimePoint> last_started_;
  std::uint64_t schedule_gen_ = 0;
  std::uint64_t rounds_begun_ = 0;
  bool stopped_ = false;

  std::mt19937_64 rng_;
  std::uint16_t identifier_ = 0;  // ICMP identifier on raw sockets
  std::uint16_t next_sequence_ = 0;
  std::optional<TimePoint> last_malformed_log_;
};

// ---- ReferenceGuard ----

ReferenceGuard::ReferenceGuard(asio::any_io_executor executor, const Clock& clock,
                               std::vector<ReferenceTarget> targets, Duration interval,
                               Duration probe_timeout, Duration validity)
    : executor_(std::move(executor)),
      clock_(clock),
      targets_(std::move(targets)),
      interval_(interval),
      probe_timeout_(probe_timeout),
      validity_(validity),
      stats_(std::make_shared<ReferenceGuardStats>()) {
  assert(interval_ > Duration::zero());
  assert(probe_timeout_ > Duration::zero());
  assert(validity_ > Duration::zero());
}

ReferenceGuard::~ReferenceGuard() { stop(); }

void ReferenceGuard::start(Listener listener) {
  assert(!engine_ && "ReferenceGuard::start() while started");
  stop();
  engine_ = std::make_shared<Engine>(executor_, clock_, targets_, interval_, probe_timeout_,
                                     validity_, stats_, std::move(listener));
  engine_->start();
}

void ReferenceGuard::stop() {
  if (!engine_) return;
  // Released before stopping: a listener that destroys the guard from inside
  // its call finds engine_ already empty.
  const std::shared_ptr<Engine> engine = std::move(engine_);
  engine_.reset();
  engine->stop();
}

void ReferenceGuard::want_lease(std::uint64_t /*epoch*/) {}

void ReferenceGuard::set_timing(Duration interval, Duration timeout) {
  assert(interval > Duration::zero() && timeout > Duration::zero());
  interval_ = interval;
  validity_ = timeout;
  if (engine_) engine_->set_timing(interval_, validity_);
}

std::string ReferenceGuard::describe() const {
  std::string text = "reference ";
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (i > 0) text += ", ";
    text += targets_[i].to_string();
  }
  return text;
}

}  // namespace duet::ha
