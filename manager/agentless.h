#pragma once

// AgentlessRunner: the monitors that run on the manager (runs_on: manager),
// for every node they target, while this node is the acting master.
//
// Each (monitor, node) has a timer on the strand; its first run falls at a
// random point of its first interval, so thousands of targets spread over
// the minute instead of firing together, and later runs stay on that grid
// (due one interval after the previous was due, however late it fired). A
// ping goes to the MultiPinger (one socket, one thread for all of them);
// every other kind runs on a worker pool, one run of a target at a time (a
// run still going when the next is due skips that one, counted). Results go
// to the AgentHub on the strand (on_local_result), which judges and stores
// them like an agent's.
//
// Threads: update/start/stop on the strand; checks on the pool or the
// pinger's thread; results posted back to the strand.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "manager/agent_hub.h"
#include "monitors/check.h"
#include "monitors/multi_ping.h"

namespace duet::manager {

class AgentlessRunner {
 public:
  AgentlessRunner(boost::asio::any_io_executor strand, Clock& clock, AgentHub& hub, int workers);
  ~AgentlessRunner();
  AgentlessRunner(const AgentlessRunner&) = delete;
  AgentlessRunner& operator=(const AgentlessRunner&) = delete;

  // The targets anew (after start_acting and every reload of the hub).
  void update();
  void stop();

  struct Counters {
    std::uint64_t runs = 0, skipped = 0;
    std::size_t targets = 0;
  };
  Counters counters() const { return counters_; }

 private:
  struct Target;
  // Arms t's timer for t->due.
  void schedule(const std::shared_ptr<Target>& t);
  void run(const std::shared_ptr<Target>& t);
  void deliver(const std::shared_ptr<Target>& t, std::vector<monitors::CheckOutput> outputs,
               std::int64_t started_ms, std::uint32_t took_ms);

  boost::asio::any_io_executor strand_;
  Clock& clock_;
  AgentHub& hub_;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  std::unique_ptr<monitors::MultiPinger> pinger_;  // created on first use
  bool pinger_failed_ = false;
  std::map<std::string, std::shared_ptr<Target>> targets_;  // by monitor \x1f node
  Counters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace duet::manager
