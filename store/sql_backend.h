#pragma once

// The primitives a database must offer JournaledStore: transactions, row
// upsert/delete/select by key, the journal table and the local meta table.
// Backends run SQL and convert values; every rule (LSNs, epochs, fencing,
// idempotence, migrations) lives once in JournaledStore.
//
// Thread-compatible; one owner. Errors use StoreErrc: kUnavailable for a lost
// connection (retry later), kCorrupt, kIo for failed writes, kInternal for
// SQL that should not fail.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/journal_record.h"
#include "store/row.h"
#include "store/schema.h"

namespace duet::store {

class SqlBackend;

// Opens another connection to the same database, with the same settings. A
// copy may be called from any thread; it shares nothing with the backend
// that made it.
using BackendOpener = std::function<Result<std::unique_ptr<SqlBackend>>()>;

class SqlBackend {
 public:
  virtual ~SqlBackend() = default;

  virtual std::string name() const = 0;      // "sqlite", "postgres"
  virtual std::string location() const = 0;  // safe to log

  // Creates duet_meta and duet_journal when missing.
  virtual Status bootstrap() = 0;
  virtual Status create_table(const TableDef& table) = 0;
  virtual Status create_index(const IndexDef& index) = 0;
  virtual Status add_column(const std::string& table, const ColumnDef& column) = 0;
  virtual Status drop_index(const std::string& name) = 0;

  virtual Status begin_write() = 0;
  // A read-only transaction whose reads all see one consistent state.
  virtual Status begin_snapshot_read() = 0;
  virtual Status commit() = 0;
  virtual void rollback() = 0;

  virtual Result<std::optional<std::string>> get_meta(const std::string& key) = 0;
  virtual Status set_meta(const std::string& key, const std::string& value) = 0;

  // `row` holds every column of `table`, in column order.
  virtual Status upsert(const TableDef& table, const Row& row) = 0;
  virtual Status erase(const TableDef& table, const Value& key) = 0;
  virtual Status erase_all(const TableDef& table) = 0;
  virtual Result<std::optional<Row>> select(const TableDef& table, const Value& key) = 0;
  virtual Status scan(const TableDef& table, const std::function<bool(Row)>& fn) = 0;
  // Up to `limit` rows in key order, after key `after` (null: from the start).
  virtual Result<std::vector<Row>> select_page(const TableDef& table, const Value* after,
                                               std::size_t limit) = 0;
  // Up to `limit` rows in descending key order, below key `before` (null: from the end).
  virtual Result<std::vector<Row>> select_page_desc(const TableDef& table, const Value* before,
                                                    std::size_t limit) = 0;

  virtual Status insert_journal(const JournalRecord& record) = 0;
  // Stops once the payloads read reach max_bytes (at least one record).
  virtual Result<std::vector<JournalRecord>> select_journal(Lsn from, std::size_t max,
                                                            std::size_t max_bytes) = 0;
  virtual Result<std::optional<Epoch>> journal_epoch_at(Lsn lsn) = 0;
  virtual Result<Lsn> min_journal_lsn() = 0;  // 0 when empty
  virtual Result<Lsn> max_journal_lsn() = 0;  // 0 when empty
  virtual Status delete_journal_below(Lsn lsn) = 0;
  virtual Status delete_journal_all() = 0;

  virtual BackendOpener opener() const = 0;

  virtual void close() = 0;
};

}  // namespace duet::store
