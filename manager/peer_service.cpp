#include "manager/peer_service.h"

#include <boost/asio/post.hpp>

namespace duet::manager {

namespace {

// Streams refused before they start: finish at once with the policy's answer.
class DeniedReplicate final
    : public grpc::ServerBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch> {
 public:
  explicit DeniedReplicate(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

class DeniedSnapshot final : public grpc::ServerWriteReactor<duet::v1::SnapshotChunk> {
 public:
  explicit DeniedSnapshot(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

PeerService::PeerService(boost::asio::any_io_executor strand, CallerPolicy policy, Answer answer,
                         ha::FindShipper find, HandoverFn handover)
    : strand_(std::move(strand)),
      policy_(std::move(policy)),
      answer_(std::move(answer)),
      find_(std::move(find)),
      handover_(std::move(handover)) {}

grpc::ServerBidiReactor<duet::v1::ReplicateRequest, duet::v1::JournalBatch>* PeerService::Replicate(
    grpc::CallbackServerContext* context) {
  if (auto denied = policy_.check(*context); !denied.ok()) return new DeniedReplicate(denied);
  return ha::make_replicate_reactor(strand_, find_);
}

grpc::ServerWriteReactor<duet::v1::SnapshotChunk>* PeerService::FetchSnapshot(
    grpc::CallbackServerContext* context, const duet::v1::SnapshotRequest* request) {
  if (auto denied = policy_.check(*context); !denied.ok()) return new DeniedSnapshot(denied);
  return ha::make_snapshot_reactor(strand_, find_, request->from());
}

grpc::ServerUnaryReactor* PeerService::Heartbeat(grpc::CallbackServerContext* context,
                                                 const duet::v1::HeartbeatRequest* request,
                                                 duet::v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto denied = policy_.check(*context); !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  boost::asio::post(strand_, [this, reactor, request, response] {
    auto beat = answer_(request->beat());
    if (!beat) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    *response->mutable_beat() = std::move(*beat);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PeerService::Handover(grpc::CallbackServerContext* context,
                                                const duet::v1::HandoverRequest* request,
                                                duet::v1::HandoverResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto denied = policy_.check(*context); !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  boost::asio::post(strand_, [this, reactor, request, response] {
    if (handover_) {
      *response = handover_(*request);
    } else {
      response->set_message("this node does not take hand-overs");
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace duet::manager
