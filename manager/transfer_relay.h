#pragma once

// TransferRelay: the master's part in transfer jobs (agent.proto
// FetchRequest). The receiving agent asks for a piece of its run's source
// file; the relay checks that the run is an open transfer run of that very
// node, takes the source node and path from the job's definition (the
// request names only the run), asks the sending agent for the piece
// (FileRead) and passes its answer (FileChunk) on to the receiving agent.
//
// It keeps nothing on disk and holds one piece per run at most: a piece lost
// with a session or a failover is asked for again by the receiving agent,
// and reading is harmless to repeat. A sending agent that is not connected,
// or goes away with a read pending, is answered "retry"; a request the
// relay refuses is answered with why, for the job's stderr.
//
// Threads: the manager's strand (AgentHub calls it).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/result.h"
#include "duet/v1/agent.pb.h"

namespace duet::manager {

class TransferRelay {
 public:
  struct Source {
    std::string node, path;
  };
  struct Hooks {
    std::function<bool(const std::string& node, duet::v1::ManagerMessage)> send;
    // The source of `run_id` when it is an open transfer run of `node`.
    std::function<Result<Source>(const std::string& run_id, const std::string& node)> source;
    std::function<std::chrono::steady_clock::time_point()> now;
  };
  static constexpr std::uint32_t kMaxPiece = 1u << 20;
  // A read not answered within this is forgotten (the receiver asks again).
  static constexpr std::chrono::seconds kForgetAfter{60};

  explicit TransferRelay(Hooks hooks) : hooks_(std::move(hooks)) {}

  void on_fetch(const std::string& node, const duet::v1::FetchRequest& request);
  void on_chunk(const std::string& node, duet::v1::FileChunk chunk);
  // A node's session ended: its pending reads are answered "retry".
  void on_closed(const std::string& node);
  // No longer master: everything pending is forgotten.
  void clear() { reads_.clear(); }

  std::size_t pending() const { return reads_.size(); }
  std::uint64_t relayed_bytes() const { return relayed_bytes_; }

 private:
  struct Read {
    std::string to_node, run_id, from_node;
    std::uint64_t offset = 0;
    std::chrono::steady_clock::time_point asked;
  };
  void answer(const std::string& node, const std::string& run_id, std::uint64_t offset,
              std::string error, bool retry);

  Hooks hooks_;
  std::map<std::uint64_t, Read> reads_;  // by request number
  std::uint64_t next_request_ = 1;
  std::uint64_t relayed_bytes_ = 0;
};

}  // namespace duet::manager
