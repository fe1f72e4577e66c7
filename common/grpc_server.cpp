#include "common/grpc_server.h"

#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include "common/tls.h"

namespace duet {

std::unique_ptr<grpc::Server> start_grpc_server(const HostPort& address, const TlsConfig& tls,
                                                const std::vector<grpc::Service*>& services) {
  auto creds = make_server_credentials(tls);
  if (!creds.ok()) {
    spdlog::error("tls: {}", creds.error().to_string());
    return nullptr;
  }
  if (!tls.insecure) {
    spdlog::info("tls: serving with {} (client certificates {})", tls.cert_file,
                 tls.require_client_cert ? "required" : "not requested");
  }
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  int bound_port = 0;
  builder.AddListeningPort(address.to_string(), *creds, &bound_port);
  for (grpc::Service* s : services) builder.RegisterService(s);
  auto server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::error("cannot listen on {} (address in use, or not an address of this host?)",
                  address.to_string());
    return nullptr;
  }
  spdlog::info("serving gRPC on {}", address.to_string());
  return server;
}

}  // namespace duet
