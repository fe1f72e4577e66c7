#pragma once

// SimSession: the Agent.Session call of one simulated agent, shared by the
// benches' simulated agents (SimFleet: monitor results; SimJobAgents: job
// runs).
//
// It says hello with what the agent's outbox holds, writes the outbox in
// order from where the Welcome says the master is (everything after
// `acked_up_to` again), one write in flight, asks for a keepalive (a stats
// message) when nothing was written for a while, and counts what it wrote
// for the first time and what again. When the call ends it tells the owner,
// who reopens a broken one.
//
// What a kind of agent adds comes from `Derived` (CRTP):
//   const char* version() const;                  // the hello's version
//   void hello_locked(duet::v1::AgentHello&);     // more of the hello
//   void result_locked(const Entry&, duet::v1::AgentResult&);  // kind, payload
//   void stats_locked();                          // a keepalive is written
//   std::chrono::milliseconds keepalive_after() const;  // of the keepalive
//   long ack_locked(std::uint64_t up_to, Steady::time_point now);
//   bool first_welcome_locked();                  // welcomed for the first time
//   void on_message(const duet::v1::ManagerMessage&, Steady::time_point now);
//   void after_read(const duet::v1::ManagerMessage&, long acked, bool first_welcome,
//                   Steady::time_point now);     // any message, agent->mu not held
// (`_locked`: agent->mu held.) `Owner` has the atomics written_, resent_,
// acked_, not_master_ and stopping_, note_error() and session_ended(), and
// befriends this template. `Agent` has mu, index, node, session, outbox (a
// deque of entries with seq and produced_ms), next_seq, acked and max_written.
//
// Threads: gRPC's threads run the reactions; the owner's threads call
// pump_locked() and keepalive_locked() with the agent's mutex held. A
// reaction takes that mutex and never another agent's.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "duet/v1/agent.grpc.pb.h"

namespace duet::bench {

// Broken sessions waiting to be reopened, by agent index (any thread).
class ReopenQueue {
 public:
  using Steady = std::chrono::steady_clock;
  void add(int index, Steady::time_point due) {
    std::lock_guard lock(mu_);
    items_.emplace_back(due, index);
  }
  // The agents due by `now`, taken off the queue.
  std::vector<int> take_due(Steady::time_point now) {
    std::vector<int> due;
    std::lock_guard lock(mu_);
    auto it =
        std::partition(items_.begin(), items_.end(), [&](const auto& r) { return r.first > now; });
    for (auto d = it; d != items_.end(); ++d) due.push_back(d->second);
    items_.erase(it, items_.end());
    return due;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<Steady::time_point, int>> items_;  // (due, agent)
};

template <typename Derived, typename Owner, typename Agent>
class SimSession
    : public grpc::ClientBidiReactor<duet::v1::AgentMessage, duet::v1::ManagerMessage> {
 public:
  using Steady = std::chrono::steady_clock;

  SimSession(Owner* owner, Agent* agent, duet::v1::Agent::Stub* stub)
      : owner_(owner), agent_(agent), stub_(stub) {}

  // Opens a session for `agent` (counted in the owner's open_ and opened_).
  static void open(Owner* owner, Agent* agent, duet::v1::Agent::Stub* stub) {
    auto* s = new Derived(owner, agent, stub);
    {
      std::lock_guard lock(agent->mu);
      agent->session = s;
    }
    ++owner->open_;
    ++owner->opened_;
    s->begin();
  }

  // Says hello and starts the call. The agent already points here.
  void begin() {
    auto* hello = out_.mutable_hello();
    hello->set_node(agent_->node);
    hello->set_version(derived().version());
    hello->set_hostname(agent_->node);
    {
      std::lock_guard lock(agent_->mu);
      derived().hello_locked(*hello);
      hello->set_last_acked_seq(agent_->acked);
      hello->set_next_seq(agent_->next_seq + 1);
      hello->set_outbox_pending(agent_->outbox.size());
    }
    ctx_.set_wait_for_ready(false);
    stub_->async()->Session(&ctx_, this);
    StartWrite(&out_);
    StartRead(&in_);
    // Writes also start from the owner's threads (outside reactions): the
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
      const auto& e = ob[static_cast<std::size_t>(next - ob.front().seq)];
      out_.Clear();
      auto* res = out_.mutable_result();
      res->set_seq(e.seq);
      res->set_produced_at_ms(e.produced_ms);
      derived().result_locked(e, *res);
      writing_seq_ = e.seq;
      start_write_locked();
      return;
    }
    if (stats_wanted_) {
      stats_wanted_ = false;
      out_.Clear();
      out_.mutable_stats()->set_outbox_pending(ob.size());
      writing_seq_ = 0;
      derived().stats_locked();
      start_write_locked();
    }
  }

  // Asks for a keepalive if nothing was written for keepalive_after() (agent->mu held).
  void keepalive_locked(Steady::time_point now) {
    if (!alive_ || !welcomed_) return;
    if (now - last_write_ < derived().keepalive_after()) return;
    stats_wanted_ = true;
    pump_locked();
  }

  // The highest number written on this call (agent->mu held).
  std::uint64_t written_locked() const { return written_; }

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
    bool first_welcome = false;
    switch (in_.msg_case()) {
      case duet::v1::ManagerMessage::kAck: {
        std::lock_guard lock(agent_->mu);
        acked = derived().ack_locked(in_.ack().up_to_seq(), now);
        break;
      }
      case duet::v1::ManagerMessage::kWelcome: {
        std::lock_guard lock(agent_->mu);
        const auto& w = in_.welcome();
        welcomed_ = true;
        if (w.keepalive_ms() != 0) keepalive_ms_ = w.keepalive_ms();
        acked = derived().ack_locked(w.acked_up_to(), now);
        agent_->next_seq = std::max(agent_->next_seq, w.acked_up_to());
        written_ = w.acked_up_to();  // everything after it is sent (again)
        last_write_ = now;
        first_welcome = derived().first_welcome_locked();
        pump_locked();
        break;
      }
      case duet::v1::ManagerMessage::kNotMaster:
        owner_->not_master_++;  // the manager ends the call; it is reopened
        break;
      default:
        derived().on_message(in_, now);
        break;
    }
    if (acked > 0) owner_->acked_ += acked;
    derived().after_read(in_, acked, first_welcome, now);
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
    delete static_cast<Derived*>(this);
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }
  std::chrono::milliseconds keepalive_ms() const {
    return std::chrono::milliseconds(keepalive_ms_);
  }

  Owner* owner_;
  Agent* agent_;

 private:
  void start_write_locked() {
    writing_ = true;
    last_write_ = Steady::now();
    StartWrite(&out_);
  }

  duet::v1::Agent::Stub* stub_;
  grpc::ClientContext ctx_;
  duet::v1::AgentMessage out_;  // the write in flight
  duet::v1::ManagerMessage in_;
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

}  // namespace duet::bench
