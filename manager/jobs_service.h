#pragma once

// Jobs gRPC service (duetctl jobs ...). Open to every certificate of the
// deployment's CA, like the Repository service. Handlers run on gRPC threads
// and hand each call to the manager's strand.
//
// Apply: parses the document's `jobnets:`, `calendars:`, `queues:` and
// `node_limits:` (every problem as FILE:LINE, INVALID_ARGUMENT, nothing
// written), plans against what is stored (created / updated with the fields /
// unchanged; with prune, removed) and commits in one transaction on the
// master. A changed net gets the next version; sessions already running keep
// the version they started with. Reads (Definitions, Sessions, Show) answer
// from this node's own store; Start and Operate only on the acting master.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <string>

#include "common/clock.h"
#include "duet/v1/jobs.grpc.pb.h"
#include "ha/runner.h"
#include "jobs/definitions.h"
#include "manager/job_runner.h"
#include "manager/strand_call.h"
#include "store/store.h"

namespace duet::manager {

struct JobsStored;

class JobsService final : public duet::v1::Jobs::CallbackService {
 public:
  struct Hooks {
    std::function<store::Store*()> store;  // null until open
    std::function<bool()> may_act;
    std::function<std::string()> not_master;
    std::function<void(const store::WriteBatch&,
                       std::function<void(Result<ha::Runner::Committed>)>)>
        commit;
    std::function<JobRunner*()> jobs;  // null until open
  };

  JobsService(boost::asio::any_io_executor strand, std::string node_name, const Clock& clock,
              Hooks hooks);

  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* context,
                                  const duet::v1::ApplyJobsRequest* request,
                                  duet::v1::ChangeResponse* response) override;
  grpc::ServerUnaryReactor* Definitions(grpc::CallbackServerContext* context,
                                        const duet::v1::JobDefsRequest* request,
                                        duet::v1::JobDefsResponse* response) override;
  grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* context,
                                  const duet::v1::StartJobRequest* request,
                                  duet::v1::StartJobResponse* response) override;
  grpc::ServerUnaryReactor* Sessions(grpc::CallbackServerContext* context,
                                     const duet::v1::ListSessionsRequest* request,
                                     duet::v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* Show(grpc::CallbackServerContext* context,
                                 const duet::v1::ShowSessionRequest* request,
                                 duet::v1::ShowSessionResponse* response) override;
  grpc::ServerUnaryReactor* Operate(grpc::CallbackServerContext* context,
                                    const duet::v1::JobOperationRequest* request,
                                    duet::v1::JobOperationResponse* response) override;

 private:
  grpc::ServerUnaryReactor* on_strand(
      grpc::CallbackServerContext* context, bool write,
      std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn);
  // The same for a write through the job runner (master).
  grpc::ServerUnaryReactor* on_runner(
      grpc::CallbackServerContext* context,
      std::function<void(JobRunner&, std::function<void(grpc::Status)>)> fn);

  // Apply, back on the strand with the parsed file: plans and commits it.
  void apply_file(const JobsStored& stored, const duet::v1::ApplyJobsRequest& request,
                  duet::v1::ChangeResponse* response, const std::string& by, jobs::JobsFile file,
                  std::function<void(grpc::Status)> finish);

  boost::asio::any_io_executor strand_;
  std::string node_name_;
  const Clock& clock_;
  Hooks hooks_;
  StrandCall call_;
  boost::asio::thread_pool parser_{1};  // Apply's YAML, off the strand
};

}  // namespace duet::manager
