#pragma once

// FileWatcher: the agent's side of job nets' file-check triggers.
//
// Each FileWatch (from the master's assignments) is looked at every
// `interval_s`: whether its path exists, and its inode, size and
// modification time. The last look is kept in the outbox ("watch:<id>").
// A change that the watch wants (created, modified, deleted) is appended to
// the outbox as a result of kind "file" (a FileEvent) in the same
// transaction as the new look, so it is reported exactly once, across agent
// restarts too. The first look at a path reports nothing: a file already
// there when the trigger is assigned does not count as created.
//
// Threads: one thread looks at every watch; set() from any thread.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/outbox.h"
#include "duet/v1/agent.pb.h"

namespace duet::agent {

class FileWatcher {
 public:
  struct Hooks {
    std::function<void(const std::function<void(Outbox&)>&)> with_outbox;
    std::function<void()> notify;
  };
  explicit FileWatcher(Hooks hooks);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  void start();
  void stop();
  // The watches to keep (others are dropped).
  void set(const google::protobuf::RepeatedPtrField<duet::v1::FileWatch>& watches);
  // One look at every watch now (tests).
  void check_all();

 private:
  struct Entry {
    duet::v1::FileWatch watch;
    std::chrono::steady_clock::time_point due;
  };
  void loop();
  void check(const duet::v1::FileWatch& w);

  Hooks hooks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> watches_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace duet::agent
