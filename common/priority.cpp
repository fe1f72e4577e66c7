#include "common/priority.h"

namespace duet {

const char* priority_name(Priority p) {
  switch (p) {
    case Priority::kCritical:
      return "critical";
    case Priority::kWarning:
      return "warning";
    case Priority::kInfo:
      return "info";
    case Priority::kUnknown:
      break;
  }
  return "unknown";
}

std::optional<Priority> parse_priority(std::string_view text) {
  for (Priority p :
       {Priority::kCritical, Priority::kWarning, Priority::kInfo, Priority::kUnknown}) {
    if (text == priority_name(p)) return p;
  }
  return std::nullopt;
}

}  // namespace duet
