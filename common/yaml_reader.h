#pragma once

// Strict reading of a YAML mapping into typed values. Every key must be read
// (or it is reported as unknown when finish() runs); every error becomes a
// ConfigError whose message is "FILE:LINE: KEY: REASON", KEY being the full
// dotted path ("store.sqlite", "receivers.snmp.users[2].auth").
//
// Config loading is the one place exceptions are used: a bad config stops the
// process at start-up with a message that names the key.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace duet {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class YamlReader {
 public:
  // `node` must be a mapping (reported against `path` otherwise).
  YamlReader(YAML::Node node, std::string file, std::string path);

  bool has(const std::string& key) const;

  std::string required_string(const std::string& key);
  std::optional<std::string> optional_string(const std::string& key);
  std::string string_or(const std::string& key, const std::string& fallback);
  // One of `allowed` (the error lists them).
  std::string enum_or(const std::string& key, const std::vector<std::string>& allowed,
                      const std::string& fallback);
  std::int64_t int_or(const std::string& key, std::int64_t fallback, std::int64_t min,
                      std::int64_t max);
  bool bool_or(const std::string& key, bool fallback);
  std::vector<std::string> string_list(const std::string& key, bool required);

  // A list of mappings ("rules", "users"); each reports errors as key[i].sub.
  std::vector<YamlReader> map_list(const std::string& key);
  // A string or a list of strings ("source: 10.0.0.0/8" or "source: [a, b]").
  std::vector<std::string> string_or_list(const std::string& key);
  // Every key of this mapping with a string value, e.g. a field -> regex map.
  std::vector<std::pair<std::string, std::string>> string_map();

  YamlReader required_map(const std::string& key);
  std::optional<YamlReader> optional_map(const std::string& key);

  // Throws for the first key present but never read.
  void finish() const;

  // An error about `key` of this map (at the key's line if present, else the map's).
  [[noreturn]] void fail(const std::string& key, const std::string& reason) const;
  // An error about this map itself.
  [[noreturn]] void fail_here(const std::string& reason) const;

  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }

 private:
  YAML::Node scalar(const std::string& key);
  std::string key_path(const std::string& key) const;
  int line_of(const std::string& key) const;

  YAML::Node node_;
  std::string file_;
  std::string path_;
  std::set<std::string> read_;
};

// Parses YAML text; syntax errors become ConfigError with the line.
// "a mapping", "a list", "a scalar", "empty": for messages that say what was found.
const char* yaml_type_name(const YAML::Node& n);

YAML::Node parse_yaml(const std::string& text, const std::string& file);
// Reads and parses a file; an unreadable file is a ConfigError.
YAML::Node load_yaml_file(const std::string& file);

}  // namespace duet
