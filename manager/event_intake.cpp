#include "manager/event_intake.h"

#include <grpcpp/create_channel.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <filesystem>
#include <random>

#include "common/errors.h"
#include "common/tls.h"
#include "intake/snmp_setup.h"
#include "manager/event_intake_internal.h"
#include "manager/job_runner.h"
#include "repository/store_rows.h"

namespace duet::manager {

using namespace intake_internal;

Result<std::unique_ptr<EventIntake>> EventIntake::create(boost::asio::any_io_executor strand,
                                                         Clock& clock, const ManagerConfig& config,
                                                         store::Store& store, MayAct may_act,
                                                         Commit commit) {
  std::vector<intake::RuleSpec> specs;
  for (const auto& r : config.events.rules) {
    intake::RuleSpec s;
    s.name = r.name;
    s.sources = r.sources;
    s.scopes = r.scopes;
    for (const auto& [k, v] : r.fields) s.fields[k] = v;
    s.message = r.message;
    s.priority = intake::parse_priority(r.priority).value_or(intake::Priority::kUnknown);
    s.keep = r.keep;
    specs.push_back(std::move(s));
  }
  intake::RuleDecision fallback;
  fallback.priority =
      intake::parse_priority(config.events.default_priority).value_or(intake::Priority::kUnknown);
  fallback.keep = config.events.default_keep;
  DUET_ASSIGN_OR_RETURN(intake::RuleSet rules, intake::compile_rules(specs, fallback));
  return std::unique_ptr<EventIntake>(new EventIntake(std::move(strand), clock, config, store,
                                                      std::move(may_act), std::move(commit),
                                                      std::move(rules)));
}

EventIntake::EventIntake(boost::asio::any_io_executor strand, Clock& clock,
                         const ManagerConfig& config, store::Store& store, MayAct may_act,
                         Commit commit, intake::RuleSet rules)
    : strand_(std::move(strand)),
      clock_(clock),
      config_(config),
      store_(store),
      events_table_(store.schema().table("events")),
      may_act_(std::move(may_act)),
      commit_(std::move(commit)),
      rules_(std::move(rules)),
      dedup_(intake::PairDedup::Options{std::chrono::milliseconds(config.events.window_ms),
                                        std::chrono::milliseconds(config.events.grace_ms)}),
      incarnation_((std::uint64_t{std::random_device{}()} << 32 | std::random_device{}()) | 1) {}

EventIntake::~EventIntake() {
  if (intake_thread_.joinable()) {
    intake_io_.stop();
    intake_thread_.join();
  }
}

Status EventIntake::start() {
  const auto& sc = config_.receivers.syslog;
  if (config_.receivers.any_syslog()) {
    intake::SyslogReceiverOptions o;
    std::string why;
    if (sc.udp) o.udp = parse_host_port(*sc.udp, &why);
    if (sc.tcp) o.tcp = parse_host_port(*sc.tcp, &why);
    if (sc.tls) o.tls = parse_host_port(*sc.tls, &why);
    o.max_message_bytes = static_cast<std::size_t>(sc.max_message_bytes);
    o.udp_receive_buffer_bytes = static_cast<int>(sc.udp_receive_buffer_bytes);
    o.udp_coalesce = std::chrono::microseconds(sc.udp_coalesce_us);
    o.max_connections = static_cast<std::size_t>(sc.max_connections);
    o.idle_timeout = std::chrono::seconds(sc.idle_timeout_s);
    o.tls_ca_file = config_.tls.ca_file;
    o.tls_cert_file = sc.tls_cert.empty() ? config_.tls.cert_file : sc.tls_cert;
    o.tls_key_file = sc.tls_key.empty() ? config_.tls.key_file : sc.tls_key;
    o.tls_client_auth =
        sc.tls_client_auth == "require"    ? intake::SyslogReceiverOptions::ClientAuth::kRequire
        : sc.tls_client_auth == "optional" ? intake::SyslogReceiverOptions::ClientAuth::kOptional
                                           : intake::SyslogReceiverOptions::ClientAuth::kNone;
    if (sc.tls && (o.tls_cert_file.empty() || o.tls_key_file.empty())) {
      return make_error(CommonErrc::kInvalidConfig,
                        "receivers.syslog.tls needs a certificate: give tls_cert and tls_key "
                        "(the manager runs with tls: insecure)");
    }
    // Parsing happens here, on the intake thread; the strand gets parsed items.
    syslog_ = std::make_unique<intake::SyslogReceivers>(
        intake_io_.get_executor(), clock_, o, [this](std::vector<intake::Receipt>&& batch) {
          std::vector<intake::IntakeItem> items;
          items.reserve(batch.size());
          // A standby only holds its receipts; it details one if it ever records it.
          const auto detail = detail_on_intake_.load(std::memory_order_relaxed)
                                  ? intake::Detail::kRules
                                  : intake::Detail::kKey;
          for (auto& r : batch) {
            items.push_back(intake::syslog_item(std::move(r), detail, &rules_.field_names()));
          }
          hand_over(std::move(items));
        });
    DUET_TRY(syslog_->start());
  }
  if (config_.receivers.snmp.udp) {
    DUET_ASSIGN_OR_RETURN(auto setup,
                          intake::snmp_receiver_setup(config_.receivers.snmp, config_.node.name));
    std::string boots_file = config_.receivers.snmp.boots_file;
    if (boots_file.empty() && config_.store.backend == StoreConfig::Backend::kSqlite) {
      // Named after the database, so two managers whose databases share a
      // directory (a demo, a test) never share a count. A store from before
      // this name continues from the count kept under the older one.
      boots_file = config_.store.sqlite_path + ".snmp-engine-boots";
      const auto legacy =
          std::filesystem::path(config_.store.sqlite_path).parent_path() / "snmp-engine-boots";
      std::error_code ec;
      if (!std::filesystem::exists(boots_file, ec) && std::filesystem::exists(legacy, ec)) {
        std::filesystem::copy_file(legacy, boots_file, ec);
      }
    }
    if (!boots_file.empty()) {
      DUET_ASSIGN_OR_RETURN(setup.options.engine_boots, intake::next_engine_boots(boots_file));
    }
    snmp_ = std::make_unique<intake::SnmpReceiver>(
        intake_io_.get_executor(), clock_, std::move(setup.options), std::move(setup.credentials),
        [this](std::vector<intake::IntakeItem>&& items) { hand_over(std::move(items)); });
    DUET_TRY(snmp_->start());
  }
  if (config_.peer) {
    TlsConfig tls = config_.tls;
    tls.server_name.clear();
    DUET_ASSIGN_OR_RETURN(auto creds, make_channel_credentials(tls));
    peer_stub_ = duet::v1::IntakePeer::NewStub(grpc::CreateCustomChannel(
        config_.peer->address.to_string(), creds, make_channel_arguments(tls)));
    forward_timer_ = clock_.call_after(kForwardIdle, [this] {
      forward_timer_.reset();
      forward_tick();
    });
  }
  intake_thread_ = std::thread([this] {
    auto work = boost::asio::make_work_guard(intake_io_);
    intake_io_.run();
  });
  return ok_status();
}

void EventIntake::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (flush_timer_) clock_.cancel(*flush_timer_);
  if (forward_timer_) clock_.cancel(*forward_timer_);
  {
    // Wake a waiting intake thread, cancel the forwarding call in flight and
    // wait for its callback, which must not outlive this object.
    std::unique_lock lock(queue_mu_);
    closing_ = true;
    if (forward_ctx_) forward_ctx_->TryCancel();
    queue_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return !forward_ctx_; });
  }
  queue_cv_.notify_all();
  if (syslog_) {
    boost::asio::post(intake_io_, [this] { syslog_->stop(); });
  }
  if (snmp_) {
    boost::asio::post(intake_io_, [this] { snmp_->stop(); });
  }
  boost::asio::post(intake_io_, [this] { intake_io_.stop(); });
  if (intake_thread_.joinable()) intake_thread_.join();
  syslog_.reset();
  snmp_.reset();
  flush();  // what is pending still goes to the store (its commit may fail: counted)
}

void EventIntake::reload_repository() {
  auto state = repository::load_state(store_);
  if (!state.ok()) {
    // The last good view stays (or none: every sender unregistered).
    spdlog::error("events: cannot read the repository: {}", state.error().to_string());
    return;
  }
  resolver_ = std::make_unique<repository::Resolver>(*state);
  placed_.clear();
}

const EventIntake::Placed& EventIntake::place(const std::string& source) {
  auto it = placed_.find(source);
  if (it != placed_.end()) return it->second;
  // Bounded: a sweep of many senders starts the cache again.
  constexpr std::size_t kMaxPlaced = 65536;
  if (placed_.size() >= kMaxPlaced) placed_.clear();
  Placed p;
  if (resolver_) {
    p.where = resolver_->resolve(source);
  } else {
    p.where.scopes = p.where.enclosing = {"unregistered"};
  }
  p.scope_list = join_names(p.where.scopes);
  p.host_list = join_names(p.where.nodes);
  return placed_.emplace(source, std::move(p)).first->second;
}

void EventIntake::start_acting(std::uint64_t epoch) {
  epoch_ = epoch;
  acting_ = true;
  detail_on_intake_.store(true, std::memory_order_relaxed);
  reload_repository();
  forget_decisions();
  auto row = store_.get("intake_state", std::string(kNextIdKey));
  if (row.ok() && *row) next_id_ = std::max<std::uint64_t>(next_id_, int_of(**row, "value"));
  load_counts();
  if (auto s = rebuild(); !s.ok()) {
    spdlog::error("events: on taking over: {}", s.error().to_string());
  }
}

void EventIntake::stop_acting(bool handing_over) {
  // A planned hand-over commits what is pending first: this node is still
  // master in its epoch, and the standby takes over only once it has every
  // record. Otherwise (fenced, guard lost, disk failed) nothing more may be
  // written; the peer, which received the same messages, records them.
  if (handing_over) flush(/*force=*/true);
  acting_ = false;
  detail_on_intake_.store(false, std::memory_order_relaxed);
  pending_.clear();
  pending_occ_.clear();
  forget_decisions();
}

void EventIntake::forget_decisions() {
  // Decisions taken in memory may refer to events that were never committed;
  // if this node acts again, it starts from what the store says (rebuild).
  dedup_ = intake::PairDedup(dedup_options());
  peer_incarnation_ = 0;
  peer_acked_ = 0;
  persisted_cursor_ = 0;
  awaiting_.clear();
  pending_pairs_.clear();
}

intake::PairDedup::Options EventIntake::dedup_options() const {
  intake::PairDedup::Options o;
  o.window = std::chrono::milliseconds(config_.events.window_ms);
  o.grace = std::chrono::milliseconds(config_.events.grace_ms);
  return o;
}

void EventIntake::hand_over(std::vector<intake::IntakeItem> items) {
  // Flow control: the strand also runs the heartbeats and the replication of
  // the pair. Never queue more than kMaxQueued items ahead of them; the
  // intake thread waits here instead, so UDP waits in the kernel's buffer
  // (drops there are counted) and TCP senders are slowed down.
  const std::size_t n = items.size();
  {
    std::unique_lock lock(queue_mu_);
    queue_cv_.wait(lock, [this] { return queued_ < kMaxQueued || closing_; });
    if (closing_) return;
    queued_ += n;
  }
  boost::asio::post(strand_, [this, items = std::move(items)]() mutable {
    const std::size_t done = items.size();
    on_items(std::move(items));
    {
      std::lock_guard lock(queue_mu_);
      queued_ -= done;
    }
    queue_cv_.notify_one();
  });
}

void EventIntake::on_items(std::vector<intake::IntakeItem> items) {
  if (stopped_) return;
  // By role, not by the moment's right to act: a master that lapses for a
  // tick keeps deciding (flush() waits to commit), so nothing is left held.
  const bool master = acting_;
  if (master) dedup_.expire(to_unix_ms(clock_.wall_now()));
  const TimePoint now = clock_.now();
  for (auto& item : items) {
    Counters& c = counters_[item.protocol];
    if (item.parsed) {
      ++c.parsed;
    } else {
      ++c.malformed;
    }
    if (!master) {
      held_bytes_ += held_bytes(item);
      held_.push_back(Held{now, ++held_seq_, std::move(item)});
      continue;
    }
    const std::uint64_t id = next_id_;
    // Without a peer there is no other copy to pair with: nothing to track.
    if (config_.peer && dedup_.on_local(item.key, item.receipt.received_ms, id) ==
                            intake::PairDedup::Verdict::kDuplicate) {
      ++c.deduplicated;
      continue;
    }
    ++next_id_;
    ++c.emitted;
    emit(std::move(item), id, config_.node.name);
  }
  if (!master) {
    expire_held();
    return;
  }
  if (pending_.size() >= static_cast<std::size_t>(config_.events.batch_max)) {
    flush();
  } else if (!pending_.empty()) {
    schedule_flush();
  }
}

void EventIntake::emit(intake::IntakeItem item, std::uint64_t id, const std::string& node) {
  // A receipt held as standby, or parsed before this node acted.
  intake::detail(item, &rules_.field_names());
  // The repository node(s) with the sender's address and their scopes; an
  // unknown sender is "unregistered" (and kept). Rules on a scope match its
  // sub-scopes' nodes too.
  const Placed& placed = place(item.receipt.source);
  const repository::Resolution& where = placed.where;
  std::vector<std::string_view> scopes(where.enclosing.begin(), where.enclosing.end());
  for (const auto& n : where.nodes) scopes.emplace_back(n);
  const intake::RuleDecision d =
      rules_.evaluate(intake::EventView{item.receipt.source, scopes, &item.fields, item.message});
  if (!d.keep) {
    ++counters_[item.protocol].discarded;
    return;
  }
  // In the table's column order: the store writes such a row without a
  // copy. Built field by field: an initializer list would copy every value.
  // A syslog event's message and fields are what parsing its raw bytes
  // gives, so they are not stored (empty; the queries parse raw again):
  // about half of an event's bytes, written, journaled and shipped.
  const bool derived = item.protocol.rfind("syslog/", 0) == 0;
  Notifier* notifier = notifier_ ? notifier_() : nullptr;
  JobRunner* jobs = jobs_ ? jobs_() : nullptr;
  const bool notifying = notifier != nullptr && notifier->active();
  const bool triggering = jobs != nullptr && jobs->wants_events();
  if (notifying || triggering) {
    notify::Occurrence o;
    o.node = where.nodes.empty() ? std::string() : where.nodes.front();
    o.monitor = derived ? "syslog" : "snmp";
    o.scopes = where.enclosing;
    o.priority = d.priority;
    o.message = item.message;
    o.sub_key = d.rule;
    o.at_ms = item.receipt.received_ms;
    o.event_id = id;
    if ((notifying && notifier->wanted(o)) || (triggering && jobs->wants_event(o))) {
      o.vars = {{"source", item.receipt.source},
                {"protocol", item.protocol},
                {"rule", d.rule},
                {"fields", item.fields_json}};
      pending_occ_.push_back(std::move(o));
    }
  }
  store::Row& row = pending_.emplace_back();
  row.reserve(events_table_ != nullptr ? events_table_->columns.size() : 16);
  auto put = [&row](const char* name, store::Value v) {
    row.push_back(store::Field{name, std::move(v)});
  };
  put("id", static_cast<std::int64_t>(id));
  put("received_at_ms", item.receipt.received_ms);
  put("node", node);
  put("source", std::move(item.receipt.source));
  put("source_port", static_cast<std::int64_t>(item.receipt.source_port));
  put("protocol", std::move(item.protocol));
  put("scope", placed.scope_list);
  put("priority", std::string(intake::priority_name(d.priority)));
  put("rule", d.rule);
  put("message", derived ? std::string() : std::move(item.message));
  put("fields", derived ? std::string() : std::move(item.fields_json));
  put("raw", store::Blob{std::move(item.receipt.raw)});
  put("truncated", static_cast<std::int64_t>(item.receipt.truncated ? 1 : 0));
  put("dedup_key", intake::key_hex(item.key));
  put("epoch", static_cast<std::int64_t>(epoch_));
  put("host", placed.host_list);
  if (events_table_ != nullptr) events_table_->fill_nulls(row);
}

void EventIntake::schedule_flush() {
  if (flush_timer_ || stopped_) return;
  flush_timer_ =
      clock_.call_after(std::chrono::milliseconds(config_.events.batch_delay_ms), [this] {
        flush_timer_.reset();
        flush();
      });
}

void EventIntake::expire_held() {
  // Decided receipts go at once: a promotion skips them (the old master's
  // events and pairs, in this node's store, account for them). Undecided
  // ones stay until the master decides them, or the limits drop the oldest
  // (counted).
  auto drop_front = [this] {
    held_bytes_ -= std::min(held_bytes_, held_bytes(held_.front().item));
    held_.pop_front();
  };
  while (!held_.empty() && held_.front().seq <= durable_cursor_) drop_front();
  while (!held_.empty() && (held_.size() > kMaxHeld || held_bytes_ > kMaxHeldBytes)) {
    if (held_.front().seq > durable_cursor_) ++expired_;
    drop_front();
  }
}

std::uint64_t EventIntake::durable_cursor() const {
  auto inc = store_.get("intake_state", incarnation_key(config_.node.name));
  auto cur = store_.get("intake_state", cursor_key(config_.node.name));
  if (!inc.ok() || !cur.ok() || !*inc || !*cur) return 0;
  if (static_cast<std::uint64_t>(int_of(**inc, "value")) != incarnation_) return 0;
  return static_cast<std::uint64_t>(int_of(**cur, "value"));
}

}  // namespace duet::manager
