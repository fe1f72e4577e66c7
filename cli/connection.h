#pragma once

// How duetctl reaches managers: the --manager list, TLS options, deadlines.

#include <grpcpp/channel.h>

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "duet/v1/admin.grpc.pb.h"

namespace duet::cli {

struct ConnectionOptions {
  std::vector<std::string> managers;  // HOST:PORT each
  TlsConfig tls;                      // client side
  std::chrono::milliseconds timeout{5000};
};

// One manager's answer to Status, or why it gave none.
struct StatusReply {
  std::string address;
  bool ok = false;
  std::string error;
  duet::v1::StatusResponse response;
};

// Asks every listed manager for its status (each within the timeout).
Result<std::vector<StatusReply>> query_status(const ConnectionOptions& options);

// The reply to show: the one from a node that says it is master, else the
// first that answered; nullptr when none answered.
const StatusReply* pick_master_view(const std::vector<StatusReply>& replies);

// The address to send a command to: the only one listed, or the master's
// when several are; nullopt after writing why to `err`.
std::optional<std::string> command_target(const ConnectionOptions& options, std::ostream& err);

// A channel to `address` with the options' TLS; null after writing why to `err`.
std::shared_ptr<grpc::Channel> open_channel(const ConnectionOptions& options,
                                            const std::string& address, std::ostream& err);

// One call to `Service` on the command's target (the master when there is
// one): 0, else an exit status after writing why to `err` (3 NOT_FOUND, 2
// INVALID_ARGUMENT, 1 anything else).
template <typename Service, typename Fn>
int call_service(const ConnectionOptions& options, const char* what, std::ostream& err, Fn fn) {
  auto address = command_target(options, err);
  if (!address) return 1;
  auto channel = open_channel(options, *address, err);
  if (!channel) return 1;
  auto stub = Service::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  const grpc::Status s = fn(*stub, ctx);
  if (s.ok()) return 0;
  err << "duetctl: " << what << ": " << *address << ": " << s.error_message() << "\n";
  switch (s.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      return 3;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 2;
    default:
      return 1;
  }
}

}  // namespace duet::cli
