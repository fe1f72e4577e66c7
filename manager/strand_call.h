#pragma once

// The common shape of the manager's unary gRPC handlers: the call's work is
// posted to the manager's strand and given this node's store; a write runs
// only on the acting master (FAILED_PRECONDITION naming the master
// otherwise); UNAVAILABLE while the store is not open.

#include <grpcpp/grpcpp.h>

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>

#include "duet/v1/repository.pb.h"
#include "ha/runner.h"
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

// A definitions change (Repository, Notify, Jobs) committed: on success the
// response says where it landed (LSN, epoch, replicated) and `then` runs
// (reloads, a log line); on failure UNAVAILABLE says nothing changed.
using CommitHook = std::function<void(const store::WriteBatch&,
                                      std::function<void(Result<ha::Runner::Committed>)>)>;
void commit_change(const CommitHook& commit, const store::WriteBatch& batch,
                   duet::v1::ChangeResponse* response,
                   std::function<void(const ha::Runner::Committed&)> then,
                   std::function<void(grpc::Status)> finish);

// Definitions applied from a file (Notify, Jobs): a dry run, or nothing to
// change, answers at once; else commit_change, then `reload` and a log line
// "WHAT: definitions applied (N changes, LSN L)".
void commit_definitions(const CommitHook& commit, const store::WriteBatch& batch, bool dry_run,
                        duet::v1::ChangeResponse* response, const char* what,
                        std::function<void()> reload, std::function<void(grpc::Status)> finish);

}  // namespace duet::manager
