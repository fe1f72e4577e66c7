#pragma once

// FileServer: the sending side of transfer jobs. The master asks for a piece
// of a file (FileRead); the server reads it on its own thread (a slow disk
// does not hold up the session's reader) and answers with a FileChunk that
// carries the file's size, modification time and permission bits, so the
// receiving agent sees a file that changes while it is copied. Reading is
// all it does: a piece asked for twice is read twice.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "duet/v1/agent.pb.h"

namespace duet::agent {

class FileServer {
 public:
  using Send = std::function<bool(duet::v1::AgentMessage)>;
  // Reads waiting at most; past that a read is answered "retry" at once.
  static constexpr std::size_t kMaxQueued = 256;

  explicit FileServer(Send send);
  ~FileServer();
  FileServer(const FileServer&) = delete;
  FileServer& operator=(const FileServer&) = delete;

  void on_read(duet::v1::FileRead read);
  void stop();

  // Reads one piece (also for tests).
  static duet::v1::FileChunk read_piece(const duet::v1::FileRead& read);

 private:
  Send send_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<duet::v1::FileRead> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace duet::agent
