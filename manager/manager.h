#pragma once

// The duet-manager process: wiring of configuration, store, gRPC server and
// signals. All state is owned by one io_context thread (the strand); gRPC
// handlers post to it.
//
// Lifecycle: run() starts everything and returns when the process should
// exit, with its exit code: 0 after SIGTERM/SIGINT (server drained, store
// closed), 1 when the store cannot be used or the address cannot be bound.
//
// Once the store is open, the HA runner decides the role: alone (no peer) the
// manager promotes itself at once; in a pair the two managers agree through
// heartbeats (see ha/role_machine.h and docs/ha.md).

#include <grpcpp/server.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "duet/v1/admin.pb.h"
#include "ha/runner.h"
#include "manager/admin_service.h"
#include "manager/agent_hub.h"
#include "manager/agent_service.h"
#include "manager/agentless.h"
#include "manager/event_intake.h"
#include "manager/events_service.h"
#include "manager/notifier.h"
#include "manager/notify_service.h"
#include "manager/job_runner.h"
#include "manager/jobs_service.h"
#include "manager/peer_service.h"
#include "manager/repository_service.h"
#include "store/store.h"

namespace duet::manager {

class Manager {
 public:
  explicit Manager(ManagerConfig config);
  ~Manager();

  int run();

 private:
  enum class StoreState { kConnecting, kOk, kFailed };

  bool start_server();
  void open_store();
  void schedule_store_retry();
  void start_ha();
  void stop(int exit_code);
  duet::v1::StatusResponse build_status() const;
  // Admin.SetSetting: master only; answers when replicated (sync mode).
  void set_setting(const duet::v1::SetSettingRequest& req, duet::v1::SetSettingResponse* resp,
                   std::function<void(grpc::Status)> finish);
  // Admin.SetTiming: master only; checks the bounds, then stores ha.timing.
  void set_timing(const duet::v1::SetTimingRequest& req, duet::v1::SetTimingResponse* resp,
                  std::function<void(grpc::Status)> finish);
  // "not master; the master is b (127.0.0.12:7420)" for FAILED_PRECONDITION.
  std::string not_master_message() const;
  duet::v1::NotMaster not_master_info() const;

  ManagerConfig config_;
  boost::asio::io_context io_;
  // Keeps io_.run() going until stop() has drained the server and closed the store.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  SystemClock clock_;
  boost::asio::signal_set signals_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<PeerService> peer_service_;
  std::unique_ptr<EventsService> events_service_;
  std::unique_ptr<IntakePeerService> intake_peer_service_;
  std::unique_ptr<RepositoryService> repository_service_;
  std::unique_ptr<AgentService> agent_service_;
  std::unique_ptr<MonitoringService> monitoring_service_;
  std::unique_ptr<NotifyService> notify_service_;
  std::unique_ptr<JobsService> jobs_service_;
  std::unique_ptr<EnrolService> enrol_service_;
  std::unique_ptr<grpc::Server> enrol_server_;  // agents.enrol: TLS without client certificates
  std::optional<CertificateIssuer> issuer_;
  std::unique_ptr<EventIntake> intake_;  // once the store is open
  std::unique_ptr<AgentHub> agents_;     // once the store is open
  std::unique_ptr<Notifier> notifier_;   // once the store is open
  std::unique_ptr<JobRunner> jobs_;      // once the store is open
  std::unique_ptr<AgentlessRunner> agentless_;
  std::unique_ptr<ha::Runner> runner_;
  std::unique_ptr<grpc::Server> server_;

  std::unique_ptr<store::Store> store_;
  StoreState store_state_ = StoreState::kConnecting;
  std::string store_detail_;
  std::int64_t retry_delay_ms_ = 0;
  std::optional<TimerId> retry_timer_;
  bool acting_master_ = false;
  TimePoint started_at_;
  int exit_code_ = 0;
  bool stopping_ = false;
  std::thread drain_thread_;  // drains the gRPC server at stop
};

}  // namespace duet::manager
