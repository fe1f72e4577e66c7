#pragma once

// SQL text for the logical schema, shared by the backends. Both SQLite and
// PostgreSQL accept the same statements here; they differ only in column type
// names and parameter placeholders, which the caller supplies.

#include <functional>
#include <string>

#include "store/schema.h"

namespace duet::store {

struct SqlDialect {
  std::function<std::string(ColumnType)> type_name;
  std::function<std::string(int)> placeholder;  // 1-based parameter number
};

std::string create_table_sql(const TableDef& table, const SqlDialect& d);
std::string create_index_sql(const IndexDef& index);
std::string add_column_sql(const std::string& table, const ColumnDef& column, const SqlDialect& d);
std::string column_list(const TableDef& table);
// INSERT ... ON CONFLICT (key) DO UPDATE: parameters are the columns in order.
std::string upsert_sql(const TableDef& table, const SqlDialect& d);
std::string select_by_key_sql(const TableDef& table, const SqlDialect& d);
std::string delete_by_key_sql(const TableDef& table, const SqlDialect& d);
std::string scan_sql(const TableDef& table);
// Keyset paging in key order: the first `limit` rows, or those after a key.
// Parameters: (limit) for the first page, (after, limit) for the next ones.
std::string first_page_sql(const TableDef& table, const SqlDialect& d);
std::string next_page_sql(const TableDef& table, const SqlDialect& d);
// The same in descending key order: the newest rows of a table keyed by a
// growing id first; the second pages from below key $1.
std::string last_page_sql(const TableDef& table, const SqlDialect& d);
std::string previous_page_sql(const TableDef& table, const SqlDialect& d);

}  // namespace duet::store
