#pragma once

// SQLite backend: the embedded default. One connection, WAL mode,
// synchronous=FULL (see the comment in sqlite_backend.cpp for why).
// A file that is not a SQLite database, or is damaged, is reported as
// kCorrupt and never written to.

#include <memory>
#include <string>

#include "common/result.h"
#include "store/sql_backend.h"

namespace duet::store {

Result<std::unique_ptr<SqlBackend>> open_sqlite_backend(const std::string& path);

}  // namespace duet::store
