#include "common/yaml_fields.h"

#include <algorithm>
#include <limits>
#include <map>

#include "common/priority.h"
#include "common/yaml_reader.h"

namespace duet {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::optional<std::uint64_t> digits(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

std::string format_file_problems(const std::string& file, std::vector<FileProblem> problems) {
  std::stable_sort(problems.begin(), problems.end(),
                   [](const FileProblem& a, const FileProblem& b) { return a.line < b.line; });
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += "\n";
    if (!file.empty() && p.line > 0) out += file + ":" + std::to_string(p.line) + ": ";
    out += p.what;
  }
  return out;
}

int yaml_line(const YAML::Node& n) { return n.Mark().line < 0 ? 0 : n.Mark().line + 1; }

std::optional<std::uint32_t> parse_seconds(std::string_view text) {
  std::uint64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's':
        text.remove_suffix(1);
        break;
      case 'm':
        unit = 60;
        text.remove_suffix(1);
        break;
      case 'h':
        unit = 3600;
        text.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  auto n = digits(text);
  if (!n) return std::nullopt;
  *n *= unit;
  if (*n > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(*n);
}

std::string seconds_text(std::uint32_t seconds) {
  if (seconds != 0 && seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds != 0 && seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

std::optional<std::uint32_t> parse_millis(std::string_view text) {
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    auto n = digits(text.substr(0, text.size() - 2));
    if (!n || *n > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    return static_cast<std::uint32_t>(*n);
  }
  auto s = parse_seconds(text);
  if (!s || *s > std::numeric_limits<std::uint32_t>::max() / 1000) return std::nullopt;
  return *s * 1000;
}

std::string millis_text(std::uint32_t ms) {
  if (ms % 1000 == 0) return seconds_text(ms / 1000);
  return std::to_string(ms) + "ms";
}

std::vector<YamlField> FieldReader::fields(const YAML::Node& map, const std::string& where,
                                           const std::vector<std::string>* allowed) {
  std::vector<YamlField> out;
  std::map<std::string, int> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const int line = yaml_line(it->first);
    if (!it->first.IsScalar()) {
      problem(line, where + ": a key must be a text value, found " + yaml_type_name(it->first));
      continue;
    }
    const std::string key = it->first.Scalar();
    if (auto [at, fresh] = seen.emplace(key, line); !fresh) {
      problem(line, where + ": key '" + key + "' appears twice (first at line " +
                        std::to_string(at->second) + ")");
      continue;
    }
    if (allowed != nullptr && std::find(allowed->begin(), allowed->end(), key) == allowed->end()) {
      problem(line, where + ": unknown key '" + key + "' (expected " + join(*allowed) + ")");
      continue;
    }
    out.push_back({key, line, it->second});
  }
  return out;
}

std::optional<std::string> FieldReader::text(const YamlField& f, const std::string& where) {
  if (f.value.IsNull()) return std::string();
  if (f.value.IsScalar()) return f.value.Scalar();
  problem(f.line,
          where + ": '" + f.key + "' must be a text value, found " + yaml_type_name(f.value));
  return std::nullopt;
}

std::optional<bool> FieldReader::boolean(const YamlField& f, const std::string& where) {
  if (f.value.IsScalar()) {
    const std::string& v = f.value.Scalar();
    if (v == "true" || v == "True" || v == "TRUE") return true;
    if (v == "false" || v == "False" || v == "FALSE") return false;
  }
  problem(f.line, where + ": '" + f.key + "' must be true or false");
  return std::nullopt;
}

std::optional<std::uint32_t> FieldReader::seconds(const YamlField& f, const std::string& where) {
  if (f.value.IsScalar()) {
    if (auto s = parse_seconds(f.value.Scalar())) return s;
    problem(f.line, where + ": " + f.key + ": '" + f.value.Scalar() +
                        "' is not a duration (write seconds, or 30s, 5m, 1h)");
    return std::nullopt;
  }
  problem(f.line, where + ": '" + f.key + "' must be a duration (seconds, or 30s, 5m, 1h), found " +
                      yaml_type_name(f.value));
  return std::nullopt;
}

std::optional<std::uint32_t> FieldReader::millis(const YamlField& f, const std::string& where) {
  if (f.value.IsScalar()) {
    if (auto s = parse_millis(f.value.Scalar())) return s;
    problem(f.line, where + ": " + f.key + ": '" + f.value.Scalar() +
                        "' is not a duration (write 500ms, seconds, or 30s, 5m, 1h)");
    return std::nullopt;
  }
  problem(f.line, where + ": '" + f.key + "' must be a duration, found " + yaml_type_name(f.value));
  return std::nullopt;
}

std::optional<std::uint32_t> FieldReader::count_of(const YamlField& f, const std::string& where,
                                                   std::uint32_t min, std::uint32_t max) {
  if (f.value.IsScalar()) {
    auto n = digits(f.value.Scalar());
    if (n && *n >= min && *n <= max) return static_cast<std::uint32_t>(*n);
  }
  problem(f.line, where + ": '" + f.key + "' must be a whole number from " + std::to_string(min) +
                      " to " + std::to_string(max));
  return std::nullopt;
}

std::optional<std::string> FieldReader::priority(const YamlField& f, const std::string& where,
                                                 const std::string& path) {
  auto value = text(f, where);
  if (!value) return std::nullopt;
  if (!parse_priority(*value)) {
    problem(f.line, where + ": " + path + ": '" + *value +
                        "' is not one of critical, warning, info, unknown");
    return std::nullopt;
  }
  return value;
}

std::optional<std::vector<std::string>> FieldReader::texts(const YamlField& f,
                                                           const std::string& where) {
  if (f.value.IsNull()) return std::vector<std::string>{};
  if (f.value.IsScalar()) return std::vector<std::string>{f.value.Scalar()};
  if (f.value.IsSequence()) {
    std::vector<std::string> out;
    for (const auto& item : f.value) {
      if (!item.IsScalar()) {
        problem(yaml_line(item) == 0 ? f.line : yaml_line(item),
                where + ": '" + f.key + "' must list text values, found " + yaml_type_name(item));
        return std::nullopt;
      }
      out.push_back(item.Scalar());
    }
    return out;
  }
  problem(f.line, where + ": '" + f.key + "' must be a list of text values, found " +
                      yaml_type_name(f.value));
  return std::nullopt;
}

YAML::Emitter& emit_text(YAML::Emitter& out, const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return out << YAML::DoubleQuoted << s;
  }
  return out << s;
}

YAML::Emitter& emit_key_text(YAML::Emitter& out, const char* key, const std::string& s) {
  out << YAML::Key << key << YAML::Value;
  return emit_text(out, s);
}

}  // namespace duet
