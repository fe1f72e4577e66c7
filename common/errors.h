#pragma once

// Error enum of the common module (configuration, TLS material, files).
// Each module has its own enum and std::error_category; the category's name
// prefixes messages ("config: ...", "store: ...").

#include <system_error>

namespace duet {

enum class CommonErrc {
  kInvalidConfig = 1,  // a configuration file broke a rule; the message names FILE:LINE: KEY
  kIo,                 // a file could not be read or written
  kTls,                // TLS material is missing or unusable
  kInvalidArgument,    // a value given by a caller or operator is malformed
  kNotFound,           // what a caller named does not exist
  kUnavailable,        // not now: not the acting master, the store not open
};

const std::error_category& common_category();

inline std::error_code make_error_code(CommonErrc e) {
  return {static_cast<int>(e), common_category()};
}

}  // namespace duet

template <>
struct std::is_error_code_enum<duet::CommonErrc> : std::true_type {};
