#pragma once

// TLS material for gRPC servers and clients. Every gRPC link uses TLS; with
// require_client_cert (the default) servers demand a client certificate signed
// by the configured CA (mutual TLS). `insecure: true` gives plaintext for local
// demos, and the caller logs a warning at start.
//
// The material is checked with OpenSSL before gRPC sees it, so a wrong file,
// a key that does not match its certificate, or a certificate the CA did not
// sign is a clear error at start rather than a failed handshake later.

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/result.h"

namespace duet {

struct TlsMaterial {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;  // never logged
  std::string subject;  // of cert, for the start-up log
  // The certificate's names: subject CN, then DNS SANs (what CallerPolicy matches).
  std::vector<std::string> names;
  std::int64_t not_after_unix = 0;
};

// Reads and cross-checks the files named in `config` (which must not be insecure).
Result<TlsMaterial> load_tls_material(const TlsConfig& config);

Result<std::shared_ptr<grpc::ServerCredentials>> make_server_credentials(const TlsConfig& config);
Result<std::shared_ptr<grpc::ChannelCredentials>> make_channel_credentials(const TlsConfig& config);

// The largest gRPC message a Duet process accepts (journal batches, snapshot
// chunks, forwarded receipts).
inline constexpr int kMaxGrpcMessageBytes = 64 << 20;

// Channel arguments matching `config` (target name override when server_name is set).
grpc::ChannelArguments make_channel_arguments(const TlsConfig& config);

}  // namespace duet
