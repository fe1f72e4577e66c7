#include "manager/admin_service.h"

#include <boost/asio/post.hpp>

namespace duet::manager {

AdminService::AdminService(boost::asio::any_io_executor strand, StatusBuilder build_status)
    : strand_(std::move(strand)), build_status_(std::move(build_status)) {}

grpc::ServerUnaryReactor* AdminService::Status(grpc::CallbackServerContext* context,
                                               const duet::v1::StatusRequest* /*request*/,
                                               duet::v1::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, response] {
    *response = build_status_();
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace duet::manager
