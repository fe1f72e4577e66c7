#include "manager/event_intake.h"

#include <grpcpp/create_channel.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <filesystem>
#include <random>
#include <unordered_set>

#include "common/errors.h"
#include "common/tls.h"
#include "intake/snmp_setup.h"
#include "manager/event_intake_internal.h"
#include "repository/store_rows.h"

namespace duet::manager {

using namespace intake_internal;

namespace intake_internal {

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

namespace {
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
bool get_varint(const std::string& in, std::size_t& pos, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    const auto byte = static_cast<std::uint8_t>(in[pos++]);
    v |= std::uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}
}  // namespace

std::string encode_pairs(const std::vector<intake::ReceiptPair>& pairs) {
  std::string out;
  out.reserve(pairs.size() * 6);
  for (const auto& p : pairs) {
    put_varint(out, p.event_id);
    put_varint(out, p.seq);
  }
  return out;
}

std::vector<intake::ReceiptPair> decode_pairs(const std::string& blob) {
  std::vector<intake::ReceiptPair> out;
  std::size_t pos = 0;
  while (pos < blob.size()) {
    intake::ReceiptPair p;
    if (!get_varint(blob, pos, p.event_id) || !get_varint(blob, pos, p.seq)) break;
    out.push_back(p);
  }
  return out;
}

void count_event(const store::Row& row, std::int64_t by,
                 std::map<std::string, std::int64_t>& counts) {
  counts["total"] += by;
  counts["priority." + text_of(row, "priority")] += by;
  counts["protocol." + text_of(row, "protocol")] += by;
}

std::map<std::string, std::int64_t> count_events(store::Store& store) {
  std::map<std::string, std::int64_t> counts{{"total", 0}};
  (void)store.scan("events", [&](const store::Row& row) {
    count_event(row, 1, counts);
    return true;
  });
  return counts;
}

std::size_t held_bytes(const intake::IntakeItem& item) {
  std::size_t n = sizeof(item) + item.receipt.raw.size() + item.receipt.source.size() +
                  item.message.size() + item.fields_json.size() + item.protocol.size();
  for (const auto& [k, v] : item.fields) n += k.size() + v.size() + 64;
  return n;
}

}  // namespace intake_internal

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
    std::string boots_file = config_.receivers.snmp.boots_file;
    if (boots_file.empty() && config_.store.backend == StoreConfig::Backend::kSqlite) {
      boots_file =
          (std::filesystem::path(config_.store.sqlite_path).parent_path() / "snmp-engine-boots")
              .string();
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
}

void EventIntake::start_acting(std::uint64_t epoch) {
  epoch_ = epoch;
  acting_ = true;
  reload_repository();
  forget_decisions();
  auto row = store_.get("intake_state", std::string(kNextIdKey));
  if (row.ok() && *row) next_id_ = std::max<std::uint64_t>(next_id_, int_of(**row, "value"));
  load_counts();
  if (auto s = rebuild(); !s.ok()) {
    spdlog::error("events: on taking over: {}", s.error().to_string());
  }
}

std::int64_t EventIntake::rebuild_horizon_ms(std::int64_t now_ms) const {
  // The window (and a failover) at least; as far back as the oldest receipt
  // this node held (as standby, or while it did not act) plus the window:
  // copies from then may still pair. At most as long as unpaired copies are
  // kept.
  const std::int64_t window = config_.events.window_ms;
  std::int64_t h = window + config_.ha.timeout_ms;
  if (!held_.empty()) h = std::max(h, now_ms - held_.front().item.receipt.received_ms + window);
  const std::int64_t cap =
      std::chrono::duration_cast<std::chrono::milliseconds>(dedup_options().max_hold).count() +
      window;
  return std::min(h, cap);
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
  // if this node acts again, it starts from what the store says (rebuild).
  dedup_ = intake::PairDedup(dedup_options());
  peer_incarnation_ = 0;
  peer_acked_ = 0;
  persisted_cursor_ = 0;
  awaiting_.clear();
  pending_pairs_.clear();
}

void EventIntake::load_counts() {
  counts_.clear();
  counts_dirty_.clear();
  (void)store_.scan("intake_state", [&](const store::Row& row) {
    const std::string key = text_of(row, "key");
    if (key.rfind(kCountPrefix, 0) == 0) {
      counts_[key.substr(std::strlen(kCountPrefix))] = int_of(row, "value");
    }
    return true;
  });
  if (counts_.count("total") == 0) {
    // A store from before the counts were kept: count once, write them with the next batch.
    counts_ = count_events(store_);
    if (counts_["total"] > 0) {
      for (const auto& [k, v] : counts_) counts_dirty_.insert(k);
      spdlog::info("events: counted {} existing events", counts_["total"]);
    }
  }
}

intake::PairDedup::Options EventIntake::dedup_options() const {
  intake::PairDedup::Options o;
  o.window = std::chrono::milliseconds(config_.events.window_ms);
  o.grace = std::chrono::milliseconds(config_.events.grace_ms);
  return o;
}

std::set<std::uint64_t> EventIntake::decided_receipts(const std::string& node,
                                                      std::uint64_t incarnation,
                                                      std::uint64_t above) const {
  // Newest first: receipt numbers grow with time, so the walk stops at the
  // first row of that incarnation whose receipts are all at or below `above`.
  std::set<std::uint64_t> seqs;
  auto scanned = store_.scan_newest_first("event_pairs", [&](const store::Row& row) {
    if (text_of(row, "node") != node ||
        static_cast<std::uint64_t>(int_of(row, "incarnation")) != incarnation) {
      return true;
    }
    bool any_receipt = false;
    bool any_above = false;
    for (const auto& p : decode_pairs(text_of(row, "pairs"))) {
      if (p.seq == 0) continue;  // paired with a copy of the deciding node's own
      any_receipt = true;
      if (p.seq > above) {
        seqs.insert(p.seq);
        any_above = true;
      }
    }
    return any_above || !any_receipt;
  });
  if (!scanned.ok()) {
    spdlog::error("events: cannot read event_pairs: {}", scanned.error().to_string());
  }
  return seqs;
}

Status EventIntake::rebuild() {
  // The pairing of events with receipts, as the store has it: every event in
  // the horizon that no receipt of the other node is paired with yet waits
  // for one. This node's own such events (it resumes acting) wait for its
  // standby's digests; the other node's (its old master's) for this node's
  // copies: first the receipts it held as standby, then later arrivals.
  // A scan that fails is logged and the rest goes on: better a copy twice
  // than a held receipt never recorded.
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  const std::int64_t since = now_ms - rebuild_horizon_ms(now_ms);
  std::unordered_set<std::uint64_t> paired;
  std::set<std::uint64_t> own_decided;
  pair_rows_.clear();
  next_pairs_id_ = 1;
  auto scanned = store_.scan("event_pairs", [&](const store::Row& row) {
    const auto id = static_cast<std::uint64_t>(int_of(row, "id"));
    const std::int64_t at = int_of(row, "at_ms");
    pair_rows_.push_back({id, at});
    next_pairs_id_ = std::max(next_pairs_id_, id + 1);
    const bool own = text_of(row, "node") == config_.node.name &&
                     static_cast<std::uint64_t>(int_of(row, "incarnation")) == incarnation_;
    if (!own && at < since - kListSlackMs) return true;  // pairs come after their events
    for (const auto& p : decode_pairs(text_of(row, "pairs"))) {
      paired.insert(p.event_id);
      if (own && p.seq != 0) own_decided.insert(p.seq);
    }
    return true;
  });
  if (!scanned.ok()) {
    spdlog::error("events: taking over: cannot read event_pairs: {}", scanned.error().to_string());
  }
  std::sort(pair_rows_.begin(), pair_rows_.end(),
            [](const auto& x, const auto& y) { return x.second < y.second; });
  struct Unpaired {
    std::uint64_t id;
    std::int64_t at;
    bool own;
    intake::DedupKey key;
  };
  std::vector<Unpaired> unpaired;
  scanned = store_.scan_newest_first("events", [&](const store::Row& row) {
    const std::int64_t at = int_of(row, "received_at_ms");
    const auto id = static_cast<std::uint64_t>(int_of(row, "id"));
    if (at >= since && paired.count(id) == 0) {
      if (auto k = intake::key_from_hex(text_of(row, "dedup_key"))) {
        unpaired.push_back({id, at, text_of(row, "node") == config_.node.name, *k});
      }
    }
    return at >= since - kListSlackMs;
  });
  if (!scanned.ok()) {
    spdlog::error("events: taking over: cannot read the recent events: {}",
                  scanned.error().to_string());
  }
  std::sort(unpaired.begin(), unpaired.end(),
            [](const Unpaired& x, const Unpaired& y) { return x.at < y.at; });
  if (!config_.peer) unpaired.clear();  // nothing to pair with
  for (const auto& u : unpaired) {
    if (u.own) {
      dedup_.seed_unpaired_local(u.key, u.at, u.id);
    } else {
      dedup_.seed_peer_emitted(u.key, u.at, u.id);
    }
  }
  // Promotion: the receipts this node held as standby that its old master
  // did not decide. Each pairs with one of the old master's unpaired copies
  // (a duplicate) or is recorded now.
  expire_held();
  const std::uint64_t cursor = durable_cursor();
  std::size_t recorded = 0, duplicates = 0, decided = 0;
  for (auto& h : held_) {
    if (h.seq <= cursor || own_decided.count(h.seq) > 0) {
      ++decided;
      continue;
    }
    const std::uint64_t id = next_id_;
    if (dedup_.on_local(h.item.key, h.item.receipt.received_ms, id) ==
        intake::PairDedup::Verdict::kDuplicate) {
      ++counters_[h.item.protocol].deduplicated;
      ++duplicates;
      continue;
    }
    ++next_id_;
    ++counters_[h.item.protocol].emitted;
    ++recorded;
    emit(std::move(h.item), id, config_.node.name);
  }
  if (!held_.empty() || !unpaired.empty()) {
    spdlog::info(
        "events: taking over: {} of the other node's and {} of this node's events in the window "
        "wait for a copy; {} held receipts: {} decided by the old master, {} recorded now, {} "
        "already recorded by it",
        std::count_if(unpaired.begin(), unpaired.end(), [](const Unpaired& u) { return !u.own; }),
        std::count_if(unpaired.begin(), unpaired.end(), [](const Unpaired& u) { return u.own; }),
        held_.size(), decided, recorded, duplicates);
  }
  held_.clear();
  held_bytes_ = 0;
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
  // The repository node(s) with the sender's address and their scopes; an
  // unknown sender is "unregistered" (and kept). Rules on a scope match its
  // sub-scopes' nodes too.
  repository::Resolution where;
  if (resolver_) {
    where = resolver_->resolve(item.receipt.source);
  } else {
    where.scopes = where.enclosing = {"unregistered"};
  }
  std::vector<std::string_view> scopes(where.enclosing.begin(), where.enclosing.end());
  for (const auto& n : where.nodes) scopes.emplace_back(n);
  const intake::RuleDecision d =
      rules_.evaluate(intake::EventView{item.receipt.source, scopes, &item.fields, item.message});
  if (!d.keep) {
    ++counters_[item.protocol].discarded;
    return;
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
    return out;
  };
  pending_.push_back(
      store::Row{{"id", static_cast<std::int64_t>(id)},
                 {"received_at_ms", item.receipt.received_ms},
                 {"node", node},
                 {"source", item.receipt.source},
                 {"source_port", static_cast<std::int64_t>(item.receipt.source_port)},
                 {"protocol", item.protocol},
                 {"scope", join(where.scopes)},
                 {"host", join(where.nodes)},
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

void EventIntake::take_pairs() {
  auto pairs = dedup_.take_pairs();
  if (pairs.empty()) return;
  auto& into = pending_pairs_[peer_incarnation_];
  into.insert(into.end(), pairs.begin(), pairs.end());
}

void EventIntake::flush(bool force) {
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  dedup_.expire(now_ms);
  take_pairs();
  const bool cursor_moved =
      config_.peer && peer_incarnation_ != 0 && dedup_.peer_cursor() != persisted_cursor_;
  if (pending_.empty() && pending_pairs_.empty() && !cursor_moved && counts_dirty_.empty()) return;
  if (!acting_) {
    pending_.clear();
    pending_pairs_.clear();
    return;
  }
  if (!force && !may_act_()) {
    // A moment without the right to act (the runner re-checks each tick):
    // keep the events and try again. stop_acting() decides their fate.
    schedule_flush();
    return;
  }
  // At most batch_max events per transaction (a promotion may record a
  // backlog). Each pair goes in the transaction of the event it names (or
  // the first, for events committed before); the cursor in the last, after
  // every event it covers.
  const auto max = static_cast<std::size_t>(std::max<std::int64_t>(config_.events.batch_max, 1));
  std::vector<store::Row> rows = std::move(pending_);
  pending_.clear();
  const std::size_t chunks = rows.empty() ? 1 : (rows.size() + max - 1) / max;
  std::vector<PairsByIncarnation> chunk_pairs(chunks);
  {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;  // event ids of each chunk
    for (std::size_t c = 0; c < chunks; ++c) {
      std::uint64_t lo = UINT64_MAX, hi = 0;
      for (std::size_t i = c * max; i < std::min(rows.size(), (c + 1) * max); ++i) {
        const auto id = static_cast<std::uint64_t>(int_of(rows[i], "id"));
        lo = std::min(lo, id);
        hi = std::max(hi, id);
      }
      ranges.emplace_back(lo, hi);
    }
    for (auto& [incarnation, pairs] : pending_pairs_) {
      for (const auto& p : pairs) {
        std::size_t c = 0;
        for (std::size_t k = 0; k < chunks; ++k) {
          if (p.event_id >= ranges[k].first && p.event_id <= ranges[k].second) c = k;
        }
        chunk_pairs[c][incarnation].push_back(p);
      }
    }
    pending_pairs_.clear();
  }
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t from = c * max;
    const std::size_t to = std::min(rows.size(), from + max);
    std::vector<store::Row> chunk(std::make_move_iterator(rows.begin() + from),
                                  std::make_move_iterator(rows.begin() + to));
    if (!commit_batch(std::move(chunk), std::move(chunk_pairs[c]), c + 1 == chunks, now_ms)) {
      // Not committed (its rows and pairs are back in pending_): what is left
      // goes back behind them, retried together.
      pending_.insert(pending_.end(), std::make_move_iterator(rows.begin() + to),
                      std::make_move_iterator(rows.end()));
      for (std::size_t k = c + 1; k < chunks; ++k) {
        for (auto& [incarnation, pairs] : chunk_pairs[k]) {
          auto& into = pending_pairs_[incarnation];
          into.insert(into.end(), pairs.begin(), pairs.end());
        }
      }
      return;
    }
  }
}

bool EventIntake::commit_batch(std::vector<store::Row> events, PairsByIncarnation pairs, bool last,
                               std::int64_t now_ms) {
  const std::size_t n_events = events.size();
  store::WriteBatch batch;
  std::map<std::string, std::int64_t> added;
  for (auto& r : events) {
    count_event(r, 1, added);
    batch.put("events", std::move(r));  // no copy: on failure they come back from the batch
  }
  const std::set<std::string> dirty_before = counts_dirty_;
  for (const auto& [k, n] : added) {
    counts_[k] += n;
    counts_dirty_.insert(k);
  }
  for (const auto& k : counts_dirty_) {
    batch.put("intake_state",
              store::Row{{"key", std::string(kCountPrefix) + k}, {"value", counts_[k]}});
  }
  counts_dirty_.clear();
  batch.put("intake_state", store::Row{{"key", std::string(kNextIdKey)},
                                       {"value", static_cast<std::int64_t>(next_id_)}});
  // The pairs decided, with the events they name (same transaction).
  std::vector<std::uint64_t> new_rows;
  for (const auto& [incarnation, list] : pairs) {
    const std::uint64_t id = next_pairs_id_++;
    new_rows.push_back(id);
    pair_rows_.push_back({id, now_ms});
    batch.put("event_pairs", store::Row{{"id", static_cast<std::int64_t>(id)},
                                        {"at_ms", now_ms},
                                        {"node", config_.peer ? config_.peer->name : std::string()},
                                        {"incarnation", static_cast<std::int64_t>(incarnation)},
                                        {"pairs", store::Blob{encode_pairs(list)}}});
  }
  // Rows older than anything a rebuild looks at go.
  std::vector<std::pair<std::uint64_t, std::int64_t>> erased;
  const std::int64_t keep_from = now_ms - pairs_keep_ms();
  while (!pair_rows_.empty() && pair_rows_.front().second < keep_from) {
    batch.erase("event_pairs", static_cast<std::int64_t>(pair_rows_.front().first));
    erased.push_back(pair_rows_.front());
    pair_rows_.pop_front();
  }
  const std::uint64_t cursor_before = persisted_cursor_;
  if (last && config_.peer && peer_incarnation_ != 0) {
    persisted_cursor_ = dedup_.peer_cursor();
    batch.put("intake_state", store::Row{{"key", incarnation_key(config_.peer->name)},
                                         {"value", static_cast<std::int64_t>(peer_incarnation_)}});
    batch.put("intake_state", store::Row{{"key", cursor_key(config_.peer->name)},
                                         {"value", static_cast<std::int64_t>(persisted_cursor_)}});
  }
  ++in_flight_;
  auto failed = std::make_shared<bool>(false);
  // A store failure answers at once (on this strand); success after replication.
  commit_(batch, [this, n_events, failed](Result<ha::Runner::Committed> r) {
    --in_flight_;
    if (r.ok()) return;
    *failed = true;
    ++store_failures_;
    spdlog::error("events: a batch of {} events was not committed: {}", n_events,
                  r.error().to_string());
  });
  if (!*failed) return true;
  // Undo what this batch changed in memory; the caller retries.
  for (const auto& [k, n] : added) counts_[k] -= n;
  counts_dirty_ = dirty_before;
  for (const auto& [k, n] : added) counts_dirty_.insert(k);
  std::erase_if(pair_rows_, [&](const auto& r) {
    return std::find(new_rows.begin(), new_rows.end(), r.first) != new_rows.end();
  });
  pair_rows_.insert(pair_rows_.begin(), erased.begin(), erased.end());
  persisted_cursor_ = cursor_before;
  if (acting_ && !stopped_ && may_act_()) {
    std::vector<store::Row> back;
    for (const auto& op : batch.ops()) {
      if (op.table == "events") back.push_back(op.row);
    }
    pending_.insert(pending_.begin(), std::make_move_iterator(back.begin()),
                    std::make_move_iterator(back.end()));
    for (auto& [incarnation, list] : pairs) {
      auto& into = pending_pairs_[incarnation];
      into.insert(into.begin(), list.begin(), list.end());
    }
    schedule_flush();
  }
  return false;
}

std::int64_t EventIntake::pairs_keep_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(dedup_options().max_hold).count() +
         config_.events.window_ms + config_.ha.timeout_ms + kListSlackMs;
}

void EventIntake::expire_held() {
  // Decided receipts stay for the window (a promotion skips them: the old
  // master's events account for them); undecided ones until the master
  // decides them, or the limits drop the oldest (counted).
  const TimePoint cutoff = clock_.now() - std::chrono::milliseconds(config_.events.window_ms);
  auto drop_front = [this] {
    held_bytes_ -= std::min(held_bytes_, held_bytes(held_.front().item));
    held_.pop_front();
  };
  while (!held_.empty() && held_.front().at < cutoff && held_.front().seq <= durable_cursor_) {
    drop_front();
  }
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
