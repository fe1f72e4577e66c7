#pragma once

// JsonWriter: a JSON object written straight into a string, for the hot
// paths (an event's fields, once per received message) where building a DOM
// first cost more than the rest of the parsing. Strings are escaped per
// RFC 8259; invalid UTF-8 (bytes from the network) becomes U+FFFD, so the
// output is always valid JSON and valid UTF-8.
//
//   JsonWriter w;            // "{"
//   w.field("a", "text");
//   w.begin_object("sd");    //   "sd":{
//   w.field("n", 5);
//   w.end_object();          //   }
//   w.begin_array("list");   //   "list":[
//   w.element();             //     {
//   w.field("x", "y");
//   w.end_object();          //     }
//   w.end_array();           //   ]
//   std::string s = std::move(w).finish();   // "}"

#include <cstdint>
#include <string>
#include <string_view>

namespace duet {

// Appends `s` as a quoted JSON string.
void json_append_string(std::string& out, std::string_view s);

class JsonWriter {
 public:
  JsonWriter() { out_.push_back('{'); }

  void field(std::string_view key, std::string_view value) {
    key_(key);
    json_append_string(out_, value);
  }
  void field(std::string_view key, const char* value) { field(key, std::string_view(value)); }
  void field(std::string_view key, std::int64_t value) {
    key_(key);
    out_ += std::to_string(value);
  }
  void field(std::string_view key, bool value) {
    key_(key);
    out_ += value ? "true" : "false";
  }
  void field(std::string_view key, std::uint64_t value) {
    key_(key);
    out_ += std::to_string(value);
  }
  void begin_object(std::string_view key) {
    key_(key);
    out_.push_back('{');
    first_ = true;
  }
  void end_object() {
    out_.push_back('}');
    first_ = false;
  }
  // An array of objects: begin_array, then element() ... end_object() for
  // each, then end_array.
  void begin_array(std::string_view key) {
    key_(key);
    out_.push_back('[');
    first_ = true;
  }
  void element() {
    if (!first_) out_.push_back(',');
    out_.push_back('{');
    first_ = true;
  }
  void end_array() {
    out_.push_back(']');
    first_ = false;
  }
  std::string finish() && {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void key_(std::string_view key) {
    if (!first_) out_.push_back(',');
    first_ = false;
    json_append_string(out_, key);
    out_.push_back(':');
  }

  std::string out_;
  bool first_ = true;
};

}  // namespace duet
