#pragma once

// Error enum of the store module. Messages are prefixed "store:".

#include <system_error>

namespace duet::store {

enum class StoreErrc {
  kUnavailable = 1,  // the database cannot be reached now (PostgreSQL down); retry later
  kCorrupt,          // the database file is damaged or not a database; it is left untouched
  kSchemaTooNew,     // the database was migrated by a newer binary
  kIo,               // a write failed (disk full, read-only, permission)
  kInvalidRow,       // a row does not fit its table (unknown column, wrong type, no key)
  kUnknownTable,     // no such replicated table in this schema
  kNoEpoch,          // a write before any epoch was persisted
  kStaleEpoch,       // a record or epoch below the highest this store has seen (fencing)
  kJournalGap,       // a record skips LSNs the store has not applied
  kDiverged,         // a record at an LSN this store has, from a different epoch
  kBadConfig,        // the store's configuration can never work (a malformed conninfo)
  kInternal,         // an SQL error that is a bug, not a condition
};

const std::error_category& store_category();

inline std::error_code make_error_code(StoreErrc e) {
  return {static_cast<int>(e), store_category()};
}

}  // namespace duet::store

template <>
struct std::is_error_code_enum<duet::store::StoreErrc> : std::true_type {};
