#include "store/row.h"

#include <sstream>

#include "duet/v1/journal.pb.h"
#include "store/store_error.h"

namespace duet::store {

const Value* find_field(const Row& row, const std::string& name) {
  for (const auto& f : row) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
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

std::string encode_row(const Row& row) {
  duet::v1::Row pb;
  for (const auto& f : row) {
    auto* field = pb.add_fields();
    field->set_name(f.name);
    auto* value = field->mutable_value();
    if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
      value->set_int_value(*i);
    } else if (const auto* d = std::get_if<double>(&f.value)) {
      value->set_real_value(*d);
    } else if (const auto* s = std::get_if<std::string>(&f.value)) {
      value->set_text_value(*s);
    } else if (const auto* b = std::get_if<Blob>(&f.value)) {
      value->set_blob_value(b->bytes);
    }
  }
  std::string out;
  pb.SerializeToString(&out);
  return out;
}

Result<Row> decode_row(const std::string& bytes) {
  duet::v1::Row pb;
  if (!pb.ParseFromString(bytes)) {
    return make_error(StoreErrc::kInvalidRow, "journal payload is not a valid encoded row");
  }
  Row row;
  row.reserve(static_cast<std::size_t>(pb.fields_size()));
  for (const auto& field : pb.fields()) {
    Value v;
    switch (field.value().kind_case()) {
      case duet::v1::Value::kIntValue:
        v = field.value().int_value();
        break;
      case duet::v1::Value::kRealValue:
        v = field.value().real_value();
        break;
      case duet::v1::Value::kTextValue:
        v = field.value().text_value();
        break;
      case duet::v1::Value::kBlobValue:
        v = Blob{field.value().blob_value()};
        break;
      case duet::v1::Value::KIND_NOT_SET:
        break;
    }
    row.push_back(Field{field.name(), std::move(v)});
  }
  return row;
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
