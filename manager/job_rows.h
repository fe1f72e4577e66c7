#pragma once

// Keys and blobs of the job-net tables (store migration 10), shared by the
// job runner and the Jobs service.

#include <cstdint>
#include <cstdio>
#include <string>

#include "store/row.h"

namespace duet::manager {

inline std::string job_digits(std::uint64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llu", width, static_cast<unsigned long long>(v));
  return buf;
}
// job_units rows of a session share this prefix: "<session, 15 digits>\x1f".
inline std::string job_units_prefix(std::uint64_t session) {
  return job_digits(session, 15) + "\x1f";
}
inline std::string job_unit_key(std::uint64_t session, std::uint32_t unit) {
  return job_units_prefix(session) + job_digits(unit, 8);
}
// job_net_versions: "net\x1f<version, 15 digits>".
inline std::string job_version_key(const std::string& net, std::uint64_t version) {
  return net + "\x1f" + job_digits(version, 15);
}
template <typename M>
store::Blob job_blob(const M& m) {
  std::string s;
  m.SerializeToString(&s);
  return store::Blob{std::move(s)};
}

}  // namespace duet::manager
