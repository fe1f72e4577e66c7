#pragma once

// Where a test store lives, for tests templated over both backends. Each
// location is a fresh, empty database; open() may be called again on the same
// location (a restart).

#include <memory>
#include <string>

#include "common/clock.h"
#include "store/journaled_store.h"
#include "store/postgres_backend.h"
#include "store/sqlite_backend.h"
#include "tests/support/pg_server.h"
#include "tests/support/temp_dir.h"

namespace duet::testing {

// The manager schema plus a test table with every column type and one with an
// integer key. Migration 2 exists only here.
inline const store::Schema& test_schema() {
  using store::ColumnType;
  static const store::Schema schema([] {
    auto migrations = store::manager_schema().migrations();
    migrations.push_back(store::Migration{
        .version = static_cast<std::uint32_t>(migrations.size() + 1),
        .description = "test tables",
        .create_tables = {store::TableDef{.name = "items",
                                          .columns = {{"id", ColumnType::kText, true},
                                                      {"n", ColumnType::kInt, false},
                                                      {"r", ColumnType::kReal, false},
                                                      {"t", ColumnType::kText, false},
                                                      {"b", ColumnType::kBlob, false}},
                                          .key = "id"},
                          store::TableDef{.name = "counters",
                                          .columns = {{"id", ColumnType::kInt, true},
                                                      {"hits", ColumnType::kInt, true}},
                                          .key = "id"}},
        .create_indexes = {store::IndexDef{"items_by_n", "items", {"n"}}},
    });
    return migrations;
  }());
  return schema;
}

struct SqliteLocation {
  static constexpr const char* kName = "sqlite";
  TempDir dir;
  std::string path = dir.file("duet.db");

  Result<std::unique_ptr<store::SqlBackend>> backend() const {
    return store::open_sqlite_backend(path);
  }
};

struct PostgresLocation {
  static constexpr const char* kName = "postgres";
  std::string conninfo;

  PostgresLocation() {
    auto server = shared_pg_server();
    if (!server.ok()) {
      throw std::runtime_error("PostgreSQL test server could not start: " +
                               server.error().to_string());
    }
    auto db = (*server)->create_database();
    if (!db.ok()) throw std::runtime_error("create database: " + db.error().to_string());
    conninfo = *db;
  }

  Result<std::unique_ptr<store::SqlBackend>> backend() const {
    return store::open_postgres_backend(conninfo);
  }
};

template <typename Location>
Result<std::unique_ptr<store::JournaledStore>> open_at(const Location& where,
                                                       const store::Schema& schema,
                                                       const Clock& clock) {
  DUET_ASSIGN_OR_RETURN(auto backend, where.backend());
  return store::JournaledStore::open(std::move(backend), schema, clock);
}

}  // namespace duet::testing
