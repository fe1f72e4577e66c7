#include "cli/ha_commands.h"

#include <grpcpp/create_channel.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/tls.h"

namespace duet::cli {
namespace {

std::unique_ptr<duet::v1::Admin::Stub> stub_for(
    const ConnectionOptions& options, const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& c) {
  return duet::v1::Admin::NewStub(
      grpc::CreateCustomChannel(address, c, make_channel_arguments(options.tls)));
}

std::string roles_line(const std::vector<StatusReply>& replies) {
  std::string line;
  for (const auto& r : replies) {
    if (!r.ok) {
      line += (line.empty() ? "" : ", ") + r.address + " unreachable";
      continue;
    }
    for (const auto& n : r.response.nodes()) {
      if (n.self()) {
        line += (line.empty() ? "" : ", ") + n.name() + " " + n.role() + " (epoch " +
                std::to_string(n.epoch()) + ")";
      }
    }
  }
  return line;
}

// True when one node is master and every other answering node is standby.
bool pair_healthy(const std::vector<StatusReply>& replies) {
  int masters = 0;
  int others = 0;
  for (const auto& r : replies) {
    if (!r.ok) return false;
    for (const auto& n : r.response.nodes()) {
      if (!n.self()) continue;
      if (n.role() == "master") {
        ++masters;
      } else if (n.role() == "standby") {
        ++others;
      } else {
        return false;
      }
    }
  }
  return masters == 1 && masters + others == static_cast<int>(replies.size());
}

// Polls status until one master and one standby, or `wait_s` passes; says
// each change of roles.
bool wait_for_pair(const ConnectionOptions& options, double wait_s,
                   const std::function<void(const std::string&)>& say) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(wait_s * 1000));
  std::string last;
  while (true) {
    auto now_replies = query_status(options);
    bool healthy = false;
    if (now_replies.ok()) {
      healthy = pair_healthy(*now_replies);
      const std::string line = roles_line(*now_replies);
      if (line != last) say("now: " + line);
      last = line;
    }
    if (healthy) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The credentials and every manager's status: what failback and switchover
// start from. Prints the reason and returns nullopt on failure.
struct Survey {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  std::vector<StatusReply> replies;
};

std::optional<Survey> survey(const ConnectionOptions& options, std::ostream& err) {
  auto creds = make_channel_credentials(options.tls);
  if (!creds.ok()) {
    err << "duetctl: " << creds.error().to_string() << "\n";
    return std::nullopt;
  }
  auto replies = query_status(options);
  if (!replies.ok()) {
    err << "duetctl: " << replies.error().to_string() << "\n";
    return std::nullopt;
  }
  return Survey{*creds, std::move(replies).value()};
}

}  // namespace

int run_promote(const ConnectionOptions& options, bool force, bool json, std::ostream& out,
                std::ostream& err) {
  if (options.managers.size() != 1) {
    err << "duetctl: promote: give exactly one --manager: the node to promote\n";
    return 2;
  }
  if (!force) {
    err << "duetctl: promote: add --force to confirm that the peer is down; promoting while it "
           "acts makes two masters\n";
    return 2;
  }
  auto creds = make_channel_credentials(options.tls);
  if (!creds.ok()) {
    err << "duetctl: " << creds.error().to_string() << "\n";
    return 1;
  }
  auto stub = stub_for(options, options.managers[0], *creds);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  duet::v1::PromoteRequest req;
  req.set_force(true);
  duet::v1::CommandReply reply;
  auto s = stub->Promote(&ctx, req, &reply);
  if (!s.ok()) {
    err << "duetctl: promote: " << options.managers[0] << ": " << s.error_message() << "\n";
    return 1;
  }
  if (json) {
    out << nlohmann::json{{"node", reply.node()}, {"message", reply.message()}}.dump(2) << "\n";
  } else {
    out << reply.node() << ": " << reply.message() << "\n";
  }
  return 0;
}

int run_failback(const ConnectionOptions& options, double wait_s, bool json, std::ostream& out,
                 std::ostream& err) {
  auto pair = survey(options, err);
  if (!pair) return 1;
  // A node restarted a moment ago may not answer yet: give it (within --wait,
  // at most 15 s) before deciding whom to ask.
  const auto answer_by =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<std::int64_t>(std::min(wait_s, 15.0) * 1000));
  auto all_answered = [](const std::vector<StatusReply>& rs) {
    return std::all_of(rs.begin(), rs.end(), [](const StatusReply& r) { return r.ok; });
  };
  while (!all_answered(pair->replies) && std::chrono::steady_clock::now() < answer_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto again = survey(options, err);
    if (!again) return 1;
    pair = std::move(again);
  }
  auto& creds = pair->creds;
  auto* replies = &pair->replies;
  nlohmann::json steps = nlohmann::json::array();
  auto say = [&](const std::string& line) {
    steps.push_back(line);
    if (!json) out << line << "\n" << std::flush;
  };
  say("before: " + roles_line(*replies));
  int asked = 0;
  for (const auto& r : *replies) {
    if (!r.ok) continue;
    bool is_master = false;
    for (const auto& n : r.response.nodes()) is_master |= n.self() && n.role() == "master";
    if (is_master) continue;
    auto stub = stub_for(options, r.address, creds);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
    duet::v1::CommandReply reply;
    auto s = stub->Failback(&ctx, duet::v1::FailbackRequest(), &reply);
    say(s.ok() ? reply.node() + ": " + reply.message()
               : r.address + ": failback failed: " + s.error_message());
    ++asked;
  }
  if (asked == 0 && pair_healthy(*replies)) say("nothing to do: the pair is master + standby");

  const bool healthy = wait_for_pair(options, wait_s, say);
  say(healthy ? "done: master + standby" : "not back to master + standby yet (see duetctl status)");
  if (json) {
    out << nlohmann::json{{"ok", healthy}, {"steps", steps}}.dump(2) << "\n";
  }
  return healthy ? 0 : 1;
}

int run_switchover(const ConnectionOptions& options, double wait_s, bool json, std::ostream& out,
                   std::ostream& err) {
  auto pair = survey(options, err);
  if (!pair) return 1;
  auto& creds = pair->creds;
  auto* replies = &pair->replies;
  std::string master_address;
  for (const auto& r : *replies) {
    if (!r.ok) continue;
    for (const auto& n : r.response.nodes()) {
      if (n.self() && n.role() == "master") master_address = r.address;
    }
  }
  if (master_address.empty()) {
    err << "duetctl: switchover: no master among " << roles_line(*replies)
        << "; give both managers with --manager\n";
    return 1;
  }
  nlohmann::json steps = nlohmann::json::array();
  auto say = [&](const std::string& line) {
    steps.push_back(line);
    if (!json) out << line << "\n" << std::flush;
  };
  say("before: " + roles_line(*replies));
  auto stub = stub_for(options, master_address, creds);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  duet::v1::CommandReply reply;
  auto s = stub->Switchover(&ctx, duet::v1::SwitchoverRequest(), &reply);
  if (!s.ok()) {
    say("switchover failed: " + s.error_message());
    if (json) out << nlohmann::json{{"ok", false}, {"steps", steps}}.dump(2) << "\n";
    if (!json) err << "duetctl: switchover: " << s.error_message() << "\n";
    return 1;
  }
  say(reply.node() + ": " + reply.message());
  const bool healthy = wait_for_pair(options, wait_s, say);
  say(healthy ? "done: master + standby, roles swapped"
              : "not back to master + standby yet (see duetctl status)");
  if (json) out << nlohmann::json{{"ok", healthy}, {"steps", steps}}.dump(2) << "\n";
  return healthy ? 0 : 1;
}

}  // namespace duet::cli
