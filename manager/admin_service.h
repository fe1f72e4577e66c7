#pragma once

// Admin gRPC service (duetctl's API). Handlers run on gRPC threads and hand
// each request to the manager's strand, where state is read without locks;
// the reply is sent from there. Nothing blocks a gRPC thread.

#include <boost/asio/any_io_executor.hpp>
#include <functional>

#include "duet/v1/admin.grpc.pb.h"

namespace duet::manager {

class AdminService final : public duet::v1::Admin::CallbackService {
 public:
  using StatusBuilder = std::function<duet::v1::StatusResponse()>;

  // `build_status` runs on `strand` only.
  AdminService(boost::asio::any_io_executor strand, StatusBuilder build_status);

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const duet::v1::StatusRequest* request,
                                   duet::v1::StatusResponse* response) override;

 private:
  boost::asio::any_io_executor strand_;
  StatusBuilder build_status_;
};

}  // namespace duet::manager
