// Runner: the operator's commands (promote --force, failback) and the
// switchover, both sides.

#include <spdlog/spdlog.h>

#include "common/errors.h"
#include "ha/runner.h"
#include "ha/runner_internal.h"

namespace duet::ha {

Result<std::string> Runner::force_promote() {
  if (rm_.role() == Role::kMaster)
    return std::string("already master in epoch ") + std::to_string(rm_.epoch());
  apply(rm_.on_force_promote(clock_.now()));
  return std::string("promotion forced: ") + rm_.reason();
}

Result<std::string> Runner::failback() {
  if (rm_.role() == Role::kMaster) {
    return std::string("this node is master; failback applies to its peer");
  }
  const Role before = rm_.role();
  apply(rm_.on_failback(clock_.now()));
  // Whatever this node holds that the master does not is discarded: a
  // diverged journal is replaced by the master's snapshot.
  reseed_allowed_ = true;
  if (follower_) follower_->stop("failback: restarting replication");
  log_role_change(before);
  return std::string(role_name(before)) + " -> " + role_name(rm_.role()) + ": " + rm_.reason();
}

void Runner::switchover(std::function<void(Result<std::string>)> done) {
  start_switchover(std::move(done),
                   clock_.now() + 2 * rm_.silence_timeout() + std::chrono::seconds(2));
}

void Runner::start_switchover(std::function<void(Result<std::string>)> done, TimePoint wait_until) {
  const auto now = clock_.now();
  if (switching_) {
    done(make_error(CommonErrc::kInvalidArgument, "a switchover is already running"));
    return;
  }
  if (rm_.role() != Role::kMaster || !rm_.may_act(now)) {
    done(make_error(CommonErrc::kInvalidArgument, "this node is not the acting master"));
    return;
  }
  apply(rm_.begin_switchover(now));
  if (!rm_.switching_over()) {
    const auto& p = rm_.peer();
    if (rm_.peer_alive(now) && p && now < wait_until) {
      // A standby just brought back (failback) reports itself healthy and
      // eligible only after a settling time: wait for it rather than refuse.
      std::weak_ptr<Life> life = life_;
      clock_.call_after(rm_.beat_interval(), [this, life, done = std::move(done), wait_until] {
        if (life.expired() || stopped_) return;
        start_switchover(std::move(done), wait_until);
      });
      return;
    }
    done(make_error(CommonErrc::kInvalidArgument,
                    std::string("the peer is not a healthy standby (") +
                        (rm_.peer_alive(now) && p ? role_name(p->role) : "down") + ")"));
    return;
  }
  spdlog::warn("ha: switchover: stopped acting; waiting for the standby to catch up");
  const auto limit = std::max<Duration>(std::chrono::seconds(5), 2 * rm_.silence_timeout());
  switching_ = Switching{std::move(done), now + limit};
  poll_switchover();
}

void Runner::poll_switchover() {
  if (!switching_ || stopped_) return;
  const auto now = clock_.now();
  if (rm_.role() != Role::kMaster) {  // the peer took over and we follow it
    const auto& p = rm_.peer();
    end_switchover(std::string("switchover done: ") + (p ? p->from : "the peer") +
                   " is master in epoch " + std::to_string(p ? p->epoch : 0) + ", " +
                   options_.node.name + " follows it");
    return;
  }
  if (now >= switching_->deadline) {
    const std::string why = switching_->last_error.empty() ? "the standby did not take over in time"
                                                           : switching_->last_error;
    apply(rm_.end_switchover(now, false));
    spdlog::error("ha: switchover abandoned: {}; acting again", why);
    end_switchover(make_error(
        CommonErrc::kInvalidArgument,
        "switchover abandoned (" + why + "); " + options_.node.name + " is master again"));
    return;
  }
  const store::Lsn last = store_.last_lsn();
  if (!switching_->handed_over && !switching_->handover_in_flight && shipper_ && stub_ &&
      shipper_->lag().acked_lsn >= last) {
    struct Call {
      grpc::ClientContext ctx;
      duet::v1::HandoverRequest req;
      duet::v1::HandoverResponse resp;
    };
    auto call = std::make_shared<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    call->req.set_from(options_.node.name);
    call->req.set_epoch(rm_.epoch());
    call->req.set_lsn(last);
    switching_->handover_in_flight = true;
    std::shared_ptr<Life> life = life_;
    stub_->async()->Handover(
        &call->ctx, &call->req, &call->resp, [this, call, life](grpc::Status status) {
          life->post([this, call, status] {
            if (!switching_) return;
            switching_->handover_in_flight = false;
            if (status.ok() && call->resp.accepted()) {
              switching_->handed_over = true;
            } else {
              switching_->last_error = status.ok() ? call->resp.message() : status.error_message();
            }
          });
        });
  }
  std::weak_ptr<Life> weak = life_;
  clock_.call_after(std::chrono::milliseconds(5), [this, weak] {
    if (!weak.expired()) poll_switchover();
  });
}

void Runner::end_switchover(Result<std::string> outcome) {
  auto done = std::move(switching_->done);
  switching_.reset();
  if (outcome.ok()) spdlog::warn("ha: {}", *outcome);
  done(std::move(outcome));
}

duet::v1::HandoverResponse Runner::on_handover(const duet::v1::HandoverRequest& req) {
  duet::v1::HandoverResponse resp;
  if (!options_.peer || req.from() != options_.peer->name) {
    resp.set_message("hand-over from '" + req.from() + "', who is not this node's peer");
    return resp;
  }
  refresh_position();
  const Role before = rm_.role();
  auto actions = rm_.on_handover(clock_.now(), req.lsn());
  bool promoting = false;
  for (const auto& a : actions) promoting |= std::holds_alternative<Promote>(a);
  if (!promoting) {
    resp.set_message(std::string("not taking over: this node is ") + role_name(before) +
                     " at LSN " + std::to_string(rm_.position().last_lsn) + ", the master at " +
                     std::to_string(req.lsn()));
    return resp;
  }
  spdlog::warn("ha: switchover: {} hands over at LSN {}", req.from(), req.lsn());
  apply(actions);
  log_role_change(before);
  resp.set_accepted(true);
  resp.set_message(options_.node.name + " takes over");
  return resp;
}

}  // namespace duet::ha
