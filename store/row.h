#pragma once

// Values and rows as the store and its journal see them: four column types
// plus NULL, the same on every backend. A Row names its fields; the store
// puts them in table column order before encoding, so equal rows encode to
// equal bytes.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace duet::store {

struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};

using Null = std::monostate;
using Value = std::variant<Null, std::int64_t, double, std::string, Blob>;

struct Field {
  std::string name;
  Value value;
  bool operator==(const Field&) const = default;
};

using Row = std::vector<Field>;

// The value of field `name`, or nullptr.
const Value* find_field(const Row& row, const std::string& name);
// The text (or a blob's bytes) of field `name`; "" when absent or of another type.
std::string text_of(const Row& row, std::string_view name);
// The same, without a copy: valid while `row` is unchanged.
std::string_view text_view_of(const Row& row, std::string_view name);
// The integer of field `name`; 0 when absent or of another type.
std::int64_t int_of(const Row& row, std::string_view name);

// The approximate size of a row's values in bytes (for chunk bounds).
std::size_t approx_bytes(const Row& row);

// Human-readable form for logs and test failure messages.
std::string to_string(const Value& v);
std::string to_string(const Row& row);

// Journal payload codec (a serialized duet.v1.Row).
std::string encode_row(const Row& row);
Result<Row> decode_row(const std::string& bytes);
// Several rows with the same columns in one payload (JournalOp::kUpsertRows):
// the column names once, then each row's values in that order, each a type
// byte and the value (integers zigzag varints, reals 8 bytes little-endian,
// text and blobs a varint length and the bytes). Without a name per field it
// is about a fifth smaller than the rows encoded one by one, and quicker.
//   start_row_block(out, first_row);  // the header: first_row's names
//   append_block_row(out, row);       // for every row, the first included
void start_row_block(std::string& out, const Row& first);
// `row` must have the names of the block's first row, in the same order.
void append_block_row(std::string& out, const Row& row);
Result<std::vector<Row>> decode_row_block(const std::string& bytes);
// Decodes a block one row at a time into the same Row, whose strings keep
// their capacity from row to row (no allocation per value once warmed up),
// and calls `fn` with it; the row is valid only during that call. Stops at
// the first error, fn's or the block's.
Status for_each_block_row(const std::string& bytes, const std::function<Status(Row&)>& fn);

}  // namespace duet::store
