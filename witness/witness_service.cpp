#include "witness/witness_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace duet::witness {

WitnessService::WitnessService(boost::asio::any_io_executor strand, const Clock& clock,
                               ha::LeaseTable& table, CallerPolicy policy)
    : strand_(std::move(strand)), policy_(std::move(policy)), clock_(clock), table_(table) {}

grpc::ServerUnaryReactor* WitnessService::Acquire(grpc::CallbackServerContext* context,
                                                  const duet::v1::LeaseRequest* request,
                                                  duet::v1::LeaseReply* reply) {
  return handle(context, request, reply, /*acquire=*/true);
}

grpc::ServerUnaryReactor* WitnessService::Release(grpc::CallbackServerContext* context,
                                                  const duet::v1::LeaseRequest* request,
                                                  duet::v1::LeaseReply* reply) {
  return handle(context, request, reply, /*acquire=*/false);
}

grpc::ServerUnaryReactor* WitnessService::handle(grpc::CallbackServerContext* context,
                                                 const duet::v1::LeaseRequest* request,
                                                 duet::v1::LeaseReply* reply, bool acquire) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto denied = policy_.check(*context); !denied.ok()) {
    spdlog::warn("refused a lease call: {}", denied.error_message());
    reactor->Finish(denied);
    return reactor;
  }
  boost::asio::post(strand_, [this, reactor, request, reply, acquire] {
    ha::LeaseAsk ask;
    ask.pair = request->pair();
    ask.node = request->node();
    ask.epoch = request->epoch();
    ask.duration_ms = request->duration_ms();
    const TimePoint now = clock_.now();
    const ha::LeaseAnswer a = acquire ? table_.acquire(ask, now) : table_.release(ask, now);
    log_answer(ask, a, acquire);
    reply->set_granted(a.granted);
    reply->set_holder(a.holder);
    reply->set_holder_epoch(a.holder_epoch);
    reply->set_highest_epoch(a.highest_epoch);
    reply->set_granted_ms(a.granted_ms);
    reply->set_reason(a.reason);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

void WitnessService::log_answer(const ha::LeaseAsk& ask, const ha::LeaseAnswer& a, bool acquire) {
  const auto key = std::make_pair(ask.pair, ask.node);
  switch (a.outcome) {
    case ha::LeaseOutcome::kGranted:
      last_refusal_.erase(key);
      spdlog::info("lease granted: pair {} to {} in epoch {} for {} ms (highest epoch {})",
                   ask.pair, ask.node, ask.epoch, a.granted_ms, a.highest_epoch);
      return;
    case ha::LeaseOutcome::kRenewed:
      last_refusal_.erase(key);
      spdlog::debug("lease renewed: pair {} by {} in epoch {} for {} ms", ask.pair, ask.node,
                    ask.epoch, a.granted_ms);
      return;
    case ha::LeaseOutcome::kReleased:
      spdlog::info("lease released: pair {} by {} in epoch {}", ask.pair, ask.node, ask.epoch);
      return;
    case ha::LeaseOutcome::kRefused: {
      if (a.refusal == ha::Refusal::kInvalid) {
        // Bad input from the network: counted, logged at most every 10 s.
        ++invalid_since_log_;
        const TimePoint now = clock_.now();
        if (last_invalid_log_ && now - *last_invalid_log_ < std::chrono::seconds(10)) return;
        last_invalid_log_ = now;
        spdlog::warn("malformed lease request ({} since the last such message): {}",
                     invalid_since_log_, a.reason);
        invalid_since_log_ = 0;
        return;
      }
      auto [it, inserted] = last_refusal_.emplace(key, a.refusal);
      if (!inserted && it->second == a.refusal) {
        spdlog::debug("lease refused again: pair {} to {} in epoch {}: {}", ask.pair, ask.node,
                      ask.epoch, a.reason);
        return;
      }
      it->second = a.refusal;
      const auto level =
          a.refusal == ha::Refusal::kPersistFailed ? spdlog::level::err : spdlog::level::info;
      spdlog::log(level, "lease refused: pair {} to {} in epoch {}: {}", ask.pair, ask.node,
                  ask.epoch, a.reason);
      return;
    }
    case ha::LeaseOutcome::kAnswered:
      spdlog::debug("{}: pair {} from {} in epoch {}: {}", acquire ? "probe" : "release", ask.pair,
                    ask.node, ask.epoch, a.reason);
      return;
  }
}

}  // namespace duet::witness
