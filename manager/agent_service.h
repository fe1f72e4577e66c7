#pragma once

// gRPC services for agents and monitors:
// - Agent.Session: one bidirectional stream per agent. The reactor below is
//   the AgentLink the hub talks to: reads are handed to the strand in order,
//   writes are queued (one in flight, as gRPC requires) from any thread.
// - Monitoring: duetctl agents | monitors | metrics. Every call runs on the
//   strand against the hub.
// Agent.Session is open to any client certificate of the deployment's CA, but
// the hub accepts a hello only for the node the certificate names.

#include <boost/asio/any_io_executor.hpp>
#include <functional>

#include "duet/v1/agent.grpc.pb.h"
#include "duet/v1/monitoring.grpc.pb.h"
#include "manager/agent_hub.h"

namespace duet::manager {

class AgentService final : public duet::v1::Agent::CallbackService {
 public:
  AgentService(boost::asio::any_io_executor strand, std::function<AgentHub*()> hub)
      : strand_(std::move(strand)), hub_(std::move(hub)) {}

  grpc::ServerBidiReactor<duet::v1::AgentMessage, duet::v1::ManagerMessage>* Session(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Enrol(grpc::CallbackServerContext* context,
                                  const duet::v1::EnrolRequest* request,
                                  duet::v1::EnrolResponse* response) override;

 private:
  boost::asio::any_io_executor strand_;
  std::function<AgentHub*()> hub_;
};

// Agent.Enrol alone, for the enrolment port (TLS without client
// certificates): a Session there is UNIMPLEMENTED, so no agent talks to the
// master without the certificate it enrolled for.
class EnrolService final : public duet::v1::Agent::CallbackService {
 public:
  EnrolService(boost::asio::any_io_executor strand, std::function<AgentHub*()> hub)
      : strand_(std::move(strand)), hub_(std::move(hub)) {}
  grpc::ServerUnaryReactor* Enrol(grpc::CallbackServerContext* context,
                                  const duet::v1::EnrolRequest* request,
                                  duet::v1::EnrolResponse* response) override;

 private:
  boost::asio::any_io_executor strand_;
  std::function<AgentHub*()> hub_;
};

class MonitoringService final : public duet::v1::Monitoring::CallbackService {
 public:
  MonitoringService(boost::asio::any_io_executor strand, std::function<AgentHub*()> hub)
      : strand_(std::move(strand)), hub_(std::move(hub)) {}

  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* context,
                                       const duet::v1::ListAgentsRequest* request,
                                       duet::v1::ListAgentsResponse* response) override;
  grpc::ServerUnaryReactor* IssueToken(grpc::CallbackServerContext* context,
                                       const duet::v1::IssueTokenRequest* request,
                                       duet::v1::IssueTokenResponse* response) override;
  grpc::ServerUnaryReactor* PutMonitor(grpc::CallbackServerContext* context,
                                       const duet::v1::PutMonitorRequest* request,
                                       duet::v1::MonitorChangeResponse* response) override;
  grpc::ServerUnaryReactor* RemoveMonitor(grpc::CallbackServerContext* context,
                                          const duet::v1::MonitorNameRequest* request,
                                          duet::v1::MonitorChangeResponse* response) override;
  grpc::ServerUnaryReactor* SetMonitorEnabled(grpc::CallbackServerContext* context,
                                              const duet::v1::SetMonitorEnabledRequest* request,
                                              duet::v1::MonitorChangeResponse* response) override;
  grpc::ServerUnaryReactor* ListMonitors(grpc::CallbackServerContext* context,
                                         const duet::v1::ListMonitorsRequest* request,
                                         duet::v1::ListMonitorsResponse* response) override;
  grpc::ServerUnaryReactor* QueryMetrics(grpc::CallbackServerContext* context,
                                         const duet::v1::QueryMetricsRequest* request,
                                         duet::v1::QueryMetricsResponse* response) override;

 private:
  // Runs `fn(hub, finish)` on the strand; UNAVAILABLE until the hub exists.
  grpc::ServerUnaryReactor* on_strand(
      grpc::CallbackServerContext* context,
      std::function<void(AgentHub&, std::function<void(grpc::Status)>)> fn);

  boost::asio::any_io_executor strand_;
  std::function<AgentHub*()> hub_;
};

}  // namespace duet::manager
