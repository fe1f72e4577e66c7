#include "store/sqlite_backend.h"

#include <sqlite3.h>

#include <cstring>
#include <fstream>
#include <unordered_map>

#include "store/sql_text.h"
#include "store/store_error.h"

namespace duet::store {
namespace {

constexpr char kSqliteMagic[] = "SQLite format 3";  // 15 chars + NUL = the 16-byte header

const SqlDialect& dialect() {
  static const SqlDialect d{[](ColumnType t) -> std::string {
                              switch (t) {
                                case ColumnType::kInt:
                                  return "INTEGER";
                                case ColumnType::kReal:
                                  return "REAL";
                                case ColumnType::kText:
                                  return "TEXT";
                                case ColumnType::kBlob:
                                  return "BLOB";
                              }
                              return "BLOB";
                            },
                            [](int n) { return "?" + std::to_string(n); }};
  return d;
}

class SqliteBackend final : public SqlBackend {
 public:
  SqliteBackend(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteBackend() override { close(); }

  std::string name() const override { return "sqlite"; }
  std::string location() const override { return path_; }

  Status configure() {
    // WAL lets snapshot readers proceed while the writer commits.
    //
    // synchronous=FULL: every commit fsyncs the WAL before it returns. With
    // NORMAL, a commit is durable against a process crash but the last
    // transactions can vanish on power loss or a kernel panic. Duet
    // acknowledges a change to its producer once it is committed (and, in sync
    // mode, applied by the standby), and a pair can lose power together; an
    // acknowledged change must survive that on at least the master. Batching
    // amortises the fsync (see docs/BENCHMARKS.md), so FULL costs little where
    // throughput matters.
    DUET_TRY(exec_pragma("PRAGMA journal_mode=WAL", "wal"));
    DUET_TRY(exec("PRAGMA synchronous=FULL"));
    DUET_TRY(exec("PRAGMA foreign_keys=OFF"));
    sqlite3_busy_timeout(db_, 5000);
    return ok_status();
  }

  Status bootstrap() override {
    DUET_TRY(
        exec("CREATE TABLE IF NOT EXISTS duet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"));
    return exec(
        "CREATE TABLE IF NOT EXISTS duet_journal (lsn INTEGER PRIMARY KEY, epoch INTEGER NOT "
        "NULL, tbl TEXT NOT NULL, op INTEGER NOT NULL, key TEXT NOT NULL, payload BLOB NOT NULL, "
        "committed_at_ms INTEGER NOT NULL)");
  }

  Status create_table(const TableDef& table) override {
    return exec(create_table_sql(table, dialect()));
  }
  Status create_index(const IndexDef& index) override { return exec(create_index_sql(index)); }
  Status add_column(const std::string& table, const ColumnDef& column) override {
    return exec(add_column_sql(table, column, dialect()));
  }
  Status drop_index(const std::string& name) override {
    // SQLite refuses a DROP while any statement is mid-step (a cached one
    // that returned a row is left so until its next use).
    for (auto& [sql, st] : cache_) sqlite3_reset(st);
    return exec("DROP INDEX IF EXISTS " + name);
  }

  Status begin_write() override { return exec("BEGIN IMMEDIATE"); }
  // In WAL mode a deferred transaction reads one snapshot from its first read on.
  Status begin_snapshot_read() override { return exec("BEGIN DEFERRED"); }
  Status commit() override { return exec("COMMIT"); }
  void rollback() override {
    if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  Result<std::optional<std::string>> get_meta(const std::string& key) override {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, prepare("SELECT value FROM duet_meta WHERE key = ?1"));
    sqlite3_bind_text(st, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return std::optional<std::string>(column_text(st, 0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return error(rc, "reading meta");
  }

  Status set_meta(const std::string& key, const std::string& value) override {
    DUET_ASSIGN_OR_RETURN(
        sqlite3_stmt * st,
        prepare("INSERT INTO duet_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value"));
    sqlite3_bind_text(st, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return step_done(st, "writing meta");
  }

  Status upsert(const TableDef& table, const Row& row) override {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, table_stmt(table, kUpsertStmt));
    for (std::size_t i = 0; i < row.size(); ++i) bind(st, static_cast<int>(i + 1), row[i].value);
    return step_done(st, "writing ", table.name);
  }

  Status erase(const TableDef& table, const Value& key) override {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, table_stmt(table, kEraseStmt));
    bind(st, 1, key);
    return step_done(st, "deleting from ", table.name);
  }

  Status erase_all(const TableDef& table) override { return exec("DELETE FROM " + table.name); }

  Result<std::optional<Row>> select(const TableDef& table, const Value& key) override {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, table_stmt(table, kSelectStmt));
    bind(st, 1, key);
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return std::optional<Row>(read_row(table, st));
    if (rc == SQLITE_DONE) return std::optional<Row>();
    return error(rc, "reading " + table.name);
  }

  Status scan(const TableDef& table, const std::function<bool(Row)>& fn) override {
    // A scan may run while another statement of ours is mid-step (a snapshot
    // inside a transaction), so it gets its own statement, not the cached one.
    sqlite3_stmt* st = nullptr;
    const std::string sql = scan_sql(table);
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    if (rc != SQLITE_OK) return error(rc, "preparing scan of " + table.name);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (!fn(read_row(table, st))) {
        rc = SQLITE_DONE;
        break;
      }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return error(rc, "scanning " + table.name);
    return ok_status();
  }

  Result<std::vector<Row>> select_page(const TableDef& table, const Value* after,
                                       std::size_t limit) override {
    return read_page(
        table, after, limit,
        after != nullptr ? next_page_sql(table, dialect()) : first_page_sql(table, dialect()));
  }

  Result<std::vector<Row>> select_page_desc(const TableDef& table, const Value* before,
                                            std::size_t limit) override {
    return read_page(
        table, before, limit,
        before != nullptr ? previous_page_sql(table, dialect()) : last_page_sql(table, dialect()));
  }

  // A page query: `sql` takes the boundary key (when given), then the limit.
  Result<std::vector<Row>> read_page(const TableDef& table, const Value* boundary,
                                     std::size_t limit, const std::string& sql) {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, prepare(sql));
    int idx = 1;
    if (boundary != nullptr) bind(st, idx++, *boundary);
    sqlite3_bind_int64(st, idx, static_cast<sqlite3_int64>(limit));
    std::vector<Row> out;
    int rc = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.push_back(read_row(table, st));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return error(rc, "reading a page of " + table.name);
    return out;
  }

  BackendOpener opener() const override {
    return [path = path_] { return open_sqlite_backend(path); };
  }

  Status insert_journal(const JournalRecord& r) override {
    DUET_ASSIGN_OR_RETURN(
        sqlite3_stmt * st,
        cached(journal_insert_,
               "INSERT INTO duet_journal (lsn, epoch, tbl, op, key, payload, committed_at_ms) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(r.lsn));
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(r.epoch));
    sqlite3_bind_text(st, 3, r.table.data(), static_cast<int>(r.table.size()), SQLITE_STATIC);
    sqlite3_bind_int(st, 4, static_cast<int>(r.op));
    sqlite3_bind_text(st, 5, r.key.data(), static_cast<int>(r.key.size()), SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, r.payload.data(), static_cast<int>(r.payload.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, r.committed_at_ms);
    return step_done(st, "writing the journal");
  }

  Result<std::vector<JournalRecord>> select_journal(Lsn from, std::size_t max,
                                                    std::size_t max_bytes) override {
    DUET_ASSIGN_OR_RETURN(
        sqlite3_stmt * st,
        prepare("SELECT lsn, epoch, tbl, op, key, payload, committed_at_ms FROM duet_journal "
                "WHERE lsn >= ?1 ORDER BY lsn LIMIT ?2"));
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(from));
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(max));
    std::vector<JournalRecord> out;
    std::size_t bytes = 0;
    int rc = 0;
    while ((out.empty() || bytes < max_bytes) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      JournalRecord r;
      r.lsn = static_cast<Lsn>(sqlite3_column_int64(st, 0));
      r.epoch = static_cast<Epoch>(sqlite3_column_int64(st, 1));
      r.table = column_text(st, 2);
      r.op = static_cast<JournalOp>(sqlite3_column_int(st, 3));
      r.key = column_text(st, 4);
      r.payload = column_blob(st, 5);
      r.committed_at_ms = sqlite3_column_int64(st, 6);
      bytes += r.payload.size();
      out.push_back(std::move(r));
    }
    if (rc == SQLITE_ROW) rc = SQLITE_DONE;  // stopped at max_bytes
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return error(rc, "reading the journal");
    return out;
  }

  Result<std::optional<Epoch>> journal_epoch_at(Lsn lsn) override {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st,
                          prepare("SELECT epoch FROM duet_journal WHERE lsn = ?1"));
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(lsn));
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return std::optional<Epoch>(sqlite3_column_int64(st, 0));
    if (rc == SQLITE_DONE) return std::optional<Epoch>();
    return error(rc, "reading the journal");
  }

  Result<Lsn> min_journal_lsn() override { return scalar_u64("SELECT min(lsn) FROM duet_journal"); }
  Result<Lsn> max_journal_lsn() override { return scalar_u64("SELECT max(lsn) FROM duet_journal"); }

  Status delete_journal_below(Lsn lsn) override {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, prepare("DELETE FROM duet_journal WHERE lsn < ?1"));
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(lsn));
    return step_done(st, "pruning the journal");
  }
  Status delete_journal_all() override { return exec("DELETE FROM duet_journal"); }

  void close() override {
    if (db_ == nullptr) return;
    rollback();
    by_table_.clear();
    journal_insert_ = nullptr;
    for (auto& [sql, st] : cache_) sqlite3_finalize(st);
    cache_.clear();
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }

 private:
  Error error(int rc, const std::string& what) const {
    const std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    const std::string msg = path_ + ": " + what + ": " + detail;
    switch (rc & 0xff) {
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return make_error(StoreErrc::kCorrupt,
                          msg + " (the file was left untouched; move it aside to start afresh)");
      case SQLITE_FULL:
      case SQLITE_IOERR:
      case SQLITE_READONLY:
      case SQLITE_CANTOPEN:
      case SQLITE_PERM:
        return make_error(StoreErrc::kIo, msg);
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return make_error(StoreErrc::kUnavailable, msg);
      default:
        return make_error(StoreErrc::kInternal, msg);
    }
  }

  Status exec(const std::string& sql) {
    if (db_ == nullptr) return make_error(StoreErrc::kUnavailable, path_ + ": closed");
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return error(rc, sql.substr(0, 60));
    return ok_status();
  }

  Status exec_pragma(const std::string& sql, const std::string& expect) {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, prepare(sql));
    const int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return error(rc, sql);
    const std::string got = column_text(st, 0);
    sqlite3_reset(st);
    if (got != expect) {
      return make_error(StoreErrc::kIo, path_ + ": " + sql + " gave '" + got + "'");
    }
    return ok_status();
  }

  Result<sqlite3_stmt*> prepare(const std::string& sql) {
    if (db_ == nullptr) return make_error(StoreErrc::kUnavailable, path_ + ": closed");
    auto it = cache_.find(sql);
    if (it != cache_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* st = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    if (rc != SQLITE_OK) return error(rc, "preparing '" + sql.substr(0, 60) + "'");
    cache_.emplace(sql, st);
    return st;
  }

  Status step_done(sqlite3_stmt* st, const std::string& what) {
    const int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return error(rc, what);
    return ok_status();
  }
  // The same, naming what failed only when it did (no string built per row).
  Status step_done(sqlite3_stmt* st, const char* verb, const std::string& object) {
    const int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return error(rc, verb + object);
    return ok_status();
  }

  // The statements of a table, prepared once per connection (building and
  // hashing their SQL text per row cost more than the insert itself).
  enum StmtKind { kUpsertStmt = 0, kEraseStmt = 1, kSelectStmt = 2 };
  Result<sqlite3_stmt*> table_stmt(const TableDef& table, StmtKind kind) {
    if (db_ == nullptr) return make_error(StoreErrc::kUnavailable, path_ + ": closed");
    TableStmts& slot = by_table_[table.name];
    if (slot.columns != table.columns.size()) slot = TableStmts{table.columns.size(), {}};
    sqlite3_stmt*& st = slot.st[kind];
    if (st == nullptr) {
      const std::string sql = kind == kUpsertStmt  ? upsert_sql(table, dialect())
                              : kind == kEraseStmt ? delete_by_key_sql(table, dialect())
                                                   : select_by_key_sql(table, dialect());
      DUET_ASSIGN_OR_RETURN(st, prepare(sql));
      return st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }

  // A fixed statement kept in `slot` once prepared.
  Result<sqlite3_stmt*> cached(sqlite3_stmt*& slot, const char* sql) {
    if (slot == nullptr) {
      DUET_ASSIGN_OR_RETURN(slot, prepare(sql));
      return slot;
    }
    if (db_ == nullptr) return make_error(StoreErrc::kUnavailable, path_ + ": closed");
    sqlite3_reset(slot);
    sqlite3_clear_bindings(slot);
    return slot;
  }

  Result<Lsn> scalar_u64(const std::string& sql) {
    DUET_ASSIGN_OR_RETURN(sqlite3_stmt * st, prepare(sql));
    const int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return error(rc, sql);
    const Lsn v = static_cast<Lsn>(sqlite3_column_int64(st, 0));  // NULL reads as 0
    sqlite3_reset(st);
    return v;
  }

  // SQLITE_STATIC: every caller steps the statement while `v` lives, and
  // the next use of a statement clears its bindings first.
  static void bind(sqlite3_stmt* st, int idx, const Value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
      sqlite3_bind_int64(st, idx, *i);
    } else if (const auto* d = std::get_if<double>(&v)) {
      sqlite3_bind_double(st, idx, *d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      sqlite3_bind_text(st, idx, s->data(), static_cast<int>(s->size()), SQLITE_STATIC);
    } else if (const auto* b = std::get_if<Blob>(&v)) {
      sqlite3_bind_blob(st, idx, b->bytes.data(), static_cast<int>(b->bytes.size()), SQLITE_STATIC);
    } else {
      sqlite3_bind_null(st, idx);
    }
  }

  static std::string column_text(sqlite3_stmt* st, int col) {
    const auto* p = sqlite3_column_text(st, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(st, col)))
             : std::string();
  }

  static std::string column_blob(sqlite3_stmt* st, int col) {
    const void* p = sqlite3_column_blob(st, col);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(st, col)))
             : std::string();
  }

  // Columns are read by their declared type, so a value reads back as it was
  // written whatever SQLite's type affinity did with it.
  static Row read_row(const TableDef& table, sqlite3_stmt* st) {
    Row row;
    row.reserve(table.columns.size());
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      const int col = static_cast<int>(i);
      Value v;
      if (sqlite3_column_type(st, col) != SQLITE_NULL) {
        switch (table.columns[i].type) {
          case ColumnType::kInt:
            v = static_cast<std::int64_t>(sqlite3_column_int64(st, col));
            break;
          case ColumnType::kReal:
            v = sqlite3_column_double(st, col);
            break;
          case ColumnType::kText:
            v = column_text(st, col);
            break;
          case ColumnType::kBlob:
            v = Blob{column_blob(st, col)};
            break;
        }
      }
      row.push_back(Field{table.columns[i].name, std::move(v)});
    }
    return row;
  }

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;  // owns every statement
  struct TableStmts {
    std::size_t columns = 0;  // of the TableDef they were prepared for
    sqlite3_stmt* st[3] = {};
  };
  std::unordered_map<std::string, TableStmts> by_table_;  // into cache_
  sqlite3_stmt* journal_insert_ = nullptr;                // into cache_
};

}  // namespace

Result<std::unique_ptr<SqlBackend>> open_sqlite_backend(const std::string& path) {
  // Check the header ourselves before SQLite sees the file: something that is
  // not a database is reported and never touched.
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      char header[16] = {};
      in.read(header, sizeof header);
      const auto n = in.gcount();
      if (n > 0 && (n < 16 || std::memcmp(header, kSqliteMagic, sizeof kSqliteMagic) != 0)) {
        return make_error(StoreErrc::kCorrupt,
                          path +
                              " is not a SQLite database (bad header); the file was left "
                              "untouched: move it aside to start afresh, then re-seed it "
                              "from the peer");
      }
    }
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error(StoreErrc::kIo, "cannot open " + path + ": " + detail);
  }
  sqlite3_extended_result_codes(db, 1);
  auto backend = std::make_unique<SqliteBackend>(db, path);
  DUET_TRY(backend->configure());
  return std::unique_ptr<SqlBackend>(std::move(backend));
}

}  // namespace duet::store
