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

grpc::ServerUnaryReactor* AdminService::SetSetting(grpc::CallbackServerContext* context,
                                                   const duet::v1::SetSettingRequest* request,
                                                   duet::v1::SetSettingResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, request, response] {
    handlers_.set_setting(*request, response,
                          [reactor](grpc::Status status) { reactor->Finish(status); });
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::GetSetting(grpc::CallbackServerContext* context,
                                                   const duet::v1::GetSettingRequest* request,
                                                   duet::v1::GetSettingResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, request, response] {
    reactor->Finish(handlers_.get_setting(*request, response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListSettings(
    grpc::CallbackServerContext* context, const duet::v1::ListSettingsRequest* /*request*/,
    duet::v1::ListSettingsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(
      strand_, [this, reactor, response] { reactor->Finish(handlers_.list_settings(response)); });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Switchover(grpc::CallbackServerContext* context,
                                                   const duet::v1::SwitchoverRequest* /*request*/,
                                                   duet::v1::CommandReply* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, response] {
    handlers_.switchover(response, [reactor](grpc::Status s) { reactor->Finish(s); });
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::SetTiming(grpc::CallbackServerContext* context,
                                                  const duet::v1::SetTimingRequest* request,
                                                  duet::v1::SetTimingResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, request, response] {
    handlers_.set_timing(*request, response,
                         [reactor](grpc::Status status) { reactor->Finish(status); });
  });
  return reactor;
}

}  // namespace duet::manager
