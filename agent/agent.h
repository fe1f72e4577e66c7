#pragma once

// The duet-agent process: monitors on a schedule, results into the durable
// outbox, and one session with whichever manager is master.
//
// Threads:
// - the scheduler (an io_context): one timer per assigned monitor; a run is
//   handed to the worker pool, and skipped while the previous run of the
//   same monitor is still going;
// - workers (a thread pool): run the blocking checks and append their
//   results to the outbox (durable before anything else happens);
// - the session thread: connects to a manager, sends the outbox from where
//   the master says it stands, and applies acknowledgements and assignments.
//   A reader thread per session takes the manager's messages.
//
// Assignments are kept in the outbox file, so a restarted agent runs its
// monitors again before any manager answers, and keeps running them while
// none does (invariant: monitoring does not stop with the manager).
//
// Failover. A manager that is not master answers NotMaster (naming the
// master it knows); the agent goes there, else to the other address. A
// broken session is retried with doubling backoff and jitter
// (reconnect_min_ms .. reconnect_max_ms). Every manager message carries an
// epoch; a message from an epoch below the highest seen (a deposed master)
// ends the session.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/file_server.h"
#include "agent/file_watcher.h"
#include "agent/job_executor.h"
#include "agent/outbox.h"
#include "common/config.h"
#include "duet/v1/agent.grpc.pb.h"
#include "monitors/check.h"

namespace duet::agent {

class AgentProcess {
 public:
  explicit AgentProcess(AgentConfig config);
  ~AgentProcess();

  // Opens the outbox and starts every thread; an error names what failed.
  Status start();
  // Stops the threads (a running check is waited for up to its timeout).
  void stop();

  // For tests and status lines.
  struct Snapshot {
    bool connected = false;
    std::string manager;
    std::uint64_t epoch = 0;
    std::size_t monitors = 0;
  };
  Snapshot snapshot() const;

 private:
  struct Scheduled;
  void session_loop();
  // Whether the agent must enrol first: a token, TLS, and no certificate yet.
  bool needs_enrolment() const;
  // Obtains the agent's certificate with its token (retrying until it has
  // one or the agent stops); false when stopping.
  bool enrol();
  // One session with `address`; returns the master's address when told to go elsewhere.
  std::optional<std::string> run_session(const std::string& address);
  void apply_assignments(const duet::v1::Assignments& as, bool persist);
  void schedule(const std::shared_ptr<Scheduled>& s, std::chrono::milliseconds delay);
  void run_monitor(const std::shared_ptr<Scheduled>& s);
  void notify();
  // Sends `message` on the session after what is queued; false without one.
  // Messages not sent when a session ends are dropped (their senders ask again).
  bool send_now(duet::v1::AgentMessage message);

  AgentConfig config_;
  std::unique_ptr<Outbox> outbox_;
  mutable std::mutex outbox_mu_;  // guards outbox_
  std::unique_ptr<JobExecutor> jobs_;
  std::unique_ptr<FileWatcher> watcher_;
  std::unique_ptr<FileServer> files_;  // serves transfer jobs' reads

  struct Impl;
  std::unique_ptr<Impl> impl_;

  std::atomic<bool> stopping_{false};
  std::thread session_thread_;
  mutable std::mutex mu_;  // guards the session state below
  std::condition_variable cv_;
  std::uint64_t wake_ = 0;                       // bumped by notify()
  std::deque<duet::v1::AgentMessage> outgoing_;  // send_now's, for the session thread
  bool connected_ = false;
  std::string manager_;
  std::uint64_t max_epoch_ = 0;
  grpc::ClientContext* live_ctx_ = nullptr;  // the session's context, to cancel at stop
};

}  // namespace duet::agent
