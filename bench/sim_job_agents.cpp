#include "bench/sim_job_agents.h"

#include <algorithm>
#include <deque>
#include <random>
#include <unordered_map>


namespace duet::bench {

using duet::v1::AgentMessage;
using duet::v1::ManagerMessage;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct SimJobAgents::Agent {
  int index = 0;
  std::string node;
  std::uint64_t outbox_identity = 0;

  std::mutex mu;  // guards everything below
  struct Entry {
    std::uint64_t seq = 0;
    std::size_t run = 0;  // index into runs
    std::string payload;  // a serialized JobRunResult
    std::int64_t produced_ms = 0;
  };
  bool welcomed_once = false;
  Session* session = nullptr;  // the open call, if any
  std::deque<Entry> outbox;    // produced, not acknowledged; sequence numbers contiguous
  std::uint64_t next_seq = 0;  // the last number given
  std::uint64_t acked = 0;
  std::uint64_t max_written = 0;  // the highest number ever written, by any session
  std::vector<Run> runs;
  std::unordered_map<std::string, std::size_t> by_run_id;

  // Pops what `up_to` acknowledges; how many.
  long ack_locked(std::uint64_t up_to, Steady::time_point now) {
    long n = 0;
    while (!outbox.empty() && outbox.front().seq <= up_to) {
      runs[outbox.front().run].acked = now;
      outbox.pop_front();
      ++n;
    }
    acked = std::max(acked, up_to);
    return n;
  }

  // A JobStart: a new run with its end result in the outbox; false when the
  // run id is known already.
  bool take_locked(const duet::v1::JobStart& start, Steady::time_point now) {
    if (by_run_id.count(start.run_id()) != 0) return false;
    Run r;
    r.run_id = start.run_id();
    r.session = start.session();
    r.unit = start.unit();
    r.agent = index;
    r.received = now;
    by_run_id.emplace(r.run_id, runs.size());
    runs.push_back(std::move(r));
    Entry e;
    e.seq = ++next_seq;
    e.run = runs.size() - 1;
    e.produced_ms = wall_ms();
    duet::v1::JobRunResult result;
    result.set_run_id(start.run_id());
    result.set_started(false);
    result.set_at_ms(e.produced_ms);
    result.set_end_value(0);
    result.SerializeToString(&e.payload);
    outbox.push_back(std::move(e));
    return true;
  }
};

class SimJobAgents::Session final : public SimSession<Session, SimJobAgents, Agent> {
 public:
  using SimSession::SimSession;

  const char* version() const { return "jobs_bench"; }
  void hello_locked(duet::v1::AgentHello& hello) {
    hello.set_outbox_identity(agent_->outbox_identity);
  }
  void result_locked(const Agent::Entry& e, duet::v1::AgentResult& res) {
    res.set_kind("job");
    res.set_payload(e.payload);
    auto& run = agent_->runs[e.run];
    if (run.sent == Steady::time_point{}) run.sent = Steady::now();
  }
  void stats_locked() {}
  std::chrono::milliseconds keepalive_after() const { return keepalive_ms() / 2; }
  long ack_locked(std::uint64_t up_to, Steady::time_point now) {
    return agent_->ack_locked(up_to, now);
  }
  bool first_welcome_locked() {
    const bool first = !agent_->welcomed_once;
    agent_->welcomed_once = true;
    return first;
  }
  void on_message(const ManagerMessage& in, Steady::time_point now) {
    switch (in.msg_case()) {
      case ManagerMessage::kJobStart: {
        std::lock_guard lock(agent_->mu);
        if (agent_->take_locked(in.job_start(), now)) {
          owner_->starts_++;
          pump_locked();
        } else {
          owner_->duplicates_++;
        }
        break;
      }
      case ManagerMessage::kJobKill:
        owner_->kills_++;  // the runs end at once: nothing to kill
        break;
      default:
        break;  // assignments: nothing to run here
    }
  }
  void after_read(const ManagerMessage&, long, bool first_welcome, Steady::time_point) {
    if (first_welcome) owner_->welcomed_++;
  }
};

SimJobAgents::SimJobAgents(SimJobAgentsOptions options) : o_(std::move(options)) {
  std::random_device rd;
  for (int i = 0; i < o_.agents; ++i) {
    grpc::ChannelArguments args;
    // A connection of its own per agent, as real agents have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("duet.bench.job_agent", i);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    channels_.push_back(
        grpc::CreateCustomChannel(o_.target, grpc::InsecureChannelCredentials(), args));
    stubs_.push_back(duet::v1::Agent::NewStub(channels_.back()));
    auto a = std::make_unique<Agent>();
    a->index = i;
    a->node = o_.node_prefix + std::to_string(i);
    a->outbox_identity = (static_cast<std::uint64_t>(rd()) << 32) | rd() | 1;
    agents_.push_back(std::move(a));
  }
}

SimJobAgents::~SimJobAgents() { stop(); }

void SimJobAgents::start() {
  for (int i = 0; i < o_.agents; ++i) open_session(i);
  housekeeping_ = std::thread([this] { housekeeping_loop(); });
}

void SimJobAgents::stop() {
  stopping_ = true;
  if (housekeeping_.joinable()) housekeeping_.join();
}

namespace {

template <typename Pred>
bool wait_for(Pred done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace

bool SimJobAgents::wait_welcomed(std::chrono::milliseconds limit) const {
  return wait_for([this] { return welcomed_ >= o_.agents; }, limit);
}

bool SimJobAgents::wait_acked(std::chrono::milliseconds limit) const {
  return wait_for([this] { return acked_ >= starts_; }, limit);
}

bool SimJobAgents::wait_closed(std::chrono::milliseconds limit) const {
  return wait_for([this] { return open_ == 0; }, limit);
}

void SimJobAgents::open_session(int index) {
  Session::open(this, agents_[static_cast<std::size_t>(index)].get(),
                stubs_[static_cast<std::size_t>(index)].get());
}

void SimJobAgents::session_ended(int index, bool broken) {
  --open_;
  if (!broken) return;
  ++broken_;
  reopen_.add(index, Steady::now() + std::chrono::milliseconds(1000 + (index * 97) % 200));
}

void SimJobAgents::housekeeping_loop() {
  auto next_sweep = Steady::now() + std::chrono::seconds(1);
  while (!stopping_) {
    for (int i : reopen_.take_due(Steady::now())) {
      if (!stopping_) open_session(i);
    }
    if (Steady::now() >= next_sweep) {
      const auto now = Steady::now();
      for (auto& a : agents_) {
        std::lock_guard lock(a->mu);
        if (a->session != nullptr) a->session->keepalive_locked(now);
      }
      next_sweep += std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void SimJobAgents::note_error(const std::string& what) {
  std::lock_guard lock(error_mu_);
  if (errors_.size() < 10) errors_.push_back(what);
}

SimJobAgents::Counters SimJobAgents::counters() const {
  Counters c;
  c.welcomed_agents = welcomed_;
  c.open_sessions = open_;
  c.job_starts = starts_;
  c.duplicate_starts = duplicates_;
  c.kills = kills_;
  c.written = written_;
  c.resent = resent_;
  c.acked = acked_;
  c.sessions_opened = opened_;
  c.sessions_broken = broken_;
  c.not_master = not_master_;
  return c;
}

std::vector<SimJobAgents::Run> SimJobAgents::runs() const {
  std::vector<Run> out;
  for (const auto& a : agents_) {
    std::lock_guard lock(a->mu);
    out.insert(out.end(), a->runs.begin(), a->runs.end());
  }
  return out;
}

std::vector<std::string> SimJobAgents::errors() const {
  std::lock_guard lock(error_mu_);
  return errors_;
}

}  // namespace duet::bench
