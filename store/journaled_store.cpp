#include "store/journaled_store.h"

#include <charconv>

#include "store/meta_keys.h"
#include "store/snapshot_reader.h"
#include "store/store_error.h"

namespace duet::store {
namespace {

constexpr const char* kMetaSchemaVersion = meta::kSchemaVersion;
constexpr const char* kMetaEpoch = meta::kEpoch;
constexpr const char* kMetaBaseLsn = meta::kBaseLsn;
constexpr const char* kMetaBaseEpoch = meta::kBaseEpoch;

Result<std::uint64_t> meta_u64(SqlBackend& db, const char* key) {
  DUET_ASSIGN_OR_RETURN(auto text, db.get_meta(key));
  if (!text) return std::uint64_t{0};
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || ptr != text->data() + text->size()) {
    return make_error(StoreErrc::kCorrupt,
                      std::string("meta value '") + key + "' is not a number: '" + *text + "'");
  }
  return v;
}

bool type_matches(ColumnType type, const Value& v) {
  switch (type) {
    case ColumnType::kInt:
      return std::holds_alternative<std::int64_t>(v);
    case ColumnType::kReal:
      return std::holds_alternative<double>(v);
    case ColumnType::kText:
      return std::holds_alternative<std::string>(v);
    case ColumnType::kBlob:
      return std::holds_alternative<Blob>(v);
  }
  return false;
}

const char* type_name(ColumnType type) {
  switch (type) {
    case ColumnType::kInt:
      return "integer";
    case ColumnType::kReal:
      return "real";
    case ColumnType::kText:
      return "text";
    case ColumnType::kBlob:
      return "blob";
  }
  return "?";
}

// Rolls back an open write transaction unless released.
class TxGuard {
 public:
  explicit TxGuard(SqlBackend& db) : db_(&db) {}
  ~TxGuard() {
    if (db_ != nullptr) db_->rollback();
  }
  Status commit() {
    SqlBackend* db = db_;
    db_ = nullptr;
    auto s = db->commit();
    if (!s.ok()) db->rollback();
    return s;
  }
  TxGuard(const TxGuard&) = delete;
  TxGuard& operator=(const TxGuard&) = delete;

 private:
  SqlBackend* db_;
};

}  // namespace

std::string key_text(const Value& key) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) return std::to_string(*i);
  if (const auto* s = std::get_if<std::string>(&key)) return *s;
  return {};
}

// ---- restore ----

class JournaledStore::Restore final : public SnapshotRestore {
 public:
  Restore(JournaledStore& store, SnapshotHeader header) : store_(store), header_(header) {
    store_.restoring_ = true;
  }
  ~Restore() override {
    if (open_) {
      store_.db_->rollback();
      store_.restoring_ = false;
    }
  }

  Status add_rows(const std::string& table_name, const std::vector<Row>& rows) override {
    if (!open_) return make_error(StoreErrc::kInternal, "restore already finished");
    DUET_ASSIGN_OR_RETURN(const TableDef* t, store_.table(table_name));
    for (const auto& row : rows) {
      DUET_ASSIGN_OR_RETURN(Row normal, store_.normalize(*t, row));
      DUET_TRY(store_.db_->upsert(*t, normal));
    }
    return ok_status();
  }

  Status commit() override {
    if (!open_) return make_error(StoreErrc::kInternal, "restore already finished");
    SqlBackend& db = *store_.db_;
    const Epoch epoch = std::max(store_.epoch_, header_.epoch);
    DUET_TRY(db.set_meta(kMetaBaseLsn, std::to_string(header_.lsn)));
    DUET_TRY(db.set_meta(kMetaBaseEpoch, std::to_string(header_.epoch)));
    DUET_TRY(db.set_meta(kMetaEpoch, std::to_string(epoch)));
    open_ = false;
    store_.restoring_ = false;
    auto s = db.commit();
    if (!s.ok()) {
      db.rollback();
      return s;
    }
    store_.base_lsn_ = header_.lsn;
    store_.base_epoch_ = header_.epoch;
    store_.last_lsn_ = header_.lsn;
    store_.first_lsn_ = 0;
    store_.epoch_ = epoch;
    return ok_status();
  }

  bool open_ = true;

 private:
  JournaledStore& store_;
  SnapshotHeader header_;
};

// ---- JournaledStore ----

JournaledStore::JournaledStore(std::unique_ptr<SqlBackend> backend, const Schema& schema,
                               const Clock& clock)
    : db_(std::move(backend)), schema_(schema), clock_(clock) {}

JournaledStore::~JournaledStore() { close(); }

Result<std::unique_ptr<JournaledStore>> JournaledStore::open(std::unique_ptr<SqlBackend> backend,
                                                             const Schema& schema,
                                                             const Clock& clock) {
  DUET_TRY(schema.validate());
  std::unique_ptr<JournaledStore> store(new JournaledStore(std::move(backend), schema, clock));
  DUET_TRY(store->load());
  return store;
}

Status JournaledStore::load() {
  DUET_TRY(db_->bootstrap());
  DUET_ASSIGN_OR_RETURN(std::uint64_t version, meta_u64(*db_, kMetaSchemaVersion));
  if (version > schema_.latest_version()) {
    return make_error(StoreErrc::kSchemaTooNew,
                      "database " + db_->location() + " has schema version " +
                          std::to_string(version) + ", newer than this binary's " +
                          std::to_string(schema_.latest_version()) +
                          "; run the newer duet-manager, or move the database aside and re-seed "
                          "it from the peer (duetctl failback)");
  }
  if (version < schema_.latest_version()) DUET_TRY(migrate(static_cast<std::uint32_t>(version)));
  schema_version_ = schema_.latest_version();
  DUET_ASSIGN_OR_RETURN(epoch_, meta_u64(*db_, kMetaEpoch));
  DUET_ASSIGN_OR_RETURN(base_lsn_, meta_u64(*db_, kMetaBaseLsn));
  DUET_ASSIGN_OR_RETURN(base_epoch_, meta_u64(*db_, kMetaBaseEpoch));
  DUET_ASSIGN_OR_RETURN(Lsn max_lsn, db_->max_journal_lsn());
  DUET_ASSIGN_OR_RETURN(first_lsn_, db_->min_journal_lsn());
  last_lsn_ = std::max(max_lsn, base_lsn_);
  return ok_status();
}

Status JournaledStore::migrate(std::uint32_t from_version) {
  for (const auto& m : schema_.migrations()) {
    if (m.version <= from_version) continue;
    DUET_TRY(db_->begin_write());
    TxGuard tx(*db_);
    for (const auto& t : m.create_tables) DUET_TRY(db_->create_table(t));
    for (const auto& ix : m.create_indexes) DUET_TRY(db_->create_index(ix));
    for (const auto& a : m.add_columns) DUET_TRY(db_->add_column(a.table, a.column));
    for (const auto& name : m.drop_indexes) DUET_TRY(db_->drop_index(name));
    DUET_TRY(db_->set_meta(kMetaSchemaVersion, std::to_string(m.version)));
    DUET_TRY(tx.commit());
  }
  return ok_status();
}

Status JournaledStore::check_open() const {
  if (closed_) return make_error(StoreErrc::kUnavailable, "the store is closed");
  if (restoring_) {
    return make_error(StoreErrc::kUnavailable, "a snapshot restore is in progress (re-seeding)");
  }
  return ok_status();
}

StoreInfo JournaledStore::info() const {
  return StoreInfo{db_->name(), db_->location(), schema_version_, first_lsn_, last_lsn_, epoch_};
}

Result<const TableDef*> JournaledStore::table(const std::string& name) const {
  const TableDef* t = schema_.table(name);
  if (t == nullptr) return make_error(StoreErrc::kUnknownTable, "no table '" + name + "'");
  return t;
}

Result<Row> JournaledStore::normalize(const TableDef& table, const Row& row) const {
  Row out;
  out.reserve(table.columns.size());
  for (const auto& col : table.columns) out.push_back(Field{col.name, Null{}});
  std::vector<bool> seen(table.columns.size(), false);
  for (const auto& f : row) {
    std::size_t idx = 0;
    while (idx < table.columns.size() && table.columns[idx].name != f.name) ++idx;
    if (idx == table.columns.size()) {
      return make_error(StoreErrc::kInvalidRow,
                        "table " + table.name + " has no column '" + f.name + "'");
    }
    if (seen[idx]) {
      return make_error(StoreErrc::kInvalidRow, "column '" + f.name + "' given twice");
    }
    seen[idx] = true;
    const ColumnDef& col = table.columns[idx];
    Value v = f.value;
    if (col.type == ColumnType::kReal) {
      if (const auto* i = std::get_if<std::int64_t>(&v)) v = static_cast<double>(*i);
    }
    if (!std::holds_alternative<Null>(v) && !type_matches(col.type, v)) {
      return make_error(StoreErrc::kInvalidRow, table.name + "." + col.name + " takes " +
                                                    type_name(col.type) + ", given " +
                                                    to_string(v));
    }
    out[idx].value = std::move(v);
  }
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    const ColumnDef& col = table.columns[i];
    if (std::holds_alternative<Null>(out[i].value) && (col.not_null || col.name == table.key)) {
      return make_error(StoreErrc::kInvalidRow, table.name + "." + col.name + " must not be NULL");
    }
  }
  return out;
}

bool JournaledStore::is_normal(const TableDef& table, const Row& row) const {
  if (row.size() != table.columns.size()) return false;
  for (std::size_t i = 0; i < row.size(); ++i) {
    const ColumnDef& col = table.columns[i];
    if (row[i].name != col.name) return false;
    if (std::holds_alternative<Null>(row[i].value)) {
      if (col.not_null || col.name == table.key) return false;
    } else if (!type_matches(col.type, row[i].value)) {
      return false;
    }
  }
  return true;
}

Result<Value> JournaledStore::key_from_text(const TableDef& table, const std::string& text) const {
  if (table.key_column().type == ColumnType::kText) return Value{text};
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return make_error(StoreErrc::kInvalidRow,
                      "key '" + text + "' of " + table.name + " is not an integer");
  }
  return Value{v};
}

Status JournaledStore::advance_epoch(Epoch epoch) {
  DUET_TRY(check_open());
  if (epoch < epoch_) {
    return make_error(
        StoreErrc::kStaleEpoch,
        "epoch " + std::to_string(epoch) + " is below the current " + std::to_string(epoch_));
  }
  if (epoch == epoch_) return ok_status();
  DUET_TRY(db_->begin_write());
  TxGuard tx(*db_);
  DUET_TRY(db_->set_meta(kMetaEpoch, std::to_string(epoch)));
  DUET_TRY(tx.commit());
  epoch_ = epoch;
  return ok_status();
}

Result<Lsn> JournaledStore::commit(const WriteBatch& batch) {
  DUET_TRY(check_open());
  if (epoch_ == 0) {
    return make_error(StoreErrc::kNoEpoch, "no epoch persisted yet: this node was never promoted");
  }
  if (batch.empty()) return last_lsn_;

  // Check every change before touching the database.
  // A row already in normal form is written from the batch; others from a
  // normalized copy.
  struct Prepared {
    const TableDef* table;
    JournalOp op;
    const Row* row;  // kUpsert: the batch's row or `normalized`
    Row normalized;
    const Value* key;                  // into *row, or the batch's key
    std::vector<const Row*> rows;      // kUpsertRows: the batch's or into `normalized_rows`
    std::vector<Row> normalized_rows;  // reserved up front: never reallocates
  };
  std::vector<Prepared> prepared;
  prepared.reserve(batch.size());  // never reallocates: rows point into their element
  const TableDef* last_table = nullptr;
  for (const auto& op : batch.ops()) {
    if (last_table == nullptr || last_table->name != op.table) {
      DUET_ASSIGN_OR_RETURN(last_table, table(op.table));
    }
    const TableDef* t = last_table;
    if (op.op == JournalOp::kUpsert) {
      prepared.push_back(Prepared{t, op.op, &op.row, {}, nullptr, {}, {}});
      Prepared& p = prepared.back();
      if (!is_normal(*t, op.row)) {
        DUET_ASSIGN_OR_RETURN(p.normalized, normalize(*t, op.row));
        p.row = &p.normalized;
      }
      p.key = &(*p.row)[t->key_index()].value;
    } else if (op.op == JournalOp::kUpsertRows) {
      prepared.push_back(Prepared{t, op.op, nullptr, {}, nullptr, {}, {}});
      Prepared& p = prepared.back();
      p.rows.reserve(op.rows.size());
      for (const auto& row : op.rows) {
        if (is_normal(*t, row)) {
          p.rows.push_back(&row);
          continue;
        }
        if (p.normalized_rows.empty()) p.normalized_rows.reserve(op.rows.size());
        DUET_ASSIGN_OR_RETURN(Row normal, normalize(*t, row));
        p.normalized_rows.push_back(std::move(normal));
        p.rows.push_back(&p.normalized_rows.back());
      }
    } else {
      if (!type_matches(t->key_column().type, op.key)) {
        return make_error(StoreErrc::kInvalidRow,
                          "key " + to_string(op.key) + " does not fit " + t->name + "." + t->key);
      }
      prepared.push_back(Prepared{t, op.op, nullptr, {}, &op.key, {}, {}});
    }
  }

  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  DUET_TRY(db_->begin_write());
  TxGuard tx(*db_);
  Lsn lsn = last_lsn_;
  JournalRecord rec;
  rec.epoch = epoch_;
  rec.committed_at_ms = now_ms;
  for (auto& p : prepared) {
    rec.table = p.table->name;
    rec.op = p.op;
    if (p.op == JournalOp::kUpsertRows) {
      // Rows under records of about kMaxRowsRecordBytes each.
      rec.key.clear();
      rec.payload.clear();
      for (std::size_t i = 0; i < p.rows.size(); ++i) {
        DUET_TRY(db_->upsert(*p.table, *p.rows[i]));
        if (rec.payload.empty()) start_row_block(rec.payload, *p.rows[i]);
        append_block_row(rec.payload, *p.rows[i]);
        if (rec.payload.size() >= kMaxRowsRecordBytes || i + 1 == p.rows.size()) {
          rec.lsn = ++lsn;
          DUET_TRY(db_->insert_journal(rec));
          rec.payload.clear();
        }
      }
      continue;
    }
    rec.lsn = ++lsn;
    rec.key = key_text(*p.key);
    if (p.op == JournalOp::kUpsert) {
      DUET_TRY(db_->upsert(*p.table, *p.row));
      rec.payload = encode_row(*p.row);
    } else {
      DUET_TRY(db_->erase(*p.table, *p.key));
      rec.payload.clear();
    }
    DUET_TRY(db_->insert_journal(rec));
  }
  DUET_TRY(tx.commit());
  if (first_lsn_ == 0) first_lsn_ = last_lsn_ + 1;
  last_lsn_ = lsn;
  return last_lsn_;
}

Result<Epoch> JournaledStore::epoch_at(Lsn lsn) {
  if (lsn == base_lsn_) return base_epoch_;
  if (lsn < base_lsn_) return Epoch{0};  // pruned or restored over: cannot be checked
  DUET_ASSIGN_OR_RETURN(auto e, db_->journal_epoch_at(lsn));
  if (!e) {
    return make_error(StoreErrc::kInternal, "journal has no record at LSN " + std::to_string(lsn));
  }
  return *e;
}

Status JournaledStore::apply_one(const JournalRecord& record) {
  DUET_ASSIGN_OR_RETURN(const TableDef* t, table(record.table));
  switch (record.op) {
    case JournalOp::kUpsert: {
      DUET_ASSIGN_OR_RETURN(Row row, decode_row(record.payload));
      if (!is_normal(*t, row)) {
        DUET_ASSIGN_OR_RETURN(row, normalize(*t, row));
      }
      if (key_text(row[t->key_index()].value) != record.key) {
        return make_error(StoreErrc::kInvalidRow, "record at LSN " + std::to_string(record.lsn) +
                                                      " names key '" + record.key +
                                                      "' but its row holds another");
      }
      DUET_TRY(db_->upsert(*t, row));
      break;
    }
    case JournalOp::kUpsertRows: {
      // Decoded into one reused row: the standby applies every event this way.
      DUET_TRY(for_each_block_row(record.payload, [&](Row& row) -> Status {
        if (is_normal(*t, row)) return db_->upsert(*t, row);
        DUET_ASSIGN_OR_RETURN(Row normal, normalize(*t, row));
        return db_->upsert(*t, normal);
      }));
      break;
    }
    case JournalOp::kDelete: {
      DUET_ASSIGN_OR_RETURN(Value key, key_from_text(*t, record.key));
      DUET_TRY(db_->erase(*t, key));
      break;
    }
    default:
      return make_error(StoreErrc::kInvalidRow, "record at LSN " + std::to_string(record.lsn) +
                                                    " has an unknown operation");
  }
  return db_->insert_journal(record);
}

Result<Lsn> JournaledStore::apply(std::span<const JournalRecord> records) {
  DUET_TRY(check_open());
  // Skip what is already here (checking it is the same history), then insist
  // the rest continues the journal without a gap and without going back in epoch.
  std::size_t start = 0;
  for (; start < records.size() && records[start].lsn <= last_lsn_; ++start) {
    const JournalRecord& r = records[start];
    DUET_ASSIGN_OR_RETURN(Epoch have, epoch_at(r.lsn));
    if (have != 0 && have != r.epoch) {
      return make_error(StoreErrc::kDiverged, "LSN " + std::to_string(r.lsn) + " is from epoch " +
                                                  std::to_string(have) + " here but epoch " +
                                                  std::to_string(r.epoch) +
                                                  " at the sender; this node must be re-seeded");
    }
  }
  if (start == records.size()) return last_lsn_;

  Lsn expect = last_lsn_ + 1;
  // Records continue the journal: no gap, and epochs never go back along it.
  // (Fencing a stale sender is the caller's job: it compares the sender's
  // epoch with current_epoch(). A replica that has seen a higher epoch must
  // still apply the older records it lacks.)
  DUET_ASSIGN_OR_RETURN(Epoch epoch, epoch_at(last_lsn_));
  for (std::size_t i = start; i < records.size(); ++i, ++expect) {
    const JournalRecord& r = records[i];
    if (r.lsn != expect) {
      return make_error(StoreErrc::kJournalGap, "expected LSN " + std::to_string(expect) +
                                                    ", received " + std::to_string(r.lsn));
    }
    if (r.epoch < epoch) {
      return make_error(StoreErrc::kStaleEpoch, "record at LSN " + std::to_string(r.lsn) +
                                                    " is from epoch " + std::to_string(r.epoch) +
                                                    ", below the journal's " +
                                                    std::to_string(epoch));
    }
    epoch = r.epoch;
  }

  DUET_TRY(db_->begin_write());
  TxGuard tx(*db_);
  for (std::size_t i = start; i < records.size(); ++i) DUET_TRY(apply_one(records[i]));
  if (epoch > epoch_) DUET_TRY(db_->set_meta(kMetaEpoch, std::to_string(epoch)));
  DUET_TRY(tx.commit());
  if (first_lsn_ == 0) first_lsn_ = records[start].lsn;
  last_lsn_ = records.back().lsn;
  epoch_ = std::max(epoch_, epoch);
  return last_lsn_;
}

Result<std::vector<JournalRecord>> JournaledStore::read_journal(Lsn from, std::size_t max,
                                                                std::size_t max_bytes) {
  DUET_TRY(check_open());
  return db_->select_journal(from, max, max_bytes);
}

Status JournaledStore::prune_journal(Lsn keep_from) {
  DUET_TRY(check_open());
  keep_from = std::min(keep_from, last_lsn_ + 1);
  if (first_lsn_ == 0 || keep_from <= first_lsn_) return ok_status();
  DUET_ASSIGN_OR_RETURN(Epoch base_epoch, epoch_at(keep_from - 1));
  DUET_TRY(db_->begin_write());
  TxGuard tx(*db_);
  DUET_TRY(db_->delete_journal_below(keep_from));
  DUET_TRY(db_->set_meta(kMetaBaseLsn, std::to_string(keep_from - 1)));
  DUET_TRY(db_->set_meta(kMetaBaseEpoch, std::to_string(base_epoch)));
  DUET_TRY(tx.commit());
  base_lsn_ = keep_from - 1;
  base_epoch_ = base_epoch;
  first_lsn_ = keep_from <= last_lsn_ ? keep_from : 0;
  return ok_status();
}

Result<std::optional<Row>> JournaledStore::get(const std::string& table_name, const Value& key) {
  DUET_TRY(check_open());
  DUET_ASSIGN_OR_RETURN(const TableDef* t, table(table_name));
  if (!type_matches(t->key_column().type, key)) {
    return make_error(StoreErrc::kInvalidRow,
                      "key " + to_string(key) + " does not fit " + t->name + "." + t->key);
  }
  return db_->select(*t, key);
}

Status JournaledStore::scan(const std::string& table_name,
                            const std::function<bool(const Row&)>& fn) {
  DUET_TRY(check_open());
  DUET_ASSIGN_OR_RETURN(const TableDef* t, table(table_name));
  return db_->scan(*t, [&fn](Row row) { return fn(row); });
}

Status JournaledStore::scan_newest_first(const std::string& table_name,
                                         const std::function<bool(const Row&)>& fn) {
  DUET_TRY(check_open());
  DUET_ASSIGN_OR_RETURN(const TableDef* t, table(table_name));
  constexpr std::size_t kPage = 256;
  std::optional<Value> before;
  for (;;) {
    DUET_ASSIGN_OR_RETURN(auto page, db_->select_page_desc(*t, before ? &*before : nullptr, kPage));
    for (const auto& row : page) {
      if (!fn(row)) return ok_status();
    }
    if (page.size() < kPage) return ok_status();
    const Value* key = find_field(page.back(), t->key);
    if (key == nullptr) return make_error(StoreErrc::kInternal, "a row without its key");
    before = *key;
  }
}

Status JournaledStore::scan_after(const std::string& table_name, const Value& after,
                                  const std::function<bool(const Row&)>& fn) {
  DUET_TRY(check_open());
  DUET_ASSIGN_OR_RETURN(const TableDef* t, table(table_name));
  constexpr std::size_t kPage = 256;
  Value from = after;
  for (;;) {
    DUET_ASSIGN_OR_RETURN(auto page, db_->select_page(*t, &from, kPage));
    for (const auto& row : page) {
      if (!fn(row)) return ok_status();
    }
    if (page.size() < kPage) return ok_status();
    const Value* key = find_field(page.back(), t->key);
    if (key == nullptr) return make_error(StoreErrc::kInternal, "a row without its key");
    from = *key;
  }
}

Status JournaledStore::take_snapshot(SnapshotSink& sink, std::size_t chunk_rows) {
  DUET_ASSIGN_OR_RETURN(auto reader, open_snapshot_reader());
  DUET_ASSIGN_OR_RETURN(SnapshotHeader header, reader->header());
  DUET_TRY(sink.on_header(header));
  for (;;) {
    DUET_ASSIGN_OR_RETURN(auto chunk, reader->next_chunk(chunk_rows, SIZE_MAX));
    if (!chunk) return ok_status();
    DUET_TRY(sink.on_rows(chunk->table, std::move(chunk->rows)));
  }
}

Result<std::unique_ptr<SnapshotReader>> JournaledStore::open_snapshot_reader() {
  DUET_TRY(check_open());
  return std::unique_ptr<SnapshotReader>(
      std::make_unique<SqlSnapshotReader>(db_->opener(), schema_.tables()));
}

Result<std::unique_ptr<SnapshotRestore>> JournaledStore::begin_restore(
    const SnapshotHeader& header) {
  DUET_TRY(check_open());
  if (header.schema_version != schema_version_) {
    return make_error(StoreErrc::kSchemaTooNew,
                      "snapshot has schema version " + std::to_string(header.schema_version) +
                          ", this node " + std::to_string(schema_version_) +
                          "; run the same duet-manager version on both nodes");
  }
  DUET_TRY(db_->begin_write());
  auto restore = std::make_unique<Restore>(*this, header);  // rolls back if dropped
  for (const auto& t : schema_.tables()) DUET_TRY(db_->erase_all(t));
  DUET_TRY(db_->delete_journal_all());
  return std::unique_ptr<SnapshotRestore>(std::move(restore));
}

Status JournaledStore::probe_write() {
  DUET_TRY(check_open());
  DUET_TRY(db_->begin_write());
  TxGuard tx(*db_);
  DUET_TRY(db_->set_meta("health_probe", std::to_string(++probes_)));
  return tx.commit();
}

void JournaledStore::close() {
  if (closed_) return;
  closed_ = true;
  db_->close();
}

}  // namespace duet::store
