#include "store/open_store.h"

#include "store/journaled_store.h"
#include "store/postgres_backend.h"
#include "store/sqlite_backend.h"
#include "store/store_error.h"

namespace duet::store {

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config, const Clock& clock) {
  Result<std::unique_ptr<SqlBackend>> backend =
      config.backend == StoreConfig::Backend::kSqlite
          ? open_sqlite_backend(config.sqlite_path)
          : open_postgres_backend(config.postgres_conninfo);
  if (!backend.ok()) return std::move(backend).take_error();
  DUET_ASSIGN_OR_RETURN(auto store,
                        JournaledStore::open(std::move(backend).value(), manager_schema(), clock));
  return std::unique_ptr<Store>(std::move(store));
}

bool is_transient(const Error& error) {
  return error.code == make_error_code(StoreErrc::kUnavailable);
}

}  // namespace duet::store
