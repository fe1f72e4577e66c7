#include "cli/events_commands.h"

#include <charconv>
#include <ctime>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/output.h"
#include "duet/v1/events.grpc.pb.h"

namespace duet::cli {
namespace {

std::unique_ptr<duet::v1::Events::Stub> connect(const ConnectionOptions& options,
                                                const std::string& address, std::ostream& err) {
  auto channel = open_channel(options, address, err);
  return channel ? duet::v1::Events::NewStub(channel) : nullptr;
}

}  // namespace

nlohmann::ordered_json event_json(const duet::v1::Event& e, bool raw) {
  nlohmann::ordered_json j{{"id", e.id()},
                           {"received_at", iso_time(e.received_at_ms())},
                           {"received_at_ms", e.received_at_ms()},
                           {"node", e.node()},
                           {"source", e.source()},
                           {"source_port", e.source_port()},
                           {"protocol", e.protocol()},
                           {"host", e.host()},
                           {"scope", e.scope()},
                           {"priority", e.priority()},
                           {"rule", e.rule()},
                           {"message", e.message()},
                           {"fields", nlohmann::ordered_json::parse(e.fields_json(), nullptr,
                                                                    /*allow_exceptions=*/false)},
                           {"truncated", e.truncated()},
                           {"epoch", e.epoch()}};
  j["confirm_state"] = e.confirm_state();
  if (!e.confirmed_by().empty()) {
    j["confirmed_by"] = e.confirmed_by();
    j["confirmed_at"] = iso_time(e.confirmed_at_ms());
  }
  if (!e.confirm_comment().empty()) j["confirm_comment"] = e.confirm_comment();
  if (raw) j["raw"] = e.raw();
  return j;
}

std::optional<std::int64_t> parse_since(const std::string& text, std::int64_t now_ms) {
  if (text.empty()) return std::nullopt;
  std::int64_t n = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(begin, end, n);
  if (ec == std::errc() && p == end) return n;  // unix ms
  if (ec == std::errc() && p + 1 == end && n >= 0) {
    switch (*p) {
      case 's':
        return now_ms - n * 1000;
      case 'm':
        return now_ms - n * 60'000;
      case 'h':
        return now_ms - n * 3'600'000;
      case 'd':
        return now_ms - n * 86'400'000;
      default:
        return std::nullopt;
    }
  }
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  std::string rest;
  in >> rest;
  if (!rest.empty() && rest != "Z") return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

int run_events_list(const ConnectionOptions& options, const EventsListArgs& args, bool json,
                    std::ostream& out, std::ostream& err) {
  duet::v1::ListEventsRequest req;
  if (!args.since.empty()) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    auto since = parse_since(args.since, now_ms);
    if (!since) {
      err << "duetctl: events list: --since '" << args.since
          << "': give unix ms, an ISO 8601 UTC time (2026-11-21T04:00:00Z) or an age (15m, 2h)\n";
      return 2;
    }
    req.set_since_ms(*since);
  }
  req.set_source(args.source);
  req.set_priority(args.priority);
  req.set_limit(args.limit);
  req.set_with_raw(args.raw);
  auto address = command_target(options, err);
  if (!address) return 1;
  auto stub = connect(options, *address, err);
  if (!stub) return 1;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  duet::v1::ListEventsResponse resp;
  if (auto s = stub->ListEvents(&ctx, req, &resp); !s.ok()) {
    err << "duetctl: events list: " << *address << ": " << s.error_message() << "\n";
    return 1;
  }
  if (json) {
    nlohmann::ordered_json events = nlohmann::ordered_json::array();
    for (const auto& e : resp.events()) events.push_back(event_json(e, args.raw));
    out << nlohmann::ordered_json{{"node", resp.node()}, {"events", events}}.dump(
               2, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
    return 0;
  }
  for (const auto& e : resp.events()) {
    out << std::setw(8) << e.id() << "  " << iso_time(e.received_at_ms()) << "  " << std::left
        << std::setw(8) << e.priority() << "  " << std::setw(15) << e.source() << "  "
        << std::setw(10) << e.protocol() << std::right << "  " << e.message() << "\n";
  }
  if (resp.events().empty()) out << "no events\n";
  return 0;
}

int run_events_count(const ConnectionOptions& options, bool json, std::ostream& out,
                     std::ostream& err) {
  auto address = command_target(options, err);
  if (!address) return 1;
  auto stub = connect(options, *address, err);
  if (!stub) return 1;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  duet::v1::CountEventsResponse resp;
  if (auto s = stub->CountEvents(&ctx, duet::v1::CountEventsRequest(), &resp); !s.ok()) {
    err << "duetctl: events count: " << *address << ": " << s.error_message() << "\n";
    return 1;
  }
  // Sorted, so the output does not depend on map order.
  std::map<std::string, std::uint64_t> by_priority(resp.by_priority().begin(),
                                                   resp.by_priority().end());
  std::map<std::string, std::uint64_t> by_protocol(resp.by_protocol().begin(),
                                                   resp.by_protocol().end());
  if (json) {
    out << nlohmann::ordered_json{{"node", resp.node()},
                                  {"total", resp.total()},
                                  {"by_priority", by_priority},
                                  {"by_protocol", by_protocol}}
               .dump(2)
        << "\n";
    return 0;
  }
  out << resp.total() << " events (as recorded on " << resp.node() << ")\n";
  for (const auto& [k, v] : by_priority) out << "  priority " << k << ": " << v << "\n";
  for (const auto& [k, v] : by_protocol) out << "  protocol " << k << ": " << v << "\n";
  return 0;
}

int run_events_counters(const ConnectionOptions& options, bool json, std::ostream& out,
                        std::ostream& err) {
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  int failures = 0;
  for (const auto& address : options.managers) {
    auto stub = connect(options, address, err);
    if (!stub) return 1;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
    duet::v1::IntakeCountersResponse resp;
    if (auto s = stub->IntakeCounters(&ctx, duet::v1::IntakeCountersRequest(), &resp); !s.ok()) {
      ++failures;
      nodes.push_back({{"address", address}, {"error", s.error_message()}});
      if (!json) out << address << ": " << s.error_message() << "\n";
      continue;
    }
    nlohmann::ordered_json protocols = nlohmann::ordered_json::array();
    for (const auto& p : resp.protocols()) {
      std::map<std::string, std::uint64_t> details(p.details().begin(), p.details().end());
      protocols.push_back({{"protocol", p.protocol()},
                           {"received", p.received()},
                           {"parsed", p.parsed()},
                           {"malformed", p.malformed()},
                           {"truncated", p.truncated()},
                           {"deduplicated", p.deduplicated()},
                           {"emitted", p.emitted()},
                           {"discarded", p.discarded()},
                           {"kernel_drops", p.kernel_drops()},
                           {"details", details}});
    }
    nodes.push_back({{"address", address},
                     {"node", resp.node()},
                     {"role", resp.role()},
                     {"held", resp.held()},
                     {"expired", resp.expired()},
                     {"store_failures", resp.store_failures()},
                     {"protocols", protocols}});
    if (!json) {
      out << resp.node() << " (" << address << ", " << resp.role() << "): held " << resp.held()
          << ", expired " << resp.expired() << ", store failures " << resp.store_failures() << "\n";
      for (const auto& p : resp.protocols()) {
        out << "  " << std::left << std::setw(11) << p.protocol() << std::right << " received "
            << p.received() << ", parsed " << p.parsed() << ", malformed " << p.malformed()
            << ", truncated " << p.truncated() << ", deduplicated " << p.deduplicated()
            << ", emitted " << p.emitted() << ", discarded " << p.discarded() << ", kernel drops "
            << p.kernel_drops() << "\n";
        std::map<std::string, std::uint64_t> details(p.details().begin(), p.details().end());
        std::string line;
        for (const auto& [k, v] : details) {
          if (v != 0) line += (line.empty() ? "" : ", ") + k + " " + std::to_string(v);
        }
        if (!line.empty()) out << "              " << line << "\n";
      }
    }
  }
  if (json) out << nlohmann::ordered_json{{"nodes", nodes}}.dump(2) << "\n";
  return failures == static_cast<int>(options.managers.size()) ? 1 : 0;
}

}  // namespace duet::cli
