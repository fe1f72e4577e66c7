#pragma once

// The duet-witness process: configuration, state file, lease table, gRPC
// server and signals. All lease decisions run on one io_context thread (the
// strand); gRPC handlers post to it.
//
// Lifecycle: run() returns the process's exit code: 0 after SIGTERM/SIGINT
// (server drained), 1 when the state file is unreadable, corrupt or cannot
// be written, when TLS material is unusable, or when the address cannot be
// bound. The state file is loaded and written back before the server
// listens, so a witness that serves can also persist.

#include <grpcpp/server.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "ha/lease_table.h"
#include "witness/state_file.h"
#include "witness/witness_service.h"

namespace duet::witness {

class WitnessServer {
 public:
  explicit WitnessServer(WitnessConfig config);
  ~WitnessServer();

  int run();

 private:
  bool open_state();
  bool start_server();
  void stop(int exit_code);

  WitnessConfig config_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  SystemClock clock_;
  boost::asio::signal_set signals_;
  StateFile state_file_;
  std::unique_ptr<ha::LeaseTable> table_;
  std::unique_ptr<WitnessService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::optional<TimerId> quiet_timer_;
  int exit_code_ = 0;
  bool stopping_ = false;
  std::thread drain_thread_;
};

}  // namespace duet::witness
