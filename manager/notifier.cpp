#include "manager/notifier.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <ctime>

#include "common/errors.h"

namespace duet::manager {
namespace {

constexpr std::size_t kMaxRetentionRows = 10'000;  // deleted per maintenance round
constexpr auto kMaintainEvery = std::chrono::seconds(60);
constexpr auto kFlushRetry = std::chrono::seconds(1);
// A switchover waits this long at most for the sends in progress.
constexpr auto kHandOverWait = std::chrono::seconds(5);
// A key's last result time is written at most this often when nothing else changed.
constexpr std::int64_t kStateTouchMs = 3600'000;
constexpr const char* kPendingFrom = "pending_from";

using store::int_of;
using store::text_of;

bool same_but_time(const notify::KeyState& a, const notify::KeyState& b) {
  return a.priority == b.priority && a.count == b.count && a.notified == b.notified &&
         a.last_notified_ms == b.last_notified_ms;
}

}  // namespace

store::Row notify_state_row(const std::string& key, const notify::KeyState& s,
                            std::int64_t now_ms) {
  return store::Row{{"key", key}, {"state", notify::encode_state(s)}, {"updated_at_ms", now_ms}};
}

store::Row notify_intent_row(const duet::v1::NotifyIntent& intent) {
  return store::Row{{"id", static_cast<std::int64_t>(intent.id())},
                    {"created_at_ms", intent.created_at_ms()},
                    {"state", intent.state()},
                    {"intent", store::Blob{intent.SerializeAsString()}}};
}

Notifier::Notifier(boost::asio::any_io_executor strand, Clock& clock, Options options, Hooks hooks)
    : strand_(std::move(strand)),
      clock_(clock),
      options_(std::move(options)),
      hooks_(std::move(hooks)) {}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  *alive_ = false;
}

void Notifier::start() {
  for (std::size_t i = 0; i < options_.workers; ++i)
    workers_.emplace_back([this] { worker_loop(); });
}

void Notifier::stop() {
  stop_acting();
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void Notifier::start_acting() {
  acting_ = true;
  ++generation_;
  load_definitions();
  load_states();
  load_outstanding();
  maintain_timer_ = clock_.call_after(kMaintainEvery, [this] {
    maintain_timer_.reset();
    maintain();
  });
}

void Notifier::stop_acting(bool handing_over) {
  if (!acting_) return;
  if (handing_over) {
    // A planned switchover: what is being sent finishes and its outcome is
    // committed before the standby takes over, so nothing is sent twice.
    // What has not started stays pending, for the new master.
    std::unique_lock lock(mu_);
    jobs_.clear();
    idle_cv_.wait_for(lock, kHandOverWait, [this] { return busy_ == 0; });
    lock.unlock();
    drain_done();
    for (auto& [id, t] : retry_timers_) clock_.cancel(t);
    retry_timers_.clear();
    flush();
  }
  acting_ = false;
  ++generation_;
  for (auto& [id, t] : retry_timers_) clock_.cancel(t);
  retry_timers_.clear();
  if (flush_timer_) clock_.cancel(*flush_timer_);
  flush_timer_.reset();
  if (maintain_timer_) clock_.cancel(*maintain_timer_);
  maintain_timer_.reset();
  outstanding_.clear();
  uncommitted_.clear();
  finals_.clear();
  states_.clear();
  std::lock_guard lock(mu_);
  jobs_.clear();
}

void Notifier::reload() {
  if (acting_) load_definitions();
}

void Notifier::load_definitions() {
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr) return;
  channel_state_.clear();
  compiled_.clear();
  (void)s->scan("notify_channels", [&](const store::Row& row) {
    duet::v1::ChannelDef def;
    if (!def.ParseFromString(text_of(row, "definition"))) return true;
    Channel c{notify::with_defaults(def), std::nullopt};
    if (def.has_calendar()) {
      auto cal = notify::Calendar::make(def.calendar());
      if (cal.ok()) {
        c.calendar = std::move(*cal);
      } else {
        spdlog::error("notify: channel {}: {}; it sends at any time", def.name(),
                      cal.error().message);
      }
    }
    channel_state_[def.name()] = std::move(c);
    return true;
  });
  (void)s->scan("notifications", [&](const store::Row& row) {
    duet::v1::NotificationDef def;
    if (!def.ParseFromString(text_of(row, "definition"))) return true;
    auto c = notify::compile(def);
    if (!c.ok()) {
      spdlog::error("notify: notification {} is not used: {}", def.name(), c.error().message);
      return true;
    }
    compiled_.push_back(std::move(*c));
    return true;
  });
}

void Notifier::load_states() {
  states_.clear();
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr) return;
  (void)s->scan("notify_state", [&](const store::Row& row) {
    if (auto st = notify::decode_state(text_of(row, "state"))) states_[text_of(row, "key")] = *st;
    return true;
  });
}

void Notifier::load_outstanding() {
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr) return;
  (void)s->scan_newest_first("notify_outbox", [&](const store::Row& row) {
    next_id_ = std::max<std::uint64_t>(next_id_, static_cast<std::uint64_t>(int_of(row, "id")) + 1);
    return false;
  });
  auto meta = s->get("notify_meta", std::string(kPendingFrom));
  const std::int64_t from = meta.ok() && *meta ? int_of(**meta, "value") : 1;
  stored_pending_from_ = static_cast<std::uint64_t>(from);
  std::vector<duet::v1::NotifyIntent> pending;
  (void)s->scan_after("notify_outbox", std::int64_t{from - 1}, [&](const store::Row& row) {
    if (text_of(row, "state") != "pending") return true;
    duet::v1::NotifyIntent intent;
    if (intent.ParseFromString(text_of(row, "intent"))) pending.push_back(std::move(intent));
    return true;
  });
  if (!pending.empty()) {
    spdlog::info("notify: {} notifications to send from before this master took over",
                 pending.size());
  }
  for (auto& intent : pending) {
    ++stats_.resent;
    outstanding_[intent.id()] = intent;
    dispatch(std::move(intent));
  }
}

bool Notifier::wanted(const notify::Occurrence& o) const {
  if (!acting_) return false;
  for (const auto& c : compiled_) {
    if (c.matches(o)) return true;
  }
  return false;
}

duet::v1::NotifyIntent Notifier::make_intent(const std::string& notification,
                                             const std::string& channel,
                                             const notify::Occurrence& o, std::int64_t now_ms) {
  duet::v1::NotifyIntent intent;
  const std::uint64_t id = next_id_++;
  const std::uint64_t epoch = hooks_.epoch ? hooks_.epoch() : 0;
  intent.set_id(id);
  intent.set_key("duet-" + std::to_string(epoch) + "-" + std::to_string(id));
  intent.set_created_at_ms(now_ms);
  intent.set_notification(notification);
  intent.set_channel(channel);
  intent.set_state("pending");
  intent.set_event_id(o.event_id);
  intent.set_epoch(epoch);
  auto& vars = *intent.mutable_vars();
  for (const auto& [k, v] : o.vars) vars[k] = v;
  vars["node"] = o.node;
  vars["monitor"] = o.monitor;
  vars["priority"] = priority_name(o.priority);
  vars["message"] = o.message;
  const std::int64_t at = o.at_ms != 0 ? o.at_ms : now_ms;
  vars["at"] = format_utc_ms(at);
  vars["at_ms"] = std::to_string(at);
  std::string scopes;
  for (const auto& s : o.scopes) scopes += (scopes.empty() ? "" : ",") + s;
  vars["scope"] = scopes;
  vars["manager"] = options_.sender;
  auto ch = channel_state_.find(channel);
  if (ch == channel_state_.end()) {
    intent.set_state("failed");
    intent.set_error("no channel '" + channel + "'");
  } else if (ch->second.calendar && !ch->second.calendar->open_at(now_ms)) {
    intent.set_state("muted");
    intent.set_error("the channel's calendar is closed");
  }
  return intent;
}

void Notifier::evaluate_into(const notify::Occurrence& o, store::WriteBatch& batch,
                             Changes& changes) {
  if (!acting_ || compiled_.empty()) return;
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  const std::int64_t at = o.at_ms != 0 ? o.at_ms : now_ms;
  for (const auto& c : compiled_) {
    if (!c.matches(o)) continue;
    const std::string key = c.key_of(o);
    auto it = states_.find(key);
    std::optional<notify::KeyState> prev;
    if (it != states_.end()) prev = it->second;
    const auto d = notify::decide(c.suppression, prev, o.priority, at, c.wants(o.priority));
    if (!prev || !same_but_time(*prev, d.next) ||
        d.next.last_at_ms - prev->last_at_ms >= kStateTouchMs) {
      changes.before.emplace_back(key, prev);
      batch.put("notify_state", notify_state_row(key, d.next, now_ms));
    }
    states_[key] = d.next;
    if (!d.notify) continue;
    for (const auto& channel : c.def.channels()) {
      auto intent = make_intent(c.def.name(), channel, o, now_ms);
      ++stats_.decided;
      if (intent.state() == "muted") ++stats_.muted;
      if (intent.state() == "failed") ++stats_.failed;
      batch.put("notify_outbox", notify_intent_row(intent));
      uncommitted_.insert(intent.id());
      changes.intents.push_back(std::move(intent));
    }
  }
}

void Notifier::committed(Changes changes, bool ok) {
  for (const auto& intent : changes.intents) uncommitted_.erase(intent.id());
  if (!ok) {
    if (!acting_) return;
    for (auto it = changes.before.rbegin(); it != changes.before.rend(); ++it) {
      if (it->second) {
        states_[it->first] = *it->second;
      } else {
        states_.erase(it->first);
      }
    }
    return;
  }
  if (!acting_) return;
  for (auto& intent : changes.intents) {
    if (intent.state() != "pending") continue;
    outstanding_[intent.id()] = intent;
    dispatch(std::move(intent));
  }
}

void Notifier::test(const std::string& name, const std::string& message,
                    std::function<void(Result<std::vector<duet::v1::NotifyIntent>>)> done) {
  if (!acting_) {
    done(make_error(CommonErrc::kInvalidArgument, "not the acting master"));
    return;
  }
  std::vector<std::pair<std::string, std::string>> targets;  // (notification, channel)
  if (channel_state_.count(name) != 0) {
    targets.emplace_back("test", name);
  } else {
    for (const auto& c : compiled_) {
      if (c.def.name() != name) continue;
      for (const auto& ch : c.def.channels()) targets.emplace_back(name, ch);
    }
  }
  if (targets.empty()) {
    done(make_error(CommonErrc::kInvalidArgument, "no channel or notification '" + name + "'"));
    return;
  }
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  notify::Occurrence o;
  o.monitor = "test";
  o.node = options_.sender;
  o.priority = Priority::kInfo;
  o.message = message.empty() ? "a test of Duet's notifications" : message;
  o.at_ms = now_ms;
  o.vars["test"] = "true";
  store::WriteBatch batch;
  Changes changes;
  for (const auto& [notification, channel] : targets) {
    auto intent = make_intent(notification, channel, o, now_ms);
    if (intent.state() == "muted") intent.set_state("pending");  // a test goes out regardless
    intent.clear_error();
    batch.put("notify_outbox", notify_intent_row(intent));
    uncommitted_.insert(intent.id());
    changes.intents.push_back(std::move(intent));
  }
  auto intents = changes.intents;
  hooks_.commit(batch, [this, alive = alive_, changes = std::move(changes), intents,
                        done = std::move(done)](Result<ha::Runner::Committed> r) mutable {
    if (!*alive) return;
    committed(std::move(changes), r.ok());
    if (!r.ok()) {
      done(r.error());
      return;
    }
    done(std::move(intents));
  });
}

void Notifier::dispatch(duet::v1::NotifyIntent intent) {
  auto ch = channel_state_.find(intent.channel());
  if (ch == channel_state_.end()) {
    intent.set_state("failed");
    intent.set_error("no channel '" + intent.channel() + "' (removed)");
    ++stats_.failed;
    finish(std::move(intent));
    return;
  }
  if (workers_.empty()) {
    // No worker threads (tests): delivered on the strand.
    if (!inline_deliver_) {
      inline_deliver_ = hooks_.make_deliver ? hooks_.make_deliver() : Deliver{};
    }
    auto d = inline_deliver_ ? inline_deliver_(ch->second.def, intent)
                             : notify::Delivery{false, true, "no deliverer"};
    on_delivered(generation_, std::move(intent), std::move(d));
    return;
  }
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(Job{std::move(intent), ch->second.def, generation_});
  }
  cv_.notify_one();
}

void Notifier::worker_loop() {
  Deliver deliver;
  std::shared_ptr<notify::Deliverer> real;
  if (hooks_.make_deliver) {
    deliver = hooks_.make_deliver();
  } else {
    real = std::make_shared<notify::Deliverer>(options_.sender);
    deliver = [real](const duet::v1::ChannelDef& c, const duet::v1::NotifyIntent& i) {
      return real->deliver(c, i);
    };
  }
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
      if (closing_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++busy_;
    }
    notify::Delivery d = deliver(job.channel, job.intent);
    {
      std::lock_guard lock(mu_);
      done_.push_back(Done{job.generation, std::move(job.intent), std::move(d)});
      if (--busy_ == 0) idle_cv_.notify_all();
    }
    boost::asio::post(strand_, [this, alive = alive_] {
      if (*alive) drain_done();
    });
  }
}

void Notifier::drain_done() {
  std::deque<Done> done;
  {
    std::lock_guard lock(mu_);
    done.swap(done_);
  }
  for (auto& d : done) on_delivered(d.generation, std::move(d.intent), std::move(d.delivery));
}

void Notifier::on_delivered(std::uint64_t generation, duet::v1::NotifyIntent intent,
                            notify::Delivery d) {
  if (generation != generation_ || !acting_) return;  // a role change meanwhile
  if (outstanding_.count(intent.id()) == 0) return;
  intent.set_attempts(intent.attempts() + 1);
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  if (d.ok) {
    intent.set_state("sent");
    intent.set_sent_at_ms(now_ms);
    intent.set_sent_by(options_.sender);
    intent.clear_error();
    ++stats_.sent;
    finish(std::move(intent));
    return;
  }
  intent.set_error(d.error);
  auto ch = channel_state_.find(intent.channel());
  const auto& retry = ch != channel_state_.end() ? ch->second.def.retry() : duet::v1::RetryPolicy{};
  if (d.permanent || intent.attempts() >= retry.attempts()) {
    spdlog::warn("notify: {} through {} failed after {} attempt(s): {}", intent.key(),
                 intent.channel(), intent.attempts(), d.error);
    intent.set_state("failed");
    intent.set_sent_at_ms(now_ms);
    ++stats_.failed;
    finish(std::move(intent));
    return;
  }
  ++stats_.retried;
  std::uint64_t backoff = retry.backoff_ms();
  for (std::uint32_t i = 1; i < intent.attempts() && backoff < retry.max_backoff_ms(); ++i) {
    backoff *= 2;
  }
  backoff = std::min<std::uint64_t>(backoff, retry.max_backoff_ms());
  const std::uint64_t id = intent.id();
  outstanding_[id] = intent;
  retry_timers_[id] = clock_.call_after(std::chrono::milliseconds(backoff), [this, id] {
    retry_timers_.erase(id);
    auto it = outstanding_.find(id);
    if (it != outstanding_.end() && acting_) dispatch(it->second);
  });
}

void Notifier::finish(duet::v1::NotifyIntent intent) {
  outstanding_.erase(intent.id());
  finals_.push_back(std::move(intent));
  schedule_flush();
}

std::uint64_t Notifier::pending_from() const {
  std::uint64_t from = next_id_;
  if (!outstanding_.empty()) from = std::min(from, outstanding_.begin()->first);
  if (!uncommitted_.empty()) from = std::min(from, *uncommitted_.begin());
  return from;
}

void Notifier::schedule_flush() {
  if (flush_timer_ || flushing_) return;
  flush_timer_ = clock_.call_after(options_.commit_delay, [this] {
    flush_timer_.reset();
    flush();
  });
}

void Notifier::flush() {
  if (!acting_ || finals_.empty()) return;
  store::WriteBatch batch;
  std::vector<duet::v1::NotifyIntent> finals;
  finals.swap(finals_);
  for (const auto& intent : finals) batch.put("notify_outbox", notify_intent_row(intent));
  const std::uint64_t from = pending_from();
  if (from != stored_pending_from_) {
    batch.put("notify_meta", store::Row{{"key", std::string(kPendingFrom)},
                                        {"value", static_cast<std::int64_t>(from)}});
  }
  flushing_ = true;
  hooks_.commit(batch, [this, alive = alive_, finals = std::move(finals), from,
                        gen = generation_](Result<ha::Runner::Committed> r) mutable {
    if (!*alive) return;
    flushing_ = false;
    if (gen != generation_) return;
    if (r.ok()) {
      stored_pending_from_ = std::max(stored_pending_from_, from);
      if (!finals_.empty()) schedule_flush();
      return;
    }
    spdlog::error("notify: the outcome of {} notifications was not committed: {}; retrying",
                  finals.size(), r.error().to_string());
    finals_.insert(finals_.begin(), std::make_move_iterator(finals.begin()),
                   std::make_move_iterator(finals.end()));
    flush_timer_ = clock_.call_after(kFlushRetry, [this] {
      flush_timer_.reset();
      flush();
    });
  });
}

void Notifier::maintain() {
  if (!acting_) return;
  store::Store* s = hooks_.store ? hooks_.store() : nullptr;
  if (s == nullptr) {
    maintain_timer_ = clock_.call_after(kMaintainEvery, [this] {
      maintain_timer_.reset();
      maintain();
    });
    return;
  }
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  const std::int64_t cutoff = now_ms - options_.keep_ms;
  const std::uint64_t from = std::min(pending_from(), stored_pending_from_);
  store::WriteBatch batch;
  std::size_t n = 0;
  std::int64_t newest = 0;
  (void)s->scan_newest_first("notify_outbox", [&](const store::Row& row) {
    newest = int_of(row, "id");
    return false;
  });
  (void)s->scan_after("notify_outbox", std::int64_t{0}, [&](const store::Row& row) {
    const std::int64_t id = int_of(row, "id");
    // The newest row stays: it tells a new master where the ids go on.
    if (int_of(row, "created_at_ms") >= cutoff || static_cast<std::uint64_t>(id) >= from ||
        id == newest) {
      return false;
    }
    batch.erase("notify_outbox", id);
    return ++n < kMaxRetentionRows;
  });
  // Behind (more to delete than a round takes): the next round soon.
  maintain_timer_ =
      clock_.call_after(n >= kMaxRetentionRows ? std::chrono::seconds(1) : kMaintainEvery, [this] {
        maintain_timer_.reset();
        maintain();
      });
  std::vector<std::string> idle;
  for (const auto& [key, st] : states_) {
    if (now_ms - st.last_at_ms > options_.state_keep_ms) idle.push_back(key);
  }
  for (const auto& key : idle) {
    if (batch.size() >= kMaxRetentionRows * 2) break;
    batch.erase("notify_state", key);
    states_.erase(key);
  }
  if (batch.empty()) return;
  hooks_.commit(batch, [n, idle = idle.size()](Result<ha::Runner::Committed> r) {
    if (!r.ok()) {
      spdlog::warn("notify: retention ({} intents, {} idle keys) not committed: {}", n, idle,
                   r.error().to_string());
    }
  });
}

}  // namespace duet::manager
