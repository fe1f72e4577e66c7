#include "manager/manager.h"

#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/caller_policy.h"
#include "common/grpc_server.h"
#include "common/tls.h"
#include "duet/version.h"
#include "ha/timing_setting.h"
#include "store/open_store.h"

namespace duet::manager {
namespace {

std::string store_location(const StoreConfig& config) {
  return config.backend == StoreConfig::Backend::kSqlite
             ? config.sqlite_path
             : redact_conninfo(config.postgres_conninfo);
}

duet::v1::Setting to_setting(const store::Row& row) {
  duet::v1::Setting s;
  auto text = [&](const char* name) {
    const store::Value* v = store::find_field(row, name);
    return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v)
                                                                   : std::string();
  };
  s.set_key(text("key"));
  s.set_value(text("value"));
  s.set_updated_by(text("updated_by"));
  const store::Value* at = store::find_field(row, "updated_at_ms");
  if (at != nullptr && std::holds_alternative<std::int64_t>(*at)) {
    s.set_updated_at_ms(std::get<std::int64_t>(*at));
  }
  return s;
}

}  // namespace

Manager::Manager(ManagerConfig config)
    : config_(std::move(config)),
      work_(io_.get_executor()),
      clock_(io_.get_executor()),
      signals_(io_, SIGINT, SIGTERM),
      started_at_(clock_.now()) {}

Manager::~Manager() = default;

int Manager::run() {
  spdlog::info("duet-manager {} starting: node {} at {}, store {} ({})", DUET_VERSION,
               config_.node.name, config_.node.address.to_string(),
               config_.store.backend == StoreConfig::Backend::kSqlite ? "sqlite" : "postgres",
               store_location(config_.store));
  if (config_.tls.insecure) {
    spdlog::warn(
        "tls: insecure: true — gRPC runs WITHOUT TLS or client certificates; use this only for "
        "a local demo, never between hosts");
  }

  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("received signal {} ({}); shutting down", signo, strsignal(signo));
    stop(0);
  });

  if (!start_server()) {
    work_.reset();
    return 1;
  }
  boost::asio::post(io_, [this] { open_store(); });
  io_.run();
  if (drain_thread_.joinable()) drain_thread_.join();
  return exit_code_;
}

bool Manager::start_server() {
  AdminService::Handlers handlers;
  handlers.status = [this] { return build_status(); };
  handlers.promote = [this](const duet::v1::PromoteRequest& req, duet::v1::CommandReply* reply) {
    reply->set_node(config_.node.name);
    if (!runner_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet");
    if (!req.force()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "promote needs --force: the operator vouches that the peer is down");
    }
    auto r = runner_->force_promote();
    reply->set_message(r.ok() ? *r : r.error().to_string());
    spdlog::warn("operator: promote --force: {}", reply->message());
    return grpc::Status::OK;
  };
  handlers.failback = [this](duet::v1::CommandReply* reply) {
    reply->set_node(config_.node.name);
    if (!runner_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet");
    auto r = runner_->failback();
    reply->set_message(r.ok() ? *r : r.error().to_string());
    spdlog::warn("operator: failback: {}", reply->message());
    return grpc::Status::OK;
  };
  handlers.set_setting = [this](const duet::v1::SetSettingRequest& req,
                                duet::v1::SetSettingResponse* resp,
                                std::function<void(grpc::Status)> finish) {
    set_setting(req, resp, std::move(finish));
  };
  handlers.get_setting = [this](const duet::v1::GetSettingRequest& req,
                                duet::v1::GetSettingResponse* resp) {
    resp->set_node(config_.node.name);
    if (!store_ || store_state_ != StoreState::kOk) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet");
    }
    auto row = store_->get("settings", req.key());
    if (!row.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, row.error().to_string());
    if (!row->has_value()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no setting '" + req.key() + "'");
    }
    *resp->mutable_setting() = to_setting(**row);
    return grpc::Status::OK;
  };
  handlers.list_settings = [this](duet::v1::ListSettingsResponse* resp) {
    resp->set_node(config_.node.name);
    if (!store_ || store_state_ != StoreState::kOk) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet");
    }
    resp->set_applied_lsn(store_->last_lsn());
    auto s = store_->scan("settings", [resp](const store::Row& row) {
      *resp->add_settings() = to_setting(row);
      return true;
    });
    if (!s.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, s.error().to_string());
    return grpc::Status::OK;
  };
  handlers.switchover = [this](duet::v1::CommandReply* reply,
                               std::function<void(grpc::Status)> finish) {
    reply->set_node(config_.node.name);
    if (!runner_) {
      finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    spdlog::warn("operator: switchover requested");
    runner_->switchover([reply, finish = std::move(finish)](Result<std::string> r) {
      if (!r.ok()) {
        finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, r.error().to_string()));
        return;
      }
      reply->set_message(*r);
      finish(grpc::Status::OK);
    });
  };
  handlers.set_timing = [this](const duet::v1::SetTimingRequest& req,
                               duet::v1::SetTimingResponse* resp,
                               std::function<void(grpc::Status)> finish) {
    set_timing(req, resp, std::move(finish));
  };
  admin_ = std::make_unique<AdminService>(io_.get_executor(), std::move(handlers));
  auto policy = CallerPolicy::for_peers(config_.tls);
  if (!policy.ok()) {
    spdlog::critical("tls: {}", policy.error().to_string());
    return false;
  }
  if (policy->enforced()) {
    std::string names;
    for (const auto& n : policy->names()) names += (names.empty() ? "" : ", ") + n;
    spdlog::info("peer links accept certificates named: {}", names);
  }
  intake_peer_service_ = std::make_unique<IntakePeerService>(io_.get_executor(), *policy,
                                                             [this] { return intake_.get(); });
  peer_service_ = std::make_unique<PeerService>(
      io_.get_executor(), std::move(*policy),
      [this](const duet::v1::Beat& beat) -> std::optional<duet::v1::Beat> {
        if (!runner_) return std::nullopt;
        return runner_->answer(beat);
      },
      [this]() -> ha::JournalShipper* { return runner_ ? runner_->shipper() : nullptr; },
      [this](const duet::v1::HandoverRequest& req) {
        duet::v1::HandoverResponse resp;
        if (!runner_) {
          resp.set_message("store not open yet");
          return resp;
        }
        return runner_->on_handover(req);
      });
  events_service_ = std::make_unique<EventsService>(
      io_.get_executor(), [this] { return intake_.get(); },
      [this]() -> std::string {
        if (!runner_) return "starting";
        return runner_->may_act() ? "master" : ha::role_name(runner_->machine().role());
      });
  RepositoryService::Hooks repository_hooks;
  repository_hooks.store = [this]() -> store::Store* {
    return store_ && store_state_ == StoreState::kOk ? store_.get() : nullptr;
  };
  repository_hooks.may_act = [this] { return runner_ && !stopping_ && runner_->may_act(); };
  repository_hooks.not_master = [this] {
    return runner_ ? not_master_message() : std::string("store not open yet");
  };
  repository_hooks.commit = [this](const store::WriteBatch& batch,
                                   std::function<void(Result<ha::Runner::Committed>)> done) {
    runner_->commit(batch, [this, done = std::move(done)](Result<ha::Runner::Committed> r) {
      if (r.ok() && intake_) intake_->reload_repository();  // senders map anew
      if (r.ok() && agents_) agents_->reload();             // scopes assign monitors
      if (r.ok() && agentless_ && acting_master_) agentless_->update();
      done(std::move(r));
    });
  };
  repository_service_ = std::make_unique<RepositoryService>(io_.get_executor(), config_.node.name,
                                                            clock_, std::move(repository_hooks));
  auto hub = [this]() -> AgentHub* {
    return store_ && store_state_ == StoreState::kOk ? agents_.get() : nullptr;
  };
  agent_service_ = std::make_unique<AgentService>(io_.get_executor(), hub);
  monitoring_service_ = std::make_unique<MonitoringService>(io_.get_executor(), hub);
  NotifyService::Hooks notify_hooks;
  notify_hooks.store = [this]() -> store::Store* {
    return store_ && store_state_ == StoreState::kOk ? store_.get() : nullptr;
  };
  notify_hooks.may_act = [this] { return runner_ && !stopping_ && runner_->may_act(); };
  notify_hooks.not_master = [this] {
    return runner_ ? not_master_message() : std::string("store not open yet");
  };
  notify_hooks.commit = [this](const store::WriteBatch& batch,
                               std::function<void(Result<ha::Runner::Committed>)> done) {
    runner_->commit(batch, std::move(done));
  };
  notify_hooks.notifier = [this]() -> Notifier* {
    return store_ && store_state_ == StoreState::kOk ? notifier_.get() : nullptr;
  };
  notify_service_ = std::make_unique<NotifyService>(io_.get_executor(), config_.node.name, clock_,
                                                    std::move(notify_hooks));
  JobsService::Hooks jobs_hooks;
  jobs_hooks.store = [this]() -> store::Store* {
    return store_ && store_state_ == StoreState::kOk ? store_.get() : nullptr;
  };
  jobs_hooks.may_act = [this] { return runner_ && !stopping_ && runner_->may_act(); };
  jobs_hooks.not_master = [this] {
    return runner_ ? not_master_message() : std::string("store not open yet");
  };
  jobs_hooks.commit = [this](const store::WriteBatch& batch,
                             std::function<void(Result<ha::Runner::Committed>)> done) {
    runner_->commit(batch, std::move(done));
  };
  jobs_hooks.jobs = [this]() -> JobRunner* {
    return store_ && store_state_ == StoreState::kOk ? jobs_.get() : nullptr;
  };
  jobs_service_ = std::make_unique<JobsService>(io_.get_executor(), config_.node.name, clock_,
                                                std::move(jobs_hooks));
  server_ =
      start_grpc_server(config_.node.address, config_.tls,
                        {admin_.get(), peer_service_.get(), events_service_.get(),
                         intake_peer_service_.get(), repository_service_.get(),
                         agent_service_.get(), monitoring_service_.get(), notify_service_.get(),
                         jobs_service_.get()});
  if (server_ == nullptr) return false;
  if (const auto& enrol = config_.agents.enrol) {
    auto ca = load_tls_material(config_.tls);
    std::ifstream key_in(enrol->ca_key_file);
    std::string key((std::istreambuf_iterator<char>(key_in)), std::istreambuf_iterator<char>());
    if (!ca.ok() || key.empty()) {
      spdlog::critical("agents.enrol: cannot read the CA certificate or {}", enrol->ca_key_file);
      return false;
    }
    issuer_ = CertificateIssuer{ca->ca_pem, std::move(key), enrol->cert_days};
    TlsConfig server_only = config_.tls;
    server_only.require_client_cert = false;
    enrol_service_ = std::make_unique<EnrolService>(io_.get_executor(), hub);
    enrol_server_ = start_grpc_server(enrol->listen, server_only, {enrol_service_.get()});
    if (enrol_server_ == nullptr) return false;
    spdlog::info("agents: enrolment on {} (certificates valid {} days)", enrol->listen.to_string(),
                 enrol->cert_days);
  }
  return true;
}

void Manager::open_store() {
  retry_timer_.reset();
  if (stopping_) return;
  if (config_.store.backend == StoreConfig::Backend::kSqlite) {
    const auto parent = std::filesystem::path(config_.store.sqlite_path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      store_state_ = StoreState::kFailed;
      store_detail_ = "cannot create directory " + parent.string() + ": " + ec.message();
      spdlog::error("store: {}", store_detail_);
      stop(1);
      return;
    }
  }
  auto opened = store::open_store(config_.store, clock_);
  if (!opened.ok()) {
    store_detail_ = opened.error().to_string();
    if (store::is_transient(opened.error())) {
      schedule_store_retry();
      return;
    }
    store_state_ = StoreState::kFailed;
    spdlog::error("store: {}", store_detail_);
    spdlog::error("refusing to start: the store needs an operator (see docs/store.md)");
    stop(1);
    return;
  }
  store_ = std::move(opened).value();
  const auto info = store_->info();
  spdlog::info("store: {} {} open at schema version {}; journal LSN {}..{}; epoch {}", info.backend,
               info.location, info.schema_version, info.first_lsn, info.last_lsn, info.epoch);

  store_state_ = StoreState::kOk;
  store_detail_.clear();
  start_ha();
}

void Manager::start_ha() {
  ha::RunnerOptions options;
  options.node = config_.node;
  options.peer = config_.peer;
  options.ha = config_.ha;
  options.tls = config_.tls;
  options.tls.server_name.clear();
  if (config_.store.backend == StoreConfig::Backend::kSqlite) {
    options.data_dir = std::filesystem::path(config_.store.sqlite_path).parent_path().string();
    if (options.data_dir.empty()) options.data_dir = ".";
  }
  options.incarnation = std::random_device{}() * 4294967296ULL + std::random_device{}();
  ha::Runner::Hooks hooks;
  hooks.start_acting = [this](ha::Epoch epoch) {
    acting_master_ = true;
    if (notifier_) notifier_->start_acting();
    if (intake_) intake_->start_acting(epoch);
    if (jobs_) jobs_->start_acting();  // before the agents': their assignments hold file triggers
    if (agents_) agents_->start_acting();
    if (agentless_) agentless_->update();
  };
  hooks.stop_acting = [this](const std::string& reason) {
    acting_master_ = false;
    if (intake_) intake_->stop_acting(reason.rfind("switchover", 0) == 0);
    if (agentless_) agentless_->stop();
    if (jobs_) jobs_->stop_acting();
    if (agents_) agents_->stop_acting();
    if (agentless_) agentless_->stop();
    if (notifier_) notifier_->stop_acting(reason.rfind("switchover", 0) == 0);
  };
  runner_ = std::make_unique<ha::Runner>(io_.get_executor(), clock_, std::move(options), *store_,
                                         ha::make_guard(io_.get_executor(), clock_, config_),
                                         std::move(hooks));
  auto intake = EventIntake::create(
      io_.get_executor(), clock_, config_, *store_,
      [this] { return runner_ && runner_->may_act(); },
      [this](const store::WriteBatch& batch,
             std::function<void(Result<ha::Runner::Committed>)> done) {
        runner_->commit(batch, std::move(done));
      });
  if (!intake.ok()) {
    spdlog::error("events: {}", intake.error().to_string());
    stop(1);
    return;
  }
  intake_ = std::move(intake).value();
  Notifier::Hooks notifier_hooks;
  notifier_hooks.store = [this]() -> store::Store* {
    return store_ && store_state_ == StoreState::kOk ? store_.get() : nullptr;
  };
  notifier_hooks.epoch = [this]() -> std::uint64_t { return store_ ? store_->current_epoch() : 0; };
  notifier_hooks.commit = [this](const store::WriteBatch& batch,
                                 std::function<void(Result<ha::Runner::Committed>)> done) {
    runner_->commit(batch, std::move(done));
  };
  Notifier::Options notifier_options;
  notifier_options.workers = static_cast<std::size_t>(config_.notifications.workers);
  notifier_options.sender = config_.node.name;
  notifier_options.keep_ms = config_.notifications.keep_ms;
  notifier_options.state_keep_ms = config_.notifications.state_keep_ms;
  notifier_ = std::make_unique<Notifier>(io_.get_executor(), clock_, notifier_options,
                                         std::move(notifier_hooks));
  notifier_->start();
  intake_->set_notifier([this] { return notifier_.get(); });
  AgentHub::Hooks agent_hooks;
  agent_hooks.store = [this]() -> store::Store* {
    return store_ && store_state_ == StoreState::kOk ? store_.get() : nullptr;
  };
  agent_hooks.may_act = [this] { return runner_ && !stopping_ && runner_->may_act(); };
  agent_hooks.epoch = [this]() -> std::uint64_t { return store_ ? store_->current_epoch() : 0; };
  agent_hooks.not_master = [this] { return not_master_info(); };
  agent_hooks.not_master_text = [this] { return not_master_message(); };
  agent_hooks.commit = [this](const store::WriteBatch& batch,
                              std::function<void(Result<ha::Runner::Committed>)> done) {
    runner_->commit(batch, std::move(done));
  };
  agent_hooks.intake = [this] { return intake_.get(); };
  agent_hooks.notifier = [this] { return notifier_.get(); };
  agent_hooks.jobs = [this] { return jobs_.get(); };
  AgentHub::Options agent_options;
  agent_options.node_name = config_.node.name;
  agent_options.unreachable_after_ms = config_.agents.unreachable_after_ms;
  agent_options.raw_keep_ms = config_.agents.metrics_raw_keep_ms;
  agent_options.hourly_keep_ms = config_.agents.metrics_hourly_keep_ms;
  agent_options.issuer = issuer_;
  agents_ =
      std::make_unique<AgentHub>(io_.get_executor(), clock_, agent_options, std::move(agent_hooks));
  agents_->on_reload([this] {
    if (agentless_ && acting_master_) agentless_->update();
  });
  JobRunner::Hooks job_hooks;
  job_hooks.store = [this]() -> store::Store* {
    return store_ && store_state_ == StoreState::kOk ? store_.get() : nullptr;
  };
  job_hooks.epoch = [this]() -> std::uint64_t { return store_ ? store_->current_epoch() : 0; };
  job_hooks.commit = [this](const store::WriteBatch& batch,
                            std::function<void(Result<ha::Runner::Committed>)> done) {
    runner_->commit(batch, std::move(done));
  };
  job_hooks.send = [this](const std::string& node, duet::v1::ManagerMessage m) {
    return agents_ && agents_->send_to(node, std::move(m));
  };
  job_hooks.connected = [this](const std::string& node) {
    return agents_ && agents_->connected(node);
  };
  job_hooks.nodes_in = [this](const std::string& scope) {
    return agents_ ? agents_->nodes_within(scope) : std::vector<std::string>{};
  };
  job_hooks.monitor = [this](const std::string& name) -> std::optional<duet::v1::MonitorDef> {
    return agents_ ? agents_->monitor_def(name) : std::nullopt;
  };
  job_hooks.node_variables = [this](const std::string& node) {
    return agents_ ? agents_->node_variables(node) : std::map<std::string, std::string>{};
  };
  job_hooks.intake = [this] { return intake_.get(); };
  job_hooks.notifier = [this] { return notifier_.get(); };
  job_hooks.watches_changed = [this] {
    if (agents_) agents_->reload();
  };
  JobRunner::Options job_options;
  job_options.node_name = config_.node.name;
  jobs_ = std::make_unique<JobRunner>(io_.get_executor(), clock_, job_options, std::move(job_hooks));
  intake_->set_jobs([this] { return jobs_.get(); });
  agentless_ = std::make_unique<AgentlessRunner>(io_.get_executor(), clock_, *agents_,
                                                 config_.agents.workers);
  if (auto s = intake_->start(); !s.ok()) {
    spdlog::error("receivers: {}", s.error().to_string());
    stop(1);
    return;
  }
  if (auto s = runner_->start(); !s.ok()) {
    spdlog::error("ha: {}", s.error().to_string());
    stop(1);
  }
}

void Manager::set_setting(const duet::v1::SetSettingRequest& req,
                          duet::v1::SetSettingResponse* resp,
                          std::function<void(grpc::Status)> finish) {
  resp->set_node(config_.node.name);
  if (!runner_ || stopping_) {
    return finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
  }
  if (req.key().empty()) {
    return finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "give a setting key"));
  }
  if (req.key() == ha::kTimingSettingKey) {
    return finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "change ha.timing with 'duetctl ha timing' (it checks the bounds)"));
  }
  if (!runner_->may_act()) {
    return finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, not_master_message()));
  }
  store::WriteBatch batch;
  batch.put("settings", store::Row{{"key", req.key()},
                                   {"value", req.value()},
                                   {"updated_by", config_.node.name},
                                   {"updated_at_ms", to_unix_ms(clock_.wall_now())}});
  runner_->commit(batch, [resp, finish = std::move(finish)](Result<ha::Runner::Committed> r) {
    if (!r.ok()) {
      finish(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "commit failed: " + r.error().to_string()));
      return;
    }
    resp->set_lsn(r->lsn);
    resp->set_epoch(r->epoch);
    resp->set_replicated(r->replicated);
    finish(grpc::Status::OK);
  });
}

std::string Manager::not_master_message() const {
  std::string master = "no master is known now";
  const auto now = clock_.now();
  const auto& peer = runner_->machine().peer();
  if (config_.peer && peer && peer->acting && runner_->machine().peer_alive(now)) {
    master = "the master is " + config_.peer->name + " (" + config_.peer->address.to_string() + ")";
  }
  return "not master; " + master;
}

duet::v1::NotMaster Manager::not_master_info() const {
  duet::v1::NotMaster nm;
  if (!runner_) return nm;
  const auto& peer = runner_->machine().peer();
  if (config_.peer && peer && peer->acting && runner_->machine().peer_alive(clock_.now())) {
    nm.set_master_name(config_.peer->name);
    nm.set_master_address(config_.peer->address.to_string());
  }
  return nm;
}

void Manager::set_timing(const duet::v1::SetTimingRequest& req, duet::v1::SetTimingResponse* resp,
                         std::function<void(grpc::Status)> finish) {
  resp->set_node(config_.node.name);
  if (!runner_ || stopping_) {
    return finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
  }
  if (req.reset() && (req.interval_ms() != 0 || req.timeout_ms() != 0)) {
    return finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "reset goes back to the config file: give no values with it"));
  }
  if (!req.reset() && req.interval_ms() == 0 && req.timeout_ms() == 0) {
    return finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "give an interval, a timeout, or reset"));
  }
  if (!runner_->may_act()) {
    return finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, not_master_message()));
  }
  store::WriteBatch batch;
  ha::TimingMs next = ha::config_timing(config_.ha);
  if (req.reset()) {
    batch.erase("settings", std::string(ha::kTimingSettingKey));
  } else {
    const ha::TimingMs now = runner_->timing().value;
    next = {req.interval_ms() != 0 ? req.interval_ms() : now.interval_ms,
            req.timeout_ms() != 0 ? req.timeout_ms() : now.timeout_ms};
    if (auto why = ha::timing_refusal(next, config_.ha)) {
      return finish(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "refused, nothing changed: " + *why));
    }
    if (next.timeout_ms > config_.events.window_ms) {
      // Duplicate suppression pairs copies within the window; a failover
      // must fit in it (docs/events.md).
      return finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "refused, nothing changed: timeout " + std::to_string(next.timeout_ms) +
              " ms is above events.window_ms (" + std::to_string(config_.events.window_ms) +
              " ms); raise the window in both config files first"));
    }
    batch.put("settings", store::Row{{"key", std::string(ha::kTimingSettingKey)},
                                     {"value", ha::format_timing_setting(next)},
                                     {"updated_by", config_.node.name},
                                     {"updated_at_ms", to_unix_ms(clock_.wall_now())}});
  }
  spdlog::warn("operator: timing {}", req.reset() ? std::string("reset to the config file")
                                                  : ha::format_timing_setting(next));
  resp->set_interval_ms(next.interval_ms);
  resp->set_timeout_ms(next.timeout_ms);
  resp->set_source(req.reset() ? "config" : "setting");
  runner_->commit(batch, [resp, finish = std::move(finish)](Result<ha::Runner::Committed> r) {
    if (!r.ok()) {
      finish(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "commit failed: " + r.error().to_string()));
      return;
    }
    resp->set_lsn(r->lsn);
    resp->set_epoch(r->epoch);
    resp->set_replicated(r->replicated);
    finish(grpc::Status::OK);
  });
  // Committed locally (or failed): the master moves at once; the standby
  // follows when the record reaches it. Either order is safe (role_machine.h).
  runner_->refresh_timing();
}

void Manager::schedule_store_retry() {
  const auto& sc = config_.store;
  retry_delay_ms_ =
      retry_delay_ms_ == 0 ? sc.retry_initial_ms : std::min(retry_delay_ms_ * 2, sc.retry_max_ms);
  // Up to 20% jitter, so a pair restarted together does not retry in lock-step.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::int64_t jitter =
      std::uniform_int_distribution<std::int64_t>(0, retry_delay_ms_ / 5)(rng);
  const std::int64_t delay = retry_delay_ms_ + jitter;
  spdlog::warn("store: unavailable: {}; retrying in {} ms", store_detail_, delay);
  retry_timer_ = clock_.call_after(std::chrono::milliseconds(delay), [this] { open_store(); });
}

void Manager::stop(int exit_code) {
  if (stopping_) return;
  stopping_ = true;
  exit_code_ = exit_code;
  signals_.cancel();
  if (retry_timer_) clock_.cancel(*retry_timer_);
  if (intake_) intake_->stop();
  if (runner_) runner_->stop();
  if (agents_) agents_->stop_acting();
  if (notifier_) notifier_->stop();
  // Drain the server on another thread: in-flight Status calls need this
  // strand to finish, so it must keep running while Shutdown waits.
  drain_thread_ = std::thread([this] {
    if (enrol_server_) enrol_server_->Shutdown(std::chrono::system_clock::now());
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(config_.shutdown_grace_ms));
    }
    boost::asio::post(io_, [this] {
      if (store_) {
        // Each write is one transaction, so nothing is half-written; closing
        // checkpoints the SQLite WAL.
        store_->close();
        spdlog::info("store closed");
      }
      work_.reset();
      io_.stop();
    });
  });
}

duet::v1::StatusResponse Manager::build_status() const {
  duet::v1::StatusResponse r;
  r.set_version(DUET_VERSION);
  if (runner_) {
    runner_->fill_status(r);
  } else {
    r.set_sync_mode(config_.ha.sync ? "sync" : "async");
    r.set_ha(config_.peer ? "pair" : "standalone");
    auto* self = r.add_nodes();
    self->set_name(config_.node.name);
    self->set_address(config_.node.address.to_string());
    self->set_self(true);
    self->set_role("syncing");
    self->set_guard("none");
    self->set_detail("store not open yet");
    if (config_.peer) {
      auto* peer = r.add_nodes();
      peer->set_name(config_.peer->name);
      peer->set_address(config_.peer->address.to_string());
      peer->set_role("down");
      peer->set_guard("unknown");
    }
  }
  r.set_uptime_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - started_at_).count());

  auto* st = r.mutable_store();
  st->set_backend(config_.store.backend == StoreConfig::Backend::kSqlite ? "sqlite" : "postgres");
  st->set_location(store_location(config_.store));
  st->set_state(store_state_ == StoreState::kOk           ? "ok"
                : store_state_ == StoreState::kConnecting ? "connecting"
                                                          : "failed");
  st->set_detail(store_detail_);
  if (store_) {
    const auto info = store_->info();
    st->set_schema_version(info.schema_version);
    st->set_last_lsn(info.last_lsn);
    st->set_journal_records(info.first_lsn == 0 ? 0 : info.last_lsn - info.first_lsn + 1);
  }
  return r;
}

}  // namespace duet::manager
