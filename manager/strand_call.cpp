#include "manager/strand_call.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace duet::manager {

void continue_on_strand(const StrandCall& call, bool write,
                        std::function<void(grpc::Status)> finish,
                        std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn) {
  boost::asio::post(
      call.strand, [&call, write, finish = std::move(finish), fn = std::move(fn)]() mutable {
        store::Store* store = call.store ? call.store() : nullptr;
        if (store == nullptr) {
          finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
          return;
        }
        if (write && !call.may_act()) {
          finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, call.not_master()));
          return;
        }
        fn(*store, std::move(finish));
      });
}

grpc::ServerUnaryReactor* on_strand(
    const StrandCall& call, grpc::CallbackServerContext* context, bool write,
    std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  continue_on_strand(
      call, write, [reactor](grpc::Status s) { reactor->Finish(std::move(s)); }, std::move(fn));
  return reactor;
}

void commit_change(const CommitHook& commit, const store::WriteBatch& batch,
                   duet::v1::ChangeResponse* response,
                   std::function<void(const ha::Runner::Committed&)> then,
                   std::function<void(grpc::Status)> finish) {
  commit(batch, [response, then = std::move(then),
                 finish = std::move(finish)](Result<ha::Runner::Committed> r) {
    if (!r.ok()) {
      finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "commit failed, nothing changed: " + r.error().to_string()));
      return;
    }
    if (then) then(*r);
    response->set_committed(true);
    response->set_lsn(r->lsn);
    response->set_epoch(r->epoch);
    response->set_replicated(r->replicated);
    finish(grpc::Status::OK);
  });
}

void commit_definitions(const CommitHook& commit, const store::WriteBatch& batch, bool dry_run,
                        duet::v1::ChangeResponse* response, const char* what,
                        std::function<void()> reload, std::function<void(grpc::Status)> finish) {
  if (dry_run || batch.empty()) {
    finish(grpc::Status::OK);
    return;
  }
  commit_change(
      commit, batch, response,
      [response, what, reload = std::move(reload)](const ha::Runner::Committed& c) {
        if (reload) reload();
        spdlog::info("{}: definitions applied ({} changes, LSN {})", what, response->changes_size(),
                     c.lsn);
      },
      std::move(finish));
}

}  // namespace duet::manager
