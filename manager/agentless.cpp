#include "manager/agentless.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <random>

namespace duet::manager {

struct AgentlessRunner::Target {
  AgentHub::Target spec;
  std::string signature;
  std::unique_ptr<monitors::Check> check;  // null for a ping (the pinger runs it)
  std::optional<TimerId> timer;
  TimePoint due{};  // when the next run is due; runs stay on this grid
  bool running = false;
  bool cancelled = false;
};

namespace {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

AgentlessRunner::AgentlessRunner(boost::asio::any_io_executor strand, Clock& clock, AgentHub& hub,
                                 int workers)
    : strand_(std::move(strand)),
      clock_(clock),
      hub_(hub),
      pool_(std::make_unique<boost::asio::thread_pool>(static_cast<std::size_t>(workers))) {}

AgentlessRunner::~AgentlessRunner() {
  stop();
  *alive_ = false;
  pool_->join();
  pinger_.reset();
}

void AgentlessRunner::stop() {
  for (auto& [key, t] : targets_) {
    t->cancelled = true;
    if (t->timer) clock_.cancel(*t->timer);
  }
  targets_.clear();
  counters_.targets = 0;
}

void AgentlessRunner::update() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::map<std::string, std::shared_ptr<Target>> next;
  for (auto& spec : hub_.manager_targets()) {
    const std::string key = spec.def.name() + '\x1f' + spec.node;
    std::string sig = monitors::canonical_bytes(spec.def) + '\x1f' + spec.address;
    auto it = targets_.find(key);
    if (it != targets_.end() && it->second->signature == sig) {
      next[key] = it->second;
      targets_.erase(it);
      continue;
    }
    auto t = std::make_shared<Target>();
    t->spec = std::move(spec);
    t->signature = std::move(sig);
    if (t->spec.def.kind() != "ping") {
      monitors::CheckContext ctx;
      ctx.node = t->spec.node;
      ctx.node_address = t->spec.address;
      auto check = monitors::make_check(t->spec.def, ctx);
      if (!check.ok()) {
        spdlog::error("monitor {} on {}: cannot run it: {}", t->spec.def.name(), t->spec.node,
                      check.error().message);
        continue;
      }
      t->check = std::move(*check);
    }
    const auto every = monitors::run_every(t->spec.def);
    t->due = clock_.now() + std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(
                                0, every.count() - 1)(rng));
    schedule(t);
    next[key] = std::move(t);
  }
  for (auto& [key, t] : targets_) {  // no longer targeted
    t->cancelled = true;
    if (t->timer) clock_.cancel(*t->timer);
  }
  targets_ = std::move(next);
  counters_.targets = targets_.size();
}

void AgentlessRunner::schedule(const std::shared_ptr<Target>& t) {
  t->timer = clock_.call_at(t->due, [this, t] {
    t->timer.reset();
    if (t->cancelled) return;
    // The next run is one interval after this one was due, not after its
    // timer fired: a timer that fires late (a busy strand) must not push
    // every later run back. Counted from the firing, the period was the
    // interval plus the lateness, and a target could miss a whole interval.
    // Intervals missed altogether (a stalled process) are skipped, not caught up.
    const auto every = std::chrono::duration_cast<Duration>(monitors::run_every(t->spec.def));
    t->due += every;
    if (const auto now = clock_.now(); t->due <= now) {
      t->due += ((now - t->due) / every + 1) * every;
    }
    schedule(t);
    run(t);
  });
}

void AgentlessRunner::run(const std::shared_ptr<Target>& t) {
  if (t->running) {
    ++counters_.skipped;
    return;
  }
  t->running = true;
  ++counters_.runs;
  const std::int64_t started = unix_ms_now();
  auto back = [this, t, started, alive = alive_](std::vector<monitors::CheckOutput> outputs,
                                                 std::uint32_t took) {
    boost::asio::post(strand_, [this, t, outputs = std::move(outputs), started, took, alive] {
      if (!*alive) return;
      deliver(t, outputs, started, took);
    });
  };
  if (t->spec.def.kind() == "ping") {
    if (!pinger_ && !pinger_failed_) {
      auto p = monitors::MultiPinger::create();
      if (p.ok()) {
        pinger_ = std::move(*p);
      } else {
        pinger_failed_ = true;
        spdlog::error("agentless ping: {}", p.error().to_string());
      }
    }
    monitors::PingCheck c;
    c.address = t->spec.address;
    const auto& params = t->spec.def.params();
    auto num = [&](const char* key, long long fallback) {
      auto it = params.find(key);
      if (it == params.end()) return fallback;
      try {
        return std::stoll(it->second);
      } catch (const std::exception&) {
        return fallback;
      }
    };
    if (auto it = params.find("host"); it != params.end() && !it->second.empty()) {
      c.address = it->second;
    }
    c.count = static_cast<int>(num("count", 3));
    c.interval = std::chrono::milliseconds(num("interval_ms", 1000));
    c.timeout = std::min<std::chrono::milliseconds>(
        std::chrono::seconds(t->spec.def.timeout_s() == 0 ? 10 : t->spec.def.timeout_s()),
        std::chrono::milliseconds(2000));
    if (!pinger_) {
      monitors::CheckOutput o;
      o.measurement.ok = false;
      o.measurement.error = "no ICMP socket on the manager";
      back({o}, 0);
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    pinger_->submit(c, [back, t0](monitors::PingResult r) {
      monitors::CheckOutput o;
      if (!r.ran()) {
        o.measurement.ok = false;
        o.measurement.error = r.error;
      } else {
        o.measurement.metrics.push_back({"loss_percent", "", r.loss_percent});
        if (r.received > 0) {
          o.measurement.metrics.push_back({"rtt_avg_ms", "", r.rtt_avg_ms});
          o.measurement.metrics.push_back({"rtt_max_ms", "", r.rtt_max_ms});
        }
        o.measurement.text = std::to_string(r.received) + "/" + std::to_string(r.sent) + " replies";
      }
      back({o}, static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - t0)
                                               .count()));
    });
    return;
  }
  boost::asio::post(*pool_, [t, back] {
    const auto t0 = std::chrono::steady_clock::now();
    auto outputs = t->check->run();
    back(std::move(outputs),
         static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - t0)
                                        .count()));
  });
}

void AgentlessRunner::deliver(const std::shared_ptr<Target>& t,
                              std::vector<monitors::CheckOutput> outputs, std::int64_t started_ms,
                              std::uint32_t took_ms) {
  t->running = false;
  if (t->cancelled) return;
  for (const auto& o : outputs) {
    hub_.on_local_result(
        monitors::to_result(o.measurement, t->spec.def.name(), t->spec.node, started_ms, took_ms));
  }
}

}  // namespace duet::manager
