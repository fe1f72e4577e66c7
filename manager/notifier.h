#pragma once

// Notifier: the master's notification outbox (invariant 7).
//
// Deciding. Whoever records a monitor result or an event (AgentHub,
// EventIntake) hands it to evaluate_into() as an Occurrence, with the write
// batch that records it. Each enabled notification whose criteria match
// passes it through its suppression core (notify/suppression.h), keyed by
// (node, monitor, notification, sub-key); the key's new state, and when it
// notifies one intent per channel (NotifyIntent, table notify_outbox), go
// into the same batch. So a result or event and the notifications it caused
// are committed, and replicated, together: once.
//
// Sending. Only when the batch is replicated (committed(changes, true)) are
// its intents queued for the worker threads, which send through the channel
// (notify/deliver.h). A send that fails is retried with the channel's
// backoff up to its attempts; the outcome (sent, failed) is committed,
// batched, with `notify_meta.pending_from` (every intent below it is final).
// A channel whose calendar is closed when the intent is decided gets the
// intent as "muted", final at once.
//
// Failover. A new master loads the definitions, the suppression states and
// every intent from pending_from that is still pending, and sends those
// with their stored idempotency key. An intent sent by the old master that
// it had not yet marked sent is sent again with the same key (the webhook
// header Idempotency-Key, the mail's Message-ID), so a receiver can tell.
//
// Threads: everything here runs on the manager's strand, except deliveries
// (worker threads, results posted back to the strand).

#include <boost/asio/any_io_executor.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "duet/v1/notify.pb.h"
#include "ha/runner.h"
#include "notify/calendar.h"
#include "notify/definitions.h"
#include "notify/deliver.h"
#include "store/store.h"

namespace duet::manager {

class Notifier {
 public:
  using Commit = std::function<void(const store::WriteBatch&,
                                    std::function<void(Result<ha::Runner::Committed>)>)>;
  // One per worker thread; the default sends for real (notify::Deliverer).
  using Deliver =
      std::function<notify::Delivery(const duet::v1::ChannelDef&, const duet::v1::NotifyIntent&)>;
  struct Hooks {
    std::function<store::Store*()> store;
    std::function<std::uint64_t()> epoch;
    Commit commit;
    std::function<Deliver()> make_deliver;  // null: notify::Deliverer
  };
  struct Options {
    std::size_t workers = 4;
    std::string sender;                                 // this manager's name
    std::int64_t keep_ms = 7LL * 24 * 3600'000;         // final intents kept
    std::int64_t state_keep_ms = 30LL * 24 * 3600'000;  // idle suppression keys kept
    // Outcomes wait this long for others to share their commit. 0: committed
    // at once, those that come while a commit is in flight going together in
    // the next: the shorter an outcome waits, the fewer notifications a
    // failover sends twice.
    std::chrono::milliseconds commit_delay{0};
  };

  Notifier(boost::asio::any_io_executor strand, Clock& clock, Options options, Hooks hooks);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Starts the worker threads.
  void start();
  // Joins them (on the strand).
  void stop();

  // The runner's hooks (strand).
  void start_acting();
  // `handing_over`: a planned switchover (the sends in progress finish and
  // their outcomes are committed first, waiting at most 5 s).
  void stop_acting(bool handing_over = false);
  // The definitions changed (after a commit).
  void reload();

  // What evaluate_into() added to a batch; give it to committed().
  struct Changes {
    std::vector<std::pair<std::string, std::optional<notify::KeyState>>> before;
    std::vector<duet::v1::NotifyIntent> intents;
    bool empty() const { return before.empty() && intents.empty(); }
  };

  // Acting, with at least one notification defined: worth building Occurrences.
  bool active() const { return acting_ && !compiled_.empty(); }
  // Whether any enabled notification could match `o` (cheap: no state).
  bool wanted(const notify::Occurrence& o) const;
  // Strand, master: see the top of this file.
  void evaluate_into(const notify::Occurrence& o, store::WriteBatch& batch, Changes& changes);
  // After the batch's commit: `ok` (replicated) queues its intents; else the
  // suppression states go back to what they were.
  void committed(Changes changes, bool ok);

  // `notify test NAME`: an intent per channel of NAME (a channel, or a
  // notification's channels), committed, then sent. Strand.
  void test(const std::string& name, const std::string& message,
            std::function<void(Result<std::vector<duet::v1::NotifyIntent>>)> done);

  struct Stats {
    std::uint64_t decided = 0, sent = 0, failed = 0, muted = 0, retried = 0, resent = 0;
    std::size_t outstanding = 0;  // decided and committed, not yet final
  };
  Stats stats() const {
    Stats s = stats_;
    s.outstanding = outstanding_.size();
    return s;
  }

 private:
  struct Channel {
    duet::v1::ChannelDef def;  // with defaults
    std::optional<notify::Calendar> calendar;
  };
  struct Job {
    duet::v1::NotifyIntent intent;
    duet::v1::ChannelDef channel;
    std::uint64_t generation;
  };

  void load_definitions();
  void load_states();
  void load_outstanding();
  duet::v1::NotifyIntent make_intent(const std::string& notification, const std::string& channel,
                                     const notify::Occurrence& o, std::int64_t now_ms);
  void dispatch(duet::v1::NotifyIntent intent);  // to the workers
  void on_delivered(std::uint64_t generation, duet::v1::NotifyIntent intent,
                    notify::Delivery d);       // strand
  void finish(duet::v1::NotifyIntent intent);  // a final state, to commit
  void schedule_flush();
  void flush();
  void maintain();
  std::uint64_t pending_from() const;
  void worker_loop();
  void drain_done();  // strand: the outcomes the workers left in done_

  boost::asio::any_io_executor strand_;
  Clock& clock_;
  Options options_;
  Hooks hooks_;

  // Strand state.
  bool acting_ = false;
  std::uint64_t generation_ = 0;  // bumped on every change of role: stale results are dropped
  std::map<std::string, Channel> channel_state_;
  std::vector<notify::Compiled> compiled_;
  std::map<std::string, notify::KeyState> states_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, duet::v1::NotifyIntent> outstanding_;  // not final yet
  std::set<std::uint64_t> uncommitted_;  // decided, their batch not committed yet
  Deliver inline_deliver_;               // no workers (tests)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for callbacks
  std::map<std::uint64_t, TimerId> retry_timers_;
  std::vector<duet::v1::NotifyIntent> finals_;  // to commit
  std::optional<TimerId> flush_timer_;
  std::optional<TimerId> maintain_timer_;
  bool flushing_ = false;
  std::uint64_t stored_pending_from_ = 0;
  Stats stats_;

  // Workers.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // guarded by mu_
  struct Done {
    std::uint64_t generation;
    duet::v1::NotifyIntent intent;
    notify::Delivery delivery;
  };
  std::deque<Done> done_;  // guarded by mu_: sent, not yet seen by the strand
  std::size_t busy_ = 0;   // guarded by mu_: workers sending
  std::condition_variable idle_cv_;
  bool closing_ = false;  // guarded by mu_
  std::vector<std::thread> workers_;
};

// The suppression key's row, and an intent's row.
store::Row notify_state_row(const std::string& key, const notify::KeyState& s, std::int64_t now_ms);
store::Row notify_intent_row(const duet::v1::NotifyIntent& intent);

}  // namespace duet::manager
