#pragma once

// Notify gRPC service (duetctl notify | events show/confirm | board | the
// notifications part of apply/export). Open to every certificate of the
// deployment's CA, like the Repository service. Handlers run on gRPC threads
// and hand each call to the manager's strand.
//
// Apply: parses the document's `channels:` and `notifications:` (every
// problem as FILE:LINE, INVALID_ARGUMENT, nothing written), plans against the
// stored definitions (created / updated with the fields / unchanged, and with
// prune removed) and commits the plan in one transaction on the master; then
// the notifier reloads. A channel still named by a notification cannot be
// removed. Reads (Definitions, ListIntents, Board) answer from this node's
// own store; writes (Apply, Test, ConfirmEvents) only on the acting master.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>

#include "common/clock.h"
#include "duet/v1/notify.grpc.pb.h"
#include "ha/runner.h"
#include "manager/notifier.h"
#include "manager/strand_call.h"
#include "store/store.h"

namespace duet::manager {

class NotifyService final : public duet::v1::Notify::CallbackService {
 public:
  struct Hooks {
    std::function<store::Store*()> store;  // null until open
    std::function<bool()> may_act;
    std::function<std::string()> not_master;  // "not master; the master is ..."
    std::function<void(const store::WriteBatch&,
                       std::function<void(Result<ha::Runner::Committed>)>)>
        commit;
    std::function<Notifier*()> notifier;  // null until open
  };

  NotifyService(boost::asio::any_io_executor strand, std::string node_name, const Clock& clock,
                Hooks hooks);

  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* context,
                                  const duet::v1::ApplyNotifyRequest* request,
                                  duet::v1::ChangeResponse* response) override;
  grpc::ServerUnaryReactor* Definitions(grpc::CallbackServerContext* context,
                                        const duet::v1::NotifyDefsRequest* request,
                                        duet::v1::NotifyDefsResponse* response) override;
  grpc::ServerUnaryReactor* ListIntents(grpc::CallbackServerContext* context,
                                        const duet::v1::ListIntentsRequest* request,
                                        duet::v1::ListIntentsResponse* response) override;
  grpc::ServerUnaryReactor* Test(grpc::CallbackServerContext* context,
                                 const duet::v1::TestNotifyRequest* request,
                                 duet::v1::TestNotifyResponse* response) override;
  grpc::ServerUnaryReactor* ConfirmEvents(grpc::CallbackServerContext* context,
                                          const duet::v1::ConfirmEventsRequest* request,
                                          duet::v1::ConfirmEventsResponse* response) override;
  grpc::ServerUnaryReactor* Board(grpc::CallbackServerContext* context,
                                  const duet::v1::BoardRequest* request,
                                  duet::v1::BoardResponse* response) override;

 private:
  // Runs `fn` on the strand with the store; `write`: only on the acting master.
  grpc::ServerUnaryReactor* on_strand(
      grpc::CallbackServerContext* context, bool write,
      std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn);

  boost::asio::any_io_executor strand_;
  std::string node_name_;
  const Clock& clock_;
  Hooks hooks_;
  StrandCall call_;
};

}  // namespace duet::manager
