#pragma once

// Conversions between the repository model (repository/) and its gRPC
// messages (duet.v1.Repository), and the gRPC status of a repository error.

#include <grpcpp/support/status.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "duet/v1/repository.pb.h"
#include "repository/document.h"
#include "repository/model.h"
#include "repository/plan.h"

namespace duet::manager {

duet::v1::RepoNode node_to_proto(const repository::Node& node,
                                 const std::vector<std::string>& scopes);
duet::v1::RepoScope scope_to_proto(const repository::Scope& scope, int depth, int node_count);

// A document of the one object `duetctl nodes add` / `scopes add` gives
// (no file: problems are reported without FILE:LINE).
repository::Document document_of(const duet::v1::RepoNode& node);
repository::Document document_of(const duet::v1::RepoScope& scope);

// The plan's per-object outcome.
void add_changes(const repository::Plan& plan, duet::v1::ChangeResponse* resp);

// A person-readable status: INVALID_ARGUMENT for a bad object or document,
// NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION (child scopes), and
// UNAVAILABLE for a store that cannot be read now.
grpc::Status to_grpc(const Error& error);

}  // namespace duet::manager
