#include "manager/peer_service.h"

#include <boost/asio/post.hpp>

namespace duet::manager {

PeerService::PeerService(boost::asio::any_io_executor strand, Answer answer)
    : strand_(std::move(strand)), answer_(std::move(answer)) {}

grpc::ServerUnaryReactor* PeerService::Heartbeat(grpc::CallbackServerContext* context,
                                                 const duet::v1::HeartbeatRequest* request,
                                                 duet::v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
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

}  // namespace duet::manager
