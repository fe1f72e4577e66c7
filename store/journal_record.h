#pragma once

// One logical change in the journal. The master writes it in the same
// transaction as the change; a replica applies it and stores the same record
// at the same LSN, so its journal mirrors the master's.

#include <cstdint>
#include <string>

namespace duet::store {

using Lsn = std::uint64_t;
using Epoch = std::uint64_t;

enum class JournalOp : std::uint8_t {
  kUpsert = 1,  // insert or replace the whole row (payload = encoded Row)
  kDelete = 2,  // delete the row named by key, if present (payload empty)
  // Insert or replace several whole rows of one table (payload = a block of
  // rows, store/row.h; key empty). One record for many rows is what makes a
  // high-rate append (events) cheap to journal and ship.
  kUpsertRows = 3,
};

struct JournalRecord {
  Lsn lsn = 0;
  Epoch epoch = 0;
  std::string table;
  JournalOp op = JournalOp::kUpsert;
  std::string key;
  std::string payload;
  std::int64_t committed_at_ms = 0;

  bool operator==(const JournalRecord&) const = default;
};

}  // namespace duet::store
