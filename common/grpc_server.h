#pragma once

// Starting a gRPC server the way every Duet process does: TLS from config
// (mutual by default), an exclusive bind (gRPC's default SO_REUSEPORT would let
// a second process share the address and answer half the calls), and one log
// line for each outcome.

#include <grpcpp/server.h>

#include <memory>
#include <vector>

#include "common/config.h"

namespace duet {

// Serves `services` on `address`. Returns null after logging why (TLS
// material unusable, address in use or not local).
std::unique_ptr<grpc::Server> start_grpc_server(const HostPort& address, const TlsConfig& tls,
                                                const std::vector<grpc::Service*>& services);

}  // namespace duet
