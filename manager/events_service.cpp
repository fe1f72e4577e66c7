#include "manager/events_service.h"

#include <boost/asio/post.hpp>

namespace duet::manager {

EventsService::EventsService(boost::asio::any_io_executor strand, Find find, Role role)
    : strand_(std::move(strand)), find_(std::move(find)), role_(std::move(role)) {}

grpc::ServerUnaryReactor* EventsService::on_strand(grpc::CallbackServerContext* context,
                                                   std::function<grpc::Status(EventIntake&)> fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, fn = std::move(fn)] {
    EventIntake* intake = find_();
    if (intake == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    reactor->Finish(fn(*intake));
  });
  return reactor;
}

grpc::ServerUnaryReactor* EventsService::ListEvents(grpc::CallbackServerContext* context,
                                                    const duet::v1::ListEventsRequest* request,
                                                    duet::v1::ListEventsResponse* response) {
  return on_strand(context, [request, response](EventIntake& intake) {
    auto r = intake.list(*request);
    if (!r.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, r.error().to_string());
    *response = std::move(*r);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* EventsService::CountEvents(grpc::CallbackServerContext* context,
                                                     const duet::v1::CountEventsRequest*,
                                                     duet::v1::CountEventsResponse* response) {
  return on_strand(context, [response](EventIntake& intake) {
    auto r = intake.count();
    if (!r.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, r.error().to_string());
    *response = std::move(*r);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* EventsService::IntakeCounters(
    grpc::CallbackServerContext* context, const duet::v1::IntakeCountersRequest*,
    duet::v1::IntakeCountersResponse* response) {
  return on_strand(context, [this, response](EventIntake& intake) {
    *response = intake.counters(role_());
    return grpc::Status::OK;
  });
}

IntakePeerService::IntakePeerService(boost::asio::any_io_executor strand, CallerPolicy policy,
                                     EventsService::Find find)
    : strand_(std::move(strand)), policy_(std::move(policy)), find_(std::move(find)) {}

grpc::ServerUnaryReactor* IntakePeerService::Forward(grpc::CallbackServerContext* context,
                                                     const duet::v1::ForwardRequest* request,
                                                     duet::v1::ForwardResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto denied = policy_.check(*context); !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  boost::asio::post(strand_, [this, reactor, request, response] {
    EventIntake* intake = find_();
    if (intake == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    auto r = intake->on_forward(*request);
    if (!r.ok()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, r.error().message));
      return;
    }
    *response = std::move(*r);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace duet::manager
