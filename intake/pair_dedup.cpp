#include "intake/pair_dedup.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace duet::intake {

DedupKey dedup_key(std::string_view source, std::string_view content) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
  unsigned char n[8];  // little-endian, the same on every host
  for (int i = 0; i < 8; ++i) n[i] = static_cast<unsigned char>(source.size() >> (8 * i));
  EVP_DigestUpdate(ctx, n, sizeof n);
  EVP_DigestUpdate(ctx, source.data(), source.size());
  EVP_DigestUpdate(ctx, content.data(), content.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  DedupKey k;
  std::memcpy(k.data(), md, k.size());
  return k;
}

std::size_t DedupKeyHash::operator()(const DedupKey& k) const noexcept {
  std::size_t h;
  std::memcpy(&h, k.data(), sizeof h);  // already a cryptographic digest
  return h;
}

PairDedup::Verdict PairDedup::on_local(const DedupKey& key, TimePoint now) {
  Entry& e = keys_[key];
  if (!e.peer_pending.empty()) {
    // The standby's copy was not emitted yet: this one is, for both.
    decide(e.peer_pending.front().seq);
    e.peer_pending.pop_front();
    if (e.empty()) keys_.erase(key);
    ++stats_.peer_matched;
    ++stats_.local_emitted;
    return Verdict::kEmit;
  }
  if (!e.peer_emitted.empty()) {
    e.peer_emitted.pop_front();
    if (e.empty()) keys_.erase(key);
    ++stats_.local_duplicates;
    return Verdict::kDuplicate;
  }
  e.local_unmatched.push_back(now);
  expiry_queue_.push_back(Timer{now, key});
  ++stats_.local_emitted;
  return Verdict::kEmit;
}

void PairDedup::on_peer_digest(const DedupKey& key, std::uint64_t seq, TimePoint now) {
  highest_seen_ = std::max(highest_seen_, seq);
  Entry& e = keys_[key];
  if (!e.local_unmatched.empty()) {
    e.local_unmatched.pop_front();
    if (e.empty()) keys_.erase(key);
    ++stats_.peer_matched;
    return;  // decided at once
  }
  undecided_.insert(seq);
  e.peer_pending.push_back(Pending{now, seq});
  grace_queue_.push_back(Timer{now, key});
}

std::vector<std::uint64_t> PairDedup::take_due(TimePoint now) {
  std::vector<std::uint64_t> due;
  while (!grace_queue_.empty() && grace_queue_.front().at + options_.grace <= now) {
    const Timer t = grace_queue_.front();
    grace_queue_.pop_front();
    auto it = keys_.find(t.key);
    if (it == keys_.end()) continue;
    Entry& e = it->second;
    // The oldest pending copy of this key is the one this timer was set for,
    // unless a local copy matched it meanwhile (then nothing is due).
    if (e.peer_pending.empty() || e.peer_pending.front().at != t.at) continue;
    const std::uint64_t seq = e.peer_pending.front().seq;
    e.peer_pending.pop_front();
    e.peer_emitted.push_back(now);
    expiry_queue_.push_back(Timer{now, t.key});
    due.push_back(seq);
    ++stats_.peer_due;
  }
  std::sort(due.begin(), due.end());
  return due;
}

void PairDedup::on_peer_content(std::uint64_t seq) { decide(seq); }

void PairDedup::decide(std::uint64_t seq) { undecided_.erase(seq); }

void PairDedup::reset_peer(std::uint64_t from) {
  for (auto it = keys_.begin(); it != keys_.end();) {
    it->second.peer_pending.clear();
    if (it->second.empty()) {
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  grace_queue_.clear();
  undecided_.clear();
  highest_seen_ = from;
}

void PairDedup::seed_peer_emitted(const DedupKey& key, TimePoint at) {
  keys_[key].peer_emitted.push_back(at);
  expiry_queue_.push_back(Timer{at, key});
}

void PairDedup::expire(TimePoint now) {
  while (!expiry_queue_.empty() && expiry_queue_.front().at + options_.window <= now) {
    const Timer t = expiry_queue_.front();
    expiry_queue_.pop_front();
    auto it = keys_.find(t.key);
    if (it == keys_.end()) continue;
    Entry& e = it->second;
    while (!e.local_unmatched.empty() && e.local_unmatched.front() + options_.window <= now) {
      e.local_unmatched.pop_front();
    }
    while (!e.peer_emitted.empty() && e.peer_emitted.front() + options_.window <= now) {
      e.peer_emitted.pop_front();
    }
    if (e.empty()) keys_.erase(it);
  }
}

std::uint64_t PairDedup::peer_cursor() const {
  if (undecided_.empty()) return highest_seen_;
  return *undecided_.begin() - 1;
}

std::optional<TimePoint> PairDedup::next_due() const {
  if (grace_queue_.empty()) return std::nullopt;
  return grace_queue_.front().at + options_.grace;
}

PromotionPlan plan_promotion(const PromotionInput& input) {
  // Per key: copies the old master emitted, less the ones this node's decided
  // receipts account for (each decided receipt is one of those events,
  // matched or emitted from it), are the old master's own, unmatched copies.
  std::map<DedupKey, std::int64_t> unmatched;
  for (const auto& k : input.events) ++unmatched[k];
  for (const auto& k : input.decided) --unmatched[k];
  PromotionPlan plan;
  std::vector<PromotionInput::Item> undecided = input.undecided;
  std::sort(undecided.begin(), undecided.end(),
            [](const auto& a, const auto& b) { return a.seq < b.seq; });
  for (const auto& r : undecided) {
    auto it = unmatched.find(r.key);
    if (it != unmatched.end() && it->second > 0) {
      --it->second;  // the old master already emitted this copy
    } else {
      plan.emit.push_back(r.seq);
    }
  }
  for (const auto& [k, n] : unmatched) {
    for (std::int64_t i = 0; i < n; ++i) plan.unmatched_events.push_back(k);
  }
  return plan;
}

}  // namespace duet::intake
