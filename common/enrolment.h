#pragma once

// Agent enrolment (issue: agents): an agent makes its own key and a
// certificate signing request; the master, given a valid one-time token,
// signs it with the deployment's CA. The agent's key never leaves its host.
//
// The certificate is a client certificate for the node: subject CN and DNS
// SAN = the node name (what the master matches a session's node against),
// extendedKeyUsage clientAuth, CA:FALSE, a random 128-bit serial.

#include <string>

#include "common/result.h"

namespace duet {

struct KeyAndCsr {
  std::string key_pem;  // secret: never logged
  std::string csr_pem;
};

// A P-256 key and a CSR for `node`, signed with it.
Result<KeyAndCsr> make_key_and_csr(const std::string& node);

struct CertificateIssuer {
  std::string ca_cert_pem;
  std::string ca_key_pem;  // secret: never logged
  int days = 825;
};

// Checks that the CSR is well-formed, self-signed by its key and names
// `node` (CN), then issues the client certificate. An error says which.
Result<std::string> sign_agent_csr(const std::string& csr_pem, const std::string& node,
                                   const CertificateIssuer& issuer);

}  // namespace duet
