#pragma once

// Error enum of the repository module. Messages are prefixed "repository:"
// by Error::to_string(); the gRPC edge shows Error::message alone, which
// names the object (and, for a file, FILE:LINE) and the reason.

#include <system_error>

namespace duet::repository {

enum class RepoErrc {
  kInvalid = 1,  // a name, address, reference or document breaks a rule; nothing changed
  kNotFound,     // no node or scope of that name
  kExists,       // `add` of an object that exists with other values
  kHasChildren,  // a scope that still has child scopes cannot be removed
  kBadRow,       // a stored row cannot be read back (a damaged or foreign row)
};

const std::error_category& repository_category();

inline std::error_code make_error_code(RepoErrc e) {
  return {static_cast<int>(e), repository_category()};
}

}  // namespace duet::repository

template <>
struct std::is_error_code_enum<duet::repository::RepoErrc> : std::true_type {};
