#include "manager/event_intake.h"

#include <grpcpp/create_channel.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <random>

#include "common/errors.h"
#include "common/tls.h"
#include "intake/snmp_setup.h"

namespace duet::manager {
namespace {

constexpr std::size_t kMaxHeld = 200'000;  // standby receipts kept at most
constexpr std::size_t kMaxDigestsPerCall = 5000;
constexpr std::size_t kMaxContentBytesPerCall = 1 << 20;
// Events are read newest first (by id); receive times may be out of id order
// by the batching delay and the clock skew between the managers: a walk
// stops a minute past the time it looks for.
constexpr std::int64_t kListSlackMs = 60'000;
// Items queued for the strand at most (about 0.15 s of its work at ~30 us each).
constexpr std::size_t kMaxQueued = 4096;
constexpr const char* kNextIdKey = "next_event_id";
constexpr auto kForwardBusy = std::chrono::milliseconds(20);
constexpr auto kForwardIdle = std::chrono::milliseconds(200);

std::string cursor_key(const std::string& node) { return "peer." + node + ".cursor"; }
std::string incarnation_key(const std::string& node) { return "peer." + node + ".incarnation"; }

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
}

std::string text_of(const store::Row& row, const char* name) {
  const store::Value* v = store::find_field(row, name);
  if (v == nullptr) return {};
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  if (const auto* b = std::get_if<store::Blob>(v)) return b->bytes;
  return {};
}

std::int64_t int_of(const store::Row& row, const char* name) {
  const store::Value* v = store::find_field(row, name);
  if (v == nullptr) return 0;
  if (const auto* i = std::get_if<std::int64_t>(v)) return *i;
  return 0;
}

void fill_event(const store::Row& row, bool with_raw, duet::v1::Event* e) {
  e->set_id(static_cast<std::uint64_t>(int_of(row, "id")));
  e->set_received_at_ms(int_of(row, "received_at_ms"));
  e->set_node(text_of(row, "node"));
  e->set_source(text_of(row, "source"));
  e->set_source_port(static_cast<std::uint32_t>(int_of(row, "source_port")));
  e->set_protocol(text_of(row, "protocol"));
  e->set_scope(text_of(row, "scope"));
  e->set_priority(text_of(row, "priority"));
  e->set_rule(text_of(row, "rule"));
  e->set_message(text_of(row, "message"));
  e->set_fields_json(text_of(row, "fields"));
  if (with_raw) e->set_raw(text_of(row, "raw"));
  e->set_truncated(int_of(row, "truncated") != 0);
  e->set_epoch(static_cast<std::uint64_t>(int_of(row, "epoch")));
}

}  // namespace

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
          for (auto& r : batch) items.push_back(intake::syslog_item(std::move(r)));
          hand_over(std::move(items));
        });
    DUET_TRY(syslog_->start());
  }
  if (config_.receivers.snmp.udp) {
    DUET_ASSIGN_OR_RETURN(auto setup,
                          intake::snmp_receiver_setup(config_.receivers.snmp, config_.node.name));
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

void EventIntake::start_acting(std::uint64_t epoch) {
  epoch_ = epoch;
  acting_ = true;
  forget_decisions();
  auto row = store_.get("intake_state", std::string(kNextIdKey));
  if (row.ok() && *row) next_id_ = std::max<std::uint64_t>(next_id_, int_of(**row, "value"));
  if (auto s = promote(); !s.ok()) {
    spdlog::error("events: on promotion: {}", s.error().to_string());
  }
}

void EventIntake::stop_acting(bool handing_over) {
  // A planned hand-over commits what is pending first: this node is still
  // master in its epoch, and the standby takes over only once it has every
  // record. Otherwise (fenced, guard lost, disk failed) nothing more may be
  // written; the peer, which received the same messages, records them.
  if (handing_over) flush(/*force=*/true);
  acting_ = false;
  pending_.clear();
  forget_decisions();
}

void EventIntake::forget_decisions() {
  // Decisions taken in memory may refer to events that were never committed;
  // if this node acts again, it starts from what the store says (the
  // standby's undecided receipts are asked for again).
  dedup_ = intake::PairDedup(
      intake::PairDedup::Options{std::chrono::milliseconds(config_.events.window_ms),
                                 std::chrono::milliseconds(config_.events.grace_ms)});
  peer_incarnation_ = 0;
  peer_acked_ = 0;
  persisted_cursor_ = 0;
  awaiting_.clear();
}

Status EventIntake::promote() {
  expire_held();
  if (held_.empty()) return ok_status();
  // Events the old master recorded in the window: the held receipts they
  // account for are not emitted again.
  const std::int64_t since =
      to_unix_ms(clock_.wall_now()) - config_.events.window_ms - config_.ha.timeout_ms;
  intake::PromotionInput in;
  // Newest first; ids follow recording order, and receive times (two hosts'
  // clocks) are close to it: a minute past the window ends the walk.
  // Only the other node's events count: this node's own (it resumes acting
  // after a lapse, or restarted) did not come from the master it followed.
  auto scanned = store_.scan_newest_first("events", [&](const store::Row& row) {
    const std::int64_t at = int_of(row, "received_at_ms");
    if (at >= since && text_of(row, "node") != config_.node.name) {
      if (auto k = intake::key_from_hex(text_of(row, "dedup_key"))) in.events.push_back(*k);
    }
    return at >= since - kListSlackMs;
  });
  if (!scanned.ok()) {
    // Better twice than never: without the old master's events, every
    // undecided receipt is recorded.
    spdlog::error(
        "events: on promotion, cannot read the recent events ({}); recording every "
        "undecided receipt",
        scanned.error().to_string());
    in.events.clear();
  }
  // Receipts the old master decided are among its events; the rest are not.
  const std::uint64_t cursor = durable_cursor();
  for (const auto& h : held_) {
    if (h.seq <= cursor) {
      in.decided.push_back(h.item.key);
    } else {
      in.undecided.push_back({h.item.key, h.seq});
    }
  }
  const intake::PromotionPlan plan = intake::plan_promotion(in);
  const TimePoint now = clock_.now();
  for (const auto& k : plan.unmatched_events) dedup_.seed_peer_emitted(k, now);
  std::size_t next = 0;
  for (auto& h : held_) {
    if (h.seq <= cursor) continue;
    if (next < plan.emit.size() && plan.emit[next] == h.seq) {
      ++next;
      ++counters_[h.item.protocol].emitted;
      // Record it as the new master's own copy, so a late one of its peer matches.
      (void)dedup_.on_local(h.item.key, now);
      emit(std::move(h.item));
    } else {
      ++counters_[h.item.protocol].deduplicated;
    }
  }
  spdlog::info(
      "events: promoted: {} held receipts, {} decided by the old master, {} recorded "
      "now, {} already recorded",
      held_.size(), in.decided.size(), plan.emit.size(), in.undecided.size() - plan.emit.size());
  held_.clear();
  flush();
  return ok_status();
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
  const TimePoint now = clock_.now();
  if (master) dedup_.expire(now);
  for (auto& item : items) {
    Counters& c = counters_[item.protocol];
    if (item.parsed) {
      ++c.parsed;
    } else {
      ++c.malformed;
    }
    if (!master) {
      held_.push_back(Held{now, ++held_seq_, std::move(item)});
      continue;
    }
    if (dedup_.on_local(item.key, now) == intake::PairDedup::Verdict::kDuplicate) {
      ++c.deduplicated;
      continue;
    }
    ++c.emitted;
    emit(std::move(item));
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

void EventIntake::emit(intake::IntakeItem item) {
  std::vector<std::string_view> scopes = {"unregistered"};
  const intake::RuleDecision d =
      rules_.evaluate(intake::EventView{item.receipt.source, scopes, &item.fields, item.message});
  if (!d.keep) {
    ++counters_[item.protocol].discarded;
    return;
  }
  pending_.push_back(
      store::Row{{"id", static_cast<std::int64_t>(next_id_++)},
                 {"received_at_ms", item.receipt.received_ms},
                 {"node", config_.node.name},
                 {"source", item.receipt.source},
                 {"source_port", static_cast<std::int64_t>(item.receipt.source_port)},
                 {"protocol", item.protocol},
                 {"scope", std::string("unregistered")},
                 {"priority", std::string(intake::priority_name(d.priority))},
                 {"rule", d.rule},
                 {"message", std::move(item.message)},
                 {"fields", std::move(item.fields_json)},
                 {"raw", store::Blob{std::move(item.receipt.raw)}},
                 {"truncated", static_cast<std::int64_t>(item.receipt.truncated ? 1 : 0)},
                 {"dedup_key", intake::key_hex(item.key)},
                 {"epoch", static_cast<std::int64_t>(epoch_)}});
}

void EventIntake::schedule_flush() {
  if (flush_timer_ || stopped_) return;
  flush_timer_ =
      clock_.call_after(std::chrono::milliseconds(config_.events.batch_delay_ms), [this] {
        flush_timer_.reset();
        flush();
      });
}

void EventIntake::flush(bool force) {
  dedup_.expire(clock_.now());
  if (pending_.empty()) return;
  if (!acting_) {
    pending_.clear();
    return;
  }
  if (!force && !may_act_()) {
    // A moment without the right to act (the runner re-checks each tick):
    // keep the events and try again. stop_acting() decides their fate.
    schedule_flush();
    return;
  }
  auto rows = std::make_shared<std::vector<store::Row>>(std::move(pending_));
  pending_.clear();
  store::WriteBatch batch;
  for (const auto& r : *rows) batch.put("events", r);
  batch.put("intake_state", store::Row{{"key", std::string(kNextIdKey)},
                                       {"value", static_cast<std::int64_t>(next_id_)}});
  if (config_.peer && peer_incarnation_ != 0) {
    // Persisted with the events the decisions refer to (same transaction).
    persisted_cursor_ = dedup_.peer_cursor();
    batch.put("intake_state", store::Row{{"key", incarnation_key(config_.peer->name)},
                                         {"value", static_cast<std::int64_t>(peer_incarnation_)}});
    batch.put("intake_state", store::Row{{"key", cursor_key(config_.peer->name)},
                                         {"value", static_cast<std::int64_t>(persisted_cursor_)}});
  }
  ++in_flight_;
  commit_(batch, [this, rows](Result<ha::Runner::Committed> r) {
    --in_flight_;
    if (r.ok()) return;
    ++store_failures_;
    spdlog::error("events: a batch of {} events was not committed: {}", rows->size(),
                  r.error().to_string());
    if (acting_ && !stopped_ && may_act_()) {
      // Retried with the next batch; the ids stay as they were.
      pending_.insert(pending_.begin(), rows->begin(), rows->end());
      schedule_flush();
    }
  });
}

void EventIntake::expire_held() {
  // Decided receipts stay for the window (a promotion matches them with the
  // old master's events); undecided ones until the master decides them.
  const TimePoint cutoff = clock_.now() - std::chrono::milliseconds(config_.events.window_ms);
  while (!held_.empty() && held_.front().at < cutoff && held_.front().seq <= durable_cursor_) {
    held_.pop_front();
  }
  while (held_.size() > kMaxHeld) {
    held_.pop_front();
    ++expired_;
  }
}

Result<duet::v1::ListEventsResponse> EventIntake::list(
    const duet::v1::ListEventsRequest& req) const {
  duet::v1::ListEventsResponse resp;
  resp.set_node(config_.node.name);
  const std::size_t limit = req.limit() == 0 ? 100 : req.limit();
  std::size_t found = 0;
  DUET_TRY(store_.scan_newest_first("events", [&](const store::Row& row) {
    const std::int64_t at = int_of(row, "received_at_ms");
    if (req.has_since_ms() && at < req.since_ms()) return at >= req.since_ms() - kListSlackMs;
    if (!req.source().empty() && text_of(row, "source") != req.source()) return true;
    if (!req.priority().empty() && text_of(row, "priority") != req.priority()) return true;
    fill_event(row, req.with_raw(), resp.add_events());
    return ++found < limit;
  }));
  return resp;
}

Result<duet::v1::CountEventsResponse> EventIntake::count() const {
  duet::v1::CountEventsResponse resp;
  resp.set_node(config_.node.name);
  std::uint64_t total = 0;
  DUET_TRY(store_.scan("events", [&](const store::Row& row) {
    ++total;
    ++(*resp.mutable_by_priority())[text_of(row, "priority")];
    ++(*resp.mutable_by_protocol())[text_of(row, "protocol")];
    return true;
  }));
  resp.set_total(total);
  return resp;
}

duet::v1::IntakeCountersResponse EventIntake::counters(const std::string& role) const {
  duet::v1::IntakeCountersResponse resp;
  resp.set_node(config_.node.name);
  resp.set_role(role);
  resp.set_held(held_.size());
  resp.set_expired(expired_);
  resp.set_store_failures(store_failures_);
  for (auto t : {intake::Transport::kSyslogUdp, intake::Transport::kSyslogTcp,
                 intake::Transport::kSyslogTls}) {
    const std::string name = intake::transport_name(t);
    const bool configured = (t == intake::Transport::kSyslogUdp && config_.receivers.syslog.udp) ||
                            (t == intake::Transport::kSyslogTcp && config_.receivers.syslog.tcp) ||
                            (t == intake::Transport::kSyslogTls && config_.receivers.syslog.tls);
    if (!configured) continue;
    auto* p = resp.add_protocols();
    p->set_protocol(name);
    if (syslog_) {
      const auto& rc = syslog_->counters(t);
      p->set_received(rc.received.load(std::memory_order_relaxed));
      p->set_truncated(rc.truncated.load(std::memory_order_relaxed));
      p->set_kernel_drops(rc.kernel_drops.load(std::memory_order_relaxed));
      p->set_malformed(rc.malformed.load(std::memory_order_relaxed));
    }
    if (auto it = counters_.find(name); it != counters_.end()) {
      p->set_parsed(it->second.parsed);
      p->set_malformed(p->malformed() + it->second.malformed);
      p->set_deduplicated(it->second.deduplicated);
      p->set_emitted(it->second.emitted);
      p->set_discarded(it->second.discarded);
    }
  }
  if (snmp_) {
    const auto& rc = snmp_->counters();
    auto* p = resp.add_protocols();
    p->set_protocol("snmp");
    auto get = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    p->set_received(get(rc.received));
    p->set_parsed(get(rc.delivered));
    p->set_truncated(get(rc.truncated));
    p->set_kernel_drops(get(rc.kernel_drops));
    const std::pair<const char*, const std::atomic<std::uint64_t>*> details[] = {
        {"malformed", &rc.malformed},
        {"unsupported", &rc.unsupported},
        {"unknown_community", &rc.unknown_community},
        {"unknown_user", &rc.unknown_user},
        {"unknown_engine_id", &rc.unknown_engine_id},
        {"wrong_digest", &rc.wrong_digest},
        {"decryption_error", &rc.decryption_error},
        {"not_in_time_window", &rc.not_in_time_window},
        {"unsupported_security_level", &rc.unsupported_security_level},
        {"crypto", &rc.crypto},
        {"not_notification", &rc.not_notification},
        {"informs", &rc.informs},
        {"retransmissions", &rc.retransmissions},
        {"discovery", &rc.discovery},
        {"responses_sent", &rc.responses_sent},
        {"reports_sent", &rc.reports_sent},
        {"send_errors", &rc.send_errors}};
    for (const auto& [name, value] : details) (*p->mutable_details())[name] = get(*value);
    std::uint64_t refused = 0;
    for (const char* name : {"malformed", "unsupported", "unknown_community", "unknown_user",
                             "unknown_engine_id", "wrong_digest", "decryption_error",
                             "not_in_time_window", "unsupported_security_level", "crypto"}) {
      refused += p->details().at(name);
    }
    p->set_malformed(refused);
    // Master-side outcomes are kept per SNMP version; the receiver is one.
    for (const auto& [name, c] : counters_) {
      if (name.rfind("snmp/", 0) != 0) continue;
      p->set_deduplicated(p->deduplicated() + c.deduplicated);
      p->set_emitted(p->emitted() + c.emitted);
      p->set_discarded(p->discarded() + c.discarded);
    }
  }
  return resp;
}

std::uint64_t EventIntake::durable_cursor() const {
  auto inc = store_.get("intake_state", incarnation_key(config_.node.name));
  auto cur = store_.get("intake_state", cursor_key(config_.node.name));
  if (!inc.ok() || !cur.ok() || !*inc || !*cur) return 0;
  if (static_cast<std::uint64_t>(int_of(**inc, "value")) != incarnation_) return 0;
  return static_cast<std::uint64_t>(int_of(**cur, "value"));
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
  durable_cursor_ = durable_cursor();
  expire_held();
  duet::v1::ForwardRequest req;
  req.set_node(config_.node.name);
  req.set_incarnation(incarnation_);
  // Held receipts are in seq order: a binary search finds the first to send.
  auto by_seq = [](const Held& h, std::uint64_t seq) { return h.seq < seq; };
  for (auto it = std::lower_bound(held_.begin(), held_.end(), forwarded_acked_ + 1, by_seq);
       it != held_.end() && req.digests_size() < static_cast<int>(kMaxDigestsPerCall); ++it) {
    auto* d = req.add_digests();
    d->set_seq(it->seq);
    d->set_key(
        std::string(reinterpret_cast<const char*>(it->item.key.data()), it->item.key.size()));
  }
  // At most about 1 MiB of contents per call; the rest follow in the next.
  std::size_t content_bytes = 0;
  for (std::uint64_t seq : wanted_) {
    if (content_bytes >= kMaxContentBytesPerCall) break;
    auto it = std::lower_bound(held_.begin(), held_.end(), seq, by_seq);
    if (it == held_.end() || it->seq != seq) continue;
    fill_content(seq, it->item, req.add_contents());
    content_bytes +=
        it->item.receipt.raw.size() + it->item.message.size() + it->item.fields_json.size() + 64;
  }
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
  dedup_.expire(clock_.now());
  if (!config_.peer || req.node() != config_.peer->name) {
    return make_error(CommonErrc::kInvalidArgument,
                      "receipts from '" + req.node() + "', which is not this node's peer");
  }
  const TimePoint now = clock_.now();
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
    dedup_.reset_peer(from);
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
    ++counters_[item.protocol].emitted;
    ++peer_emitted_;
    emit(std::move(item));
    dedup_.on_peer_content(c.seq());
  }
  for (const auto& d : req.digests()) {
    if (d.seq() <= peer_acked_) continue;  // a resend
    intake::DedupKey key{};
    if (d.key().size() != key.size()) continue;
    std::memcpy(key.data(), d.key().data(), key.size());
    dedup_.on_peer_digest(key, d.seq(), now);
    peer_acked_ = d.seq();
  }
  for (std::uint64_t seq : dedup_.take_due(now)) awaiting_.insert(seq);
  duet::v1::ForwardResponse resp;
  resp.set_acked_seq(peer_acked_);
  for (std::uint64_t seq : awaiting_) resp.add_wanted(seq);
  resp.set_cursor(dedup_.peer_cursor());
  if (!pending_.empty()) {
    schedule_flush();  // the cursor goes with those events
  } else if (resp.cursor() != persisted_cursor_) {
    // Decisions without new events (matches) still move the cursor.
    persisted_cursor_ = resp.cursor();
    store::WriteBatch batch;
    batch.put("intake_state", store::Row{{"key", incarnation_key(config_.peer->name)},
                                         {"value", static_cast<std::int64_t>(peer_incarnation_)}});
    batch.put("intake_state", store::Row{{"key", cursor_key(config_.peer->name)},
                                         {"value", static_cast<std::int64_t>(persisted_cursor_)}});
    commit_(batch, [](Result<ha::Runner::Committed>) {});
  }
  return resp;
}

}  // namespace duet::manager
