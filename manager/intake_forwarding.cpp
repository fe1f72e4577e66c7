// EventIntake: forwarding of receipts from the standby to the master
// (IntakePeer.Forward), both sides.

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstring>

#include "common/errors.h"
#include "manager/event_intake.h"
#include "manager/event_intake_internal.h"

namespace duet::manager {

using namespace intake_internal;

namespace {

intake::IntakeItem item_from(const duet::v1::ReceiptContent& c) {
  intake::IntakeItem item;
  if (c.key().size() == item.key.size())
    std::memcpy(item.key.data(), c.key().data(), c.key().size());
  item.protocol = c.protocol();
  item.message = c.message();
  item.fields_json = c.fields_json();
  item.parsed = c.parsed();
  item.fields = std::map<std::string, std::string>(c.fields().begin(), c.fields().end());
  item.receipt.source = c.source();
  item.receipt.source_port = static_cast<std::uint16_t>(c.source_port());
  item.receipt.received_ms = c.received_ms();
  item.receipt.raw = c.raw();
  item.receipt.truncated = c.truncated();
  item.detailed = !c.undetailed();
  return item;
}
void fill_content(std::uint64_t seq, const intake::IntakeItem& item, duet::v1::ReceiptContent* c) {
  c->set_seq(seq);
  c->set_key(std::string(reinterpret_cast<const char*>(item.key.data()), item.key.size()));
  c->set_protocol(item.protocol);
  c->set_source(item.receipt.source);
  c->set_source_port(item.receipt.source_port);
  c->set_received_ms(item.receipt.received_ms);
  c->set_raw(item.receipt.raw);
  c->set_truncated(item.receipt.truncated);
  c->set_message(item.message);
  c->set_fields_json(item.fields_json);
  c->mutable_fields()->insert(item.fields.begin(), item.fields.end());
  c->set_parsed(item.parsed);
  c->set_undetailed(!item.detailed);
}

}  // namespace

duet::v1::ForwardRequest EventIntake::build_forward_request() {
  durable_cursor_ = durable_cursor();
  expire_held();
  duet::v1::ForwardRequest req;
  req.set_node(config_.node.name);
  req.set_incarnation(incarnation_);
  req.set_after_seq(forwarded_acked_);
  // Held receipts are in seq order: a binary search finds the first to send.
  auto by_seq = [](const Held& h, std::uint64_t seq) { return h.seq < seq; };
  for (auto it = std::lower_bound(held_.begin(), held_.end(), forwarded_acked_ + 1, by_seq);
       it != held_.end() && req.digests_size() < static_cast<int>(kMaxDigestsPerCall); ++it) {
    auto* d = req.add_digests();
    d->set_seq(it->seq);
    d->set_key(
        std::string(reinterpret_cast<const char*>(it->item.key.data()), it->item.key.size()));
    d->set_received_ms(it->item.receipt.received_ms);
  }
  // At most about 1 MiB of contents per call; the rest follow in the next.
  std::size_t content_bytes = 0;
  for (std::uint64_t seq : wanted_) {
    if (content_bytes >= kMaxContentBytesPerCall) break;
    auto it = std::lower_bound(held_.begin(), held_.end(), seq, by_seq);
    if (it == held_.end() || it->seq != seq) {
      req.add_gone(seq);  // dropped by the limits (counted as expired)
      continue;
    }
    fill_content(seq, it->item, req.add_contents());
    content_bytes +=
        it->item.receipt.raw.size() + it->item.message.size() + it->item.fields_json.size() + 64;
  }
  return req;
}

void EventIntake::forward_tick() {
  if (stopped_) return;
  auto again = [this](Duration after) {
    if (stopped_ || forward_timer_) return;
    forward_timer_ = clock_.call_after(after, [this] {
      forward_timer_.reset();
      forward_tick();
    });
  };
  if (acting_ || forward_in_flight_ || !peer_stub_) {
    again(kForwardIdle);
    return;
  }
  duet::v1::ForwardRequest req = build_forward_request();
  auto ctx = std::make_shared<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  auto request = std::make_shared<duet::v1::ForwardRequest>(std::move(req));
  auto resp = std::make_shared<duet::v1::ForwardResponse>();
  forward_in_flight_ = true;
  {
    std::lock_guard lock(queue_mu_);
    forward_ctx_ = ctx;
  }
  peer_stub_->async()->Forward(
      ctx.get(), request.get(), resp.get(), [this, ctx, request, resp](grpc::Status status) {
        // stop() waits for this callback: it posts only while the intake runs.
        std::lock_guard lock(queue_mu_);
        forward_ctx_.reset();
        if (!closing_) {
          boost::asio::post(strand_, [this, status, resp] { on_forwarded(status, *resp); });
        }
        queue_cv_.notify_all();
      });
}

void EventIntake::on_forwarded(const grpc::Status& status, const duet::v1::ForwardResponse& resp) {
  forward_in_flight_ = false;
  if (stopped_) return;
  bool busy = false;
  if (status.ok()) {
    // A master that knows less (it restarted, or a new one took over) says
    // so with a lower acked_seq; sending resumes from there.
    forwarded_acked_ = resp.acked_seq();
    wanted_.assign(resp.wanted().begin(), resp.wanted().end());
    busy = !wanted_.empty() || (!held_.empty() && held_.back().seq > forwarded_acked_);
  } else {
    ++forward_failures_;
  }
  if (!forward_timer_) {
    forward_timer_ =
        clock_.call_after(busy ? Duration(kForwardBusy) : Duration(kForwardIdle), [this] {
          forward_timer_.reset();
          forward_tick();
        });
  }
}

Result<duet::v1::ForwardResponse> EventIntake::on_forward(const duet::v1::ForwardRequest& req) {
  if (stopped_ || !acting_ || !may_act_()) {
    return make_error(CommonErrc::kInvalidArgument, "not master");
  }
  if (!config_.peer || req.node() != config_.peer->name) {
    return make_error(CommonErrc::kInvalidArgument,
                      "receipts from '" + req.node() + "', which is not this node's peer");
  }
  const TimePoint now = clock_.now();
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  dedup_.expire(now_ms);
  if (req.incarnation() != peer_incarnation_) {
    // A standby (re)started, or this node just became master: resume from
    // what the store says was decided for that incarnation.
    std::uint64_t from = 0;
    auto inc = store_.get("intake_state", incarnation_key(req.node()));
    auto cur = store_.get("intake_state", cursor_key(req.node()));
    if (inc.ok() && cur.ok() && *inc && *cur &&
        static_cast<std::uint64_t>(int_of(**inc, "value")) == req.incarnation()) {
      from = static_cast<std::uint64_t>(int_of(**cur, "value"));
    }
    take_pairs();  // those name the previous incarnation
    dedup_.reset_peer(from, decided_receipts(req.node(), req.incarnation(), from));
    peer_incarnation_ = req.incarnation();
    peer_acked_ = from;
    persisted_cursor_ = from;
    awaiting_.clear();
    spdlog::info("events: receipts from {} (incarnation {:x}) resume after {}", req.node(),
                 req.incarnation(), from);
  }
  for (const auto& c : req.contents()) {
    if (awaiting_.erase(c.seq()) == 0) continue;  // not asked for, or already had
    intake::IntakeItem item = item_from(c);
    const std::uint64_t id = next_id_;
    if (!dedup_.on_peer_content(c.seq(), id)) continue;  // an own copy was emitted for both
    ++next_id_;
    ++counters_[item.protocol].emitted;
    ++peer_emitted_;
    emit(std::move(item), id, req.node());  // received by the standby
  }
  for (std::uint64_t seq : req.gone()) {
    if (awaiting_.erase(seq) == 0 || !dedup_.on_peer_gone(seq)) continue;
    ++peer_lost_;
    spdlog::warn("events: {} no longer holds receipt {} (dropped by its limits); not recorded",
                 req.node(), seq);
  }
  // Digests continue after req.after_seq(); if that is past what this node
  // took (it restarted its pairing), the ones between were never seen here:
  // take none, and the standby sends again from peer_acked_.
  if (req.after_seq() <= peer_acked_) {
    for (const auto& d : req.digests()) {
      if (d.seq() <= peer_acked_) continue;  // a resend
      intake::DedupKey key{};
      if (d.key().size() != key.size()) continue;
      std::memcpy(key.data(), d.key().data(), key.size());
      dedup_.on_peer_digest(key, d.seq(), d.received_ms(), now, now_ms);
      peer_acked_ = d.seq();
    }
  }
  for (std::uint64_t seq : dedup_.take_due(now)) awaiting_.insert(seq);
  // Ones an own copy was emitted for meanwhile are no longer wanted.
  std::erase_if(awaiting_, [this](std::uint64_t seq) { return !dedup_.awaiting(seq); });
  duet::v1::ForwardResponse resp;
  resp.set_acked_seq(peer_acked_);
  for (std::uint64_t seq : awaiting_) resp.add_wanted(seq);
  resp.set_cursor(dedup_.peer_cursor());
  // The pairs, the cursor and any events go to the store together.
  if (!pending_.empty() || resp.cursor() != persisted_cursor_ || !pending_pairs_.empty()) {
    schedule_flush();
  }
  return resp;
}

}  // namespace duet::manager
