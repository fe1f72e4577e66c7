#pragma once

// Store: the manager's state and its journal (invariant 3 of the
// architecture). Every mutating call writes, in the same transaction as the
// change, one journal record per changed row with the next LSN and the
// store's current epoch. A replica replays those records with apply(); a
// node being re-seeded restores a snapshot.
//
// Contract:
// - Thread-compatible, not thread-safe: one owner (one strand) calls it.
// - A call that returns an error changed nothing (its transaction rolled back).
// - LSNs start at 1 and have no gaps. last_lsn() is the LSN of the newest
//   change this store holds, whether it wrote or applied it.
// - current_epoch() is the highest epoch persisted; commit() stamps records
//   with it and refuses to run before one is set. apply() requires record
//   epochs never to go back along the journal and raises current_epoch() to
//   the newest; fencing a stale sender (invariant 1) is the caller's check
//   of the sender's epoch against current_epoch().
// - apply() is idempotent: a record already applied (same LSN, same epoch) is
//   skipped; the same LSN from another epoch is kDiverged.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/journal_record.h"
#include "store/row.h"
#include "store/schema.h"

namespace duet::store {

// A set of changes committed atomically: one journal record each, in order
// (put_rows: one record per up to kMaxRowsRecordBytes of its rows).
inline constexpr std::size_t kMaxRowsRecordBytes = 1 << 20;

class WriteBatch {
 public:
  struct Op {
    JournalOp op;
    std::string table;
    Row row;                // kUpsert
    Value key;              // kDelete
    std::vector<Row> rows;  // kUpsertRows
  };

  WriteBatch& put(std::string table, Row row) {
    ops_.push_back(Op{JournalOp::kUpsert, std::move(table), std::move(row), Null{}, {}});
    return *this;
  }
  WriteBatch& erase(std::string table, Value key) {
    ops_.push_back(Op{JournalOp::kDelete, std::move(table), {}, std::move(key), {}});
    return *this;
  }
  // Many rows of one table under as few journal records as their size allows
  // (kUpsertRows; a record holds at most kMaxRowsRecordBytes of rows). For a
  // high-rate append; put() keeps one record per row.
  WriteBatch& put_rows(std::string table, std::vector<Row> rows) {
    if (rows.empty()) return *this;
    ops_.push_back(Op{JournalOp::kUpsertRows, std::move(table), {}, Null{}, std::move(rows)});
    return *this;
  }
  // Moves `other`'s writes after these.
  WriteBatch& append(WriteBatch&& other) {
    ops_.insert(ops_.end(), std::make_move_iterator(other.ops_.begin()),
                std::make_move_iterator(other.ops_.end()));
    other.ops_.clear();
    return *this;
  }
  bool empty() const { return ops_.empty(); }
  std::size_t size() const { return ops_.size(); }
  const std::vector<Op>& ops() const { return ops_; }
  void clear() { ops_.clear(); }

 private:
  std::vector<Op> ops_;
};

struct SnapshotHeader {
  Lsn lsn = 0;      // the snapshot holds every change up to and including this LSN
  Epoch epoch = 0;  // epoch of the change at `lsn` (0 for an empty store)
  std::uint32_t schema_version = 0;
  bool operator==(const SnapshotHeader&) const = default;
};

// Receives a snapshot as it is read: the header, then rows table by table in
// chunks. An error returned from a callback aborts the snapshot.
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  virtual Status on_header(const SnapshotHeader& header) = 0;
  virtual Status on_rows(const std::string& table, std::vector<Row> rows) = 0;
};

// Rows of one table, part of a snapshot, in key order.
struct SnapshotRows {
  std::string table;
  std::vector<Row> rows;
};

// Reads one consistent snapshot through a database connection of its own,
// so the store's owner keeps committing while it runs (SQLite: a read
// transaction in WAL mode; PostgreSQL: REPEATABLE READ READ ONLY).
//
// Contract:
// - Made by Store::open_snapshot_reader() on the owner's thread; that call is
//   cheap and connects nothing. After that the reader shares nothing with the
//   store: it may be used from any thread, one thread at a time, and may
//   outlive the store.
// - header() connects, starts the read transaction and reads the position in
//   it; the header and every row returned later are the store exactly as it
//   was at that moment, whatever the owner commits meanwhile. Later calls
//   return the same header. next_chunk() calls header() first if needed.
// - next_chunk() returns rows of one table in key order: at most `max_rows`,
//   and no more rows once `max_bytes` (approximate payload size) is reached,
//   but always at least one. Tables come in schema order; std::nullopt at the
//   end. An error leaves the reader unusable.
// - Destroying it ends the transaction and closes the connection. A SQLite
//   reader holds back WAL checkpoints while it is open.
class SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  virtual Result<SnapshotHeader> header() = 0;
  virtual Result<std::optional<SnapshotRows>> next_chunk(std::size_t max_rows,
                                                         std::size_t max_bytes) = 0;
};

// A restore in progress: all rows replaced in one transaction. Nothing is
// visible until commit(); destroying it uncommitted rolls back. While it is
// open, every other Store call that reads or writes the database fails with
// kUnavailable ("a snapshot restore is in progress"); info(), last_lsn() and
// current_epoch() keep answering for the data as it was before the restore.
// The owner may add rows over many tasks (chunk by chunk); it must destroy or
// commit the restore before the store.
class SnapshotRestore {
 public:
  virtual ~SnapshotRestore() = default;
  virtual Status add_rows(const std::string& table, const std::vector<Row>& rows) = 0;
  virtual Status commit() = 0;
};

struct StoreInfo {
  std::string backend;   // "sqlite" or "postgres"
  std::string location;  // path, or conninfo without secrets
  std::uint32_t schema_version = 0;
  Lsn first_lsn = 0;  // oldest record still in the journal (0 when empty)
  Lsn last_lsn = 0;
  Epoch epoch = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual StoreInfo info() const = 0;
  virtual Lsn last_lsn() const = 0;
  virtual Epoch current_epoch() const = 0;
  virtual const Schema& schema() const = 0;

  // Persists `epoch` as current; it must not be below current_epoch().
  virtual Status advance_epoch(Epoch epoch) = 0;

  // Writes `batch` atomically; returns the LSN of its last record.
  virtual Result<Lsn> commit(const WriteBatch& batch) = 0;

  // Applies replicated records in one transaction (see the contract above).
  // Returns last_lsn() afterwards.
  virtual Result<Lsn> apply(std::span<const JournalRecord> records) = 0;

  // Up to `max` records with lsn >= from, in LSN order; no more once their
  // payloads reach `max_bytes`, but always at least one.
  virtual Result<std::vector<JournalRecord>> read_journal(Lsn from, std::size_t max,
                                                          std::size_t max_bytes = SIZE_MAX) = 0;
  // Drops records below `keep_from` (they stay reflected in the rows).
  virtual Status prune_journal(Lsn keep_from) = 0;

  virtual Result<std::optional<Row>> get(const std::string& table, const Value& key) = 0;
  // Every row of `table` in key order; `fn` returns false to stop early.
  virtual Status scan(const std::string& table, const std::function<bool(const Row&)>& fn) = 0;
  // The same, in descending key order (the newest first in a table keyed by a
  // growing id); read in pages, so stopping early reads little.
  virtual Status scan_newest_first(const std::string& table,
                                   const std::function<bool(const Row&)>& fn) = 0;
  // Rows whose key is above `after`, in key order, read in pages: a range
  // scan over a text key with a common prefix stops where `fn` says.
  virtual Status scan_after(const std::string& table, const Value& after,
                            const std::function<bool(const Row&)>& fn) = 0;

  // A consistent snapshot of every replicated table and the LSN it reflects.
  virtual Status take_snapshot(SnapshotSink& sink, std::size_t chunk_rows) = 0;
  // A reader of such a snapshot on its own connection (see SnapshotReader).
  virtual Result<std::unique_ptr<SnapshotReader>> open_snapshot_reader() = 0;
  // Replaces all rows and the journal position with a snapshot.
  virtual Result<std::unique_ptr<SnapshotRestore>> begin_restore(const SnapshotHeader& header) = 0;

  // A small write transaction (a meta row), to learn whether the store can
  // still commit: kIo when the disk is full or read-only, kUnavailable when
  // the database is gone.
  virtual Status probe_write() = 0;

  // Flushes and closes; later calls fail with kUnavailable.
  virtual void close() = 0;
};

}  // namespace duet::store
