#include "agent/agent.h"

#include <grpcpp/create_channel.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/enrolment.h"
#include "common/errors.h"
#include "common/tls.h"
#include "duet/version.h"

namespace duet::agent {
namespace {

constexpr std::size_t kWindow = 2000;    // results sent and not yet acknowledged, at most
constexpr std::size_t kReadChunk = 500;  // results read from the outbox at once
constexpr auto kWelcomeTimeout = std::chrono::seconds(10);
constexpr auto kFirstRunSpread = std::chrono::milliseconds(5000);
constexpr const char* kAssignmentsKey = "assignments";
constexpr const char* kEpochKey = "epoch";

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

std::mt19937_64& rng() {
  static thread_local std::mt19937_64 r{std::random_device{}()};
  return r;
}

}  // namespace

struct AgentProcess::Scheduled {
  explicit Scheduled(boost::asio::io_context& io) : timer(io) {}
  duet::v1::MonitorDef def;
  std::string signature;  // the serialized definition
  monitors::CheckContext context;
  std::unique_ptr<monitors::Check> check;  // made at the first run (under run_mu)
  boost::asio::steady_timer timer;
  std::chrono::steady_clock::time_point slot;  // when the current run was due
  std::atomic<bool> running{false};
  std::atomic<bool> cancelled{false};
  // Runs of a monitor, and of the one it replaces when its definition
  // changes, one at a time: the replacement makes its check (and reads a log
  // file's position) only after the last run of the old one has stored its own.
  std::shared_ptr<std::mutex> run_mu = std::make_shared<std::mutex>();
};

struct AgentProcess::Impl {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
  std::unique_ptr<boost::asio::thread_pool> pool;
  std::map<std::string, std::shared_ptr<Scheduled>> monitors;  // on io's thread
  std::atomic<std::size_t> count{0};
};

AgentProcess::AgentProcess(AgentConfig config)
    : config_(std::move(config)), impl_(std::make_unique<Impl>()) {}

AgentProcess::~AgentProcess() { stop(); }

Status AgentProcess::start() {
  Outbox::Limits limits;
  limits.max_results = config_.outbox_max_results;
  limits.max_bytes = config_.outbox_max_bytes;
  DUET_ASSIGN_OR_RETURN(outbox_, Outbox::open(config_.outbox, limits));
  if (auto e = outbox_->position(kEpochKey); e.ok() && *e) {
    max_epoch_ = std::strtoull((*e)->c_str(), nullptr, 10);
  }
  auto st = outbox_->stats();
  if (st.ok()) {
    spdlog::info("outbox {}: {} results pending, next number {}, {} dropped ever", config_.outbox,
                 st->pending, st->next_seq, st->dropped);
  }
  impl_->pool =
      std::make_unique<boost::asio::thread_pool>(static_cast<std::size_t>(config_.workers));
  impl_->thread = std::thread([this] { impl_->io.run(); });
  // Job runs: in a directory beside the outbox; runs of a previous process found again.
  JobExecutor::Hooks job_hooks;
  job_hooks.with_outbox = [this](const std::function<void(Outbox&)>& fn) {
    std::lock_guard lock(outbox_mu_);
    fn(*outbox_);
  };
  job_hooks.notify = [this] { notify(); };
  job_hooks.send = [this](duet::v1::AgentMessage m) { return send_now(std::move(m)); };
  job_hooks.check_context = [this] {
    monitors::CheckContext ctx;
    ctx.node = config_.node;
    ctx.node_address = "127.0.0.1";
    return ctx;
  };
  files_ = std::make_unique<FileServer>(
      [this](duet::v1::AgentMessage m) { return send_now(std::move(m)); });
  auto runs_dir = std::filesystem::path(config_.outbox).parent_path() / "runs";
  auto with_outbox = job_hooks.with_outbox;
  auto wake = job_hooks.notify;
  jobs_ = std::make_unique<JobExecutor>(runs_dir.string(), std::move(job_hooks));
  DUET_TRY(jobs_->start());
  FileWatcher::Hooks watch_hooks;
  watch_hooks.with_outbox = std::move(with_outbox);
  watch_hooks.notify = std::move(wake);
  watcher_ = std::make_unique<FileWatcher>(std::move(watch_hooks));
  watcher_->start();
  // The assignments of the last session: monitoring goes on before any manager answers.
  Result<std::optional<std::string>> saved = std::optional<std::string>();
  {
    std::lock_guard lock(outbox_mu_);  // job watchers may report already
    saved = outbox_->position(kAssignmentsKey);
  }
  if (saved.ok() && *saved) {
    duet::v1::Assignments as;
    if (as.ParseFromString(**saved)) {
      spdlog::info("running the {} monitors assigned before the restart", as.monitors_size());
      apply_assignments(as, false);
    }
  }
  session_thread_ = std::thread([this] { session_loop(); });
  return ok_status();
}

void AgentProcess::stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    if (live_ctx_ != nullptr) live_ctx_->TryCancel();
  }
  notify();
  if (session_thread_.joinable()) session_thread_.join();
  if (jobs_) jobs_->stop();
  if (watcher_) watcher_->stop();
  if (files_) files_->stop();
  boost::asio::post(impl_->io, [this] {
    for (auto& [name, s] : impl_->monitors) {
      s->cancelled = true;
      s->timer.cancel();
    }
    impl_->monitors.clear();
  });
  impl_->work.reset();
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->pool) impl_->pool->join();
}

AgentProcess::Snapshot AgentProcess::snapshot() const {
  std::lock_guard lock(mu_);
  return Snapshot{connected_, manager_, max_epoch_, impl_->count.load()};
}

bool AgentProcess::send_now(duet::v1::AgentMessage message) {
  {
    std::lock_guard lock(mu_);
    if (!connected_) return false;
    outgoing_.push_back(std::move(message));
    ++wake_;
  }
  cv_.notify_all();
  return true;
}

void AgentProcess::notify() {
  {
    std::lock_guard lock(mu_);
    ++wake_;
  }
  cv_.notify_all();
}

void AgentProcess::apply_assignments(const duet::v1::Assignments& as, bool persist) {
  if (watcher_) watcher_->set(as.watches());
  if (persist) {
    std::string blob;
    as.SerializeToString(&blob);
    std::lock_guard lock(outbox_mu_);
    if (auto s = outbox_->set_position({kAssignmentsKey, blob}); !s.ok()) {
      spdlog::error("outbox: the assignments were not saved: {}", s.error().to_string());
    }
  }
  boost::asio::post(impl_->io, [this, as] {
    std::map<std::string, std::shared_ptr<Scheduled>> next;
    for (const auto& def : as.monitors()) {
      std::string sig = monitors::canonical_bytes(def);
      auto it = impl_->monitors.find(def.name());
      if (it != impl_->monitors.end() && it->second->signature == sig) {
        next[def.name()] = it->second;  // unchanged: keeps its schedule and its state
        impl_->monitors.erase(it);
        continue;
      }
      if (auto valid = monitors::validate_monitor(def); !valid.ok()) {
        spdlog::error("monitor {}: cannot run it: {}", def.name(), valid.error().message);
        continue;
      }
      auto s = std::make_shared<Scheduled>(impl_->io);
      if (it != impl_->monitors.end()) {  // changed: after the old one's last run
        s->run_mu = it->second->run_mu;
        it->second->cancelled = true;
        it->second->timer.cancel();
        impl_->monitors.erase(it);
        spdlog::info("monitor {}: changed", def.name());
      }
      monitors::CheckContext& ctx = s->context;
      ctx.node = config_.node;
      ctx.node_address = "127.0.0.1";  // an agent's checks look at its own host by default
      ctx.load_position = [this](const std::string& key) -> std::optional<std::string> {
        std::lock_guard lock(outbox_mu_);
        auto p = outbox_->position(key);
        return p.ok() ? *p : std::nullopt;
      };
      s->def = def;
      s->signature = std::move(sig);
      next[def.name()] = s;
      const auto spread =
          std::min<std::chrono::milliseconds>(kFirstRunSpread, monitors::run_every(def));
      schedule(s, std::chrono::milliseconds(
                      std::uniform_int_distribution<std::int64_t>(0, spread.count())(rng())));
      spdlog::info("monitor {}: {} every {} s", def.name(), def.kind(), def.interval_s());
    }
    for (auto& [name, s] : impl_->monitors) {  // no longer assigned
      s->cancelled = true;
      s->timer.cancel();
      spdlog::info("monitor {}: no longer assigned", name);
    }
    impl_->monitors = std::move(next);
    impl_->count = impl_->monitors.size();
  });
}

void AgentProcess::schedule(const std::shared_ptr<Scheduled>& s, std::chrono::milliseconds delay) {
  s->slot = std::chrono::steady_clock::now() + delay;
  s->timer.expires_at(s->slot);
  s->timer.async_wait([this, s](const boost::system::error_code& ec) {
    if (ec || s->cancelled || stopping_) return;
    // The next slot on the grid; a run still going makes this one skip.
    const auto interval = monitors::run_every(s->def);
    if (!s->running.exchange(true)) {
      boost::asio::post(*impl_->pool, [this, s] {
        run_monitor(s);
        s->running = false;
      });
    } else {
      spdlog::warn("monitor {}: the previous run is still going; this one is skipped",
                   s->def.name());
    }
    auto next = s->slot + interval;
    const auto now = std::chrono::steady_clock::now();
    while (next <= now) next += interval;
    s->slot = next;
    s->timer.expires_at(next);
    s->timer.async_wait([this, s](const boost::system::error_code& e2) {
      if (e2 || s->cancelled || stopping_) return;
      schedule(s, std::chrono::milliseconds(0));
    });
  });
}

void AgentProcess::run_monitor(const std::shared_ptr<Scheduled>& s) {
  if (s->cancelled || stopping_) return;
  std::lock_guard run_lock(*s->run_mu);
  if (s->cancelled || stopping_) return;
  if (!s->check) {
    auto check = monitors::make_check(s->def, s->context);
    if (!check.ok()) {
      spdlog::error("monitor {}: cannot run it: {}", s->def.name(), check.error().message);
      s->cancelled = true;
      return;
    }
    s->check = std::move(*check);
  }
  const std::int64_t started = unix_ms_now();
  const auto t0 = std::chrono::steady_clock::now();
  auto outputs = s->check->run();
  const auto took = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  std::lock_guard lock(outbox_mu_);
  for (const auto& out : outputs) {
    auto r = monitors::to_result(out.measurement, s->def.name(), config_.node, started, took);
    std::string payload;
    r.SerializeToString(&payload);
    std::optional<Outbox::Position> pos;
    if (out.position) pos = Outbox::Position{out.position->first, out.position->second};
    auto appended = outbox_->append("monitor", payload, started, pos);
    if (!appended.ok()) {
      spdlog::error("monitor {}: a result could not be kept: {}", s->def.name(),
                    appended.error().to_string());
      continue;
    }
    if (appended->dropped > 0) {
      spdlog::warn("outbox full: the {} oldest results were dropped to keep this one",
                   appended->dropped);
    }
  }
  if (outputs.empty()) {
    if (auto p = s->check->idle_position()) {
      (void)outbox_->set_position({p->first, p->second});
    }
  }
  if (!outputs.empty()) notify();
}

bool AgentProcess::needs_enrolment() const {
  std::error_code ec;
  return !config_.tls.insecure && !config_.enrol_token.empty() &&
         !std::filesystem::exists(config_.tls.cert_file, ec);
}

namespace {

Status write_file(const std::string& path, const std::string& text, std::filesystem::perms mode) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_error(CommonErrc::kIo, "cannot write " + tmp);
    std::error_code ec;
    std::filesystem::permissions(tmp, mode, ec);
    out << text;
    out.flush();
    if (!out) return make_error(CommonErrc::kIo, "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return make_error(CommonErrc::kIo, "cannot rename " + tmp + ": " + ec.message());
  return ok_status();
}

}  // namespace

bool AgentProcess::enrol() {
  auto made = make_key_and_csr(config_.node);
  if (!made.ok()) {
    spdlog::error("enrolment: {}", made.error().to_string());
    return false;
  }
  std::ifstream ca_in(config_.tls.ca_file);
  const std::string ca((std::istreambuf_iterator<char>(ca_in)), std::istreambuf_iterator<char>());
  grpc::SslCredentialsOptions options;  // the managers are checked; no client certificate yet
  options.pem_root_certs = ca;
  auto creds = grpc::SslCredentials(options);
  std::int64_t backoff_ms = config_.reconnect_min_ms;
  std::size_t index = 0;
  while (!stopping_) {
    const std::string address =
        config_.enrol_managers[index++ % config_.enrol_managers.size()].to_string();
    auto channel = grpc::CreateCustomChannel(address, creds, make_channel_arguments(config_.tls));
    auto stub = duet::v1::Agent::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    duet::v1::EnrolRequest req;
    req.set_node(config_.node);
    req.set_token(config_.enrol_token);
    req.set_csr_pem(made->csr_pem);
    duet::v1::EnrolResponse resp;
    const grpc::Status s = stub->Enrol(&ctx, req, &resp);
    if (s.ok()) {
      // The key first: a certificate without its key would stop the next start.
      std::filesystem::create_directories(
          std::filesystem::path(config_.tls.key_file).parent_path().empty()
              ? std::filesystem::path(".")
              : std::filesystem::path(config_.tls.key_file).parent_path());
      auto k = write_file(config_.tls.key_file, made->key_pem,
                          std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
      auto c = k.ok() ? write_file(config_.tls.cert_file, resp.cert_pem(),
                                   std::filesystem::perms::owner_read |
                                       std::filesystem::perms::owner_write |
                                       std::filesystem::perms::group_read |
                                       std::filesystem::perms::others_read)
                      : k;
      if (!c.ok()) {
        spdlog::error("enrolment: {}", c.error().to_string());
        return false;
      }
      spdlog::info(
          "enrolled with {}: certificate for {} written to {}; the token is used up (remove "
          "enrol_token from the config)",
          address, config_.node, config_.tls.cert_file);
      return true;
    }
    spdlog::warn("enrolment with {} failed: {}", address, s.error_message());
    if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
        s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      backoff_ms = std::max<std::int64_t>(backoff_ms, 30000);  // needs the operator
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stopping_.load(); });
    backoff_ms = std::min(backoff_ms * 2, std::max<std::int64_t>(config_.reconnect_max_ms, 30000));
  }
  return false;
}

void AgentProcess::session_loop() {
  if (needs_enrolment() && !enrol()) return;
  std::size_t index = 0;
  std::int64_t backoff_ms = 0;
  std::optional<std::string> redirect;
  while (!stopping_) {
    std::string address;
    if (redirect && !redirect->empty()) {
      address = *redirect;
    } else {
      address = config_.managers[index % config_.managers.size()].to_string();
      ++index;
    }
    redirect.reset();
    const auto t0 = std::chrono::steady_clock::now();
    bool welcomed = false;
    redirect = run_session(address);
    {
      std::lock_guard lock(mu_);
      welcomed = !manager_.empty();
      manager_.clear();
      connected_ = false;
    }
    if (stopping_) break;
    if (redirect && !redirect->empty()) {
      // Told where the master is: go there at once (once; then back to the list).
      backoff_ms = 0;
      continue;
    }
    // A session that lasted resets the backoff; quick failures double it.
    const bool lasted = std::chrono::steady_clock::now() - t0 > std::chrono::seconds(10);
    if (welcomed && lasted) backoff_ms = 0;
    backoff_ms = backoff_ms == 0 ? config_.reconnect_min_ms
                                 : std::min(backoff_ms * 2, config_.reconnect_max_ms);
    if (index % config_.managers.size() != 0) {
      // The other manager next, without waiting the full backoff.
      backoff_ms = std::min(backoff_ms, config_.reconnect_min_ms);
    }
    const std::int64_t jitter =
        std::uniform_int_distribution<std::int64_t>(0, backoff_ms / 4)(rng());
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms + jitter),
                 [this] { return stopping_.load(); });
  }
}

std::optional<std::string> AgentProcess::run_session(const std::string& address) {
  auto creds = make_channel_credentials(config_.tls);
  if (!creds.ok()) {
    spdlog::error("tls: {}", creds.error().to_string());
    return std::nullopt;
  }
  auto args = make_channel_arguments(config_.tls);
  // A dead peer is found by TCP keepalive pings, not only by a reset.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(address, *creds, args);
  auto stub = duet::v1::Agent::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(false);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return std::nullopt;
    live_ctx_ = &ctx;
  }
  struct Clear {
    AgentProcess* self;
    ~Clear() {
      std::lock_guard lock(self->mu_);
      self->live_ctx_ = nullptr;
    }
  } clear{this};

  auto stream = stub->Session(&ctx);
  duet::v1::AgentMessage hello_msg;
  auto* hello = hello_msg.mutable_hello();
  hello->set_node(config_.node);
  hello->set_version(DUET_VERSION);
  hello->set_hostname(hostname());
  hello->set_outbox_identity(outbox_->identity());
  {
    std::lock_guard lock(outbox_mu_);
    if (auto st = outbox_->stats(); st.ok()) {
      hello->set_last_acked_seq(st->acked_up_to);
      hello->set_next_seq(st->next_seq);
      hello->set_outbox_pending(st->pending);
      hello->set_outbox_dropped(st->dropped);
    }
  }
  // The welcome must come soon; a manager that hangs is left for the other.
  std::mutex wd_mu;
  std::condition_variable wd_cv;
  bool wd_done = false;
  std::thread watchdog([&] {
    std::unique_lock lock(wd_mu);
    if (!wd_cv.wait_for(lock, kWelcomeTimeout, [&] { return wd_done; })) ctx.TryCancel();
  });
  auto disarm = [&] {
    {
      std::lock_guard lock(wd_mu);
      wd_done = true;
    }
    wd_cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
  };
  duet::v1::ManagerMessage first;
  const bool got = stream->Write(hello_msg) && stream->Read(&first);
  disarm();
  if (!got) {
    auto status = stream->Finish();
    const auto code = status.error_code();
    if (code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::INVALID_ARGUMENT ||
        code == grpc::StatusCode::UNAUTHENTICATED) {
      // The operator's to fix (a certificate for another node, a bad name).
      spdlog::error("manager {} refused this agent: {}", address, status.error_message());
    } else {
      spdlog::debug("manager {}: no session: {}", address, status.error_message());
    }
    return std::nullopt;
  }
  if (first.epoch() < max_epoch_) {
    spdlog::warn("manager {} speaks for epoch {}, below {} seen already: ignored", address,
                 first.epoch(), max_epoch_);
    ctx.TryCancel();
    stream->Finish();
    return std::nullopt;
  }
  if (first.has_not_master()) {
    ctx.TryCancel();
    stream->Finish();
    const auto& nm = first.not_master();
    spdlog::info("manager {}: not master{}", address,
                 nm.master_address().empty() ? std::string("; trying the other")
                                             : "; the master is " + nm.master_address());
    return nm.master_address() != address ? nm.master_address() : std::string();
  }
  if (!first.has_welcome()) {
    ctx.TryCancel();
    stream->Finish();
    return std::nullopt;
  }
  const auto& welcome = first.welcome();
  if (first.epoch() > max_epoch_) {
    std::lock_guard lock(outbox_mu_);
    (void)outbox_->set_position({kEpochKey, std::to_string(first.epoch())});
  }
  std::atomic<std::uint64_t> acked{welcome.acked_up_to()};
  std::uint64_t sent = welcome.acked_up_to();
  {
    std::lock_guard lock(outbox_mu_);
    auto st = outbox_->stats();
    if (st.ok() && st->acked_up_to > welcome.acked_up_to()) {
      spdlog::warn(
          "manager {} holds this agent's results only up to {}, but {} were acknowledged; "
          "results {}..{} are not in the outbox any more",
          address, welcome.acked_up_to(), st->acked_up_to, welcome.acked_up_to() + 1,
          st->acked_up_to);
      sent = st->acked_up_to;
      acked = sent;
    } else {
      (void)outbox_->ack(welcome.acked_up_to());
    }
  }
  apply_assignments(welcome.assignments(), true);
  {
    std::lock_guard lock(mu_);
    max_epoch_ = std::max(max_epoch_, first.epoch());
    connected_ = true;
    manager_ = welcome.manager().empty() ? address : welcome.manager();
    outgoing_.clear();  // answers meant for an earlier session
  }
  jobs_->on_connected();
  spdlog::info("connected to master {} ({}), epoch {}; it holds results up to {}", manager_,
               address, first.epoch(), welcome.acked_up_to());
  const std::uint32_t keepalive_ms = welcome.keepalive_ms() != 0 ? welcome.keepalive_ms() : 10000;

  std::atomic<bool> broken{false};
  std::optional<std::string> redirect;
  std::mutex redirect_mu;
  std::thread reader([&] {
    duet::v1::ManagerMessage m;
    while (stream->Read(&m)) {
      if (m.epoch() < max_epoch_) {
        spdlog::warn("manager {}: a message of epoch {} below {}: session ended", address,
                     m.epoch(), max_epoch_);
        break;
      }
      if (m.has_ack()) {
        const std::uint64_t up_to = m.ack().up_to_seq();
        {
          std::lock_guard lock(outbox_mu_);
          (void)outbox_->ack(up_to);
        }
        if (up_to > acked) acked = up_to;
        notify();
      } else if (m.has_assignments()) {
        apply_assignments(m.assignments(), true);
      } else if (m.has_job_start()) {
        jobs_->on_start(m.job_start());
      } else if (m.has_job_kill()) {
        jobs_->on_kill(m.job_kill());
      } else if (m.has_file_read()) {
        files_->on_read(m.file_read());
      } else if (m.has_file_chunk()) {
        jobs_->on_chunk(std::move(*m.mutable_file_chunk()));
      } else if (m.has_not_master()) {
        std::lock_guard lock(redirect_mu);
        redirect = m.not_master().master_address();
        break;
      }
    }
    broken = true;
    notify();
  });

  auto last_write = std::chrono::steady_clock::now();
  std::uint64_t seen_wake = 0;
  while (!stopping_ && !broken) {
    // Transfer pieces and requests first: small in number, and someone waits for each.
    for (;;) {
      std::optional<duet::v1::AgentMessage> next;
      {
        std::lock_guard lock(mu_);
        if (!outgoing_.empty()) {
          next = std::move(outgoing_.front());
          outgoing_.pop_front();
        }
      }
      if (!next) break;
      if (!stream->Write(*next)) {
        broken = true;
        break;
      }
      last_write = std::chrono::steady_clock::now();
    }
    if (broken) break;
    // Send what the window allows.
    std::vector<OutboxEntry> entries;
    if (sent - acked < kWindow) {
      std::lock_guard lock(outbox_mu_);
      auto p = outbox_->pending(sent, std::min(kReadChunk, kWindow - (sent - acked)));
      if (p.ok()) entries = std::move(*p);
    }
    for (const auto& e : entries) {
      duet::v1::AgentMessage msg;
      auto* r = msg.mutable_result();
      r->set_seq(e.seq);
      r->set_kind(e.kind);
      r->set_payload(e.payload);
      r->set_produced_at_ms(e.produced_at_ms);
      if (!stream->Write(msg)) {
        broken = true;
        break;
      }
      sent = e.seq;
      last_write = std::chrono::steady_clock::now();
    }
    if (broken) break;
    if (!entries.empty() && sent - acked < kWindow) continue;  // more may be waiting
    if (std::chrono::steady_clock::now() - last_write >= std::chrono::milliseconds(keepalive_ms)) {
      duet::v1::AgentMessage msg;
      {
        std::lock_guard lock(outbox_mu_);
        if (auto st = outbox_->stats(); st.ok()) {
          msg.mutable_stats()->set_outbox_pending(st->pending);
          msg.mutable_stats()->set_outbox_dropped(st->dropped);
        }
      }
      if (!msg.has_stats()) msg.mutable_stats();
      if (!stream->Write(msg)) break;
      last_write = std::chrono::steady_clock::now();
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(keepalive_ms / 2 + 1),
                 [&] { return wake_ != seen_wake || stopping_ || broken; });
    seen_wake = wake_;
  }
  ctx.TryCancel();
  reader.join();
  auto status = stream->Finish();
  if (!stopping_) {
    spdlog::warn("session with {} ended: {}", address,
                 status.ok() ? std::string("closed") : status.error_message());
  }
  std::lock_guard lock(redirect_mu);
  return redirect;
}

}  // namespace duet::agent
