#pragma once

// CallerPolicy: which client certificates may use a gRPC service. Every
// certificate signed by the deployment's CA passes the TLS handshake, so the
// handshake alone cannot keep an agent's or an operator's certificate off the
// pair's own links (a Peer.FetchSnapshot is the whole store). Services that
// only the other manager (or, at the witness, the managers) may call check the
// caller's certificate names (subject CN and DNS SANs) against a list:
// `tls.peer_names`, or by default the names in this process's own certificate.
//
// With `tls: {insecure: true}` there is no certificate to check and every
// caller passes (the start-up log already warns about that mode).
//
// Immutable after construction; check() is safe from any gRPC thread.

#include <grpcpp/server_context.h>

#include <string>
#include <vector>

#include "common/config.h"
#include "common/result.h"

namespace duet {

class CallerPolicy {
 public:
  // Every caller passes (plaintext links, or a service open to any client).
  static CallerPolicy allow_any();
  // The pair policy of `tls`: its peer_names, or the names of its own certificate.
  static Result<CallerPolicy> for_peers(const TlsConfig& tls);
  // Only callers presenting one of `names`.
  static CallerPolicy only(std::vector<std::string> names);

  // OK, or PERMISSION_DENIED naming what the caller presented and what is accepted.
  grpc::Status check(const grpc::ServerContextBase& context) const;
  // The same decision over the caller's names, for tests.
  bool allows(const std::vector<std::string>& caller_names) const;

  bool enforced() const { return enforced_; }
  const std::vector<std::string>& names() const { return names_; }

 private:
  bool enforced_ = false;
  std::vector<std::string> names_;
};

// The names a gRPC caller's certificate presents (CN and SAN entries), empty
// for a plaintext caller.
std::vector<std::string> caller_names(const grpc::ServerContextBase& context);

}  // namespace duet
