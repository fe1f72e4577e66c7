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
// Transfers (kind "transfer"; agent/job_transfer.cpp). The receiving agent
// runs the job: it asks the master for the source file a piece at a time
// (FetchRequest through hooks.send; FileChunk back through on_chunk), writes
// it to a hidden part file beside the destination, and renames that into
// place once whole and synced (no-overwrite: renameat2 RENAME_NOREPLACE).
// Its JobStart is kept in the runs directory and its record says
// "transfer", then "renaming" just before the rename, so an agent restart
// resumes the copy, or finishes the rename, and reports it once. A piece not
// answered (the master changed, a session broke) is asked for again.
//
// Threads: on_start/on_kill/on_chunk from the session's reader thread; one
// thread per running job (they are few: the manager bounds jobs per node).

#include <sys/types.h>

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
// Transfer jobs: the source could not be read (missing, not a regular file,
// changed while copied), the destination could not be written (exists and
// no overwrite, no such directory, disk full).
inline constexpr std::int64_t kEndSourceUnreadable = 2;
inline constexpr std::int64_t kEndTargetUnwritable = 3;
inline constexpr std::uint32_t kTransferPiece = 1u << 20;

class JobExecutor {
 public:
  struct Hooks {
    // Runs `fn` with the outbox under the agent's lock.
    std::function<void(const std::function<void(Outbox&)>&)> with_outbox;
    std::function<void()> notify;  // a result was appended: send it
    std::function<monitors::CheckContext()> check_context;
    // Sends on the session now; false when there is none (transfers).
    std::function<bool(duet::v1::AgentMessage)> send;
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
  // Transfers: a piece came; a session began (pieces pending are asked for again).
  void on_chunk(duet::v1::FileChunk chunk);
  void on_connected();
  std::size_t running() const;

 private:
  struct Run {
    std::string run_id;
    pid_t keeper = 0;   // 0: a transfer (no process)
    bool child = true;  // ours to reap (false: found after an agent restart)
    std::int64_t started_ms = 0;
    std::int64_t deadline_ms = 0;     // 0: no limit
    std::atomic<int> kill_reason{0};  // 0 none, 1 operator, 2 time limit
  };
  void watch(std::shared_ptr<Run> run);
  void run_monitor(const duet::v1::JobStart& start);
  void start_transfer(const duet::v1::JobStart& start);
  void resume_transfer(const std::string& run_id, const std::string& state, std::int64_t started,
                       std::int64_t deadline);
  void spawn_transfer(std::shared_ptr<Run> run, duet::v1::JobStart start);
  // Copies; returns false when the agent is stopping (the record stays, to resume).
  bool copy(Run& run, const duet::v1::JobStart& start);
  void rename_into_place(const duet::v1::JobStart& start, const std::string& part,
                         std::uint64_t bytes);
  void end_transfer(const duet::v1::JobStart& start, std::int64_t value, std::string error,
                    std::string out);
  void report(const duet::v1::JobRunResult& result, const std::string& record);
  std::string path_of(const std::string& run_id, const char* suffix) const;

  static constexpr const char* kRunPrefix = "run:";  // the outbox records of runs

  std::string runs_dir_;
  Hooks hooks_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Run>> runs_;  // running, by run id
  std::map<std::string, std::thread> threads_;
  std::map<std::string, duet::v1::FileChunk> pieces_;  // transfers: the last piece come
  std::uint64_t sessions_ = 0;                         // bumped by on_connected
  std::atomic<bool> stopping_{false};
};

}  // namespace duet::agent
