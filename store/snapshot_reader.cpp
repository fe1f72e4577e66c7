#include "store/snapshot_reader.h"

#include <charconv>

#include "store/meta_keys.h"
#include "store/store_error.h"

namespace duet::store {
namespace {

Result<std::uint64_t> meta_number(SqlBackend& db, const char* key) {
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

}  // namespace

Result<SnapshotHeader> read_snapshot_header(SqlBackend& db) {
  DUET_ASSIGN_OR_RETURN(Lsn max_lsn, db.max_journal_lsn());
  DUET_ASSIGN_OR_RETURN(std::uint64_t base_lsn, meta_number(db, meta::kBaseLsn));
  DUET_ASSIGN_OR_RETURN(std::uint64_t base_epoch, meta_number(db, meta::kBaseEpoch));
  DUET_ASSIGN_OR_RETURN(std::uint64_t version, meta_number(db, meta::kSchemaVersion));
  SnapshotHeader header{std::max<Lsn>(max_lsn, base_lsn), base_epoch,
                        static_cast<std::uint32_t>(version)};
  if (max_lsn > base_lsn) {
    DUET_ASSIGN_OR_RETURN(auto e, db.journal_epoch_at(max_lsn));
    header.epoch = e.value_or(0);
  }
  return header;
}

SqlSnapshotReader::SqlSnapshotReader(BackendOpener opener, std::vector<TableDef> tables)
    : opener_(std::move(opener)), tables_(std::move(tables)) {}

SqlSnapshotReader::~SqlSnapshotReader() {
  if (db_) {
    db_->rollback();  // read-only: ending it either way changes nothing
    db_->close();
  }
}

Error SqlSnapshotReader::fail(Error e) {
  failed_ = e;
  if (db_) {
    db_->rollback();
    db_->close();
    db_.reset();
  }
  return e;
}

Result<SnapshotHeader> SqlSnapshotReader::header() {
  if (failed_) return *failed_;
  if (header_) return *header_;
  auto db = opener_();
  if (!db.ok()) return fail(db.error());
  db_ = std::move(db).value();
  if (auto s = db_->begin_snapshot_read(); !s.ok()) return fail(s.error());
  // Read inside the transaction, so the position matches the rows exactly.
  auto h = read_snapshot_header(*db_);
  if (!h.ok()) return fail(h.error());
  header_ = *h;
  return *header_;
}

Result<std::optional<SnapshotRows>> SqlSnapshotReader::next_chunk(std::size_t max_rows,
                                                                  std::size_t max_bytes) {
  DUET_TRY(header());
  if (max_rows == 0) max_rows = 1;
  while (table_ < tables_.size()) {
    const TableDef& t = tables_[table_];
    const Value* after = after_ ? &*after_ : nullptr;
    auto page = db_->select_page(t, after, max_rows);
    if (!page.ok()) return fail(page.error());
    std::vector<Row> rows = std::move(page).value();
    if (rows.empty()) {
      ++table_;
      after_.reset();
      continue;
    }
    const std::size_t fetched = rows.size();
    // Keep rows up to the byte budget; the rest is read again next time.
    std::size_t bytes = 0;
    std::size_t keep = 0;
    while (keep < rows.size() && (keep == 0 || bytes < max_bytes)) {
      bytes += approx_bytes(rows[keep]);
      ++keep;
    }
    // A short page read to its end: nothing follows in this table.
    const bool table_done = fetched < max_rows && keep == fetched;
    rows.resize(keep);
    const Value* key = find_field(rows.back(), t.key);
    if (key == nullptr) {
      return fail(make_error(StoreErrc::kInternal, "a row of " + t.name + " without its key"));
    }
    if (table_done) {
      ++table_;
      after_.reset();
    } else {
      after_ = *key;
    }
    return std::optional<SnapshotRows>(SnapshotRows{t.name, std::move(rows)});
  }
  return std::optional<SnapshotRows>();
}

}  // namespace duet::store
