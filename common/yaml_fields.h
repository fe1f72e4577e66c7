#pragma once

// Strict reading of declarative files that operators apply (`duetctl apply`):
// unlike YamlReader (configs, which stop at the first error), every problem
// is collected with its line, so one run names them all as FILE:LINE.
//
// Unknown and repeated keys are problems (yaml-cpp itself keeps a repeated
// key silently). Shared by the monitors part (cli/monitors_yaml.cpp) and the
// notifications part (notify/definitions.cpp) of an apply file.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duet {

// A problem of the file at a line (1-based; 0: no line known).
struct FileProblem {
  int line = 0;
  std::string what;
};

// "FILE:LINE: what" per problem, sorted by line, one per line; "what" alone
// when the line is not known.
std::string format_file_problems(const std::string& file, std::vector<FileProblem> problems);

// The 1-based line of a node (0: none).
int yaml_line(const YAML::Node& n);

// A duration: whole seconds ("30"), or a number with s, m or h ("30s", "5m", "1h").
std::optional<std::uint32_t> parse_seconds(std::string_view text);
// The shortest of those forms: 3600 -> "1h", 300 -> "5m", 90 -> "90s".
std::string seconds_text(std::uint32_t seconds);
// Milliseconds: "250ms", or a duration as parse_seconds() reads it.
std::optional<std::uint32_t> parse_millis(std::string_view text);
// "250ms", or seconds_text() when whole seconds.
std::string millis_text(std::uint32_t ms);

struct YamlField {
  std::string key;
  int line = 0;
  YAML::Node value;
};

class FieldReader {
 public:
  explicit FieldReader(std::vector<FileProblem>& problems) : problems_(problems) {}

  void problem(int line, std::string what) { problems_.push_back({line, std::move(what)}); }
  std::size_t count() const { return problems_.size(); }

  // The entries of a mapping; `allowed` null: any text key.
  std::vector<YamlField> fields(const YAML::Node& map, const std::string& where,
                                const std::vector<std::string>* allowed);

  // A scalar as its text ("3", "true" stay as written); empty for no value.
  std::optional<std::string> text(const YamlField& f, const std::string& where);
  std::optional<bool> boolean(const YamlField& f, const std::string& where);
  std::optional<std::uint32_t> seconds(const YamlField& f, const std::string& where);
  std::optional<std::uint32_t> millis(const YamlField& f, const std::string& where);
  std::optional<std::uint32_t> count_of(const YamlField& f, const std::string& where,
                                        std::uint32_t min, std::uint32_t max);
  // critical, warning, info or unknown.
  std::optional<std::string> priority(const YamlField& f, const std::string& where,
                                      const std::string& path);
  // A list of texts; a single text is a list of one.
  std::optional<std::vector<std::string>> texts(const YamlField& f, const std::string& where);

 private:
  std::vector<FileProblem>& problems_;
};

// A text value that YAML would read as null (or as nothing) is quoted to come
// back as text; yaml-cpp quotes everything else that needs it.
YAML::Emitter& emit_text(YAML::Emitter& out, const std::string& s);
YAML::Emitter& emit_key_text(YAML::Emitter& out, const char* key, const std::string& s);

}  // namespace duet
