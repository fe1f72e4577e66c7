#pragma once

// Keys of the local duet_meta table that JournaledStore and the snapshot
// reader both read. Constants only; no state.

namespace duet::store::meta {

inline constexpr const char* kSchemaVersion = "schema_version";
inline constexpr const char* kEpoch = "epoch";
inline constexpr const char* kBaseLsn =
    "base_lsn";  // highest LSN in the rows, pruned from the journal
inline constexpr const char* kBaseEpoch = "base_epoch";

}  // namespace duet::store::meta
