#include "manager/agent_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <deque>
#include <mutex>

#include "common/caller_policy.h"

namespace duet::manager {
namespace {

using duet::v1::AgentMessage;
using duet::v1::ManagerMessage;

// One session. Owned by gRPC (deleted in OnDone); the hub holds the Link,
// which outlives it and forgets it when the call is done.
class SessionReactor;

class Link final : public AgentLink, public std::enable_shared_from_this<Link> {
 public:
  Link(std::string peer, std::vector<std::string> names)
      : peer_(std::move(peer)), names_(std::move(names)) {}
  void send(ManagerMessage message) override;
  void finish(grpc::Status status) override;
  std::string peer_address() const override { return peer_; }
  std::vector<std::string> certificate_names() const override { return names_; }

  // The reactor's side (under mu_).
  void attach(SessionReactor* r) {
    std::lock_guard lock(mu_);
    reactor_ = r;
  }
  void on_write_done(bool ok);
  void detach() {
    std::lock_guard lock(mu_);
    reactor_ = nullptr;
    queue_.clear();
  }

 private:
  void start_locked();

  std::mutex mu_;
  SessionReactor* reactor_ = nullptr;
  std::deque<ManagerMessage> queue_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> finish_after_;
  std::string peer_;
  std::vector<std::string> names_;
};

class SessionReactor final : public grpc::ServerBidiReactor<AgentMessage, ManagerMessage> {
 public:
  SessionReactor(grpc::CallbackServerContext* context, boost::asio::any_io_executor strand,
                 std::function<AgentHub*()> hub)
      : strand_(std::move(strand)), hub_(std::move(hub)) {
    link_ = std::make_shared<Link>(context->peer(), caller_names(*context));
    link_->attach(this);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The agent closed its side, or the call broke.
      link_->finish(grpc::Status::OK);
      return;
    }
    boost::asio::post(strand_, [hub = hub_, link = link_, msg = std::move(in_)]() mutable {
      AgentHub* h = hub();
      if (h == nullptr) {
        link->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
        return;
      }
      switch (msg.msg_case()) {
        case AgentMessage::kHello:
          h->on_hello(link, msg.hello());
          break;
        case AgentMessage::kResult:
          h->on_result(link, std::move(*msg.mutable_result()));
          break;
        case AgentMessage::kStats:
          h->on_stats(link, msg.stats());
          break;
        case AgentMessage::kFetch:
          h->on_fetch(link, msg.fetch());
          break;
        case AgentMessage::kChunk:
          h->on_chunk(link, std::move(*msg.mutable_chunk()));
          break;
        case AgentMessage::MSG_NOT_SET:
          break;
      }
    });
    in_.Clear();
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override { link_->on_write_done(ok); }

  void OnDone() override {
    link_->detach();
    boost::asio::post(strand_, [hub = hub_, link = link_] {
      if (AgentHub* h = hub()) h->on_closed(link);
    });
    delete this;
  }

  void OnCancel() override { link_->finish(grpc::Status::CANCELLED); }

  using grpc::ServerBidiReactor<AgentMessage, ManagerMessage>::Finish;
  using grpc::ServerBidiReactor<AgentMessage, ManagerMessage>::StartWrite;

 private:
  boost::asio::any_io_executor strand_;
  std::function<AgentHub*()> hub_;
  std::shared_ptr<Link> link_;
  AgentMessage in_;
};

void Link::start_locked() {
  if (reactor_ == nullptr || writing_) return;
  if (!queue_.empty()) {
    writing_ = true;
    reactor_->StartWrite(&queue_.front());
    return;
  }
  if (finish_after_ && !finished_) {
    finished_ = true;
    reactor_->Finish(*finish_after_);
  }
}

void Link::send(ManagerMessage message) {
  std::lock_guard lock(mu_);
  if (finished_ || finish_after_ || reactor_ == nullptr) return;
  queue_.push_back(std::move(message));
  start_locked();
}

void Link::finish(grpc::Status status) {
  std::lock_guard lock(mu_);
  if (finished_ || finish_after_) return;
  finish_after_ = std::move(status);
  start_locked();
}

void Link::on_write_done(bool ok) {
  std::lock_guard lock(mu_);
  writing_ = false;
  if (!queue_.empty()) queue_.pop_front();
  if (!ok) {
    // The stream broke: nothing more gets through; end the call.
    queue_.clear();
    if (!finish_after_) finish_after_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "broken");
  }
  start_locked();
}

}  // namespace

grpc::ServerBidiReactor<AgentMessage, ManagerMessage>* AgentService::Session(
    grpc::CallbackServerContext* context) {
  return new SessionReactor(context, strand_, hub_);
}

namespace {
grpc::ServerUnaryReactor* enrol_on_strand(grpc::CallbackServerContext* context,
                                          const boost::asio::any_io_executor& strand,
                                          const std::function<AgentHub*()>& hub,
                                          const duet::v1::EnrolRequest* request,
                                          duet::v1::EnrolResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand, [reactor, hub, request, response] {
    AgentHub* h = hub();
    if (h == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    h->enrol(*request, response, [reactor](grpc::Status s) { reactor->Finish(std::move(s)); });
  });
  return reactor;
}
}  // namespace

grpc::ServerUnaryReactor* AgentService::Enrol(grpc::CallbackServerContext* context,
                                              const duet::v1::EnrolRequest* request,
                                              duet::v1::EnrolResponse* response) {
  return enrol_on_strand(context, strand_, hub_, request, response);
}

grpc::ServerUnaryReactor* EnrolService::Enrol(grpc::CallbackServerContext* context,
                                              const duet::v1::EnrolRequest* request,
                                              duet::v1::EnrolResponse* response) {
  return enrol_on_strand(context, strand_, hub_, request, response);
}

grpc::ServerUnaryReactor* MonitoringService::on_strand(
    grpc::CallbackServerContext* context,
    std::function<void(AgentHub&, std::function<void(grpc::Status)>)> fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, fn = std::move(fn)] {
    AgentHub* hub = hub_();
    if (hub == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    fn(*hub, [reactor](grpc::Status s) { reactor->Finish(std::move(s)); });
  });
  return reactor;
}

namespace {
template <typename T>
grpc::Status answer(Result<T> r, T* out) {
  if (!r.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, r.error().to_string());
  *out = std::move(*r);
  return grpc::Status::OK;
}
}  // namespace

grpc::ServerUnaryReactor* MonitoringService::ListAgents(grpc::CallbackServerContext* context,
                                                        const duet::v1::ListAgentsRequest*,
                                                        duet::v1::ListAgentsResponse* response) {
  return on_strand(context, [response](AgentHub& hub, auto finish) {
    finish(answer(hub.list_agents(), response));
  });
}

grpc::ServerUnaryReactor* MonitoringService::IssueToken(grpc::CallbackServerContext* context,
                                                        const duet::v1::IssueTokenRequest* request,
                                                        duet::v1::IssueTokenResponse* response) {
  return on_strand(context, [request, response](AgentHub& hub, auto finish) {
    hub.issue_token(*request, response, std::move(finish));
  });
}

grpc::ServerUnaryReactor* MonitoringService::PutMonitor(grpc::CallbackServerContext* context,
                                                        const duet::v1::PutMonitorRequest* request,
                                                        duet::v1::MonitorChangeResponse* response) {
  return on_strand(context, [request, response](AgentHub& hub, auto finish) {
    hub.put_monitor(*request, response, std::move(finish));
  });
}

grpc::ServerUnaryReactor* MonitoringService::RemoveMonitor(
    grpc::CallbackServerContext* context, const duet::v1::MonitorNameRequest* request,
    duet::v1::MonitorChangeResponse* response) {
  return on_strand(context, [request, response](AgentHub& hub, auto finish) {
    hub.remove_monitor(request->name(), response, std::move(finish));
  });
}

grpc::ServerUnaryReactor* MonitoringService::SetMonitorEnabled(
    grpc::CallbackServerContext* context, const duet::v1::SetMonitorEnabledRequest* request,
    duet::v1::MonitorChangeResponse* response) {
  return on_strand(context, [request, response](AgentHub& hub, auto finish) {
    hub.set_enabled(request->name(), request->enabled(), response, std::move(finish));
  });
}

grpc::ServerUnaryReactor* MonitoringService::ListMonitors(
    grpc::CallbackServerContext* context, const duet::v1::ListMonitorsRequest*,
    duet::v1::ListMonitorsResponse* response) {
  return on_strand(context, [response](AgentHub& hub, auto finish) {
    finish(answer(hub.list_monitors(), response));
  });
}

grpc::ServerUnaryReactor* MonitoringService::QueryMetrics(
    grpc::CallbackServerContext* context, const duet::v1::QueryMetricsRequest* request,
    duet::v1::QueryMetricsResponse* response) {
  return on_strand(context, [request, response](AgentHub& hub, auto finish) {
    finish(answer(hub.query_metrics(*request), response));
  });
}

}  // namespace duet::manager
