#include "manager/repository_proto.h"

#include "repository/repository_error.h"

namespace duet::manager {

using repository::RepoErrc;

duet::v1::RepoNode node_to_proto(const repository::Node& node,
                                 const std::vector<std::string>& scopes) {
  duet::v1::RepoNode p;
  p.set_name(node.name);
  for (const auto& a : node.addresses) p.add_addresses(a);
  p.set_os(node.os);
  for (const auto& [k, v] : node.attributes) (*p.mutable_attributes())[k] = v;
  for (const auto& s : scopes) p.add_scopes(s);
  p.set_updated_at_ms(node.updated.at_ms);
  p.set_updated_by(node.updated.by);
  return p;
}

duet::v1::RepoScope scope_to_proto(const repository::Scope& scope, int depth, int node_count) {
  duet::v1::RepoScope p;
  p.set_name(scope.name);
  p.set_parent(scope.parent);
  p.set_description(scope.description);
  p.set_depth(static_cast<std::uint32_t>(depth));
  p.set_node_count(static_cast<std::uint32_t>(node_count));
  p.set_updated_at_ms(scope.updated.at_ms);
  p.set_updated_by(scope.updated.by);
  return p;
}

repository::Document document_of(const duet::v1::RepoNode& node) {
  repository::DocNode dn;
  dn.node.name = node.name();
  dn.node.addresses.assign(node.addresses().begin(), node.addresses().end());
  dn.node.os = node.os();
  dn.node.attributes.insert(node.attributes().begin(), node.attributes().end());
  dn.scopes.assign(node.scopes().begin(), node.scopes().end());
  repository::Document doc;
  doc.nodes.push_back(std::move(dn));
  return doc;
}

repository::Document document_of(const duet::v1::RepoScope& scope) {
  repository::Document doc;
  doc.scopes.push_back(
      repository::DocScope{{scope.name(), scope.parent(), scope.description(), {}}, {}});
  return doc;
}

void add_changes(const repository::Plan& plan, duet::v1::ChangeResponse* resp) {
  for (const auto& c : plan.changes) {
    auto* p = resp->add_changes();
    p->set_kind(c.kind);
    p->set_name(c.name);
    p->set_action(repository::action_name(c.action));
    for (const auto& f : c.fields) p->add_fields(f);
  }
}

grpc::Status to_grpc(const Error& error) {
  if (error.code.category() != repository::repository_category()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, error.to_string());
  }
  switch (static_cast<RepoErrc>(error.code.value())) {
    case RepoErrc::kInvalid:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, error.message);
    case RepoErrc::kNotFound:
      return grpc::Status(grpc::StatusCode::NOT_FOUND, error.message);
    case RepoErrc::kExists:
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, error.message);
    case RepoErrc::kHasChildren:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, error.message);
    case RepoErrc::kBadRow:
      break;
  }
  return grpc::Status(grpc::StatusCode::DATA_LOSS, error.message);
}

}  // namespace duet::manager
