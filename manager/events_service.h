#pragma once

// Events gRPC service (duetctl events ...). Handlers run on gRPC threads and
// hand each call to the manager's strand, where `find` yields the node's
// EventIntake (null until the store is open: UNAVAILABLE).

#include <boost/asio/any_io_executor.hpp>
#include <functional>

#include "common/caller_policy.h"
#include "duet/v1/events.grpc.pb.h"
#include "duet/v1/intake_peer.grpc.pb.h"
#include "manager/event_intake.h"

namespace duet::manager {

class EventsService final : public duet::v1::Events::CallbackService {
 public:
  using Find = std::function<EventIntake*()>;  // on the strand
  using Role = std::function<std::string()>;   // on the strand
  EventsService(boost::asio::any_io_executor strand, Find find, Role role);

  grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* context,
                                       const duet::v1::ListEventsRequest* request,
                                       duet::v1::ListEventsResponse* response) override;
  grpc::ServerUnaryReactor* CountEvents(grpc::CallbackServerContext* context,
                                        const duet::v1::CountEventsRequest* request,
                                        duet::v1::CountEventsResponse* response) override;
  grpc::ServerUnaryReactor* IntakeCounters(grpc::CallbackServerContext* context,
                                           const duet::v1::IntakeCountersRequest* request,
                                           duet::v1::IntakeCountersResponse* response) override;

 private:
  // Runs `fn(intake)` on the strand and finishes the call with its status.
  grpc::ServerUnaryReactor* on_strand(grpc::CallbackServerContext* context,
                                      std::function<grpc::Status(EventIntake&)> fn);

  boost::asio::any_io_executor strand_;
  Find find_;
  Role role_;
};

// IntakePeer service: the standby's receipt digests, taken by the master's
// EventIntake. Only the pair's certificates may call it (like Peer).
class IntakePeerService final : public duet::v1::IntakePeer::CallbackService {
 public:
  IntakePeerService(boost::asio::any_io_executor strand, CallerPolicy policy,
                    EventsService::Find find);

  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* context,
                                    const duet::v1::ForwardRequest* request,
                                    duet::v1::ForwardResponse* response) override;

 private:
  boost::asio::any_io_executor strand_;
  CallerPolicy policy_;
  EventsService::Find find_;
};

}  // namespace duet::manager
