#pragma once

// The engine's private view of one session (jobs/engine.h); shared by the
// engine's source files only.

#include <cstdint>
#include <memory>
#include <vector>

#include "jobs/engine.h"

namespace duet::jobs {

struct Engine::Session {
  duet::v1::JobSessionInfo info;
  std::shared_ptr<const Plan> plan;
  std::vector<duet::v1::JobUnitState> units;
  std::vector<std::uint32_t> open_children;  // per net: children not final
  std::int64_t business_day = 0;
  std::uint32_t open_runs = 0;

  const PlanUnit& pu(std::uint32_t u) const { return plan->unit(u); }
  bool running(std::int32_t net) const {
    return net >= 0 && units[static_cast<std::size_t>(net)].state() == unit_state::kRunning;
  }
};

inline bool open_run(const duet::v1::JobRun& r) { return r.state() != "ended"; }

}  // namespace duet::jobs
