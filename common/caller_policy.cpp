#include "common/caller_policy.h"

#include <grpcpp/security/auth_context.h>

#include <algorithm>

#include "common/tls.h"

namespace duet {

CallerPolicy CallerPolicy::allow_any() { return CallerPolicy(); }

CallerPolicy CallerPolicy::only(std::vector<std::string> names) {
  CallerPolicy p;
  p.enforced_ = true;
  p.names_ = std::move(names);
  return p;
}

Result<CallerPolicy> CallerPolicy::for_peers(const TlsConfig& tls) {
  if (tls.insecure || !tls.require_client_cert) return allow_any();
  if (!tls.peer_names.empty()) return only(tls.peer_names);
  DUET_ASSIGN_OR_RETURN(TlsMaterial m, load_tls_material(tls));
  return only(std::move(m.names));
}

std::vector<std::string> caller_names(const grpc::ServerContextBase& context) {
  std::vector<std::string> names;
  const auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return names;
  for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
    for (const auto& value : auth->FindPropertyValues(property)) {
      std::string n(value.data(), value.size());
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
    }
  }
  return names;
}

bool CallerPolicy::allows(const std::vector<std::string>& caller) const {
  if (!enforced_) return true;
  return std::any_of(caller.begin(), caller.end(), [this](const std::string& n) {
    return std::find(names_.begin(), names_.end(), n) != names_.end();
  });
}

grpc::Status CallerPolicy::check(const grpc::ServerContextBase& context) const {
  if (!enforced_) return grpc::Status::OK;
  const auto caller = caller_names(context);
  if (allows(caller)) return grpc::Status::OK;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
    return s.empty() ? std::string("(none)") : s;
  };
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "certificate names [" + join(caller) + "] are not allowed here; accepted: [" +
                          join(names_) + "] (tls.peer_names)");
}

}  // namespace duet
