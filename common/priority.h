#pragma once

// The priority of an event or a monitor result, worst first: what rules,
// judgements and notifications speak in.

#include <cstdint>
#include <optional>
#include <string_view>

namespace duet {

enum class Priority : std::uint8_t { kCritical, kWarning, kInfo, kUnknown };
const char* priority_name(Priority p);
// "critical", "warning", "info", "unknown"; anything else is nullopt.
std::optional<Priority> parse_priority(std::string_view text);

}  // namespace duet
