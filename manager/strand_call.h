#pragma once

// The common shape of the manager's unary gRPC handlers: the call's work is
// posted to the manager's strand and given this node's store; a write runs
// only on the acting master (FAILED_PRECONDITION naming the master
// otherwise); UNAVAILABLE while the store is not open.

#include <grpcpp/grpcpp.h>

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>

#include "store/store.h"

namespace duet::manager {

struct StrandCall {
  boost::asio::any_io_executor strand;
  std::function<store::Store*()> store;  // null until open
  std::function<bool()> may_act;
  std::function<std::string()> not_master;
};

grpc::ServerUnaryReactor* on_strand(
    const StrandCall& call, grpc::CallbackServerContext* context, bool write,
    std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn);

// The same for a call that did part of its work elsewhere (off the strand):
// back on the strand, with the same checks, `fn` continues it.
void continue_on_strand(const StrandCall& call, bool write,
                        std::function<void(grpc::Status)> finish,
                        std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn);

}  // namespace duet::manager
