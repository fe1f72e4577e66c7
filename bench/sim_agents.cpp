#include "bench/sim_agents.h"

#include <algorithm>
#include <deque>

#include "duet/v1/monitoring.pb.h"

namespace duet::bench {

using duet::v1::AgentMessage;
using duet::v1::ManagerMessage;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

float ms_since(SimFleet::Steady::time_point t, SimFleet::Steady::time_point now) {
  return std::chrono::duration<float, std::milli>(now - t).count();
}

}  // namespace

struct SimFleet::Agent {
  int index = 0;
  std::string node;
  int items = 0;

  std::mutex mu;  // guards everything below
  struct Entry {
    std::uint64_t seq = 0;
    int item = 0;
    bool measured = false;
    Steady::time_point produced{};
    std::int64_t produced_ms = 0;
  };
  bool active = false;         // welcomed once: produces results from then on
  Session* session = nullptr;  // the open call, if any
  std::deque<Entry> outbox;    // produced, not acknowledged; sequence numbers contiguous
  std::uint64_t next_seq = 0;  // the last number given
  std::uint64_t acked = 0;
  std::uint64_t max_written = 0;  // the highest number ever written, by any session

  // Pops what `up_to` acknowledges; the measured latencies into `out`.
  long ack_locked(std::uint64_t up_to, Steady::time_point now, std::vector<float>& out,
                  long& measured) {
    long n = 0;
    while (!outbox.empty() && outbox.front().seq <= up_to) {
      if (outbox.front().measured) {
        out.push_back(ms_since(outbox.front().produced, now));
        ++measured;
      }
      outbox.pop_front();
      ++n;
    }
    acked = std::max(acked, up_to);
    return n;
  }
};

class SimFleet::Session final : public SimSession<Session, SimFleet, Agent> {
 public:
  using SimSession::SimSession;

  const char* version() const { return "agents_bench"; }
  void hello_locked(duet::v1::AgentHello&) {}
  void result_locked(const Agent::Entry& e, duet::v1::AgentResult& res) {
    duet::v1::MonitorResult r;
    r.set_monitor(owner_->o_.monitor_prefix + std::to_string(e.item));
    r.set_node(agent_->node);
    r.set_started_at_ms(e.produced_ms);
    r.set_duration_ms(3);
    r.set_ok(true);
    auto* m = r.add_metrics();
    m->set_name("value");
    m->set_value(static_cast<double>(e.seq % 100));
    res.set_kind("monitor");
    r.SerializeToString(res.mutable_payload());
  }
  void stats_locked() { owner_->stats_++; }
  std::chrono::milliseconds keepalive_after() const { return keepalive_ms(); }
  long ack_locked(std::uint64_t up_to, Steady::time_point now) {
    return agent_->ack_locked(up_to, now, latencies_, measured_);
  }
  bool first_welcome_locked() {
    if (agent_->active) return false;
    agent_->active = true;  // produces results from now on
    return true;
  }
  void on_message(const ManagerMessage&, Steady::time_point) {}  // assignments: nothing to run
  void after_read(const ManagerMessage& in, long, bool first_welcome, Steady::time_point now) {
    if (in.msg_case() == ManagerMessage::kAck) owner_->ack_msgs_++;
    if (measured_ > 0) owner_->acked_measured_ += measured_;
    if (!latencies_.empty()) owner_->record_latencies(latencies_);
    latencies_.clear();
    measured_ = 0;
    if (first_welcome) {
      const long n = ++owner_->welcomed_;
      if (n == owner_->o_.agents) {
        owner_->all_welcomed_ns_ =
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - owner_->started_).count();
      }
    }
  }

 private:
  // Filled by ack_locked, recorded by after_read (one read at a time).
  std::vector<float> latencies_;
  long measured_ = 0;
};

SimFleet::SimFleet(SimFleetOptions options) : o_(std::move(options)) {
  const long n = std::max(1, o_.agents);
  max_items_ = static_cast<int>(std::max(1L, (o_.items_per_minute + n - 1) / n));
  for (int c = 0; c < std::max(1, o_.channels); ++c) {
    grpc::ChannelArguments args;
    // A connection of its own per channel, not one shared subchannel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("duet.bench.channel", c);
    // As the agent sets them (agent/agent.cpp).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    channels_.push_back(
        grpc::CreateCustomChannel(o_.target, grpc::InsecureChannelCredentials(), args));
    stubs_.push_back(duet::v1::Agent::NewStub(channels_.back()));
  }
  for (int i = 0; i < o_.agents; ++i) {
    auto a = std::make_unique<Agent>();
    a->index = i;
    a->node = "sim-" + std::to_string(i);
    a->items = static_cast<int>(o_.items_per_minute / n + (i < o_.items_per_minute % n ? 1 : 0));
    agents_.push_back(std::move(a));
  }
}

SimFleet::~SimFleet() { stop(); }

void SimFleet::start() {
  started_ = Steady::now();
  connector_ = std::thread([this] { connector_loop(); });
  scheduler_ = std::thread([this] { scheduler_loop(); });
}

void SimFleet::stop() {
  stopping_ = true;
  if (connector_.joinable()) connector_.join();
  if (scheduler_.joinable()) scheduler_.join();
}

bool SimFleet::wait_closed(std::chrono::milliseconds limit) const {
  const auto end = Steady::now() + limit;
  while (open_ > 0 && Steady::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return open_ == 0;
}

void SimFleet::open_session(int index) {
  Session::open(this, agents_[static_cast<std::size_t>(index)].get(),
                stubs_[static_cast<std::size_t>(index) % stubs_.size()].get());
}

void SimFleet::session_ended(int index, bool broken) {
  --open_;
  if (!broken) return;
  ++broken_;
  // Reopened after about a second, spread so that a broken connection's
  // agents do not all come back at once.
  reopen_.add(index, Steady::now() + std::chrono::milliseconds(1000 + (index * 7919) % 1000));
}

void SimFleet::connector_loop() {
  auto reopen_due = [this] {
    for (int i : reopen_.take_due(Steady::now())) {
      if (!stopping_) open_session(i);
    }
  };
  const double rate = std::max(1.0, o_.connect_rate);
  for (int i = 0; i < o_.agents && !stopping_; ++i) {
    const auto due = started_ + std::chrono::duration_cast<Steady::duration>(
                                    std::chrono::duration<double>(static_cast<double>(i) / rate));
    while (!stopping_ && Steady::now() < due) {
      std::this_thread::sleep_until(std::min(due, Steady::now() + std::chrono::milliseconds(20)));
    }
    if (stopping_) break;
    open_session(i);
    if (i % 64 == 0) reopen_due();
  }
  while (!stopping_) {
    reopen_due();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void SimFleet::produce(int index, int item) {
  Agent& a = *agents_[static_cast<std::size_t>(index)];
  const auto now = Steady::now();
  std::lock_guard lock(a.mu);
  if (!a.active) return;  // not welcomed yet: this agent has not started
  Agent::Entry e;
  e.seq = ++a.next_seq;
  e.item = item;
  e.measured = measuring_;
  e.produced = now;
  e.produced_ms = wall_ms();
  a.outbox.push_back(e);
  ++produced_;
  if (e.measured) ++produced_measured_;
  const std::uint64_t written = a.session != nullptr ? a.session->written_locked() : a.acked;
  const long waiting = static_cast<long>(a.next_seq - std::min(a.next_seq, written));
  long seen = queue_max_.load();
  while (waiting > seen && !queue_max_.compare_exchange_weak(seen, waiting)) {
  }
  if (a.session != nullptr) a.session->pump_locked();
}

void SimFleet::keepalive_sweep() {
  const auto now = Steady::now();
  for (auto& a : agents_) {
    std::lock_guard lock(a->mu);
    if (a->session != nullptr) a->session->keepalive_locked(now);
  }
}

void SimFleet::scheduler_loop() {
  // Slot s of a minute belongs to agent s % N, item s / N (when it has that
  // many): each agent's items spread over the minute, the fleet's load even.
  const long n = static_cast<long>(agents_.size());
  const long slots = n * max_items_;
  if (slots == 0) return;
  const double slot_s = 60.0 / static_cast<double>(slots);
  long s = 0;
  auto next_sweep = started_ + std::chrono::seconds(1);
  auto slot_time = [&](long k) {
    return started_ + std::chrono::duration_cast<Steady::duration>(
                          std::chrono::duration<double>(slot_s * static_cast<double>(k)));
  };
  while (!stopping_) {
    const auto now = Steady::now();
    while (!stopping_ && slot_time(s) <= now) {
      const long within = s % slots;
      const int item = static_cast<int>(within / n);
      const int index = static_cast<int>(within % n);
      if (item < agents_[static_cast<std::size_t>(index)]->items) produce(index, item);
      ++s;
    }
    if (now >= next_sweep) {
      keepalive_sweep();
      next_sweep += std::chrono::seconds(1);
    }
    std::this_thread::sleep_until(
        std::min({slot_time(s), next_sweep, Steady::now() + std::chrono::milliseconds(5)}));
  }
}

void SimFleet::record_latencies(const std::vector<float>& ms) {
  std::lock_guard lock(latency_mu_);
  latencies_.insert(latencies_.end(), ms.begin(), ms.end());
}

void SimFleet::note_error(const std::string& what) {
  std::lock_guard lock(error_mu_);
  if (errors_.size() < 10) errors_.push_back(what);
}

SimFleet::Counters SimFleet::counters() const {
  Counters c;
  c.welcomed_agents = welcomed_;
  c.open_sessions = open_;
  c.produced = produced_;
  c.written = written_;
  c.acked = acked_;
  c.produced_measured = produced_measured_;
  c.acked_measured = acked_measured_;
  c.resent = resent_;
  c.sessions_opened = opened_;
  c.sessions_broken = broken_;
  c.not_master = not_master_;
  c.stats_sent = stats_;
  c.acks_received = ack_msgs_;
  c.write_queue_max = queue_max_;
  return c;
}

std::vector<float> SimFleet::latencies_ms() const {
  std::lock_guard lock(latency_mu_);
  return latencies_;
}

double SimFleet::all_welcomed_after_s() const {
  const std::int64_t ns = all_welcomed_ns_;
  return ns < 0 ? -1.0 : static_cast<double>(ns) / 1e9;
}

std::vector<std::string> SimFleet::errors() const {
  std::lock_guard lock(error_mu_);
  return errors_;
}

}  // namespace duet::bench
