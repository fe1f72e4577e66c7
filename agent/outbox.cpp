#include "agent/outbox.h"

#include <sqlite3.h>

#include <algorithm>
#include <random>

#include "common/errors.h"

namespace duet::agent {
namespace {

// One prepared statement, finalized when it goes out of scope.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() const { return stmt_; }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_blob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  int step() { return sqlite3_step(stmt_); }
  std::int64_t int_at(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text_at(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

constexpr const char* kNextSeq = "next_seq";
constexpr const char* kAckedUpTo = "acked_up_to";
constexpr const char* kDropped = "dropped";
constexpr const char* kIdentity = "identity";

}  // namespace

Result<std::unique_ptr<Outbox>> Outbox::open(const std::string& path, Limits limits) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error(CommonErrc::kIo, "outbox " + path + ": cannot open: " + why);
  }
  std::unique_ptr<Outbox> box(new Outbox(db, path, limits));
  // A result the agent reported as queued must survive a power cut.
  DUET_TRY(box->exec("PRAGMA journal_mode=WAL"));
  DUET_TRY(box->exec("PRAGMA synchronous=FULL"));
  DUET_TRY(
      box->exec("CREATE TABLE IF NOT EXISTS results (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                "payload BLOB NOT NULL, produced_at_ms INTEGER NOT NULL)"));
  DUET_TRY(box->exec(
      "CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"));
  DUET_TRY(box->exec(
      "CREATE TABLE IF NOT EXISTS positions (key TEXT PRIMARY KEY, value TEXT NOT NULL)"));
  // Reading it once proves the file is an outbox, not some other database.
  DUET_TRY(box->stats());
  // A random identity, made once: a master tells a new outbox (numbers from 1
  // again, after a rebuilt host) from the one whose numbers it holds.
  DUET_ASSIGN_OR_RETURN(box->identity_, box->meta(kIdentity));
  if (box->identity_ == 0) {
    std::random_device rd;
    while (box->identity_ == 0) {
      box->identity_ = ((std::uint64_t{rd()} << 32) | rd()) & 0x7fffffffffffffffULL;
    }
    DUET_TRY(box->set_meta(kIdentity, box->identity_));
  }
  return box;
}

Outbox::~Outbox() { sqlite3_close(db_); }

Error Outbox::fail(const std::string& what) const {
  return make_error(CommonErrc::kIo, "outbox " + path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

Status Outbox::exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return make_error(CommonErrc::kIo, "outbox " + path_ + ": " + why);
  }
  return ok_status();
}

Result<std::uint64_t> Outbox::meta(const char* key) const {
  Stmt s(db_, "SELECT value FROM outbox_meta WHERE key = ?1");
  if (!s.ok()) return fail("reading its state");
  s.bind(1, std::string(key));
  const int rc = s.step();
  if (rc == SQLITE_ROW) return static_cast<std::uint64_t>(s.int_at(0));
  if (rc == SQLITE_DONE) return std::uint64_t{0};
  return fail("reading its state");
}

Status Outbox::set_meta(const char* key, std::uint64_t value) {
  Stmt s(db_,
         "INSERT INTO outbox_meta (key, value) VALUES (?1, ?2) "
         "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!s.ok()) return fail("writing its state");
  s.bind(1, std::string(key));
  s.bind(2, static_cast<std::int64_t>(value));
  if (s.step() != SQLITE_DONE) return fail("writing its state");
  return ok_status();
}

Result<OutboxStats> Outbox::stats() const {
  OutboxStats st;
  Stmt s(db_, "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), MAX(seq) FROM results");
  if (!s.ok() || s.step() != SQLITE_ROW) return fail("counting results");
  st.pending = static_cast<std::uint64_t>(s.int_at(0));
  st.pending_bytes = static_cast<std::uint64_t>(s.int_at(1));
  const auto max_seq = static_cast<std::uint64_t>(s.int_at(2));
  DUET_ASSIGN_OR_RETURN(const std::uint64_t next, meta(kNextSeq));
  st.next_seq = std::max<std::uint64_t>({next, max_seq + 1, 1});
  DUET_ASSIGN_OR_RETURN(st.acked_up_to, meta(kAckedUpTo));
  DUET_ASSIGN_OR_RETURN(st.dropped, meta(kDropped));
  return st;
}

Status Outbox::put_position(const Position& position) {
  Stmt s(db_,
         "INSERT INTO positions (key, value) VALUES (?1, ?2) "
         "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!s.ok()) return fail("writing a position");
  s.bind(1, position.key);
  s.bind(2, position.value);
  if (s.step() != SQLITE_DONE) return fail("writing a position");
  return ok_status();
}

Status Outbox::set_position(const Position& position) {
  DUET_TRY(exec("BEGIN IMMEDIATE"));
  if (auto s = put_position(position); !s.ok()) {
    (void)exec("ROLLBACK");
    return s;
  }
  return exec("COMMIT");
}

Result<std::optional<std::string>> Outbox::position(const std::string& key) const {
  Stmt s(db_, "SELECT value FROM positions WHERE key = ?1");
  if (!s.ok()) return fail("reading a position");
  s.bind(1, key);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text_at(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return fail("reading a position");
}

Result<std::vector<Outbox::Position>> Outbox::positions(const std::string& prefix) const {
  Stmt s(db_, "SELECT key, value FROM positions WHERE key >= ?1 ORDER BY key");
  if (!s.ok()) return fail("reading positions");
  s.bind(1, prefix);
  std::vector<Position> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    std::string key = s.text_at(0);
    if (key.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(Position{std::move(key), s.text_at(1)});
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail("reading positions");
  return out;
}

Status Outbox::erase_position(const std::string& key) {
  Stmt s(db_, "DELETE FROM positions WHERE key = ?1");
  if (!s.ok()) return fail("erasing a position");
  s.bind(1, key);
  if (s.step() != SQLITE_DONE) return fail("erasing a position");
  return ok_status();
}

Result<Outbox::Appended> Outbox::append(const std::string& kind, const std::string& payload,
                                        std::int64_t produced_at_ms,
                                        const std::optional<Position>& position) {
  if (payload.size() > limits_.max_bytes) {
    return make_error(CommonErrc::kInvalidArgument,
                      "outbox " + path_ + ": a result of " + std::to_string(payload.size()) +
                          " bytes is larger than the whole outbox (" +
                          std::to_string(limits_.max_bytes) + " bytes)");
  }
  DUET_TRY(exec("BEGIN IMMEDIATE"));
  auto rollback = [this](Error e) {
    (void)exec("ROLLBACK");
    return e;
  };
  auto st = stats();
  if (!st.ok()) return rollback(st.error());
  Appended out;
  out.seq = st->next_seq;
  // Room first: the oldest pending results go, counted.
  std::uint64_t count = st->pending;
  std::uint64_t bytes = st->pending_bytes;
  if (count + 1 > limits_.max_results || bytes + payload.size() > limits_.max_bytes) {
    Stmt oldest(db_, "SELECT seq, LENGTH(payload) FROM results ORDER BY seq");
    if (!oldest.ok()) return rollback(fail("making room"));
    std::uint64_t drop_to = 0;
    while ((count + 1 > limits_.max_results || bytes + payload.size() > limits_.max_bytes) &&
           oldest.step() == SQLITE_ROW) {
      drop_to = static_cast<std::uint64_t>(oldest.int_at(0));
      bytes -= static_cast<std::uint64_t>(oldest.int_at(1));
      --count;
      ++out.dropped;
    }
    Stmt del(db_, "DELETE FROM results WHERE seq <= ?1");
    if (!del.ok()) return rollback(fail("making room"));
    del.bind(1, static_cast<std::int64_t>(drop_to));
    if (del.step() != SQLITE_DONE) return rollback(fail("making room"));
    if (auto s = set_meta(kDropped, st->dropped + out.dropped); !s.ok()) return rollback(s.error());
  }
  Stmt ins(db_, "INSERT INTO results (seq, kind, payload, produced_at_ms) VALUES (?1, ?2, ?3, ?4)");
  if (!ins.ok()) return rollback(fail("writing a result"));
  ins.bind(1, static_cast<std::int64_t>(out.seq));
  ins.bind(2, kind);
  ins.bind_blob(3, payload);
  ins.bind(4, produced_at_ms);
  if (ins.step() != SQLITE_DONE) return rollback(fail("writing a result"));
  if (auto s = set_meta(kNextSeq, out.seq + 1); !s.ok()) return rollback(s.error());
  if (position) {
    if (auto s = put_position(*position); !s.ok()) return rollback(s.error());
  }
  DUET_TRY(exec("COMMIT"));
  return out;
}

Result<std::vector<OutboxEntry>> Outbox::pending(std::uint64_t after, std::size_t limit) const {
  Stmt s(db_,
         "SELECT seq, kind, payload, produced_at_ms FROM results WHERE seq > ?1 "
         "ORDER BY seq LIMIT ?2");
  if (!s.ok()) return fail("reading results");
  s.bind(1, static_cast<std::int64_t>(after));
  s.bind(2, static_cast<std::int64_t>(limit));
  std::vector<OutboxEntry> out;
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(OutboxEntry{static_cast<std::uint64_t>(s.int_at(0)), s.text_at(1), s.text_at(2),
                              s.int_at(3)});
  }
  if (rc != SQLITE_DONE) return fail("reading results");
  return out;
}

Status Outbox::ack(std::uint64_t up_to) {
  DUET_TRY(exec("BEGIN IMMEDIATE"));
  auto acked = meta(kAckedUpTo);
  if (!acked.ok()) {
    (void)exec("ROLLBACK");
    return acked.error();
  }
  if (up_to <= *acked) return exec("ROLLBACK");  // an older ack, delayed: nothing to do
  auto st = stats();
  if (!st.ok()) {
    (void)exec("ROLLBACK");
    return st.error();
  }
  // Never past what was produced: a later result must not count as acknowledged.
  up_to = std::min(up_to, st->next_seq - 1);
  Stmt del(db_, "DELETE FROM results WHERE seq <= ?1");
  if (!del.ok()) {
    (void)exec("ROLLBACK");
    return fail("acknowledging");
  }
  del.bind(1, static_cast<std::int64_t>(up_to));
  if (del.step() != SQLITE_DONE) {
    (void)exec("ROLLBACK");
    return fail("acknowledging");
  }
  if (auto s = set_meta(kAckedUpTo, up_to); !s.ok()) {
    (void)exec("ROLLBACK");
    return s;
  }
  return exec("COMMIT");
}

}  // namespace duet::agent
