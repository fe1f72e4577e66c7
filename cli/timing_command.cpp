#include "cli/timing_command.h"

#include <grpcpp/create_channel.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/tls.h"

namespace duet::cli {
namespace {

using Json = nlohmann::ordered_json;

// One row per node: its own answer where it gave one, else what its peer
// heard of it (the advertised target only).
struct NodeTiming {
  duet::v1::NodeStatus status;
  bool answered = false;  // from the node itself
  std::string address;
};

std::vector<NodeTiming> collect(const std::vector<StatusReply>& replies) {
  std::map<std::string, NodeTiming> by_name;
  for (const auto& r : replies) {
    if (!r.ok) continue;
    for (const auto& n : r.response.nodes()) {
      auto& row = by_name[n.name()];
      if (n.self()) {
        row = NodeTiming{n, true, r.address};
      } else if (!row.answered) {
        row = NodeTiming{n, false, n.address()};
      }
    }
  }
  std::vector<NodeTiming> out;
  for (auto& [name, row] : by_name) out.push_back(std::move(row));
  return out;
}

Json node_json(const NodeTiming& t) {
  const auto& n = t.status;
  auto ms_or_null = [](std::int64_t v) { return v > 0 ? Json(v) : Json(nullptr); };
  Json j;
  j["name"] = n.name();
  j["address"] = t.address;
  j["role"] = n.role();
  j["answered"] = t.answered;
  j["interval_ms"] = ms_or_null(n.interval_ms());
  j["timeout_ms"] = ms_or_null(n.timeout_ms());
  if (t.answered) {
    j["source"] = n.timing_source();
    j["effective_interval_ms"] = n.effective_interval_ms();
    j["effective_timeout_ms"] = n.effective_timeout_ms();
    j["fence_after_ms"] = n.fence_after_ms();
    j["settled"] = n.timing_settled();
    j["detail"] = n.timing_detail();
  }
  return j;
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

std::string ms_text(std::int64_t v) { return v > 0 ? std::to_string(v) + " ms" : "?"; }

void print_table(const std::vector<NodeTiming>& rows, std::ostream& out) {
  out << pad("NODE", 10) << pad("ROLE", 9) << pad("INTERVAL", 10) << pad("TIMEOUT", 11)
      << pad("SOURCE", 9) << "IN FORCE NOW\n";
  for (const auto& t : rows) {
    const auto& n = t.status;
    out << pad(n.name(), 10) << pad(n.role(), 9) << pad(ms_text(n.interval_ms()), 10)
        << pad(ms_text(n.timeout_ms()), 11);
    if (t.answered) {
      out << pad(n.timing_source(), 9) << "beats every " << n.effective_interval_ms()
          << " ms, peer down after " << n.effective_timeout_ms() << " ms"
          << (n.timing_settled() ? "" : " (changing)") << "\n";
      if (!n.timing_detail().empty()) out << "          " << n.timing_detail() << "\n";
    } else {
      out << pad("?", 9) << "(not answering; as its peer last heard it)\n";
    }
  }
}

void print_unreachable(const std::vector<StatusReply>& replies, std::ostream& out) {
  for (const auto& r : replies) {
    if (!r.ok) out << "unreachable: " << r.address << ": " << r.error << "\n";
  }
}

Json unreachable_json(const std::vector<StatusReply>& replies) {
  Json u = Json::array();
  for (const auto& r : replies) {
    if (!r.ok) u.push_back({{"address", r.address}, {"error", r.error}});
  }
  return u;
}

// Every answering node targets `want`, and when all listed managers answered,
// each also confirms its peer does.
bool settled_on(const std::vector<StatusReply>& replies, std::int64_t interval_ms,
                std::int64_t timeout_ms) {
  bool all_answered = true;
  bool any = false;
  for (const auto& r : replies) {
    if (!r.ok) {
      all_answered = false;
      continue;
    }
    for (const auto& n : r.response.nodes()) {
      if (!n.self()) continue;
      any = true;
      if (n.interval_ms() != interval_ms || n.timeout_ms() != timeout_ms) return false;
    }
  }
  if (!any) return false;
  if (!all_answered) return true;
  for (const auto& r : replies) {
    for (const auto& n : r.response.nodes()) {
      if (n.self() && !n.timing_settled()) return false;
    }
  }
  return true;
}

int show(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err) {
  auto replies = query_status(options);
  if (!replies.ok()) {
    err << "duetctl: " << replies.error().to_string() << "\n";
    return 1;
  }
  const auto rows = collect(*replies);
  if (rows.empty()) {
    err << "duetctl: no manager answered:";
    for (const auto& r : *replies) err << "\n  " << r.address << ": " << r.error;
    err << "\n";
    return 1;
  }
  if (json) {
    Json j;
    j["nodes"] = Json::array();
    for (const auto& t : rows) j["nodes"].push_back(node_json(t));
    j["unreachable"] = unreachable_json(*replies);
    out << j.dump(2) << "\n";
    return 0;
  }
  print_table(rows, out);
  print_unreachable(*replies, out);
  return 0;
}

}  // namespace

std::optional<std::int64_t> parse_duration_ms(const std::string& text) {
  std::size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) != 0 || text[end] == '.')) {
    ++end;
  }
  const std::string number = text.substr(0, end);
  const std::string unit = text.substr(end);
  if (number.empty() || number == "." || number.find('.') != number.rfind('.')) return std::nullopt;
  double scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m" || unit == "min") {
    scale = 60000;
  } else {
    return std::nullopt;
  }
  double value = 0;
  try {
    value = std::stod(number) * scale;
  } catch (...) {
    return std::nullopt;
  }
  const double rounded = std::round(value);
  if (std::abs(value - rounded) > 1e-6 || rounded <= 0 || rounded > 1e12) return std::nullopt;
  return static_cast<std::int64_t>(rounded);
}

int run_ha_timing(const ConnectionOptions& options, const TimingChange& change, bool json,
                  std::ostream& out, std::ostream& err) {
  const bool changing = change.reset || !change.interval.empty() || !change.timeout.empty();
  if (!changing) return show(options, json, out, err);

  duet::v1::SetTimingRequest req;
  if (change.reset) {
    if (!change.interval.empty() || !change.timeout.empty()) {
      err << "duetctl: ha timing: --reset goes back to the config files; give no values with it\n";
      return 2;
    }
    req.set_reset(true);
  }
  for (const auto& [text, name] :
       {std::pair{&change.interval, "--interval"}, std::pair{&change.timeout, "--timeout"}}) {
    if (text->empty()) continue;
    auto v = parse_duration_ms(*text);
    if (!v) {
      err << "duetctl: ha timing: " << name << " '" << *text
          << "': give milliseconds (200, 200ms) or seconds (1s, 1.5s)\n";
      return 2;
    }
    if (std::string(name) == "--interval") {
      req.set_interval_ms(*v);
    } else {
      req.set_timeout_ms(*v);
    }
  }

  auto creds = make_channel_credentials(options.tls);
  if (!creds.ok()) {
    err << "duetctl: " << creds.error().to_string() << "\n";
    return 1;
  }
  auto before = query_status(options);
  if (!before.ok()) {
    err << "duetctl: " << before.error().to_string() << "\n";
    return 1;
  }
  std::string master_address;
  for (const auto& r : *before) {
    if (!r.ok) continue;
    for (const auto& n : r.response.nodes()) {
      if (n.self() && n.role() == "master") master_address = r.address;
    }
  }
  if (master_address.empty()) {
    err << "duetctl: ha timing: no master among the managers that answered; the timing is "
           "changed on the master (give both managers with --manager)\n";
    print_unreachable(*before, err);
    return 1;
  }
  auto stub = duet::v1::Admin::NewStub(
      grpc::CreateCustomChannel(master_address, *creds, make_channel_arguments(options.tls)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  duet::v1::SetTimingResponse resp;
  auto s = stub->SetTiming(&ctx, req, &resp);
  if (!s.ok()) {
    if (json) {
      out << Json{{"ok", false}, {"error", s.error_message()}}.dump(2) << "\n";
    }
    err << "duetctl: ha timing: " << master_address << ": " << s.error_message() << "\n";
    return 1;
  }
  if (!json) {
    out << resp.node() << ": timing " << (req.reset() ? "reset to the config file: " : "set: ")
        << "interval " << resp.interval_ms() << " ms, timeout " << resp.timeout_ms() << " ms (LSN "
        << resp.lsn() << (resp.replicated() ? ", replicated" : ", not replicated yet") << ")\n"
        << std::flush;
  }

  // Wait until every node uses it. After --reset each node goes back to its
  // own file, so only the master's value is known here: wait for settling.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<std::int64_t>(change.wait_s * 1000));
  std::vector<StatusReply> now_replies;
  bool done = false;
  while (true) {
    auto r = query_status(options);
    if (r.ok()) {
      now_replies = std::move(r).value();
      done = settled_on(now_replies, resp.interval_ms(), resp.timeout_ms());
      if (req.reset() && !done) {
        // A node whose file differs from the master's never matches it.
        bool all_settled = true;
        for (const auto& rep : now_replies) {
          for (const auto& n : rep.response.nodes()) {
            if (n.self() && (n.timing_source() != "config" || !n.timing_settled())) {
              all_settled = false;
            }
          }
          if (!rep.ok) all_settled = false;
        }
        done = all_settled;
      }
    }
    if (done || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto rows = collect(now_replies);
  if (json) {
    Json j;
    j["ok"] = done;
    j["change"] = {{"node", resp.node()},
                   {"interval_ms", resp.interval_ms()},
                   {"timeout_ms", resp.timeout_ms()},
                   {"source", resp.source()},
                   {"lsn", resp.lsn()},
                   {"epoch", resp.epoch()},
                   {"replicated", resp.replicated()}};
    j["nodes"] = Json::array();
    for (const auto& t : rows) j["nodes"].push_back(node_json(t));
    j["unreachable"] = unreachable_json(now_replies);
    out << j.dump(2) << "\n";
  } else {
    print_table(rows, out);
    print_unreachable(now_replies, out);
    bool someone_down = false;
    for (const auto& r : now_replies) someone_down |= !r.ok;
    if (done && someone_down) {
      out << "done on the nodes that answer; a node that is down takes the timing from its "
             "store when it catches up\n";
    } else if (done) {
      out << "done: both nodes use it\n";
    } else {
      out << "stored, but not every node uses it yet (see duetctl ha timing)\n";
    }
  }
  return done ? 0 : 1;
}

}  // namespace duet::cli
