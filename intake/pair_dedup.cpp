#include "intake/pair_dedup.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

namespace duet::intake {

DedupKey dedup_key(std::string_view source, std::string_view content) {
  // The digest is fetched once and each thread keeps its context: setting
  // them up per message cost as much as hashing it.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx holder;
  EVP_MD_CTX* ctx = holder.ctx;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx, sha256, nullptr);
  // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
  unsigned char n[8];  // little-endian, the same on every host
  for (int i = 0; i < 8; ++i) n[i] = static_cast<unsigned char>(source.size() >> (8 * i));
  EVP_DigestUpdate(ctx, n, sizeof n);
  EVP_DigestUpdate(ctx, source.data(), source.size());
  EVP_DigestUpdate(ctx, content.data(), content.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  DedupKey k;
  std::memcpy(k.data(), md, k.size());
  return k;
}

std::size_t DedupKeyHash::operator()(const DedupKey& k) const noexcept {
  std::size_t h;
  std::memcpy(&h, k.data(), sizeof h);  // already a cryptographic digest
  return h;
}

namespace {

template <typename List, typename Pred>
void remove_where(List& list, Pred pred) {
  list.erase(std::remove_if(list.begin(), list.end(), pred), list.end());
}

}  // namespace

bool PairDedup::near(std::int64_t a, std::int64_t b) const {
  const std::int64_t w =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.window).count();
  return a - b <= w && b - a <= w;
}

void PairDedup::drop_if_empty(const DedupKey& key) {
  auto it = keys_.find(key);
  if (it != keys_.end() && it->second.empty()) keys_.erase(it);
}

PairDedup::Verdict PairDedup::on_local(const DedupKey& key, std::int64_t at_ms,
                                       std::uint64_t event_id) {
  Entry& e = keys_[key];
  // The standby's copy, not emitted yet: this event stands for both.
  for (auto it = e.peer_pending.begin(); it != e.peer_pending.end(); ++it) {
    if (!near(it->at_ms, at_ms)) continue;
    decide(it->seq);
    pairs_.push_back({event_id, it->seq});
    e.peer_pending.erase(it);
    drop_if_empty(key);
    ++stats_.peer_matched;
    ++stats_.local_emitted;
    return Verdict::kEmit;
  }
  // The other node's copy, already emitted: this one is a duplicate. One
  // whose content is still awaited is not emitted yet (the standby may
  // restart, or have dropped it): this event stands for both.
  for (auto it = e.peer_emitted.begin(); it != e.peer_emitted.end(); ++it) {
    if (!near(it->at_ms, at_ms)) continue;
    if (it->seq != 0) {
      const std::uint64_t seq = it->seq;
      awaiting_.erase(seq);
      decide(seq);
      pairs_.push_back({event_id, seq});
      e.peer_emitted.erase(it);
      drop_if_empty(key);
      ++stats_.peer_matched;
      ++stats_.local_emitted;
      return Verdict::kEmit;
    }
    if (it->event_id != 0) pairs_.push_back({it->event_id, 0});
    e.peer_emitted.erase(it);
    drop_if_empty(key);
    ++stats_.local_duplicates;
    return Verdict::kDuplicate;
  }
  e.local_unpaired.push_back(Local{at_ms, event_id});
  local_queue_.push_back(Timer{at_ms, key});
  ++unpaired_count_;
  ++stats_.local_emitted;
  return Verdict::kEmit;
}

void PairDedup::on_peer_digest(const DedupKey& key, std::uint64_t seq, std::int64_t at_ms,
                               TimePoint now, std::int64_t now_ms) {
  highest_seen_ = std::max(highest_seen_, seq);
  peer_watermark_ms_ = std::max(peer_watermark_ms_, std::min(at_ms, now_ms));
  if (decided_ahead_.erase(seq) > 0) return;  // paired before a reset: sent again
  Entry& e = keys_[key];
  for (auto it = e.local_unpaired.begin(); it != e.local_unpaired.end(); ++it) {
    if (!near(it->at_ms, at_ms)) continue;
    pairs_.push_back({it->event_id, seq});
    e.local_unpaired.erase(it);
    --unpaired_count_;
    drop_if_empty(key);
    ++stats_.peer_matched;
    return;  // decided at once
  }
  undecided_.insert(seq);
  e.peer_pending.push_back(Pending{at_ms, seq, now});
  grace_queue_.push_back(GraceTimer{now + options_.grace, key, seq});
}

std::vector<std::uint64_t> PairDedup::take_due(TimePoint now) {
  std::vector<std::uint64_t> due;
  while (!grace_queue_.empty() && grace_queue_.front().at <= now) {
    const GraceTimer t = grace_queue_.front();
    grace_queue_.pop_front();
    auto it = keys_.find(t.key);
    if (it == keys_.end()) continue;
    Entry& e = it->second;
    // Still pending (a local copy may have paired with it meanwhile)?
    auto p = std::find_if(e.peer_pending.begin(), e.peer_pending.end(),
                          [&](const Pending& x) { return x.seq == t.seq; });
    if (p == e.peer_pending.end()) continue;
    e.peer_emitted.push_back(Emitted{p->at_ms, p->seq, 0});
    awaiting_[p->seq] = t.key;  // its expiry timer starts once its content is in
    e.peer_pending.erase(p);
    due.push_back(t.seq);
    ++stats_.peer_due;
  }
  std::sort(due.begin(), due.end());
  return due;
}

bool PairDedup::on_peer_content(std::uint64_t seq, std::uint64_t event_id) {
  auto a = awaiting_.find(seq);
  if (a == awaiting_.end()) return false;
  const DedupKey key = a->second;
  awaiting_.erase(a);
  decide(seq);
  pairs_.push_back({event_id, seq});
  // Its emitted entry stays for the window (a late local copy is a duplicate).
  auto it = keys_.find(key);
  if (it == keys_.end()) return true;
  for (auto& x : it->second.peer_emitted) {
    if (x.seq == seq) {
      x.seq = 0;
      emitted_queue_.push_back(Timer{x.at_ms, key});
      break;
    }
  }
  return true;
}

bool PairDedup::on_peer_gone(std::uint64_t seq) {
  auto a = awaiting_.find(seq);
  if (a == awaiting_.end()) return false;
  const DedupKey key = a->second;
  awaiting_.erase(a);
  decide(seq);
  ++stats_.peer_gone;
  // Never emitted: a local copy must not count it.
  auto it = keys_.find(key);
  if (it == keys_.end()) return true;
  remove_where(it->second.peer_emitted, [&](const Emitted& y) { return y.seq == seq; });
  drop_if_empty(key);
  return true;
}

std::vector<ReceiptPair> PairDedup::take_pairs() {
  std::vector<ReceiptPair> out;
  out.swap(pairs_);
  return out;
}

void PairDedup::reset_peer(std::uint64_t from, const std::set<std::uint64_t>& decided) {
  for (auto it = keys_.begin(); it != keys_.end();) {
    Entry& e = it->second;
    e.peer_pending.clear();
    // Due receipts of the old incarnation whose content never came: not events.
    remove_where(e.peer_emitted, [](const Emitted& x) { return x.seq != 0; });
    if (e.empty()) {
      keys_.erase(it++);  // the flat map's erase leaves other iterators valid
    } else {
      ++it;
    }
  }
  grace_queue_.clear();
  undecided_.clear();
  awaiting_.clear();
  decided_ahead_.clear();
  for (std::uint64_t s : decided) {
    if (s > from) decided_ahead_.insert(s);
  }
  highest_seen_ = from;
  peer_watermark_ms_ = INT64_MIN;
}

void PairDedup::seed_unpaired_local(const DedupKey& key, std::int64_t at_ms,
                                    std::uint64_t event_id) {
  keys_[key].local_unpaired.push_back(Local{at_ms, event_id});
  local_queue_.push_back(Timer{at_ms, key});
  ++unpaired_count_;
}

void PairDedup::seed_peer_emitted(const DedupKey& key, std::int64_t at_ms, std::uint64_t event_id) {
  keys_[key].peer_emitted.push_back(Emitted{at_ms, 0, event_id});
  emitted_queue_.push_back(Timer{at_ms, key});
}

void PairDedup::expire(std::int64_t now_ms) {
  const std::int64_t window =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.window).count();
  const std::int64_t hold =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_hold).count();
  // Unpaired local copies: until the peer's receipts are past them by the
  // window (no later digest can pair), or max_hold, or beyond max_unpaired.
  while (!local_queue_.empty()) {
    const Timer t = local_queue_.front();
    const bool paired_out =
        peer_watermark_ms_ != INT64_MIN && t.at_ms + window < peer_watermark_ms_;
    const bool too_old = t.at_ms + std::max(hold, window) < now_ms;
    const bool too_many = unpaired_count_ > options_.max_unpaired;
    if (!paired_out && !too_old && !too_many) break;
    local_queue_.pop_front();
    auto it = keys_.find(t.key);
    if (it == keys_.end()) continue;
    auto& lu = it->second.local_unpaired;
    // The entry this timer was made for, unless a digest paired it meanwhile.
    auto x = std::find_if(lu.begin(), lu.end(), [&](const Local& l) { return l.at_ms == t.at_ms; });
    if (x == lu.end()) continue;
    lu.erase(x);
    --unpaired_count_;
    if (!paired_out) ++stats_.unpaired_dropped;
    if (it->second.empty()) keys_.erase(it);
  }
  // Emitted peer copies: local copies arrive in real time.
  while (!emitted_queue_.empty() && emitted_queue_.front().at_ms + window < now_ms) {
    const Timer t = emitted_queue_.front();
    emitted_queue_.pop_front();
    auto it = keys_.find(t.key);
    if (it == keys_.end()) continue;
    auto& em = it->second.peer_emitted;
    // Not one whose content is awaited (its timer starts when it is in).
    remove_where(em, [&](const Emitted& x) { return x.at_ms == t.at_ms && x.seq == 0; });
    if (it->second.empty()) keys_.erase(it);
  }
}

std::uint64_t PairDedup::peer_cursor() const {
  if (undecided_.empty()) return highest_seen_;
  return *undecided_.begin() - 1;
}

std::optional<TimePoint> PairDedup::next_due() const {
  if (grace_queue_.empty()) return std::nullopt;
  return grace_queue_.front().at;
}

}  // namespace duet::intake
