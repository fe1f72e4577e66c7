#pragma once

// The logical schema: replicated tables described once and rendered to SQL
// by each backend, so a SQLite node and a PostgreSQL node hold the same
// tables with the same columns and can replay each other's journal.
//
// A schema is an ordered list of migrations; the database remembers the
// version it reached. Opening runs the missing ones; a database whose version
// is above the binary's newest migration is refused (kSchemaTooNew).

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/row.h"

namespace duet::store {

enum class ColumnType { kInt, kReal, kText, kBlob };

struct ColumnDef {
  std::string name;
  ColumnType type = ColumnType::kText;
  bool not_null = false;
};

// One replicated table. The key column is the primary key (kInt or kText);
// the journal names a row by the key's text form.
struct TableDef {
  std::string name;
  std::vector<ColumnDef> columns;
  std::string key;

  const ColumnDef* column(const std::string& column_name) const;
  const ColumnDef& key_column() const;
  std::size_t key_index() const;  // of the key in `columns`
  // Appends NULL for every column after the row's last field. A row built in
  // column order, without the nullable columns later migrations added, is
  // then in the store's normal form and written without a copy.
  void fill_nulls(Row& row) const;
};

struct IndexDef {
  std::string name;
  std::string table;
  std::vector<std::string> columns;
};

// A column added to a table an earlier migration created. It must be
// nullable: rows written before it (and journal records from an older
// binary) have no value for it.
struct AddColumn {
  std::string table;
  ColumnDef column;
};

struct Migration {
  std::uint32_t version = 0;
  std::string description;
  std::vector<TableDef> create_tables;
  std::vector<IndexDef> create_indexes;
  std::vector<AddColumn> add_columns;
  std::vector<std::string> drop_indexes;  // names of indexes an earlier migration created
};

class Schema {
 public:
  // Migrations must have versions 1, 2, 3, ... in order; checked by validate().
  explicit Schema(std::vector<Migration> migrations);

  Status validate() const;
  std::uint32_t latest_version() const;
  const std::vector<Migration>& migrations() const { return migrations_; }
  // All replicated tables, in creation order (snapshot order).
  const std::vector<TableDef>& tables() const { return tables_; }
  const TableDef* table(const std::string& name) const;

 private:
  std::vector<Migration> migrations_;
  std::vector<TableDef> tables_;
};

// The manager's schema, shared by every backend.
const Schema& manager_schema();

}  // namespace duet::store
