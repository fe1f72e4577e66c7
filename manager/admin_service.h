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
  // Operator commands: OK with a message, or a gRPC error a person can act on.
  using Command = std::function<grpc::Status(duet::v1::CommandReply*)>;

  struct Handlers {
    StatusBuilder status;
    std::function<grpc::Status(const duet::v1::PromoteRequest&, duet::v1::CommandReply*)> promote;
    Command failback;
    // Calls `finish` exactly once, on the strand, possibly later (sync mode).
    std::function<void(const duet::v1::SetSettingRequest&, duet::v1::SetSettingResponse*,
                       std::function<void(grpc::Status)> finish)>
        set_setting;
    std::function<grpc::Status(const duet::v1::GetSettingRequest&, duet::v1::GetSettingResponse*)>
        get_setting;
    std::function<grpc::Status(duet::v1::ListSettingsResponse*)> list_settings;
    // Calls `finish` exactly once, on the strand, when the switchover ended.
    std::function<void(duet::v1::CommandReply*, std::function<void(grpc::Status)> finish)>
        switchover;
    // Calls `finish` exactly once, on the strand (after replication in sync mode).
    std::function<void(const duet::v1::SetTimingRequest&, duet::v1::SetTimingResponse*,
                       std::function<void(grpc::Status)> finish)>
        set_timing;
  };

  // Every handler runs on `strand` only.
  AdminService(boost::asio::any_io_executor strand, Handlers handlers);

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const duet::v1::StatusRequest* request,
                                   duet::v1::StatusResponse* response) override;
  grpc::ServerUnaryReactor* Promote(grpc::CallbackServerContext* context,
                                    const duet::v1::PromoteRequest* request,
                                    duet::v1::CommandReply* response) override;
  grpc::ServerUnaryReactor* Switchover(grpc::CallbackServerContext* context,
                                       const duet::v1::SwitchoverRequest* request,
                                       duet::v1::CommandReply* response) override;
  grpc::ServerUnaryReactor* Failback(grpc::CallbackServerContext* context,
                                     const duet::v1::FailbackRequest* request,
                                     duet::v1::CommandReply* response) override;
  grpc::ServerUnaryReactor* SetSetting(grpc::CallbackServerContext* context,
                                       const duet::v1::SetSettingRequest* request,
                                       duet::v1::SetSettingResponse* response) override;
  grpc::ServerUnaryReactor* GetSetting(grpc::CallbackServerContext* context,
                                       const duet::v1::GetSettingRequest* request,
                                       duet::v1::GetSettingResponse* response) override;
  grpc::ServerUnaryReactor* ListSettings(grpc::CallbackServerContext* context,
                                         const duet::v1::ListSettingsRequest* request,
                                         duet::v1::ListSettingsResponse* response) override;
  grpc::ServerUnaryReactor* SetTiming(grpc::CallbackServerContext* context,
                                      const duet::v1::SetTimingRequest* request,
                                      duet::v1::SetTimingResponse* response) override;

 private:
  boost::asio::any_io_executor strand_;
  Handlers handlers_;
};

}  // namespace duet::manager
