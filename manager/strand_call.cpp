#include "manager/strand_call.h"

#include <boost/asio/post.hpp>

namespace duet::manager {

grpc::ServerUnaryReactor* on_strand(
    const StrandCall& call, grpc::CallbackServerContext* context, bool write,
    std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(call.strand, [&call, reactor, write, fn = std::move(fn)] {
    store::Store* store = call.store ? call.store() : nullptr;
    if (store == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    if (write && !call.may_act()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, call.not_master()));
      return;
    }
    fn(*store, [reactor](grpc::Status s) { reactor->Finish(std::move(s)); });
  });
  return reactor;
}

}  // namespace duet::manager
