#pragma once

// How duetctl reaches managers: the --manager list, TLS options, deadlines.

#include <chrono>
#include <memory>
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

}  // namespace duet::cli
