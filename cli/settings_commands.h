#pragma once

// duetctl settings set|get|list: the replicated `settings` table. `set` goes
// to the master (found with Status when two managers are given); `get` and
// `list` read the master too when there is one, else the first manager that
// answers, so with one --manager they show that node's own copy.

#include <optional>
#include <ostream>
#include <string>

#include "cli/connection.h"

namespace duet::cli {

int run_settings_set(const ConnectionOptions& options, const std::string& key,
                     const std::string& value, bool json, std::ostream& out, std::ostream& err);
int run_settings_get(const ConnectionOptions& options, const std::string& key, bool json,
                     std::ostream& out, std::ostream& err);
int run_settings_list(const ConnectionOptions& options, bool json, std::ostream& out,
                      std::ostream& err);

}  // namespace duet::cli
