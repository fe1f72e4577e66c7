#include "notify/board.h"

#include <algorithm>
#include <set>

namespace duet::notify {
namespace {

const char* kRanked[] = {"critical", "unknown", "warning", "info"};

void add(duet::v1::BoardRow& row, const std::string& priority) {
  if (priority == "critical") row.set_critical(row.critical() + 1);
  if (priority == "unknown") row.set_unknown(row.unknown() + 1);
  if (priority == "warning") row.set_warning(row.warning() + 1);
  if (priority == "info") row.set_info(row.info() + 1);
  if (board_rank(priority) < board_rank(row.worst())) row.set_worst(priority);
}

}  // namespace

int board_rank(const std::string& priority) {
  for (int i = 0; i < 4; ++i) {
    if (priority == kRanked[i]) return i;
  }
  return 4;
}

duet::v1::BoardResponse make_board(const std::vector<StatusRow>& statuses,
                                   const std::map<std::string, std::vector<std::string>>& scopes,
                                   const std::vector<std::string>& nodes, std::int64_t now_ms,
                                   const std::string& only_scope) {
  duet::v1::BoardResponse out;
  std::set<std::string> wanted_nodes;
  if (!only_scope.empty()) {
    auto it = scopes.find(only_scope);
    if (it != scopes.end()) wanted_nodes.insert(it->second.begin(), it->second.end());
  }
  auto in_view = [&](const std::string& node) {
    return only_scope.empty() || wanted_nodes.count(node) != 0;
  };
  std::map<std::string, duet::v1::BoardRow> by_node;
  for (const auto& n : nodes) {
    if (in_view(n)) by_node[n].set_node(n);
  }
  for (const auto& s : statuses) {
    if (!in_view(s.node)) continue;
    auto& row = by_node[s.node];
    row.set_node(s.node);
    auto* cell = row.add_cells();
    cell->set_node(s.node);
    cell->set_monitor(s.monitor);
    cell->set_since_ms(s.since_ms);
    cell->set_last_at_ms(s.last_at_ms);
    cell->set_message(s.message);
    const bool expired = s.valid_ms > 0 && now_ms - s.last_at_ms > s.valid_ms;
    cell->set_expired(expired);
    cell->set_priority(expired ? "unknown" : s.priority);
    add(row, cell->priority());
  }
  for (auto& [name, row] : by_node) {
    std::sort(row.mutable_cells()->begin(), row.mutable_cells()->end(),
              [](const auto& a, const auto& b) { return a.monitor() < b.monitor(); });
    *out.add_nodes() = row;
  }
  for (const auto& [scope, members] : scopes) {
    if (!only_scope.empty() && scope != only_scope) {
      // A sub-scope of the one asked for is shown too.
      bool inside = !members.empty() && std::all_of(members.begin(), members.end(), in_view);
      if (!inside) continue;
    }
    duet::v1::BoardRow row;
    row.set_scope(scope);
    for (const auto& n : members) {
      auto it = by_node.find(n);
      if (it == by_node.end()) continue;
      for (const auto& cell : it->second.cells()) add(row, cell.priority());
    }
    *out.add_scopes() = row;
  }
  return out;
}

}  // namespace duet::notify
