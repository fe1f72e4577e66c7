#pragma once

// duetctl commands that change roles: promote --force and failback.

#include <ostream>

#include "cli/connection.h"

namespace duet::cli {

// Promotes the single manager given with --manager, which must be told
// --force: the operator vouches that the peer is down.
int run_promote(const ConnectionOptions& options, bool force, bool json, std::ostream& out,
                std::ostream& err);

// Asks every node that is not master to catch up with the master again, then
// waits (up to `wait_s` seconds) until the pair is master + standby.
int run_failback(const ConnectionOptions& options, double wait_s, bool json, std::ostream& out,
                 std::ostream& err);

// Planned role swap with nothing lost: the master stops acting, the standby
// catches up to the last LSN and takes over in a new epoch; waits (up to
// `wait_s` seconds) until the pair is master + standby again.
int run_switchover(const ConnectionOptions& options, double wait_s, bool json, std::ostream& out,
                   std::ostream& err);

}  // namespace duet::cli
