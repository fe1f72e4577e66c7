#pragma once

// SqlSnapshotReader: the SnapshotReader of JournaledStore (contract in
// store/store.h). It opens its own connection with a BackendOpener, starts a
// read-only snapshot transaction, reads the journal position inside it, then
// pages through every table in key order (keyset paging: WHERE key > last
// ORDER BY key LIMIT n), so each call reads one bounded page and no cursor
// or statement stays open between calls.
//
// Threads: used by one thread at a time; shares nothing with the store.
// Ownership: owns its connection; copies the table definitions.

#include <memory>
#include <optional>
#include <vector>

#include "store/sql_backend.h"
#include "store/store.h"

namespace duet::store {

class SqlSnapshotReader final : public SnapshotReader {
 public:
  SqlSnapshotReader(BackendOpener opener, std::vector<TableDef> tables);
  ~SqlSnapshotReader() override;
  SqlSnapshotReader(const SqlSnapshotReader&) = delete;
  SqlSnapshotReader& operator=(const SqlSnapshotReader&) = delete;

  Result<SnapshotHeader> header() override;
  Result<std::optional<SnapshotRows>> next_chunk(std::size_t max_rows,
                                                 std::size_t max_bytes) override;

 private:
  Error fail(Error e);  // remembers `e`, ends the transaction, returns `e`

  BackendOpener opener_;
  std::vector<TableDef> tables_;
  std::unique_ptr<SqlBackend> db_;
  std::optional<SnapshotHeader> header_;
  std::optional<Error> failed_;
  std::size_t table_ = 0;       // index of the table being read
  std::optional<Value> after_;  // key of the last row returned from it
};

// The journal position of the state `db` shows, read in its open transaction.
Result<SnapshotHeader> read_snapshot_header(SqlBackend& db);

}  // namespace duet::store
