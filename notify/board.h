#pragma once

// The status board (`duetctl board`): the current priority per node and
// monitor, and the worst per node and per scope. Pure: the caller reads the
// rows and gives the time.
//
// A status is valid for `valid_ms` after its last result (3 intervals of its
// monitor, at least a minute; a monitor whose results come only when a line
// matches has no such period). Past it the cell shows "unknown", marked
// expired: a monitor that stopped reporting is not taken for healthy.
//
// Worst, as operators rank them: critical, then unknown, then warning, then info.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "duet/v1/notify.pb.h"

namespace duet::notify {

struct StatusRow {
  std::string node, monitor, priority, message;
  std::int64_t since_ms = 0, last_at_ms = 0;
  std::int64_t valid_ms = 0;  // 0: never expires
};

// 0 for critical .. 3 for info; 4 for anything else (nothing).
int board_rank(const std::string& priority);

// `scopes`: every scope with the nodes within it (sub-scopes included);
// `nodes`: every registered node (a node without statuses gets an empty row).
// `only_scope`: limit to that scope and its nodes ("" for all).
duet::v1::BoardResponse make_board(const std::vector<StatusRow>& statuses,
                                   const std::map<std::string, std::vector<std::string>>& scopes,
                                   const std::vector<std::string>& nodes, std::int64_t now_ms,
                                   const std::string& only_scope);

}  // namespace duet::notify
