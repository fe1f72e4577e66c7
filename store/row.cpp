#include "store/row.h"

#include <cstring>
#include <sstream>
#include <string_view>

#include "store/store_error.h"

namespace duet::store {

const Value* find_field(const Row& row, const std::string& name) {
  for (const auto& f : row) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

std::string text_of(const Row& row, std::string_view name) {
  return std::string(text_view_of(row, name));
}

std::string_view text_view_of(const Row& row, std::string_view name) {
  for (const auto& f : row) {
    if (f.name != name) continue;
    if (const auto* s = std::get_if<std::string>(&f.value)) return *s;
    if (const auto* b = std::get_if<Blob>(&f.value)) return b->bytes;
    return {};
  }
  return {};
}

std::int64_t int_of(const Row& row, std::string_view name) {
  for (const auto& f : row) {
    if (f.name != name) continue;
    if (const auto* i = std::get_if<std::int64_t>(&f.value)) return *i;
    return 0;
  }
  return 0;
}

std::string to_string(const Value& v) {
  struct Visitor {
    std::string operator()(Null) const { return "NULL"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::ostringstream out;
      out.precision(17);
      out << d;
      return out.str();
    }
    std::string operator()(const std::string& s) const { return "'" + s + "'"; }
    std::string operator()(const Blob& b) const {
      return "blob(" + std::to_string(b.bytes.size()) + " bytes)";
    }
  };
  return std::visit(Visitor{}, v);
}

std::string to_string(const Row& row) {
  std::string out = "{";
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i) out += ", ";
    out += row[i].name + "=" + to_string(row[i].value);
  }
  return out + "}";
}

// The payload is the protobuf wire form of duet.v1.Row (journal.proto),
// written and read here directly: through generated messages it cost two
// allocations per field and dominated the journal's CPU. The bytes are the
// ones SerializeToString writes (fields in number order, a oneof member
// written even when zero, a NULL as an empty Value), and the reader takes
// anything a protobuf writer may produce (any order, repeats, unknown fields).
namespace {

constexpr std::uint8_t kLen = 2, kVarint = 0, kFixed64 = 1, kFixed32 = 5;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Signed integers as zigzag varints; reals as 8 bytes little-endian (both
// protobuf's forms, and the row block's).
std::uint64_t zigzag(std::int64_t i) {
  return (static_cast<std::uint64_t>(i) << 1) ^ static_cast<std::uint64_t>(i >> 63);
}
std::int64_t unzigzag(std::uint64_t z) {
  return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
}
void put_double(std::string& out, double d) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  for (int k = 0; k < 8; ++k) out.push_back(static_cast<char>((bits >> (8 * k)) & 0xff));
}
double get_double(const char* at) {
  std::uint64_t bits = 0;
  for (int k = 0; k < 8; ++k) bits |= std::uint64_t{static_cast<std::uint8_t>(at[k])} << (8 * k);
  double d = 0;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

void put_tag(std::string& out, unsigned field, std::uint8_t wire) {
  out.push_back(static_cast<char>((field << 3) | wire));
}

// The encoded size of a Value message's body.
std::size_t value_size(const Value& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    return 1 + varint_size(zigzag(*i));
  }
  if (std::holds_alternative<double>(v)) return 9;
  if (const auto* s = std::get_if<std::string>(&v)) return 1 + varint_size(s->size()) + s->size();
  if (const auto* b = std::get_if<Blob>(&v)) {
    return 1 + varint_size(b->bytes.size()) + b->bytes.size();
  }
  return 0;
}

void put_value(std::string& out, const Value& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    put_tag(out, 1, kVarint);
    put_varint(out, zigzag(*i));
  } else if (const auto* d = std::get_if<double>(&v)) {
    put_tag(out, 2, kFixed64);
    put_double(out, *d);
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    put_tag(out, 3, kLen);
    put_varint(out, s->size());
    out += *s;
  } else if (const auto* b = std::get_if<Blob>(&v)) {
    put_tag(out, 4, kLen);
    put_varint(out, b->bytes.size());
    out += b->bytes;
  }
}

class Reader {
 public:
  Reader(const char* p, const char* end) : p_(p), end_(end) {}
  bool done() const { return p_ == end_; }
  std::string_view rest() const { return {p_, static_cast<std::size_t>(end_ - p_)}; }
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const auto byte = static_cast<std::uint8_t>(*p_++);
      v |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool bytes(std::size_t n, const char*& at) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    at = p_;
    p_ += n;
    return true;
  }
  bool length_delimited(Reader& inner) {
    std::uint64_t n = 0;
    const char* at = nullptr;
    if (!varint(n) || n > static_cast<std::uint64_t>(end_ - p_) || !bytes(n, at)) return false;
    inner = Reader(at, at + n);
    return true;
  }
  bool skip(std::uint8_t wire) {
    std::uint64_t v = 0;
    const char* at = nullptr;
    Reader inner(nullptr, nullptr);
    switch (wire) {
      case kVarint:
        return varint(v);
      case kFixed64:
        return bytes(8, at);
      case kLen:
        return length_delimited(inner);
      case kFixed32:
        return bytes(4, at);
      default:
        return false;  // groups are not used by these messages
    }
  }

 private:
  const char* p_;
  const char* end_;
};

bool read_value(Reader in, Value& out) {
  while (!in.done()) {
    std::uint64_t tag = 0;
    if (!in.varint(tag)) return false;
    const auto wire = static_cast<std::uint8_t>(tag & 7);
    const std::uint64_t field = tag >> 3;
    if (field == 1 && wire == kVarint) {
      std::uint64_t z = 0;
      if (!in.varint(z)) return false;
      out = unzigzag(z);
    } else if (field == 2 && wire == kFixed64) {
      const char* at = nullptr;
      if (!in.bytes(8, at)) return false;
      out = get_double(at);
    } else if ((field == 3 || field == 4) && wire == kLen) {
      Reader s(nullptr, nullptr);
      if (!in.length_delimited(s)) return false;
      std::string text(s.rest());
      if (field == 3) {
        out = std::move(text);
      } else {
        out = Blob{std::move(text)};
      }
    } else if (!in.skip(wire)) {
      return false;
    }
  }
  return true;
}

bool read_field(Reader in, Field& out) {
  while (!in.done()) {
    std::uint64_t tag = 0;
    if (!in.varint(tag)) return false;
    const auto wire = static_cast<std::uint8_t>(tag & 7);
    const std::uint64_t field = tag >> 3;
    Reader inner(nullptr, nullptr);
    if (field == 1 && wire == kLen) {
      if (!in.length_delimited(inner)) return false;
      out.name.assign(inner.rest());
    } else if (field == 2 && wire == kLen) {
      // A repeated message field merges: a later oneof member replaces.
      if (!in.length_delimited(inner) || !read_value(inner, out.value)) return false;
    } else if (!in.skip(wire)) {
      return false;
    }
  }
  return true;
}

std::size_t encoded_size(const Row& row) {
  std::size_t total = 0;
  for (const auto& f : row) {
    const std::size_t vs = value_size(f.value);
    const std::size_t name_part =
        f.name.empty() ? 0 : 1 + varint_size(f.name.size()) + f.name.size();
    const std::size_t body = name_part + 1 + varint_size(vs) + vs;
    total += 1 + varint_size(body) + body;
  }
  return total;
}

void append_row(std::string& out, const Row& row) {
  for (const auto& f : row) {
    const std::size_t vs = value_size(f.value);
    const std::size_t name_part =
        f.name.empty() ? 0 : 1 + varint_size(f.name.size()) + f.name.size();
    const std::size_t body = name_part + 1 + varint_size(vs) + vs;
    put_tag(out, 1, kLen);
    put_varint(out, body);
    if (!f.name.empty()) {
      put_tag(out, 1, kLen);
      put_varint(out, f.name.size());
      out += f.name;
    }
    put_tag(out, 2, kLen);
    put_varint(out, vs);
    put_value(out, f.value);
  }
}

Result<Row> decode_row_from(Reader in) {
  Row row;
  row.reserve(8);
  while (!in.done()) {
    std::uint64_t tag = 0;
    bool good = in.varint(tag);
    const auto wire = static_cast<std::uint8_t>(tag & 7);
    if (good && (tag >> 3) == 1 && wire == kLen) {
      Reader inner(nullptr, nullptr);
      Field f;
      good = in.length_delimited(inner) && read_field(inner, f);
      if (good) row.push_back(std::move(f));
    } else if (good) {
      good = in.skip(wire);
    }
    if (!good) {
      return make_error(StoreErrc::kInvalidRow, "journal payload is not a valid encoded row");
    }
  }
  return row;
}
}  // namespace

std::string encode_row(const Row& row) {
  std::string out;
  out.reserve(encoded_size(row));
  append_row(out, row);
  return out;
}

namespace {
enum BlockType : std::uint8_t {
  kBlockNull = 0,
  kBlockInt = 1,
  kBlockReal = 2,
  kBlockText = 3,
  kBlockBlob = 4
};
}  // namespace

void start_row_block(std::string& out, const Row& first) {
  put_varint(out, first.size());
  for (const auto& f : first) {
    put_varint(out, f.name.size());
    out += f.name;
  }
}

void append_block_row(std::string& out, const Row& row) {
  for (const auto& f : row) {
    if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
      out.push_back(static_cast<char>(kBlockInt));
      put_varint(out, zigzag(*i));
    } else if (const auto* d = std::get_if<double>(&f.value)) {
      out.push_back(static_cast<char>(kBlockReal));
      put_double(out, *d);
    } else if (const auto* s = std::get_if<std::string>(&f.value)) {
      out.push_back(static_cast<char>(kBlockText));
      put_varint(out, s->size());
      out += *s;
    } else if (const auto* b = std::get_if<Blob>(&f.value)) {
      out.push_back(static_cast<char>(kBlockBlob));
      put_varint(out, b->bytes.size());
      out += b->bytes;
    } else {
      out.push_back(static_cast<char>(kBlockNull));
    }
  }
}

Status for_each_block_row(const std::string& bytes, const std::function<Status(Row&)>& fn) {
  auto bad = [] {
    return make_error(StoreErrc::kInvalidRow, "journal payload is not a valid block of rows");
  };
  Reader in(bytes.data(), bytes.data() + bytes.size());
  std::uint64_t ncols = 0;
  if (!in.varint(ncols) || ncols > bytes.size()) return bad();
  Row row;
  row.reserve(ncols);
  for (std::uint64_t c = 0; c < ncols; ++c) {
    Reader name(nullptr, nullptr);
    if (!in.length_delimited(name)) return bad();
    row.push_back(Field{std::string(name.rest()), Null{}});
  }
  while (!in.done()) {
    if (ncols == 0) return bad();  // rows without columns: nothing could end them
    for (auto& field : row) {
      const char* at = nullptr;
      if (!in.bytes(1, at)) return bad();
      Value& v = field.value;
      switch (static_cast<std::uint8_t>(*at)) {
        case kBlockNull:
          v = Null{};
          break;
        case kBlockInt: {
          std::uint64_t z = 0;
          if (!in.varint(z)) return bad();
          v = unzigzag(z);
          break;
        }
        case kBlockReal: {
          if (!in.bytes(8, at)) return bad();
          v = get_double(at);
          break;
        }
        case kBlockText: {
          Reader r(nullptr, nullptr);
          if (!in.length_delimited(r)) return bad();
          if (auto* text = std::get_if<std::string>(&v)) {
            text->assign(r.rest());
          } else {
            v = std::string(r.rest());
          }
          break;
        }
        case kBlockBlob: {
          Reader r(nullptr, nullptr);
          if (!in.length_delimited(r)) return bad();
          if (auto* blob = std::get_if<Blob>(&v)) {
            blob->bytes.assign(r.rest());
          } else {
            v = Blob{std::string(r.rest())};
          }
          break;
        }
        default:
          return bad();
      }
    }
    DUET_TRY(fn(row));
  }
  return ok_status();
}

Result<std::vector<Row>> decode_row_block(const std::string& bytes) {
  std::vector<Row> rows;
  DUET_TRY(for_each_block_row(bytes, [&rows](Row& row) {
    rows.push_back(row);
    return ok_status();
  }));
  return rows;
}

Result<Row> decode_row(const std::string& bytes) {
  return decode_row_from(Reader(bytes.data(), bytes.data() + bytes.size()));
}

std::size_t approx_bytes(const Row& row) {
  std::size_t n = 0;
  for (const auto& f : row) {
    if (const auto* t = std::get_if<std::string>(&f.value)) {
      n += t->size();
    } else if (const auto* b = std::get_if<Blob>(&f.value)) {
      n += b->bytes.size();
    } else {
      n += 8;
    }
  }
  return n;
}

}  // namespace duet::store
