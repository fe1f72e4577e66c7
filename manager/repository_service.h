#pragma once

// Repository gRPC service (duetctl nodes | scopes | apply | export). Like the
// Admin service it is open to every certificate of the deployment's CA
// (docs/security.md). Handlers run on gRPC threads and hand each call to the
// manager's strand, where the store is read and written without locks.
//
// Reads load the node's own store; a row that cannot be read fails them with
// DATA_LOSS naming it, while writes go on (writing or removing that object
// replaces or deletes the row). A write runs in one strand task: check
// that this node is the acting master (else FAILED_PRECONDITION with
// `not_master`), load the repository, plan (repository/plan.h), and commit the
// plan as one WriteBatch through `commit`, the HA runner's path; the call is
// answered when `commit` calls back (after the standby has it, in sync mode).
// A plan with nothing to write, and a dry run, answer at once and commit
// nothing. Plans and commits of concurrent calls cannot interleave: both
// happen in the same strand task. An applied document is parsed before, on
// the gRPC thread that received it (pure CPU work), so a large file does not
// hold up the strand, which also runs the heartbeats.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>

#include "common/clock.h"
#include "duet/v1/repository.grpc.pb.h"
#include "ha/runner.h"
#include "repository/model.h"
#include "repository/plan.h"
#include "store/store.h"

namespace duet::manager {

class RepositoryService final : public duet::v1::Repository::CallbackService {
 public:
  struct Hooks {
    std::function<store::Store*()> store;     // null until the store is open (UNAVAILABLE)
    std::function<bool()> may_act;            // this node is the acting master
    std::function<std::string()> not_master;  // "not master; the master is ..."
    // Commits `batch` and calls `done` once, on the strand, when acknowledged.
    std::function<void(const store::WriteBatch& batch,
                       std::function<void(Result<ha::Runner::Committed>)> done)>
        commit;
  };

  // Every hook runs on `strand` only; `clock` stamps the rows (wall time).
  RepositoryService(boost::asio::any_io_executor strand, std::string node_name, const Clock& clock,
                    Hooks hooks);

  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* context,
                                      const duet::v1::ListNodesRequest* request,
                                      duet::v1::ListNodesResponse* response) override;
  grpc::ServerUnaryReactor* ListScopes(grpc::CallbackServerContext* context,
                                       const duet::v1::ListScopesRequest* request,
                                       duet::v1::ListScopesResponse* response) override;
  grpc::ServerUnaryReactor* AddNode(grpc::CallbackServerContext* context,
                                    const duet::v1::AddNodeRequest* request,
                                    duet::v1::ChangeResponse* response) override;
  grpc::ServerUnaryReactor* RemoveNode(grpc::CallbackServerContext* context,
                                       const duet::v1::RemoveRequest* request,
                                       duet::v1::ChangeResponse* response) override;
  grpc::ServerUnaryReactor* AddScope(grpc::CallbackServerContext* context,
                                     const duet::v1::AddScopeRequest* request,
                                     duet::v1::ChangeResponse* response) override;
  grpc::ServerUnaryReactor* RemoveScope(grpc::CallbackServerContext* context,
                                        const duet::v1::RemoveRequest* request,
                                        duet::v1::ChangeResponse* response) override;
  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* context,
                                  const duet::v1::ApplyRequest* request,
                                  duet::v1::ChangeResponse* response) override;
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                   const duet::v1::ExportRequest* request,
                                   duet::v1::ExportResponse* response) override;

 private:
  using Read = std::function<grpc::Status(const repository::State&, store::Store&)>;
  using Planner = std::function<Result<repository::Plan>(const repository::State&)>;

  // Runs `fn` on the strand with the node's own repository.
  grpc::ServerUnaryReactor* read(grpc::CallbackServerContext* context, Read fn);
  // Runs a write on the strand (see the class comment). `what` names it in the log.
  grpc::ServerUnaryReactor* change(grpc::CallbackServerContext* context,
                                   duet::v1::ChangeResponse* response, bool dry_run,
                                   std::string what, Planner planner);

  boost::asio::any_io_executor strand_;
  std::string node_name_;
  const Clock& clock_;
  Hooks hooks_;
};

}  // namespace duet::manager
