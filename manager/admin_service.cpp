#include "manager/admin_service.h"

#include <boost/asio/post.hpp>

namespace duet::manager {

AdminService::AdminService(boost::asio::any_io_executor strand, Handlers handlers)
    : strand_(std::move(strand)), handlers_(std::move(handlers)) {}

grpc::ServerUnaryReactor* AdminService::Status(grpc::CallbackServerContext* context,
                                               const duet::v1::StatusRequest* /*request*/,
                                               duet::v1::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, response] {
    *response = handlers_.status();
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Promote(grpc::CallbackServerContext* context,
                                                const duet::v1::PromoteRequest* request,
                                                duet::v1::CommandReply* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, request, response] {
    reactor->Finish(handlers_.promote(*request, response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Failback(grpc::CallbackServerContext* context,
                                                 const duet::v1::FailbackRequest* /*request*/,
                                                 duet::v1::CommandReply* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_,
                    [this, reactor, response] { reactor->Finish(handlers_.failback(response)); });
  return reactor;
}

}  // namespace duet::manager
