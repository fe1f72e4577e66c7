#pragma once

// PostgreSQL backend through libpq. One connection; prepared statements;
// binary parameters and results, so values round-trip exactly.
//
// A connection that cannot be made or is lost is kUnavailable (the caller
// retries with backoff); the backend reconnects at the next transaction.
// location() is the conninfo with any password replaced.

#include <memory>
#include <string>

#include "common/result.h"
#include "store/sql_backend.h"

namespace duet::store {

Result<std::unique_ptr<SqlBackend>> open_postgres_backend(const std::string& conninfo);

}  // namespace duet::store
