#pragma once

// Peer gRPC service: the other manager's heartbeats. Handlers run on gRPC
// threads and hand each call to the manager's strand.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <optional>

#include "duet/v1/peer.grpc.pb.h"

namespace duet::manager {

class PeerService final : public duet::v1::Peer::CallbackService {
 public:
  // Runs on the strand; nullopt while this node cannot answer yet (store not open).
  using Answer = std::function<std::optional<duet::v1::Beat>(const duet::v1::Beat&)>;

  PeerService(boost::asio::any_io_executor strand, Answer answer);

  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const duet::v1::HeartbeatRequest* request,
                                      duet::v1::HeartbeatResponse* response) override;

 private:
  boost::asio::any_io_executor strand_;
  Answer answer_;
};

}  // namespace duet::manager
