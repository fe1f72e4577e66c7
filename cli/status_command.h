#pragma once

// `duetctl status`: both nodes of the pair as the master sees them.

#include <ostream>
#include <vector>

#include "cli/connection.h"

namespace duet::cli {

// Prints the status and returns the exit code (0 when a manager answered).
int run_status(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err);

// The JSON document of `status --json` (shape documented in docs/duetctl.md).
std::string status_json(const StatusReply& view, const std::vector<StatusReply>& all);

}  // namespace duet::cli
