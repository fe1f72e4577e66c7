#include "store/sql_text.h"

namespace duet::store {

std::string create_table_sql(const TableDef& table, const SqlDialect& d) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + table.name + " (";
  for (const auto& c : table.columns) {
    sql += c.name + " " + d.type_name(c.type);
    if (c.not_null || c.name == table.key) sql += " NOT NULL";
    sql += ", ";
  }
  return sql + "PRIMARY KEY (" + table.key + "))";
}

std::string create_index_sql(const IndexDef& index) {
  std::string cols;
  for (const auto& c : index.columns) cols += (cols.empty() ? "" : ", ") + c;
  return "CREATE INDEX IF NOT EXISTS " + index.name + " ON " + index.table + " (" + cols + ")";
}

std::string add_column_sql(const std::string& table, const ColumnDef& column, const SqlDialect& d) {
  return "ALTER TABLE " + table + " ADD COLUMN " + column.name + " " + d.type_name(column.type);
}

std::string column_list(const TableDef& table) {
  std::string cols;
  for (const auto& c : table.columns) cols += (cols.empty() ? "" : ", ") + c.name;
  return cols;
}

std::string upsert_sql(const TableDef& table, const SqlDialect& d) {
  std::string values;
  std::string updates;
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    const auto& c = table.columns[i];
    values += (i ? ", " : "") + d.placeholder(static_cast<int>(i + 1));
    if (c.name != table.key) {
      updates += (updates.empty() ? "" : ", ") + c.name + " = excluded." + c.name;
    }
  }
  std::string sql = "INSERT INTO " + table.name + " (" + column_list(table) + ") VALUES (" +
                    values + ") ON CONFLICT (" + table.key + ") DO ";
  return sql + (updates.empty() ? "NOTHING" : "UPDATE SET " + updates);
}

std::string select_by_key_sql(const TableDef& table, const SqlDialect& d) {
  return "SELECT " + column_list(table) + " FROM " + table.name + " WHERE " + table.key + " = " +
         d.placeholder(1);
}

std::string delete_by_key_sql(const TableDef& table, const SqlDialect& d) {
  return "DELETE FROM " + table.name + " WHERE " + table.key + " = " + d.placeholder(1);
}

std::string scan_sql(const TableDef& table) {
  return "SELECT " + column_list(table) + " FROM " + table.name + " ORDER BY " + table.key;
}

std::string first_page_sql(const TableDef& table, const SqlDialect& d) {
  return scan_sql(table) + " LIMIT " + d.placeholder(1);
}

std::string next_page_sql(const TableDef& table, const SqlDialect& d) {
  return "SELECT " + column_list(table) + " FROM " + table.name + " WHERE " + table.key + " > " +
         d.placeholder(1) + " ORDER BY " + table.key + " LIMIT " + d.placeholder(2);
}

std::string last_page_sql(const TableDef& table, const SqlDialect& d) {
  return "SELECT " + column_list(table) + " FROM " + table.name + " ORDER BY " + table.key +
         " DESC LIMIT " + d.placeholder(1);
}

std::string previous_page_sql(const TableDef& table, const SqlDialect& d) {
  return "SELECT " + column_list(table) + " FROM " + table.name + " WHERE " + table.key + " < " +
         d.placeholder(1) + " ORDER BY " + table.key + " DESC LIMIT " + d.placeholder(2);
}

}  // namespace duet::store
