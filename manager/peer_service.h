#pragma once

// Peer gRPC service: the other manager's heartbeats, and the replication
// streams it opens (served by the runner's JournalShipper, see
// ha/journal_shipper.h). Handlers run on gRPC threads and hand each call to
// the manager's strand. Only the other manager may call it: a caller whose
// certificate `policy` refuses gets PERMISSION_DENIED before anything runs.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <optional>

#include "common/caller_policy.h"
#include "duet/v1/peer.grpc.pb.h"
#include "ha/journal_shipper.h"

namespace duet::manager {

class PeerService final : public duet::v1::Peer::CallbackService {
 public:
  // Runs on the strand; nullopt while this node cannot answer yet (store not open).
  using Answer = std::function<std::optional<duet::v1::Beat>(const duet::v1::Beat&)>;

  // Runs on the strand: the answer to a switchover hand-over.
  using HandoverFn = std::function<duet::v1::HandoverResponse(const duet::v1::HandoverRequest&)>;

  // `find` runs on the strand: the shipper, or null while this node cannot serve.
  PeerService(boost::asio::any_io_executor strand, CallerPolicy policy, Answer answer,
              ha::FindShipper find, HandoverFn handover = nullptr);

  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const duet::v1::HeartbeatRequest* request,
                                      duet::v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* Handover(grpc::CallbackServerContext* context,
                                     const duet::v1::HandoverRequest* request,
                                     duet::v1::HandoverResponse* response) override;
  grpc::ServerBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch>* Replicate(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<duet::v1::SnapshotChunk>* FetchSnapshot(
      grpc::CallbackServerContext* context, const duet::v1::SnapshotRequest* request) override;

 private:
  boost::asio::any_io_executor strand_;
  CallerPolicy policy_;
  Answer answer_;
  ha::FindShipper find_;
  HandoverFn handover_;
};

}  // namespace duet::manager
