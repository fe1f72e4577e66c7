#pragma once

// JobExecutor: the agent's side of job runs (invariant 6).
//
// At most once. A JobStart's run id is recorded in the outbox file
// ("run:<id>" = "starting") before anything is started; a JobStart for a run
// id the file already has is ignored, whatever it says. So a master that
// sends a run again (after a failover, or on reconnection) never starts it
// twice. A JobKill for a run id not seen yet is recorded as "killed", and a
// JobStart coming later does not start it.
//
// Processes. Each run forks a keeper (its own session and process group)
// that forks the job (/bin/sh -c COMMAND, as `user` when the agent runs as
// root, in `directory`, stdout and stderr to files in `runs_dir`), waits for
// it and writes its exit status to a file. The keeper ignores SIGTERM, so a
// kill of the group stops the job and the keeper still records how it ended.
// Jobs keep running whatever happens to the manager; if the agent itself
// restarts, it finds its runs again (pidfd of the keeper, or the status
// file once it ended) and reports them.
//
// Results. "Started" and the end (exit code; -1 failed to start, -2 killed
// by the run-time limit, -3 killed; the last 4 KiB of stdout and stderr;
// "::duet-set NAME=VALUE" lines of stdout) are results of kind "job" in the
// outbox, each appended in the same transaction that moves the run's record,
// so each is reported exactly once.
//
// Threads: on_start/on_kill from the session's reader thread; one thread per
// running job (they are few: the manager bounds jobs per node).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/outbox.h"
#include "common/result.h"
#include "duet/v1/agent.pb.h"
#include "monitors/check.h"

namespace duet::agent {

inline constexpr std::int64_t kEndFailedToStart = -1;
inline constexpr std::int64_t kEndTimeLimit = -2;
inline constexpr std::int64_t kEndKilled = -3;
inline constexpr std::size_t kTailBytes = 4096;

class JobExecutor {
 public:
  struct Hooks {
    // Runs `fn` with the outbox under the agent's lock.
    std::function<void(const std::function<void(Outbox&)>&)> with_outbox;
    std::function<void()> notify;  // a result was appended: send it
    std::function<monitors::CheckContext()> check_context;
  };
  JobExecutor(std::string runs_dir, Hooks hooks);
  ~JobExecutor();
  JobExecutor(const JobExecutor&) = delete;
  JobExecutor& operator=(const JobExecutor&) = delete;

  // Finds the runs a previous agent process left (running or ended).
  Status start();
  // Waits for the watcher threads (the jobs themselves keep running).
  void stop();

  void on_start(const duet::v1::JobStart& start);
  void on_kill(const duet::v1::JobKill& kill);
  std::size_t running() const;

 private:
  struct Run;
  void watch(std::shared_ptr<Run> run);
  void run_monitor(const duet::v1::JobStart& start);
  void report(const duet::v1::JobRunResult& result, const std::string& record);
  std::string path_of(const std::string& run_id, const char* suffix) const;

  std::string runs_dir_;
  Hooks hooks_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Run>> runs_;  // running, by run id
  std::map<std::string, std::thread> threads_;
  std::atomic<bool> stopping_{false};
};

}  // namespace duet::agent
