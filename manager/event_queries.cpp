// EventIntake: queries over the events (duetctl events list/count) and the
// intake's counters.

#include <cstring>

#include "common/errors.h"
#include "manager/event_intake.h"
#include "manager/event_intake_internal.h"

namespace duet::manager {

using namespace intake_internal;

namespace {

void fill_event(const store::Row& row, bool with_raw, duet::v1::Event* e) {
  e->set_id(static_cast<std::uint64_t>(int_of(row, "id")));
  e->set_received_at_ms(int_of(row, "received_at_ms"));
  e->set_node(text_of(row, "node"));
  e->set_source(text_of(row, "source"));
  e->set_source_port(static_cast<std::uint32_t>(int_of(row, "source_port")));
  e->set_protocol(text_of(row, "protocol"));
  e->set_scope(text_of(row, "scope"));
  e->set_host(text_of(row, "host"));
  e->set_priority(text_of(row, "priority"));
  e->set_rule(text_of(row, "rule"));
  e->set_message(text_of(row, "message"));
  e->set_fields_json(text_of(row, "fields"));
  if (e->message().empty() && e->fields_json().empty() && e->protocol().rfind("syslog/", 0) == 0) {
    // Stored without them (EventIntake::emit): parse the raw message again.
    intake::Receipt r;
    r.source = e->source();
    r.received_ms = e->received_at_ms();
    r.raw = text_of(row, "raw");
    r.truncated = int_of(row, "truncated") != 0;
    intake::IntakeItem item = intake::syslog_item(std::move(r));
    e->set_message(std::move(item.message));
    e->set_fields_json(std::move(item.fields_json));
  }
  if (with_raw) e->set_raw(text_of(row, "raw"));
  e->set_truncated(int_of(row, "truncated") != 0);
  e->set_epoch(static_cast<std::uint64_t>(int_of(row, "epoch")));
  const std::string cs = text_of(row, "confirm_state");
  e->set_confirm_state(cs.empty() ? "unconfirmed" : cs);
  e->set_confirmed_by(text_of(row, "confirmed_by"));
  e->set_confirmed_at_ms(int_of(row, "confirmed_at_ms"));
  e->set_confirm_comment(text_of(row, "confirm_comment"));
}

}  // namespace

Result<duet::v1::ListEventsResponse> EventIntake::list(
    const duet::v1::ListEventsRequest& req) const {
  duet::v1::ListEventsResponse resp;
  resp.set_node(config_.node.name);
  const std::size_t limit = req.limit() == 0 ? 100 : req.limit();
  std::size_t found = 0;
  if (req.has_id()) {
    DUET_ASSIGN_OR_RETURN(auto row, store_.get("events", static_cast<std::int64_t>(req.id())));
    if (row) fill_event(*row, req.with_raw(), resp.add_events());
    return resp;
  }
  DUET_TRY(store_.scan_newest_first("events", [&](const store::Row& row) {
    const std::int64_t at = int_of(row, "received_at_ms");
    if (req.has_since_ms() && at < req.since_ms()) return at >= req.since_ms() - kListSlackMs;
    if (!req.source().empty() && text_of(row, "source") != req.source()) return true;
    if (!req.priority().empty() && text_of(row, "priority") != req.priority()) return true;
    if (!req.confirm_state().empty()) {
      const std::string cs = text_of(row, "confirm_state");
      if ((cs.empty() ? std::string("unconfirmed") : cs) != req.confirm_state()) return true;
    }
    fill_event(row, req.with_raw(), resp.add_events());
    return ++found < limit;
  }));
  return resp;
}

Result<duet::v1::CountEventsResponse> EventIntake::count() const {
  duet::v1::CountEventsResponse resp;
  resp.set_node(config_.node.name);
  // The master keeps the counts in intake_state with every batch (replicated
  // like the events): reading them costs nothing, whatever the table's size.
  std::map<std::string, std::int64_t> counts;
  DUET_TRY(store_.scan("intake_state", [&](const store::Row& row) {
    const std::string key = text_of(row, "key");
    if (key.rfind(kCountPrefix, 0) == 0)
      counts[key.substr(std::strlen(kCountPrefix))] = int_of(row, "value");
    return true;
  }));
  if (counts.count("total") == 0) counts = count_events(store_);  // a store from before the counts
  for (const auto& [key, n] : counts) {
    const auto value = static_cast<std::uint64_t>(std::max<std::int64_t>(n, 0));
    if (key == "total") {
      resp.set_total(value);
    } else if (key.rfind("priority.", 0) == 0) {
      (*resp.mutable_by_priority())[key.substr(9)] = value;
    } else if (key.rfind("protocol.", 0) == 0) {
      (*resp.mutable_by_protocol())[key.substr(9)] = value;
    }
  }
  return resp;
}

duet::v1::IntakeCountersResponse EventIntake::counters(const std::string& role) const {
  duet::v1::IntakeCountersResponse resp;
  resp.set_node(config_.node.name);
  resp.set_role(role);
  resp.set_held(held_.size());
  resp.set_expired(expired_);
  resp.set_store_failures(store_failures_);
  resp.set_held_bytes(held_bytes_);
  resp.set_peer_lost(peer_lost_);
  resp.set_unpaired(dedup_.unpaired_local());
  resp.set_unpaired_dropped(dedup_.stats().unpaired_dropped);
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

}  // namespace duet::manager
