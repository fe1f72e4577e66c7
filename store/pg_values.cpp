#include "store/pg_values.h"

#include <cstring>

#include "store/store_error.h"

namespace duet::store {
namespace {

Error type_error(const std::string& location, const PGresult* r, int col, const char* expected) {
  return make_error(StoreErrc::kInternal,
                    location + ": column '" + PQfname(r, col) + "' has type OID " +
                        std::to_string(PQftype(r, col)) + " and length " +
                        std::to_string(PQgetlength(r, 0, col)) + ", expected " + expected);
}

}  // namespace

Result<std::int64_t> pg_int_at(const std::string& location, const PGresult* r, int row, int col) {
  const char* p = PQgetvalue(r, row, col);
  const int len = PQgetlength(r, row, col);
  switch (PQftype(r, col)) {
    case kInt8Oid:
      if (len == 8) return static_cast<std::int64_t>(read_be(p, 8));
      break;
    case kInt4Oid:
      if (len == 4) return std::int64_t{static_cast<std::int32_t>(read_be(p, 4))};
      break;
    case kInt2Oid:
      if (len == 2) return std::int64_t{static_cast<std::int16_t>(read_be(p, 2))};
      break;
    default:
      break;
  }
  return type_error(location, r, col, "an integer");
}

Result<double> pg_real_at(const std::string& location, const PGresult* r, int row, int col) {
  const char* p = PQgetvalue(r, row, col);
  const int len = PQgetlength(r, row, col);
  if (PQftype(r, col) == kFloat8Oid && len == 8) {
    const std::uint64_t bits = read_be(p, 8);
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  if (PQftype(r, col) == kFloat4Oid && len == 4) {
    const auto bits = static_cast<std::uint32_t>(read_be(p, 4));
    float f = 0;
    std::memcpy(&f, &bits, sizeof f);
    return static_cast<double>(f);
  }
  return type_error(location, r, col, "a double");
}

// Text and bytea are their raw bytes in the binary format.
Result<std::string> pg_bytes_at(const std::string& location, const PGresult* r, int row, int col) {
  switch (PQftype(r, col)) {
    case kTextOid:
    case kVarcharOid:
    case kBpcharOid:
    case kNameOid:
    case kByteaOid:
      return std::string(PQgetvalue(r, row, col),
                         static_cast<std::size_t>(PQgetlength(r, row, col)));
    default:
      return type_error(location, r, col, "text or bytea");
  }
}

// Columns are read by their declared type, so a value reads back exactly
// as it was written.
Result<Row> pg_read_row(const std::string& location, const TableDef& table, const PGresult* r,
                        int row_index) {
  if (PQnfields(r) != static_cast<int>(table.columns.size())) {
    return make_error(StoreErrc::kInternal, location + ": " + table.name + " returned " +
                                                std::to_string(PQnfields(r)) + " columns");
  }
  Row row;
  row.reserve(table.columns.size());
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    const int col = static_cast<int>(i);
    Value v;
    if (!PQgetisnull(r, row_index, col)) {
      switch (table.columns[i].type) {
        case ColumnType::kInt: {
          DUET_ASSIGN_OR_RETURN(v, pg_int_at(location, r, row_index, col));
          break;
        }
        case ColumnType::kReal: {
          DUET_ASSIGN_OR_RETURN(v, pg_real_at(location, r, row_index, col));
          break;
        }
        case ColumnType::kText: {
          DUET_ASSIGN_OR_RETURN(v, pg_bytes_at(location, r, row_index, col));
          break;
        }
        case ColumnType::kBlob: {
          DUET_ASSIGN_OR_RETURN(std::string bytes, pg_bytes_at(location, r, row_index, col));
          v = Blob{std::move(bytes)};
          break;
        }
      }
    }
    row.push_back(Field{table.columns[i].name, std::move(v)});
  }
  return row;
}

}  // namespace duet::store
