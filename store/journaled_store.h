#pragma once

// JournaledStore: the Store rules (journal, LSNs, epochs, fencing, idempotent
// apply, migrations, snapshots) over any SqlBackend. The backend runs SQL;
// everything a replica relies on is decided here, once, so SQLite and
// PostgreSQL cannot drift apart.

#include <memory>

#include "common/clock.h"
#include "store/sql_backend.h"
#include "store/store.h"

namespace duet::store {

class JournaledStore final : public Store {
 public:
  // Bootstraps, checks the schema version (kSchemaTooNew when the database is
  // newer than `schema`), runs missing migrations and loads the journal
  // position. `schema` and `clock` must outlive the store.
  static Result<std::unique_ptr<JournaledStore>> open(std::unique_ptr<SqlBackend> backend,
                                                      const Schema& schema, const Clock& clock);
  ~JournaledStore() override;

  StoreInfo info() const override;
  Lsn last_lsn() const override { return last_lsn_; }
  Epoch current_epoch() const override { return epoch_; }
  const Schema& schema() const override { return schema_; }

  Status advance_epoch(Epoch epoch) override;
  Result<Lsn> commit(const WriteBatch& batch) override;
  Result<Lsn> apply(std::span<const JournalRecord> records) override;
  Result<std::vector<JournalRecord>> read_journal(Lsn from, std::size_t max,
                                                  std::size_t max_bytes = SIZE_MAX) override;
  Status prune_journal(Lsn keep_from) override;
  Result<std::optional<Row>> get(const std::string& table, const Value& key) override;
  Status scan(const std::string& table, const std::function<bool(const Row&)>& fn) override;
  Status scan_after(const std::string& table, const Value& after,
                    const std::function<bool(const Row&)>& fn) override;
  Status scan_newest_first(const std::string& table,
                           const std::function<bool(const Row&)>& fn) override;
  // Reads through open_snapshot_reader(): a connection of its own.
  Status take_snapshot(SnapshotSink& sink, std::size_t chunk_rows) override;
  Result<std::unique_ptr<SnapshotReader>> open_snapshot_reader() override;
  Result<std::unique_ptr<SnapshotRestore>> begin_restore(const SnapshotHeader& header) override;
  Status probe_write() override;
  void close() override;

 private:
  class Restore;

  JournaledStore(std::unique_ptr<SqlBackend> backend, const Schema& schema, const Clock& clock);
  Status load();
  Status migrate(std::uint32_t from_version);
  Status check_open() const;
  Result<const TableDef*> table(const std::string& name) const;
  // The row with every column, in column order, checked against the table.
  Result<Row> normalize(const TableDef& table, const Row& row) const;
  // True when `row` is already what normalize() would make of it (every
  // column, in order, of its exact type, NULL only where allowed): it can be
  // written as it is, without a copy.
  bool is_normal(const TableDef& table, const Row& row) const;
  Result<Value> key_from_text(const TableDef& table, const std::string& text) const;
  Status apply_one(const JournalRecord& record);
  Result<Epoch> epoch_at(Lsn lsn);

  std::unique_ptr<SqlBackend> db_;
  const Schema& schema_;
  const Clock& clock_;
  bool closed_ = false;
  bool restoring_ = false;  // a Restore is open: nothing else may use db_
  std::uint32_t schema_version_ = 0;
  Lsn first_lsn_ = 0;
  Lsn last_lsn_ = 0;
  Lsn base_lsn_ = 0;  // highest LSN reflected in the rows but no longer in the journal
  Epoch base_epoch_ = 0;
  Epoch epoch_ = 0;
  std::uint64_t probes_ = 0;
};

// The text form of a key value, as the journal stores it.
std::string key_text(const Value& key);

}  // namespace duet::store
