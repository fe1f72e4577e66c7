#pragma once

// Process-wide logging through spdlog: human text, or one JSON object per line
// ({"ts","level","logger","msg"}) for log shippers. Secrets never reach a log
// line: callers pass conninfo through redact_conninfo() and never log keys or
// tokens.

#include <spdlog/spdlog.h>

#include <string>

#include "common/config.h"
#include "common/result.h"

namespace duet {

// Installs the default logger named `process` per `config`. Call once at start.
Status setup_logging(const LogConfig& config, const std::string& process);

// Formats one record as a JSON line; exposed for tests.
std::string format_json_log_line(const spdlog::details::log_msg& msg);

}  // namespace duet
