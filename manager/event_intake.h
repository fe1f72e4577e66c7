#pragma once

// EventIntake: the manager's side of event intake (invariant 5). It runs the
// receivers on their own thread, parses what they take in, and on the
// manager's strand either records events (master) or holds the receipts
// (standby) until a promotion needs them.
//
// Master: each receipt passes the pair dedup core (intake/pair_dedup.h);
// what it emits passes the rules once and is committed in batches (rows of
// `events` plus the next event id) through the HA runner, so an event is
// acknowledged only once the standby has it (sync mode).
//
// Standby: every receipt gets a sequence number and is held; a digest of it
// (sequence number, identity key, receive time) is forwarded to the master
// (IntakePeer.Forward), which pairs it with its own copies and asks for the
// content of those it never received. With each batch of events the master
// persists the pairs it decided (event id, the standby's receipt number; table
// event_pairs) and the standby's cursor: every receipt up to it is decided.
// The standby drops decided receipts once its store has the cursor past them.
//
// Whoever starts to act rebuilds the pairing from the store (rebuild()):
// every event in the window that no receipt is paired with yet waits for one;
// a promoted standby pairs the receipts it held, that its old master did not
// decide, with the old master's unpaired events and records the rest. So a
// message sent to both managers while the master was failing is recorded
// once, and one that reached only the standby is recorded too.
//
// Threads: receivers and parsing on the intake thread; everything else on
// `strand` (the manager's io_context thread, which owns the store). stop()
// runs on the strand and joins the intake thread.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
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
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "duet/v1/events.pb.h"
#include "duet/v1/intake_peer.grpc.pb.h"
#include "ha/runner.h"
#include "intake/intake_item.h"
#include "intake/pair_dedup.h"
#include "intake/rules.h"
#include "intake/snmp_receiver.h"
#include "intake/syslog_receivers.h"
#include "manager/notifier.h"
#include "repository/resolver.h"
#include "store/store.h"

namespace duet::manager {

class JobRunner;

class EventIntake {
 public:
  using Commit = std::function<void(const store::WriteBatch&,
                                    std::function<void(Result<ha::Runner::Committed>)>)>;
  using MayAct = std::function<bool()>;

  // Checks the rules; an error names the rule. `store` outlives this object.
  static Result<std::unique_ptr<EventIntake>> create(boost::asio::any_io_executor strand,
                                                     Clock& clock, const ManagerConfig& config,
                                                     store::Store& store, MayAct may_act,
                                                     Commit commit);
  ~EventIntake();
  EventIntake(const EventIntake&) = delete;
  EventIntake& operator=(const EventIntake&) = delete;

  // Events from syslog and SNMP go to the notifications (same transaction as
  // the event); null: they do not. Set before start().
  void set_notifier(std::function<Notifier*()> notifier) { notifier_ = std::move(notifier); }
  // The same for job nets started by events (their event triggers).
  void set_jobs(std::function<JobRunner*()> jobs) { jobs_ = std::move(jobs); }

  // Binds the receivers (an error names the address) and starts the intake thread.
  Status start();
  void stop();

  // The repository changed (on the master, after a commit): senders map anew.
  void reload_repository();

  // The runner's hooks (on the strand).
  void start_acting(std::uint64_t epoch);
  // `handing_over`: a planned switchover (pending events are committed first).
  void stop_acting(bool handing_over);

  // An event the manager raises itself (a monitor's change of priority, an
  // agent unreachable), recorded with other changes in one transaction.
  struct Raised {
    std::string protocol;  // "monitor", "agent"
    std::string source;    // the node's address, or its name
    std::string host;      // the repository node
    std::vector<std::string> scopes;
    std::string message;
    std::map<std::string, std::string> fields;
    Priority priority = Priority::kUnknown;  // kept unless a rule matches
    std::int64_t at_ms = 0;
  };
  // On the master's strand: passes `ev` through the rules; unless they
  // discard it, adds its row, the next event id and the counts to `batch`,
  // and the counts it added to `counted` (give them to uncount() if the
  // batch is not committed). Returns the event id, or 0 when discarded.
  std::uint64_t raise_into(const Raised& ev, store::WriteBatch& batch,
                           std::map<std::string, std::int64_t>& counted);
  void uncount(const std::map<std::string, std::int64_t>& counted);

  // Queries over this node's store (on the strand).
  Result<duet::v1::ListEventsResponse> list(const duet::v1::ListEventsRequest& req) const;
  Result<duet::v1::CountEventsResponse> count() const;
  duet::v1::IntakeCountersResponse counters(const std::string& role) const;

  // IntakePeer.Forward on the master (on the strand).
  Result<duet::v1::ForwardResponse> on_forward(const duet::v1::ForwardRequest& req);

  // The pieces the receivers and the forwarding timer drive (on the strand);
  // public so tests can drive them without sockets.
  // Parsed receipts: master records, standby holds.
  void on_items(std::vector<intake::IntakeItem> items);
  // Standby: the next IntakePeer.Forward request, and the master's answer.
  duet::v1::ForwardRequest build_forward_request();
  void on_forwarded(const grpc::Status& status, const duet::v1::ForwardResponse& resp);
  // Commits what is pending now (the batch timer does it otherwise).
  void flush_now() { flush(); }
  std::uint64_t incarnation() const { return incarnation_; }

 private:
  struct Counters {
    std::uint64_t parsed = 0, malformed = 0, deduplicated = 0, emitted = 0, discarded = 0;
  };

  EventIntake(boost::asio::any_io_executor strand, Clock& clock, const ManagerConfig& config,
              store::Store& store, MayAct may_act, Commit commit, intake::RuleSet rules);

  void hand_over(std::vector<intake::IntakeItem> items);  // intake thread: to the strand
  void forget_decisions();                                // strand
  intake::PairDedup::Options dedup_options() const;
  void load_counts();  // strand, on taking over: the event counts from intake_state
  // strand, master: an event `id`, received by `node`, unless the rules discard it
  void emit(intake::IntakeItem item, std::uint64_t id, const std::string& node);
  void flush(bool force = false);  // strand; force: also while handing over
  using PairsByIncarnation = std::map<std::uint64_t, std::vector<intake::ReceiptPair>>;
  // One transaction: events, the pairs naming them, and with `last` the
  // standby's cursor. False when the store refused it (its rows and pairs
  // are back in pending_ / pending_pairs_, retried).
  bool commit_batch(std::vector<store::Row> events, PairsByIncarnation pairs, bool last,
                    std::int64_t now_ms);
  // How long event_pairs rows are kept: as far back as a rebuild looks.
  std::int64_t pairs_keep_ms() const;
  void schedule_flush();
  void take_pairs();  // from the dedup core into pending_pairs_
  void expire_held();
  // strand: the pairing from the store; on promotion, records the held
  // receipts the old master did not.
  Status rebuild();
  // How far back rebuild() looks for events that may still pair.
  std::int64_t rebuild_horizon_ms(std::int64_t now_ms) const;
  // The receipt numbers above `above` of `node`'s `incarnation` paired in the store.
  std::set<std::uint64_t> decided_receipts(const std::string& node, std::uint64_t incarnation,
                                           std::uint64_t above) const;
  // Standby: forwards digests and wanted contents to the master.
  void forward_tick();
  std::uint64_t durable_cursor() const;  // of this node's receipts, from the store

  boost::asio::any_io_executor strand_;
  Clock& clock_;
  const ManagerConfig& config_;
  store::Store& store_;
  // Event rows are completed to every column of it (fill_nulls): written as built.
  const store::TableDef* events_table_;
  MayAct may_act_;
  Commit commit_;
  intake::RuleSet rules_;
  std::unique_ptr<repository::Resolver> resolver_;  // null: every sender unregistered
  // Where a sender is, as its events store it: a busy sender sends many
  // events, and resolving its address (and joining the lists) each time cost
  // a tenth of an event. Emptied when the repository is reloaded.
  struct Placed {
    repository::Resolution where;
    std::string scope_list;  // where.scopes joined with ","
    std::string host_list;   // where.nodes joined with ","
  };
  const Placed& place(const std::string& source);
  std::unordered_map<std::string, Placed> placed_;

  boost::asio::io_context intake_io_;
  std::unique_ptr<intake::SyslogReceivers> syslog_;
  std::unique_ptr<intake::SnmpReceiver> snmp_;
  std::thread intake_thread_;
  bool stopped_ = false;
  // Whether the intake thread fills in items in full (this node acts) or
  // only what a held receipt needs (detail() does the rest if it is recorded).
  std::atomic<bool> detail_on_intake_{false};
  // Flow control between the intake thread and the strand.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::size_t queued_ = 0;                            // guarded by queue_mu_
  bool closing_ = false;                              // guarded by queue_mu_
  std::shared_ptr<grpc::ClientContext> forward_ctx_;  // guarded by queue_mu_: the call in flight

  // Strand state.
  bool acting_ = false;
  std::uint64_t epoch_ = 0;
  std::uint64_t next_id_ = 1;
  intake::PairDedup dedup_;
  std::vector<store::Row> pending_;
  // For the notifications: pending_'s events that a notification matches, in id order.
  std::deque<notify::Occurrence> pending_occ_;
  std::function<Notifier*()> notifier_;
  std::function<JobRunner*()> jobs_;
  std::optional<TimerId> flush_timer_;
  std::uint64_t in_flight_ = 0;
  struct Held {
    TimePoint at;
    std::uint64_t seq;
    intake::IntakeItem item;
  };
  std::deque<Held> held_;
  std::size_t held_bytes_ = 0;
  std::uint64_t held_seq_ = 0;     // last receipt number given
  std::uint64_t incarnation_ = 0;  // of this process, random
  // Standby forwarding.
  std::unique_ptr<duet::v1::IntakePeer::Stub> peer_stub_;
  bool forward_in_flight_ = false;
  std::uint64_t forwarded_acked_ = 0;  // digests the master took
  std::vector<std::uint64_t> wanted_;  // contents the master asked for
  std::optional<TimerId> forward_timer_;
  std::uint64_t forward_failures_ = 0;
  // Master: the standby's incarnation and what it sent.
  std::uint64_t peer_incarnation_ = 0;
  std::uint64_t peer_acked_ = 0;
  std::set<std::uint64_t> awaiting_;  // contents asked for
  std::uint64_t peer_emitted_ = 0;    // receipts only the standby had
  // Pairs decided, not yet in a batch, by the standby incarnation they name.
  std::map<std::uint64_t, std::vector<intake::ReceiptPair>> pending_pairs_;
  std::deque<std::pair<std::uint64_t, std::int64_t>> pair_rows_;  // event_pairs: (id, at_ms)
  std::uint64_t next_pairs_id_ = 1;
  // Event counts (keys as after "count."), and the ones to write with the next batch.
  std::map<std::string, std::int64_t> counts_;
  std::set<std::string> counts_dirty_;
  std::uint64_t persisted_cursor_ = 0;
  std::uint64_t durable_cursor_ = 0;  // standby: last read from the store
  std::uint64_t expired_ = 0;
  std::uint64_t peer_lost_ = 0;  // receipts asked for that the standby had dropped
  std::uint64_t store_failures_ = 0;
  std::map<std::string, Counters> counters_;  // by protocol
};

}  // namespace duet::manager
