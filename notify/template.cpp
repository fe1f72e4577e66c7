#include "notify/template.h"

#include "common/errors.h"
#include "common/json_writer.h"

namespace duet::notify {
namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

void append_escaped(std::string& out, std::string_view value, Escape escape) {
  switch (escape) {
    case Escape::kNone:
      out += value;
      return;
    case Escape::kHeaderLine:
      for (char c : value) out += (c == '\r' || c == '\n') ? ' ' : c;
      return;
    case Escape::kJsonString: {
      // The JSON string's own escaping, without its quotes.
      std::string quoted;
      json_append_string(quoted, value);
      out.append(quoted, 1, quoted.size() - 2);
      return;
    }
  }
}

}  // namespace

Status check_template(std::string_view tmpl) {
  std::size_t pos = 0;
  while ((pos = tmpl.find("{{", pos)) != std::string_view::npos) {
    const auto end = tmpl.find("}}", pos + 2);
    if (end == std::string_view::npos) {
      return make_error(CommonErrc::kInvalidArgument,
                        "at offset " + std::to_string(pos) + ": '{{' is not closed by '}}'");
    }
    const auto name = trim(tmpl.substr(pos + 2, end - pos - 2));
    if (name.empty()) {
      return make_error(CommonErrc::kInvalidArgument,
                        "at offset " + std::to_string(pos) + ": '{{}}' names nothing");
    }
    for (char c : name) {
      if (!name_char(c)) {
        return make_error(CommonErrc::kInvalidArgument,
                          "at offset " + std::to_string(pos) + ": '" + std::string(name) +
                              "' is not a variable name (letters, digits, _ . -)");
      }
    }
    pos = end + 2;
  }
  return ok_status();
}

std::string render(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                   Escape escape) {
  std::string out;
  out.reserve(tmpl.size() + 64);
  std::size_t pos = 0;
  while (true) {
    const auto open = tmpl.find("{{", pos);
    const auto close = open == std::string_view::npos ? open : tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out += tmpl.substr(pos);
      return out;
    }
    out += tmpl.substr(pos, open - pos);
    const std::string name(trim(tmpl.substr(open + 2, close - open - 2)));
    if (auto it = vars.find(name); it != vars.end()) append_escaped(out, it->second, escape);
    pos = close + 2;
  }
}

}  // namespace duet::notify
