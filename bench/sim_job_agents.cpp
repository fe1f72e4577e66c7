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

class SimJobAgents::Session final : public grpc::ClientBidiReactor<AgentMessage, ManagerMessage> {
 public:
  Session(SimJobAgents* owner, Agent* agent, duet::v1::Agent::Stub* stub)
      : owner_(owner), agent_(agent), stub_(stub) {}

  // Says hello and starts the call. The agent already points here.
  void begin() {
    auto* hello = out_.mutable_hello();
    hello->set_node(agent_->node);
    hello->set_version("jobs_bench");
    hello->set_hostname(agent_->node);
    hello->set_outbox_identity(agent_->outbox_identity);
    {
      std::lock_guard lock(agent_->mu);
      hello->set_last_acked_seq(agent_->acked);
      hello->set_next_seq(agent_->next_seq + 1);
      hello->set_outbox_pending(agent_->outbox.size());
    }
    ctx_.set_wait_for_ready(false);
    stub_->async()->Session(&ctx_, this);
    StartWrite(&out_);
    StartRead(&in_);
    // Keepalives start from the housekeeping thread (outside reactions): the
    // hold keeps OnDone away until the read side has ended.
    AddHold();
    StartCall();
  }

  // Starts the next write if none is in flight (agent->mu held).
  void pump_locked() {
    if (!alive_ || !welcomed_ || writing_) return;
    auto& ob = agent_->outbox;
    if (!ob.empty() && written_ < ob.back().seq) {
      const std::uint64_t next = std::max(written_ + 1, ob.front().seq);
      const Agent::Entry& e = ob[static_cast<std::size_t>(next - ob.front().seq)];
      out_.Clear();
      auto* res = out_.mutable_result();
      res->set_seq(e.seq);
      res->set_kind("job");
      res->set_payload(e.payload);
      res->set_produced_at_ms(e.produced_ms);
      writing_seq_ = e.seq;
      auto& run = agent_->runs[e.run];
      if (run.sent == Steady::time_point{}) run.sent = Steady::now();
      start_write_locked();
      return;
    }
    if (stats_wanted_) {
      stats_wanted_ = false;
      out_.Clear();
      out_.mutable_stats()->set_outbox_pending(ob.size());
      writing_seq_ = 0;
      start_write_locked();
    }
  }

  // Asks for a keepalive if nothing was written for half the keepalive
  // (agent->mu held).
  void keepalive_locked(Steady::time_point now) {
    if (!alive_ || !welcomed_) return;
    if (now - last_write_ < std::chrono::milliseconds(keepalive_ms_ / 2)) return;
    stats_wanted_ = true;
    pump_locked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(agent_->mu);
    writing_ = false;
    if (!ok) return;  // the call is broken; the read side ends it
    if (writing_seq_ != 0) {
      written_ = std::max(written_, writing_seq_);
      if (writing_seq_ > agent_->max_written) {
        agent_->max_written = writing_seq_;
        owner_->written_++;
      } else {
        owner_->resent_++;
      }
      writing_seq_ = 0;
    }
    pump_locked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        std::lock_guard lock(agent_->mu);
        alive_ = false;
      }
      RemoveHold();
      return;
    }
    const auto now = Steady::now();
    long acked = 0;
    switch (in_.msg_case()) {
      case ManagerMessage::kJobStart: {
        std::lock_guard lock(agent_->mu);
        if (agent_->take_locked(in_.job_start(), now)) {
          owner_->starts_++;
          pump_locked();
        } else {
          owner_->duplicates_++;
        }
        break;
      }
      case ManagerMessage::kAck: {
        std::lock_guard lock(agent_->mu);
        acked = agent_->ack_locked(in_.ack().up_to_seq(), now);
        break;
      }
      case ManagerMessage::kWelcome: {
        bool first = false;
        {
          std::lock_guard lock(agent_->mu);
          const auto& w = in_.welcome();
          welcomed_ = true;
          if (w.keepalive_ms() != 0) keepalive_ms_ = w.keepalive_ms();
          acked = agent_->ack_locked(w.acked_up_to(), now);
          agent_->next_seq = std::max(agent_->next_seq, w.acked_up_to());
          written_ = w.acked_up_to();  // everything after it is sent (again)
          last_write_ = now;
          first = !agent_->welcomed_once;
          agent_->welcomed_once = true;
          pump_locked();
        }
        if (first) owner_->welcomed_++;
        break;
      }
      case ManagerMessage::kJobKill:
        owner_->kills_++;  // the runs end at once: nothing to kill
        break;
      case ManagerMessage::kNotMaster:
        owner_->not_master_++;  // the manager ends the call; it is reopened
        break;
      default:
        break;  // assignments: nothing to run here
    }
    if (acked > 0) owner_->acked_ += acked;
    in_.Clear();
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(agent_->mu);
      agent_->session = nullptr;
    }
    const bool broken = !owner_->stopping_;
    if (broken) {
      owner_->note_error(agent_->node + ": " + std::to_string(status.error_code()) + " " +
                         status.error_message());
    }
    owner_->session_ended(agent_->index, broken);
    delete this;
  }

 private:
  void start_write_locked() {
    writing_ = true;
    last_write_ = Steady::now();
    StartWrite(&out_);
  }

  SimJobAgents* owner_;
  Agent* agent_;
  duet::v1::Agent::Stub* stub_;
  grpc::ClientContext ctx_;
  AgentMessage out_;  // the write in flight
  ManagerMessage in_;
  // Under agent_->mu:
  bool alive_ = true;  // the read side has not ended
  bool welcomed_ = false;
  bool writing_ = true;  // the hello goes first
  bool stats_wanted_ = false;
  std::uint64_t written_ = 0;      // the highest number written on this call
  std::uint64_t writing_seq_ = 0;  // the result in flight; 0: none
  Steady::time_point last_write_ = Steady::now();
  std::uint32_t keepalive_ms_ = 10000;
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
  Agent& a = *agents_[static_cast<std::size_t>(index)];
  auto* s = new Session(this, &a, stubs_[static_cast<std::size_t>(index)].get());
  {
    std::lock_guard lock(a.mu);
    a.session = s;
  }
  ++open_;
  ++opened_;
  s->begin();
}

void SimJobAgents::session_ended(int index, bool broken) {
  --open_;
  if (!broken) return;
  ++broken_;
  const auto due = Steady::now() + std::chrono::milliseconds(1000 + (index * 97) % 200);
  std::lock_guard lock(reconnect_mu_);
  reconnects_.emplace_back(due, index);
}

void SimJobAgents::housekeeping_loop() {
  auto next_sweep = Steady::now() + std::chrono::seconds(1);
  while (!stopping_) {
    std::vector<int> due;
    {
      std::lock_guard lock(reconnect_mu_);
      const auto now = Steady::now();
      auto it = std::partition(reconnects_.begin(), reconnects_.end(),
                               [&](const auto& r) { return r.first > now; });
      for (auto d = it; d != reconnects_.end(); ++d) due.push_back(d->second);
      reconnects_.erase(it, reconnects_.end());
    }
    for (int i : due) {
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
