#pragma once

// PostgreSQL's binary wire format for Duet's four column types: statement
// parameters (Params) and result values. Values travel in binary so integers,
// doubles and bytes round-trip exactly, whatever the server's locale or
// float output settings.

#include <libpq-fe.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/row.h"
#include "store/schema.h"
#include "store/store_error.h"

namespace duet::store {

// Type OIDs from PostgreSQL's pg_type.dat; fixed across versions.
constexpr Oid kByteaOid = 17;
constexpr Oid kNameOid = 19;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kBpcharOid = 1042;
constexpr Oid kVarcharOid = 1043;

constexpr int kBinary = 1;

inline Oid type_oid(ColumnType t) {
  switch (t) {
    case ColumnType::kInt:
      return kInt8Oid;
    case ColumnType::kReal:
      return kFloat8Oid;
    case ColumnType::kText:
      return kTextOid;
    case ColumnType::kBlob:
      return kByteaOid;
  }
  return kByteaOid;
}

inline std::uint64_t read_be(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// The parameters of one statement, all in the binary format. Text and bytea
// values point into the caller's strings, which libpq copies when it sends.
class Params {
 public:
  void add_int8(std::int64_t v) { add_fixed(kInt8Oid, static_cast<std::uint64_t>(v), 8); }
  void add_int4(std::int32_t v) { add_fixed(kInt4Oid, static_cast<std::uint32_t>(v), 4); }
  void add_float8(double v) {
    std::uint64_t bits = 0;
    static_assert(sizeof bits == sizeof v);
    std::memcpy(&bits, &v, sizeof bits);
    add_fixed(kFloat8Oid, bits, 8);
  }
  // A null pointer means NULL to libpq, so an empty value points at "".
  void add_bytes(Oid type, std::string_view bytes) {
    push(type, bytes.empty() ? "" : bytes.data(), bytes.size());
  }
  void add_null(Oid type) { push(type, nullptr, 0); }

  // `v` as a value of `col`'s declared type; an integer widens to a real.
  Status add_value(const ColumnDef& col, const Value& v) {
    if (std::holds_alternative<Null>(v)) {
      add_null(type_oid(col.type));
      return ok_status();
    }
    const auto* i = std::get_if<std::int64_t>(&v);
    switch (col.type) {
      case ColumnType::kInt:
        if (i != nullptr) return add_int8(*i), ok_status();
        break;
      case ColumnType::kReal:
        if (const auto* d = std::get_if<double>(&v)) return add_float8(*d), ok_status();
        if (i != nullptr) return add_float8(static_cast<double>(*i)), ok_status();
        break;
      case ColumnType::kText:
        if (const auto* s = std::get_if<std::string>(&v)) {
          return add_bytes(kTextOid, *s), ok_status();
        }
        break;
      case ColumnType::kBlob:
        if (const auto* b = std::get_if<Blob>(&v)) {
          return add_bytes(kByteaOid, b->bytes), ok_status();
        }
        break;
    }
    return make_error(StoreErrc::kInvalidRow,
                      "column '" + col.name + "' cannot hold " + to_string(v));
  }

  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  void add_fixed(Oid type, std::uint64_t v, int n) {
    auto& buf = fixed_.emplace_back();
    for (int k = 0; k < n; ++k) buf[k] = static_cast<char>(v >> (8 * (n - 1 - k)));
    push(type, buf.data(), static_cast<std::size_t>(n));
  }
  void push(Oid type, const char* value, std::size_t length) {
    types_.push_back(type);
    values_.push_back(value);
    lengths_.push_back(static_cast<int>(length));
    formats_.push_back(kBinary);
  }

  std::vector<Oid> types_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::deque<std::array<char, 8>> fixed_;  // a deque never moves its elements
};

// Result values, read by the type the column must have. `location` (safe to
// show) names the database in errors.
Result<std::int64_t> pg_int_at(const std::string& location, const PGresult* r, int row, int col);
Result<double> pg_real_at(const std::string& location, const PGresult* r, int row, int col);
Result<std::string> pg_bytes_at(const std::string& location, const PGresult* r, int row, int col);
// One row of `table` (columns in table order) from row `row_index` of `r`.
Result<Row> pg_read_row(const std::string& location, const TableDef& table, const PGresult* r,
                        int row_index);

}  // namespace duet::store
