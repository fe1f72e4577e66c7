#pragma once

// Outbox: the agent's durable queue of results for the manager (invariant 6).
//
// Every result gets the next sequence number of this agent, is written to a
// local SQLite file (WAL, synchronous=FULL) before anyone is told about it,
// and stays there until the master acknowledges it (ack(up_to)), which it
// does only once the result is replicated. After a failover or a restart the
// agent resends pending() from the oldest unacknowledged result; the manager
// drops what it already has, keyed (agent, seq) - exactly once.
//
// Sequence numbers are never reused: the next one is kept in the file, so
// acknowledging everything and restarting goes on from where it was.
//
// Bounded: at most `max_results` results and `max_bytes` of payload. When an
// append would go past either, the oldest pending results are dropped in the
// same transaction, and the drop is counted (persisted) and returned to the
// caller, which reports it - never silently.
//
// Thread-compatible: one owner (the agent's strand).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

struct sqlite3;

namespace duet::agent {

struct OutboxEntry {
  std::uint64_t seq = 0;
  std::string kind;     // what produced it: "monitor", "job", ...
  std::string payload;  // opaque to the outbox
  std::int64_t produced_at_ms = 0;
};

struct OutboxStats {
  std::uint64_t pending = 0;        // results not yet acknowledged
  std::uint64_t pending_bytes = 0;  // their payload bytes
  std::uint64_t next_seq = 1;       // the number the next result gets
  std::uint64_t acked_up_to = 0;    // the master acknowledged every result up to here
  std::uint64_t dropped = 0;        // results dropped because the outbox was full, ever
};

class Outbox {
 public:
  struct Limits {
    std::uint64_t max_results = 100'000;
    std::uint64_t max_bytes = std::uint64_t{64} << 20;
  };

  // Opens (creating) the outbox file. An error names the file and why.
  static Result<std::unique_ptr<Outbox>> open(const std::string& path, Limits limits);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  struct Appended {
    std::uint64_t seq = 0;
    std::uint64_t dropped = 0;  // oldest results dropped to make room (also in stats)
  };
  // Where a source of results stands (a log file's position): stored in the
  // same transaction as the result made from it, so a restart from it
  // neither skips nor repeats.
  struct Position {
    std::string key;
    std::string value;
  };
  // Durable when it returns. A payload larger than max_bytes is refused.
  Result<Appended> append(const std::string& kind, const std::string& payload,
                          std::int64_t produced_at_ms,
                          const std::optional<Position>& position = std::nullopt);
  // Only the position (a line that made no result still moves it).
  Status set_position(const Position& position);
  Result<std::optional<std::string>> position(const std::string& key) const;
  // Every position whose key starts with `prefix`, in key order.
  Result<std::vector<Position>> positions(const std::string& prefix) const;
  Status erase_position(const std::string& key);
  // Pending results with seq > after, oldest first, at most `limit`.
  Result<std::vector<OutboxEntry>> pending(std::uint64_t after, std::size_t limit) const;
  // The master has every result up to `seq`: they go. Acks never go back.
  Status ack(std::uint64_t up_to);
  Result<OutboxStats> stats() const;
  const std::string& path() const { return path_; }
  // Random, made when the file was created; never 0.
  std::uint64_t identity() const { return identity_; }

 private:
  Outbox(sqlite3* db, std::string path, Limits limits)
      : db_(db), path_(std::move(path)), limits_(limits) {}
  Status exec(const char* sql) const;
  Result<std::uint64_t> meta(const char* key) const;
  Status set_meta(const char* key, std::uint64_t value);
  Status put_position(const Position& position);
  Error fail(const std::string& what) const;

  sqlite3* db_;
  std::string path_;
  Limits limits_;
  std::uint64_t identity_ = 0;
};

}  // namespace duet::agent
