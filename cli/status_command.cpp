#include "cli/status_command.h"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

namespace duet::cli {
namespace {

nlohmann::ordered_json node_json(const duet::v1::NodeStatus& n) {
  nlohmann::ordered_json j;
  j["name"] = n.name();
  j["address"] = n.address();
  j["role"] = n.role();
  j["epoch"] = n.epoch();
  j["heartbeat_age_ms"] =
      n.has_heartbeat_age_ms() ? nlohmann::ordered_json(n.heartbeat_age_ms()) : nullptr;
  j["applied_lsn"] = n.applied_lsn();
  j["lag_records"] = n.lag_records();
  j["lag_ms"] = n.lag_ms();
  j["guard"] = n.guard();
  j["self"] = n.self();
  j["detail"] = n.detail();
  j["interval_ms"] = n.interval_ms() > 0 ? nlohmann::ordered_json(n.interval_ms()) : nullptr;
  j["timeout_ms"] = n.timeout_ms() > 0 ? nlohmann::ordered_json(n.timeout_ms()) : nullptr;
  if (n.self()) {
    j["timing_source"] = n.timing_source();
    j["timing_detail"] = n.timing_detail();
    j["effective_interval_ms"] = n.effective_interval_ms();
    j["effective_timeout_ms"] = n.effective_timeout_ms();
    j["fence_after_ms"] = n.fence_after_ms();
    j["timing_settled"] = n.timing_settled();
  }
  return j;
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string status_json(const StatusReply& view, const std::vector<StatusReply>& all) {
  const auto& r = view.response;
  nlohmann::ordered_json j;
  j["master"] = r.has_master() ? nlohmann::ordered_json(r.master()) : nullptr;
  j["sync_mode"] = r.sync_mode();
  j["running_alone"] = r.running_alone();
  j["ha"] = r.ha();
  j["answered_by"] = view.address;
  j["nodes"] = nlohmann::ordered_json::array();
  for (const auto& n : r.nodes()) j["nodes"].push_back(node_json(n));
  const auto& st = r.store();
  j["store"] = {{"backend", st.backend()},
                {"location", st.location()},
                {"state", st.state()},
                {"detail", st.detail()},
                {"schema_version", st.schema_version()},
                {"last_lsn", st.last_lsn()},
                {"journal_records", st.journal_records()}};
  j["version"] = r.version();
  j["uptime_ms"] = r.uptime_ms();
  nlohmann::ordered_json unreachable = nlohmann::ordered_json::array();
  for (const auto& other : all) {
    if (!other.ok) unreachable.push_back({{"address", other.address}, {"error", other.error}});
  }
  j["unreachable"] = unreachable;
  return j.dump(2);
}

int run_status(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err) {
  auto replies = query_status(options);
  if (!replies.ok()) {
    err << "duetctl: " << replies.error().to_string() << "\n";
    return 1;
  }
  const StatusReply* view = pick_master_view(*replies);
  if (view == nullptr) {
    err << "duetctl: no manager answered:";
    for (const auto& r : *replies) err << "\n  " << r.address << ": " << r.error;
    err << "\n";
    return 1;
  }
  if (json) {
    out << status_json(*view, *replies) << "\n";
    return 0;
  }
  const auto& r = view->response;
  out << "master: " << (r.has_master() ? r.master() : "(none)") << "   sync mode: " << r.sync_mode()
      << (r.running_alone() ? " (running alone)" : "") << "   ha: " << r.ha() << "   (answered by "
      << view->address << ")\n\n";
  out << pad("NODE", 10) << pad("ADDRESS", 22) << pad("ROLE", 9) << pad("EPOCH", 7)
      << pad("HEARTBEAT", 11) << pad("APPLIED LSN", 13) << pad("LAG", 16) << "GUARD\n";
  for (const auto& n : r.nodes()) {
    std::string hb = n.self() ? "(self)" : "never";
    if (n.has_heartbeat_age_ms()) hb = std::to_string(n.heartbeat_age_ms()) + " ms";
    const bool known = n.self() || n.has_heartbeat_age_ms();
    out << pad(n.name(), 10) << pad(n.address(), 22) << pad(n.role(), 9)
        << pad(known ? std::to_string(n.epoch()) : "-", 7) << pad(hb, 11)
        << pad(known ? std::to_string(n.applied_lsn()) : "-", 13)
        << pad(known ? std::to_string(n.lag_records()) + " rec / " + std::to_string(n.lag_ms()) +
                           " ms"
                     : "-",
               16)
        << n.guard() << "\n";
    if (!n.detail().empty()) out << "          " << n.detail() << "\n";
  }
  for (const auto& n : r.nodes()) {
    if (!n.self() || n.interval_ms() <= 0) continue;
    out << "\ntiming: interval " << n.interval_ms() << " ms, failover timeout " << n.timeout_ms()
        << " ms (" << (n.timing_source() == "setting" ? "replicated setting" : "config file")
        << ")";
    if (!n.timing_settled()) {
      out << "; changing: beats every " << n.effective_interval_ms() << " ms, peer down after "
          << n.effective_timeout_ms() << " ms";
    }
    if (!n.timing_detail().empty()) out << "\n  " << n.timing_detail();
    out << "\n";
  }
  const auto& st = r.store();
  out << "\nstore: " << st.backend() << " " << st.location() << "  " << st.state();
  if (!st.detail().empty()) out << " (" << st.detail() << ")";
  if (st.state() == "ok") {
    out << "  schema v" << st.schema_version() << "  last LSN " << st.last_lsn() << "  journal "
        << st.journal_records() << " records";
  }
  out << "\nversion " << r.version() << ", up " << r.uptime_ms() / 1000 << " s\n";
  for (const auto& other : *replies) {
    if (!other.ok) out << "unreachable: " << other.address << ": " << other.error << "\n";
  }
  return 0;
}

}  // namespace duet::cli
