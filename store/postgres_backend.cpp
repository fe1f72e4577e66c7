#include "store/postgres_backend.h"

#include <libpq-fe.h>

#include <array>
#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "common/config.h"
#include "store/pg_values.h"
#include "store/sql_text.h"
#include "store/store_error.h"

namespace duet::store {
namespace {

// Rows per FETCH of a scan: bounds the memory a scan holds.
constexpr int kFetchRows = 1000;
// Commands queued in a write pipeline before their results are collected, so
// neither side's socket buffer can fill up on a long transaction (a restore).
constexpr std::size_t kMaxQueued = 1000;

const SqlDialect& dialect() {
  static const SqlDialect d{[](ColumnType t) -> std::string {
                              switch (t) {
                                case ColumnType::kInt:
                                  return "BIGINT";
                                case ColumnType::kReal:
                                  return "DOUBLE PRECISION";
                                case ColumnType::kText:
                                  return "TEXT";
                                case ColumnType::kBlob:
                                  return "BYTEA";
                              }
                              return "BYTEA";
                            },
                            [](int n) { return "$" + std::to_string(n); }};
  return d;
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// SQLSTATE classes to the store's failure classes (see store_error.h).
StoreErrc classify(const std::string& sqlstate) {
  if (sqlstate.starts_with("08") || sqlstate.starts_with("57P")) return StoreErrc::kUnavailable;
  if (sqlstate.starts_with("53") || sqlstate == "25006") return StoreErrc::kIo;
  if (sqlstate == "XX001" || sqlstate == "XX002") return StoreErrc::kCorrupt;
  return StoreErrc::kInternal;
}

// NOTICEs and WARNINGs are not errors; libpq would print them to stderr.
void ignore_notice(void*, const char*) {}

// libpq messages end in a newline and may span lines; logs want one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == '\n' || c == '\t' || c == ' ';
    if (!space) {
      out += c;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

constexpr char kSelectMeta[] = "SELECT value FROM duet_meta WHERE key = $1";
constexpr char kUpsertMeta[] =
    "INSERT INTO duet_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = "
    "excluded.value";
constexpr char kInsertJournal[] =
    "INSERT INTO duet_journal (lsn, epoch, tbl, op, key, payload, committed_at_ms) VALUES ($1, "
    "$2, $3, $4, $5, $6, $7)";
constexpr char kSelectJournal[] =
    "SELECT lsn, epoch, tbl, op, key, payload, committed_at_ms FROM duet_journal WHERE lsn >= $1 "
    "ORDER BY lsn LIMIT $2";

// Statements of a write transaction are pipelined: sent without waiting for
// their results, which are collected at commit() or when a statement needs
// its rows. An error in a pipelined statement is therefore reported by a
// later call (at the latest commit()); the transaction is then aborted, and
// the caller rolls back as after any failed call.
class PostgresBackend final : public SqlBackend {
 public:
  PostgresBackend(PGconn* conn, std::string conninfo, std::string location)
      : conn_(conn), conninfo_(std::move(conninfo)), location_(std::move(location)) {}
  ~PostgresBackend() override { close(); }

  std::string name() const override { return "postgres"; }
  std::string location() const override { return location_; }

  // Session settings; run after every (re)connection.
  Status configure() {
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
    return exec("SET client_min_messages = warning; SET client_encoding = 'UTF8'",
                "configuring the session");
  }

  std::string conn_message() const {
    return conn_ != nullptr ? one_line(PQerrorMessage(conn_)) : "closed";
  }

  Status bootstrap() override {
    DUET_TRY(
        command("CREATE TABLE IF NOT EXISTS duet_meta (key TEXT PRIMARY KEY, value TEXT NOT "
                "NULL)",
                {}, "creating duet_meta", Cache::kNo));
    return command(
        "CREATE TABLE IF NOT EXISTS duet_journal (lsn BIGINT PRIMARY KEY, epoch BIGINT NOT NULL, "
        "tbl TEXT NOT NULL, op INTEGER NOT NULL, key TEXT NOT NULL, payload BYTEA NOT NULL, "
        "committed_at_ms BIGINT NOT NULL)",
        {}, "creating duet_journal", Cache::kNo);
  }

  Status create_table(const TableDef& table) override {
    return command(create_table_sql(table, dialect()), {}, "creating " + table.name, Cache::kNo);
  }
  Status create_index(const IndexDef& index) override {
    return command(create_index_sql(index), {}, "creating index " + index.name, Cache::kNo);
  }
  Status drop_index(const std::string& name) override {
    return command("DROP INDEX IF EXISTS " + name, {}, "dropping index " + name, Cache::kNo);
  }
  Status add_column(const std::string& table, const ColumnDef& column) override {
    return command(add_column_sql(table, column, dialect()), {},
                   "adding column " + column.name + " to " + table, Cache::kNo);
  }

  Status begin_write() override {
    DUET_TRY(check_can_begin());
    if (PQenterPipelineMode(conn_) != 1) return send_error("entering pipeline mode");
    if (PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, kBinary) != 1) {
      Error e = send_error("starting a transaction");
      rollback();  // leaves pipeline mode; the caller does not roll back a failed begin
      return e;
    }
    queued_.push_back(Queued{"starting a transaction"});
    tx_open_ = true;
    write_tx_ = true;
    return ok_status();
  }

  // REPEATABLE READ: every statement of the transaction sees one snapshot.
  Status begin_snapshot_read() override {
    DUET_TRY(check_can_begin());
    DUET_TRY(exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting a snapshot"));
    tx_open_ = true;
    return ok_status();
  }

  Status commit() override {
    if (conn_ == nullptr) return closed();
    Status s;
    if (pipelined()) {
      if (PQsendQueryParams(conn_, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, kBinary) != 1) {
        s = send_error("committing");
      } else {
        queued_.push_back(Queued{"committing", {}, true});
        s = settle();
      }
    } else {
      s = exec("COMMIT", "committing", true);
    }
    write_tx_ = false;
    tx_open_ = in_transaction();
    return s;
  }

  void rollback() override {
    if (conn_ == nullptr) return;
    if (pipelined()) (void)settle();  // the transaction is abandoned: errors no longer matter
    if (in_transaction()) PgResult(PQexec(conn_, "ROLLBACK"));
    write_tx_ = false;
    tx_open_ = false;
  }

  Result<std::optional<std::string>> get_meta(const std::string& key) override {
    Params p;
    p.add_bytes(kTextOid, key);
    DUET_ASSIGN_OR_RETURN(PgResult r, query(kSelectMeta, p, "reading meta"));
    if (PQntuples(r.get()) == 0) return std::optional<std::string>();
    DUET_ASSIGN_OR_RETURN(std::string value, pg_bytes_at(location_, r.get(), 0, 0));
    return std::optional<std::string>(std::move(value));
  }

  Status set_meta(const std::string& key, const std::string& value) override {
    Params p;
    p.add_bytes(kTextOid, key);
    p.add_bytes(kTextOid, value);
    return command(kUpsertMeta, p, "writing meta");
  }

  Status upsert(const TableDef& table, const Row& row) override {
    if (row.size() != table.columns.size()) {
      return make_error(StoreErrc::kInvalidRow, "a row of " + table.name + " needs " +
                                                    std::to_string(table.columns.size()) +
                                                    " columns, given " +
                                                    std::to_string(row.size()));
    }
    Params p;
    for (std::size_t i = 0; i < row.size(); ++i) {
      DUET_TRY(p.add_value(table.columns[i], row[i].value));
    }
    return command(upsert_sql(table, dialect()), p, "writing " + table.name);
  }

  Status erase(const TableDef& table, const Value& key) override {
    Params p;
    DUET_TRY(p.add_value(table.key_column(), key));
    return command(delete_by_key_sql(table, dialect()), p, "deleting from " + table.name);
  }

  Status erase_all(const TableDef& table) override {
    return command("DELETE FROM " + table.name, {}, "emptying " + table.name);
  }

  Result<std::optional<Row>> select(const TableDef& table, const Value& key) override {
    Params p;
    DUET_TRY(p.add_value(table.key_column(), key));
    DUET_ASSIGN_OR_RETURN(PgResult r,
                          query(select_by_key_sql(table, dialect()), p, "reading " + table.name));
    if (PQntuples(r.get()) == 0) return std::optional<Row>();
    DUET_ASSIGN_OR_RETURN(Row row, pg_read_row(location_, table, r.get(), 0));
    return std::optional<Row>(std::move(row));
  }

  // Reads through a cursor, kFetchRows at a time, inside the open transaction
  // (so a scan in a snapshot reads that snapshot) or in one of its own.
  Status scan(const TableDef& table, const std::function<bool(Row)>& fn) override {
    DUET_TRY(ready());
    DUET_TRY(settle());
    const bool own_tx = !in_transaction();
    if (own_tx) DUET_TRY(exec("BEGIN", "starting a scan of " + table.name));
    // Nested scans (from inside `fn`) get their own cursor.
    const std::string cursor = "duet_scan_" + std::to_string(scan_depth_++);
    Status s = scan_cursor(table, cursor, fn);
    --scan_depth_;
    if (own_tx) {
      if (s.ok()) return exec("COMMIT", "ending a scan of " + table.name, true);
      if (in_transaction()) PgResult(PQexec(conn_, "ROLLBACK"));
    } else if (!s.ok() && PQstatus(conn_) == CONNECTION_OK) {
      PgResult(PQexec(conn_, ("CLOSE " + cursor).c_str()));  // best effort; ends with the tx anyway
    }
    return s;
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
    Params p;
    if (boundary != nullptr) DUET_TRY(p.add_value(table.key_column(), *boundary));
    p.add_int8(static_cast<std::int64_t>(
        std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max())));
    DUET_ASSIGN_OR_RETURN(PgResult r, query(sql, p, "reading a page of " + table.name));
    std::vector<Row> out;
    out.reserve(static_cast<std::size_t>(PQntuples(r.get())));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      DUET_ASSIGN_OR_RETURN(Row row, pg_read_row(location_, table, r.get(), i));
      out.push_back(std::move(row));
    }
    return out;
  }

  BackendOpener opener() const override {
    return [conninfo = conninfo_] { return open_postgres_backend(conninfo); };
  }

  Status insert_journal(const JournalRecord& r) override {
    Params p;
    p.add_int8(static_cast<std::int64_t>(r.lsn));
    p.add_int8(static_cast<std::int64_t>(r.epoch));
    p.add_bytes(kTextOid, r.table);
    p.add_int4(static_cast<std::int32_t>(r.op));
    p.add_bytes(kTextOid, r.key);
    p.add_bytes(kByteaOid, r.payload);
    p.add_int8(r.committed_at_ms);
    return command(kInsertJournal, p, "writing the journal");
  }

  Result<std::vector<JournalRecord>> select_journal(Lsn from, std::size_t max,
                                                    std::size_t max_bytes) override {
    Params p;
    p.add_int8(static_cast<std::int64_t>(from));
    p.add_int8(static_cast<std::int64_t>(
        std::min<std::size_t>(max, std::numeric_limits<std::int64_t>::max())));
    DUET_ASSIGN_OR_RETURN(PgResult r, query(kSelectJournal, p, "reading the journal"));
    const PGresult* res = r.get();
    std::vector<JournalRecord> out;
    out.reserve(static_cast<std::size_t>(PQntuples(res)));
    std::size_t bytes = 0;
    for (int i = 0; i < PQntuples(res) && (out.empty() || bytes < max_bytes); ++i) {
      JournalRecord rec;
      DUET_ASSIGN_OR_RETURN(std::int64_t lsn, pg_int_at(location_, res, i, 0));
      DUET_ASSIGN_OR_RETURN(std::int64_t epoch, pg_int_at(location_, res, i, 1));
      DUET_ASSIGN_OR_RETURN(rec.table, pg_bytes_at(location_, res, i, 2));
      DUET_ASSIGN_OR_RETURN(std::int64_t op, pg_int_at(location_, res, i, 3));
      DUET_ASSIGN_OR_RETURN(rec.key, pg_bytes_at(location_, res, i, 4));
      DUET_ASSIGN_OR_RETURN(rec.payload, pg_bytes_at(location_, res, i, 5));
      DUET_ASSIGN_OR_RETURN(rec.committed_at_ms, pg_int_at(location_, res, i, 6));
      rec.lsn = static_cast<Lsn>(lsn);
      rec.epoch = static_cast<Epoch>(epoch);
      rec.op = static_cast<JournalOp>(op);
      bytes += rec.payload.size();
      out.push_back(std::move(rec));
    }
    return out;
  }

  Result<std::optional<Epoch>> journal_epoch_at(Lsn lsn) override {
    Params p;
    p.add_int8(static_cast<std::int64_t>(lsn));
    DUET_ASSIGN_OR_RETURN(PgResult r, query("SELECT epoch FROM duet_journal WHERE lsn = $1", p,
                                            "reading the journal"));
    if (PQntuples(r.get()) == 0) return std::optional<Epoch>();
    DUET_ASSIGN_OR_RETURN(std::int64_t epoch, pg_int_at(location_, r.get(), 0, 0));
    return std::optional<Epoch>(static_cast<Epoch>(epoch));
  }

  Result<Lsn> min_journal_lsn() override { return scalar_u64("SELECT min(lsn) FROM duet_journal"); }
  Result<Lsn> max_journal_lsn() override { return scalar_u64("SELECT max(lsn) FROM duet_journal"); }

  Status delete_journal_below(Lsn lsn) override {
    Params p;
    p.add_int8(static_cast<std::int64_t>(lsn));
    return command("DELETE FROM duet_journal WHERE lsn < $1", p, "pruning the journal");
  }
  Status delete_journal_all() override {
    return command("DELETE FROM duet_journal", {}, "emptying the journal");
  }

  void close() override {
    if (conn_ == nullptr) return;
    rollback();
    PQfinish(conn_);
    conn_ = nullptr;
    cache_.clear();
    queued_.clear();
  }

 private:
  enum class Cache { kYes, kNo };  // kNo: one-off statements (DDL, FETCH) are not prepared

  // A pipelined command whose result has not been read yet.
  struct Queued {
    std::string what;
    std::string prepared_sql;  // set for a Parse: forgotten from the cache if it failed
    bool is_commit = false;
  };

  Error closed() const { return make_error(StoreErrc::kUnavailable, location_ + ": closed"); }

  Error pg_error(const PGresult* r, const std::string& what) const {
    std::string detail;
    const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    if (primary != nullptr) {
      detail = primary;
      if (const char* d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) {
        detail += std::string(" (") + d + ")";
      }
    } else if (r != nullptr && *PQresultErrorMessage(r) != '\0') {
      detail = PQresultErrorMessage(r);
    } else {
      detail = conn_message();
    }
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string msg = location_ + ": " + what + ": " + one_line(detail);
    if (state != nullptr) msg += std::string(" [SQLSTATE ") + state + "]";
    if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) {
      return make_error(StoreErrc::kUnavailable,
                        msg + " (connection lost; a later call outside a transaction reconnects)");
    }
    return make_error(classify(state != nullptr ? state : ""), msg);
  }

  // A PQsend* call failed: libpq could not queue or send the command.
  Error send_error(const std::string& what) const { return pg_error(nullptr, what); }

  bool pipelined() const { return conn_ != nullptr && PQpipelineStatus(conn_) != PQ_PIPELINE_OFF; }

  bool in_transaction() const {
    const PGTransactionStatusType t = PQtransactionStatus(conn_);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
  }

  Status reconnect() {
    PQreset(conn_);  // also leaves pipeline mode
    cache_.clear();  // prepared statements die with the session
    queued_.clear();
    tx_open_ = false;
    write_tx_ = false;
    if (PQstatus(conn_) != CONNECTION_OK) {
      return make_error(StoreErrc::kUnavailable,
                        "cannot reconnect to PostgreSQL at " + location_ + ": " + conn_message());
    }
    return configure();
  }

  // The connection is usable. A lost one is re-established only between
  // transactions: a transaction does not survive it.
  Status ready() {
    if (conn_ == nullptr) return closed();
    if (PQstatus(conn_) == CONNECTION_OK) return ok_status();
    if (tx_open_) {
      return make_error(StoreErrc::kUnavailable, location_ +
                                                     ": the connection to PostgreSQL was lost "
                                                     "during a transaction: " +
                                                     conn_message());
    }
    return reconnect();
  }

  Status check_can_begin() {
    if (conn_ == nullptr) return closed();
    if (PQstatus(conn_) != CONNECTION_OK) {
      if (tx_open_) rollback();
      DUET_TRY(reconnect());
    }
    if (tx_open_ || pipelined() || in_transaction()) {
      return make_error(StoreErrc::kInternal, location_ + ": a transaction is already open");
    }
    return ok_status();
  }

  // A statement through the simple protocol (no parameters, text results).
  Status exec(const std::string& sql, const std::string& what, bool is_commit = false) {
    PgResult r(PQexec(conn_, sql.c_str()));
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      return pg_error(r.get(), what);
    }
    if (is_commit) return check_committed(r.get());
    return ok_status();
  }

  // COMMIT of a transaction that had failed answers ROLLBACK, not an error.
  Status check_committed(const PGresult* r) const {
    if (std::strcmp(PQcmdStatus(const_cast<PGresult*>(r)), "COMMIT") == 0) return ok_status();
    return make_error(StoreErrc::kInternal,
                      location_ + ": the transaction was rolled back after an earlier error");
  }

  // The name of the prepared statement for `sql`, preparing it if needed.
  Result<std::string> prepared(const std::string& sql, const Params& p, const std::string& what) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    std::string name = "duet_" + std::to_string(++statements_);
    if (pipelined()) {
      if (PQsendPrepare(conn_, name.c_str(), sql.c_str(), p.size(), p.types()) != 1) {
        return send_error("preparing " + what);
      }
      queued_.push_back(Queued{"preparing " + what, sql});
    } else {
      PgResult r(PQprepare(conn_, name.c_str(), sql.c_str(), p.size(), p.types()));
      if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        return pg_error(r.get(), "preparing " + what);
      }
    }
    cache_.emplace(sql, name);
    return name;
  }

  // Runs a statement that returns no rows. In a write transaction it is only
  // queued in the pipeline.
  Status command(const std::string& sql, const Params& p, const std::string& what,
                 Cache cache = Cache::kYes) {
    DUET_TRY(ready());
    if (!write_tx_) {
      DUET_ASSIGN_OR_RETURN(PgResult r, run(sql, p, what, cache));
      return ok_status();
    }
    if (!pipelined() && PQenterPipelineMode(conn_) != 1) {
      return send_error("entering pipeline mode");
    }
    int sent = 0;
    if (cache == Cache::kYes) {
      DUET_ASSIGN_OR_RETURN(std::string name, prepared(sql, p, what));
      sent = PQsendQueryPrepared(conn_, name.c_str(), p.size(), p.values(), p.lengths(),
                                 p.formats(), kBinary);
    } else {
      sent = PQsendQueryParams(conn_, sql.c_str(), p.size(), p.types(), p.values(), p.lengths(),
                               p.formats(), kBinary);
    }
    if (sent != 1) return send_error(what);
    queued_.push_back(Queued{what});
    if (queued_.size() >= kMaxQueued) return drain();
    return ok_status();
  }

  // Runs a statement and returns its rows (binary).
  Result<PgResult> query(const std::string& sql, const Params& p, const std::string& what) {
    DUET_TRY(ready());
    DUET_TRY(settle());
    return run(sql, p, what, Cache::kYes);
  }

  Result<PgResult> run(const std::string& sql, const Params& p, const std::string& what,
                       Cache cache) {
    PgResult r;
    if (cache == Cache::kYes) {
      DUET_ASSIGN_OR_RETURN(std::string name, prepared(sql, p, what));
      r.reset(PQexecPrepared(conn_, name.c_str(), p.size(), p.values(), p.lengths(), p.formats(),
                             kBinary));
    } else {
      r.reset(PQexecParams(conn_, sql.c_str(), p.size(), p.types(), p.values(), p.lengths(),
                           p.formats(), kBinary));
    }
    const ExecStatusType st = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return pg_error(r.get(), what);
    return r;
  }

  // Collects the results of every queued command; the pipeline stays on.
  // Returns the first error.
  Status drain() {
    if (PQpipelineSync(conn_) != 1) {
      queued_.clear();
      return send_error("sending the pipeline");
    }
    std::optional<Error> first;
    for (std::size_t i = 0; i < queued_.size() && PQstatus(conn_) == CONNECTION_OK; ++i) {
      const Queued& q = queued_[i];
      while (PgResult r{PQgetResult(conn_)}) {
        const ExecStatusType st = PQresultStatus(r.get());
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
          if (q.is_commit && !first) {
            if (auto s = check_committed(r.get()); !s.ok()) first = std::move(s).take_error();
          }
          continue;
        }
        if (!q.prepared_sql.empty()) cache_.erase(q.prepared_sql);
        if (st != PGRES_PIPELINE_ABORTED && !first) first = pg_error(r.get(), q.what);
      }
    }
    queued_.clear();
    if (PQstatus(conn_) == CONNECTION_OK) {
      PgResult sync{PQgetResult(conn_)};
      if ((sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) && !first) {
        first = make_error(StoreErrc::kInternal, location_ + ": pipeline out of step");
      }
    } else if (!first) {
      first = send_error("reading pipeline results");
    }
    if (first) return std::move(*first);
    return ok_status();
  }

  // Drains the pipeline and leaves pipeline mode, for a statement whose
  // result is needed now or for the end of the transaction.
  Status settle() {
    if (!pipelined()) return ok_status();
    Status s = drain();
    if (PQstatus(conn_) == CONNECTION_OK && PQexitPipelineMode(conn_) != 1 && s.ok()) {
      s = send_error("leaving pipeline mode");
    }
    return s;
  }

  Status scan_cursor(const TableDef& table, const std::string& cursor,
                     const std::function<bool(Row)>& fn) {
    const std::string what = "scanning " + table.name;
    DUET_TRY(exec("DECLARE " + cursor + " NO SCROLL CURSOR FOR " + scan_sql(table), what));
    const std::string fetch = "FETCH FORWARD " + std::to_string(kFetchRows) + " FROM " + cursor;
    for (;;) {
      DUET_ASSIGN_OR_RETURN(PgResult r, run(fetch, {}, what, Cache::kNo));
      const int n = PQntuples(r.get());
      for (int i = 0; i < n; ++i) {
        DUET_ASSIGN_OR_RETURN(Row row, pg_read_row(location_, table, r.get(), i));
        if (!fn(std::move(row))) return exec("CLOSE " + cursor, what);
      }
      if (n < kFetchRows) return exec("CLOSE " + cursor, what);
    }
  }

  Result<Lsn> scalar_u64(const std::string& sql) {
    DUET_ASSIGN_OR_RETURN(PgResult r, query(sql, {}, sql));
    if (PQntuples(r.get()) != 1 || PQgetisnull(r.get(), 0, 0)) return Lsn{0};
    DUET_ASSIGN_OR_RETURN(std::int64_t v, pg_int_at(location_, r.get(), 0, 0));
    return static_cast<Lsn>(v);
  }

  PGconn* conn_;
  std::string conninfo_;  // may hold a password: never shown
  std::string location_;
  std::unordered_map<std::string, std::string> cache_;  // SQL text -> prepared statement name
  std::uint64_t statements_ = 0;
  std::vector<Queued> queued_;
  bool tx_open_ = false;   // between begin_*() and commit()/rollback()
  bool write_tx_ = false;  // the open transaction came from begin_write()
  int scan_depth_ = 0;
};

}  // namespace

Result<std::unique_ptr<SqlBackend>> open_postgres_backend(const std::string& conninfo) {
  // Only the redacted form is ever shown: the conninfo may hold a password.
  std::string location = redact_conninfo(conninfo);
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (options == nullptr) {
    PQfreemem(parse_error);  // may quote a piece of the conninfo: not shown
    // Not worth retrying: the manager refuses to start instead.
    return make_error(StoreErrc::kBadConfig,
                      "the PostgreSQL connection string " + location +
                          " cannot be parsed; check its keywords and quoting");
  }
  PQconninfoFree(options);
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) {
    return make_error(StoreErrc::kUnavailable,
                      "cannot connect to PostgreSQL at " + location + ": out of memory");
  }
  auto backend = std::make_unique<PostgresBackend>(conn, conninfo, location);
  if (PQstatus(conn) != CONNECTION_OK) {
    return make_error(StoreErrc::kUnavailable, "cannot connect to PostgreSQL at " + location +
                                                   ": " + backend->conn_message());
  }
  DUET_TRY(backend->configure());
  return std::unique_ptr<SqlBackend>(std::move(backend));
}

}  // namespace duet::store
