#pragma once

// What agent_hub.cpp (sessions, results, liveness) and agent_hub_admin.cpp
// (retention, listings, definitions, tokens, enrolment) share. Not for use
// elsewhere.

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>

#include "common/result.h"
#include "store/row.h"

namespace duet::manager::agent_hub_internal {

inline constexpr char kSep = '\x1f';
inline constexpr std::uint32_t kDefaultTokenValidS = 24 * 3600;

using store::int_of;
using store::text_of;

inline grpc::Status from_error(const Error& e, grpc::StatusCode code) {
  return grpc::Status(code, e.to_string());
}

inline std::string hex(const unsigned char* p, std::size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

}  // namespace duet::manager::agent_hub_internal
