#include "witness/witness_server.h"

#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstring>

#include "common/grpc_server.h"
#include "common/tls.h"
#include "duet/version.h"

namespace duet::witness {
namespace {

// In-flight RPCs get this long at SIGTERM; each is one short table lookup.
constexpr auto kShutdownGrace = std::chrono::seconds(2);

std::string describe_pairs(const ha::EpochState& state) {
  if (state.pairs.empty()) return "none";
  std::string out;
  for (const auto& [pair, pe] : state.pairs) {
    if (!out.empty()) out += ", ";
    out += pair + " epoch " + std::to_string(pe.epoch) + " (" + pe.node + ")";
  }
  return out;
}

}  // namespace

WitnessServer::WitnessServer(WitnessConfig config)
    : config_(std::move(config)),
      work_(io_.get_executor()),
      clock_(io_.get_executor()),
      signals_(io_, SIGINT, SIGTERM),
      state_file_(config_.state) {}

WitnessServer::~WitnessServer() {
  if (drain_thread_.joinable()) drain_thread_.join();
}

int WitnessServer::run() {
  spdlog::info("duet-witness {} starting: listen {}, state file {}, max lease {} ms", DUET_VERSION,
               config_.listen.to_string(), config_.state, config_.max_lease_ms);
  if (config_.tls.insecure) {
    spdlog::warn(
        "tls: insecure: true — the witness serves WITHOUT TLS or client certificates; anyone who "
        "can reach it can take a pair's lease. Use this only for a local demo");
  }
  if (!open_state() || !start_server()) {
    work_.reset();
    return 1;
  }
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("received signal {} ({}); shutting down", signo, strsignal(signo));
    stop(0);
  });
  io_.run();
  if (drain_thread_.joinable()) drain_thread_.join();
  return exit_code_;
}

bool WitnessServer::open_state() {
  auto loaded = state_file_.load();
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.error().to_string());
    spdlog::error("refusing to start: the state file needs an operator");
    return false;
  }
  ha::EpochState state;
  if (loaded->has_value()) {
    state = std::move(**loaded);
    spdlog::info("state file {}: highest epochs: {}", config_.state, describe_pairs(state));
  } else {
    spdlog::warn("state file {} does not exist: first start, no epoch granted yet", config_.state);
  }

  table_ = std::make_unique<ha::LeaseTable>(
      std::move(state), config_.max_lease_ms, clock_.now(),
      [this](const ha::EpochState& next) { return state_file_.save(next); });
  // Written back at once: proves the file can be written before anything is
  // granted, and records this run's lease bound for the next start.
  if (auto s = state_file_.save(table_->state()); !s.ok()) {
    spdlog::error("{}", s.error().to_string());
    spdlog::error("refusing to start: the witness cannot record epochs");
    return false;
  }
  const auto quiet_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(table_->quiet_until() - clock_.now())
          .count();
  spdlog::info(
      "quiet period: no lease granted for {} ms, until any lease granted before this "
      "start has expired",
      std::max<std::int64_t>(quiet_ms, 0));
  quiet_timer_ = clock_.call_at(table_->quiet_until(), [this] {
    quiet_timer_.reset();
    spdlog::info("quiet period over: granting leases");
  });
  return true;
}

bool WitnessServer::start_server() {
  auto policy = CallerPolicy::for_peers(config_.tls);
  if (!policy.ok()) {
    spdlog::critical("tls: {}", policy.error().to_string());
    return false;
  }
  service_ =
      std::make_unique<WitnessService>(io_.get_executor(), clock_, *table_, std::move(*policy));
  server_ = start_grpc_server(config_.listen, config_.tls, {service_.get()});
  return server_ != nullptr;
}

void WitnessServer::stop(int exit_code) {
  if (stopping_) return;
  stopping_ = true;
  exit_code_ = exit_code;
  signals_.cancel();
  if (quiet_timer_) clock_.cancel(*quiet_timer_);
  // Drain on another thread: in-flight handlers need this strand to finish.
  const WallTime deadline = clock_.wall_now() + kShutdownGrace;
  drain_thread_ = std::thread([this, deadline] {
    if (server_) server_->Shutdown(deadline);
    boost::asio::post(io_, [this] {
      spdlog::info("stopped");
      work_.reset();
      io_.stop();
    });
  });
}

}  // namespace duet::witness
