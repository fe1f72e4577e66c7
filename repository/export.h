#pragma once

// `duetctl export`: the repository as a document that `apply` accepts and
// that, applied to an empty repository, gives back the identical state
// (applied to the state it came from, everything is "unchanged"). Scopes in
// tree order, nodes by name; keys left out when empty. Pure.

#include <string>

#include "repository/model.h"

namespace duet::repository {

// `comment` (may be empty) opens the document as "# ..." lines, one per line of it.
std::string export_yaml(const State& state, const std::string& comment);

}  // namespace duet::repository
