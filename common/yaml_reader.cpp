#include "common/yaml_reader.h"

#include <fstream>
#include <sstream>

namespace duet {
namespace {

[[noreturn]] void throw_at(const std::string& file, int line, const std::string& key,
                           const std::string& reason) {
  std::ostringstream out;
  out << file << ":" << line << ": " << (key.empty() ? "(top level)" : key) << ": " << reason;
  throw ConfigError(out.str());
}

}  // namespace

const char* yaml_type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "empty";
    case YAML::NodeType::Undefined:
      break;
  }
  return "undefined";
}

YamlReader::YamlReader(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {
  if (!node_.IsMap()) {
    throw_at(file_, node_.Mark().line + 1, path_,
             std::string("expected a mapping, found ") + yaml_type_name(node_));
  }
}

std::string YamlReader::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

int YamlReader::line_of(const std::string& key) const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.Scalar() == key) return it->first.Mark().line + 1;
  }
  return node_.Mark().line + 1;
}

void YamlReader::fail(const std::string& key, const std::string& reason) const {
  throw_at(file_, line_of(key), key_path(key), reason);
}

void YamlReader::fail_here(const std::string& reason) const {
  throw_at(file_, node_.Mark().line + 1, path_, reason);
}

bool YamlReader::has(const std::string& key) const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.Scalar() == key) return true;
  }
  return false;
}

YAML::Node YamlReader::scalar(const std::string& key) {
  read_.insert(key);
  YAML::Node n = node_[key];
  if (!n.IsScalar()) fail(key, std::string("expected a scalar value, found ") + yaml_type_name(n));
  return n;
}

std::string YamlReader::required_string(const std::string& key) {
  if (!has(key)) fail_here("missing required key '" + key + "'");
  std::string s = scalar(key).Scalar();
  if (s.empty()) fail(key, "must not be empty");
  return s;
}

std::optional<std::string> YamlReader::optional_string(const std::string& key) {
  if (!has(key)) return std::nullopt;
  std::string s = scalar(key).Scalar();
  if (s.empty()) fail(key, "must not be empty");
  return s;
}

std::string YamlReader::string_or(const std::string& key, const std::string& fallback) {
  auto s = optional_string(key);
  return s ? *s : fallback;
}

std::string YamlReader::enum_or(const std::string& key, const std::vector<std::string>& allowed,
                                const std::string& fallback) {
  std::string value = string_or(key, fallback);
  for (const auto& a : allowed) {
    if (a == value) return value;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(key, "'" + value + "' is not one of: " + list);
}

std::int64_t YamlReader::int_or(const std::string& key, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) {
  if (!has(key)) return fallback;
  YAML::Node n = scalar(key);
  std::int64_t v = 0;
  if (!YAML::convert<std::int64_t>::decode(n, v)) {
    fail(key, "expected an integer, found '" + n.Scalar() + "'");
  }
  if (v < min || v > max) {
    fail(key, std::to_string(v) + " is out of range [" + std::to_string(min) + ", " +
                  std::to_string(max) + "]");
  }
  return v;
}

bool YamlReader::bool_or(const std::string& key, bool fallback) {
  if (!has(key)) return fallback;
  YAML::Node n = scalar(key);
  bool v = false;
  if (!YAML::convert<bool>::decode(n, v)) {
    fail(key, "expected true or false, found '" + n.Scalar() + "'");
  }
  return v;
}

std::vector<std::string> YamlReader::string_list(const std::string& key, bool required) {
  if (!has(key)) {
    if (required) fail_here("missing required key '" + key + "'");
    return {};
  }
  read_.insert(key);
  YAML::Node n = node_[key];
  if (!n.IsSequence()) fail(key, std::string("expected a list, found ") + yaml_type_name(n));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node item = n[i];
    if (!item.IsScalar() || item.Scalar().empty()) {
      throw_at(file_, item.Mark().line + 1, key_path(key) + "[" + std::to_string(i) + "]",
               "expected a non-empty string");
    }
    out.push_back(item.Scalar());
  }
  if (required && out.empty()) fail(key, "must list at least one entry");
  return out;
}

std::vector<YamlReader> YamlReader::map_list(const std::string& key) {
  std::vector<YamlReader> out;
  if (!has(key)) return out;
  read_.insert(key);
  YAML::Node n = node_[key];
  if (!n.IsSequence()) fail(key, std::string("expected a list, found ") + yaml_type_name(n));
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node item = n[i];
    const std::string path = key_path(key) + "[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      throw_at(file_, item.Mark().line + 1, path,
               std::string("expected a mapping, found ") + yaml_type_name(item));
    }
    out.emplace_back(item, file_, path);
  }
  return out;
}

std::vector<std::string> YamlReader::string_or_list(const std::string& key) {
  if (has(key) && node_[key].IsScalar()) {
    const std::string v = required_string(key);
    return {v};
  }
  return string_list(key, /*required=*/false);
}

std::vector<std::pair<std::string, std::string>> YamlReader::string_map() {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.Scalar();
    out.emplace_back(key, required_string(key));
  }
  return out;
}

YamlReader YamlReader::required_map(const std::string& key) {
  if (!has(key)) fail_here("missing required key '" + key + "'");
  read_.insert(key);
  YAML::Node n = node_[key];
  if (!n.IsMap()) fail(key, std::string("expected a mapping, found ") + yaml_type_name(n));
  return YamlReader(n, file_, key_path(key));
}

std::optional<YamlReader> YamlReader::optional_map(const std::string& key) {
  if (!has(key)) return std::nullopt;
  return required_map(key);
}

void YamlReader::finish() const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (!read_.contains(key)) {
      throw_at(file_, it->first.Mark().line + 1, key_path(key), "unknown key");
    }
  }
}

YAML::Node parse_yaml(const std::string& text, const std::string& file) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) {
      throw_at(file, 1, "", "the file is empty");
    }
    return root;
  } catch (const YAML::Exception& e) {
    throw_at(file, e.mark.line + 1, "", "YAML syntax error: " + e.msg);
  }
}

YAML::Node load_yaml_file(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError(file + ":0: (file): cannot be read");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_yaml(buffer.str(), file);
}

}  // namespace duet
