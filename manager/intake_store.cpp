// EventIntake: what the master writes and reads back - batches of events
// with the pairs they name, the standby's cursor and the event counts - and
// the rebuild from the store when a node starts to act.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "common/errors.h"
#include "common/json_writer.h"
#include "manager/event_intake.h"
#include "manager/event_intake_internal.h"
#include "manager/job_runner.h"

namespace duet::manager {

using namespace intake_internal;

namespace intake_internal {

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
// `n` events of one priority and protocol, under the keys the counts use.
void add_counts(std::map<std::string, std::int64_t>& counts, std::string_view priority,
                std::string_view protocol, std::int64_t n) {
  counts["total"] += n;
  counts["priority." + std::string(priority)] += n;
  counts["protocol." + std::string(protocol)] += n;
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
  add_counts(counts, store::text_view_of(row, "priority"), store::text_view_of(row, "protocol"),
             by);
}

void count_rows(const std::vector<store::Row>& rows, std::map<std::string, std::int64_t>& counts) {
  // A handful of (priority, protocol) combinations at most: a list will do.
  struct Tally {
    std::string_view priority, protocol;
    std::int64_t n;
  };
  std::vector<Tally> tallies;
  for (const auto& row : rows) {
    const std::string_view priority = store::text_view_of(row, "priority");
    const std::string_view protocol = store::text_view_of(row, "protocol");
    auto t = std::find_if(tallies.begin(), tallies.end(), [&](const Tally& x) {
      return x.priority == priority && x.protocol == protocol;
    });
    if (t == tallies.end()) {
      tallies.push_back(Tally{priority, protocol, 1});
    } else {
      ++t->n;
    }
  }
  for (const auto& t : tallies) add_counts(counts, t.priority, t.protocol, t.n);
}

std::map<std::string, std::int64_t> count_events(store::Store& store) {
  std::map<std::string, std::int64_t> counts{{"total", 0}};
  (void)store.scan("events", [&](const store::Row& row) {
    count_event(row, 1, counts);
    return true;
  });
  return counts;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& x : names) {
    if (!out.empty()) out += ',';
    out += x;
  }
  return out;
}

std::size_t held_bytes(const intake::IntakeItem& item) {
  std::size_t n = sizeof(item) + item.receipt.raw.size() + item.receipt.source.size() +
                  item.message.size() + item.fields_json.size() + item.protocol.size();
  for (const auto& [k, v] : item.fields) n += k.size() + v.size() + 64;
  return n;
}

}  // namespace intake_internal

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
    pending_occ_.clear();
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

std::uint64_t EventIntake::raise_into(const Raised& ev, store::WriteBatch& batch,
                                      std::map<std::string, std::int64_t>& counted) {
  using namespace intake_internal;
  std::vector<std::string_view> scopes(ev.scopes.begin(), ev.scopes.end());
  if (!ev.host.empty()) scopes.emplace_back(ev.host);
  const intake::RuleDecision d =
      rules_.evaluate(intake::EventView{ev.source, scopes, &ev.fields, ev.message});
  if (!d.keep) {
    ++counters_[ev.protocol].discarded;
    return 0;
  }
  const Priority priority = d.rule.empty() ? ev.priority : d.priority;
  JsonWriter fields;
  for (const auto& [k, v] : ev.fields) fields.field(k, v);
  const std::string scope_list = join_names(ev.scopes);
  const std::uint64_t id = next_id_++;
  store::Row row;
  row.reserve(events_table_ != nullptr ? events_table_->columns.size() : 16);
  auto put = [&row](const char* name, store::Value v) {
    row.push_back(store::Field{name, std::move(v)});
  };
  put("id", static_cast<std::int64_t>(id));
  put("received_at_ms", ev.at_ms);
  put("node", config_.node.name);
  put("source", ev.source);
  put("source_port", std::int64_t{0});
  put("protocol", ev.protocol);
  put("scope", scope_list);
  put("priority", std::string(priority_name(priority)));
  put("rule", d.rule);
  put("message", ev.message);
  put("fields", std::move(fields).finish());
  put("raw", store::Blob{});
  put("truncated", std::int64_t{0});
  put("dedup_key", std::string());
  put("epoch", static_cast<std::int64_t>(epoch_));
  put("host", ev.host);
  if (events_table_ != nullptr) events_table_->fill_nulls(row);
  std::map<std::string, std::int64_t> added;
  count_event(row, 1, added);
  batch.put("events", std::move(row));
  for (const auto& [k, n] : added) {
    counts_[k] += n;
    counted[k] += n;
    batch.put("intake_state",
              store::Row{{"key", std::string(kCountPrefix) + k}, {"value", counts_[k]}});
  }
  batch.put("intake_state", store::Row{{"key", std::string(kNextIdKey)},
                                       {"value", static_cast<std::int64_t>(next_id_)}});
  ++counters_[ev.protocol].emitted;
  return id;
}

void EventIntake::uncount(const std::map<std::string, std::int64_t>& counted) {
  for (const auto& [k, n] : counted) {
    counts_[k] -= n;
    counts_dirty_.insert(k);
  }
}

bool EventIntake::commit_batch(std::vector<store::Row> events, PairsByIncarnation pairs, bool last,
                               std::int64_t now_ms) {
  const std::size_t n_events = events.size();
  store::WriteBatch batch;
  std::map<std::string, std::int64_t> added;
  std::uint64_t last_id = 0;
  count_rows(events, added);
  for (const auto& r : events) {
    last_id = std::max(last_id, static_cast<std::uint64_t>(int_of(r, "id")));
  }
  // The notifications these events decide, in the same transaction.
  Notifier* notifier = notifier_ ? notifier_() : nullptr;
  std::vector<notify::Occurrence> occurrences;
  auto notes = std::make_shared<Notifier::Changes>();
  while (!pending_occ_.empty() && pending_occ_.front().event_id <= last_id) {
    occurrences.push_back(std::move(pending_occ_.front()));
    pending_occ_.pop_front();
  }
  if (notifier != nullptr) {
    for (const auto& o : occurrences) notifier->evaluate_into(o, batch, *notes);
  }
  // The job nets these events start, in the same transaction.
  JobRunner* jobs = jobs_ ? jobs_() : nullptr;
  auto job_changes = std::make_shared<JobRunner::Changes>();
  if (jobs != nullptr && jobs->wants_events() && !occurrences.empty()) {
    jobs->events_into(occurrences, batch);
    jobs->take_into(batch, *job_changes);
  }
  // One journal record for many events; no copy: on failure they come back from the batch.
  batch.put_rows("events", std::move(events));
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
  commit_(batch, [this, n_events, failed, notes, job_changes](Result<ha::Runner::Committed> r) {
    --in_flight_;
    if (Notifier* n = notifier_ ? notifier_() : nullptr; n != nullptr && !notes->empty()) {
      n->committed(std::move(*notes), r.ok());
    }
    if (JobRunner* j = jobs_ ? jobs_() : nullptr; j != nullptr && !job_changes->empty()) {
      j->committed(std::move(*job_changes), r.ok(),
                   r.ok() ? static_cast<std::uint64_t>(r->lsn) : 0);
    }
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
      if (op.table == "events") back.insert(back.end(), op.rows.begin(), op.rows.end());
    }
    pending_.insert(pending_.begin(), std::make_move_iterator(back.begin()),
                    std::make_move_iterator(back.end()));
    pending_occ_.insert(pending_occ_.begin(), std::make_move_iterator(occurrences.begin()),
                        std::make_move_iterator(occurrences.end()));
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

}  // namespace duet::manager
