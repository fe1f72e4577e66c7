#include "cli/connection.h"

#include <grpcpp/create_channel.h>

#include "common/tls.h"

namespace duet::cli {

Result<std::vector<StatusReply>> query_status(const ConnectionOptions& options) {
  DUET_ASSIGN_OR_RETURN(auto creds, make_channel_credentials(options.tls));
  std::vector<StatusReply> replies;
  for (const auto& address : options.managers) {
    StatusReply reply;
    reply.address = address;
    auto channel = grpc::CreateCustomChannel(address, creds, make_channel_arguments(options.tls));
    auto stub = duet::v1::Admin::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
    duet::v1::StatusRequest request;
    grpc::Status s = stub->Status(&ctx, request, &reply.response);
    reply.ok = s.ok();
    if (!s.ok()) reply.error = s.error_message();
    replies.push_back(std::move(reply));
  }
  return replies;
}

const StatusReply* pick_master_view(const std::vector<StatusReply>& replies) {
  const StatusReply* first = nullptr;
  for (const auto& r : replies) {
    if (!r.ok) continue;
    if (first == nullptr) first = &r;
    for (const auto& n : r.response.nodes()) {
      if (n.self() && n.role() == "master") return &r;
    }
  }
  return first;
}

std::optional<std::string> command_target(const ConnectionOptions& options, std::ostream& err) {
  if (options.managers.size() == 1) return options.managers[0];
  auto replies = query_status(options);
  if (!replies.ok()) {
    err << "duetctl: " << replies.error().to_string() << "\n";
    return std::nullopt;
  }
  const StatusReply* view = pick_master_view(*replies);
  if (view == nullptr) {
    err << "duetctl: no manager answered:";
    for (const auto& r : *replies) err << "\n  " << r.address << ": " << r.error;
    err << "\n";
    return std::nullopt;
  }
  return view->address;
}

std::shared_ptr<grpc::Channel> open_channel(const ConnectionOptions& options,
                                            const std::string& address, std::ostream& err) {
  auto creds = make_channel_credentials(options.tls);
  if (!creds.ok()) {
    err << "duetctl: " << creds.error().to_string() << "\n";
    return nullptr;
  }
  return grpc::CreateCustomChannel(address, *creds, make_channel_arguments(options.tls));
}

}  // namespace duet::cli
