#pragma once

// Recognizes a retransmitted SNMP inform (its Response was lost), so the
// receiver answers it again but hands it on only once. Pure: time is passed
// in; no threads, no sockets. Thread-compatible (the receiver uses it on its
// own thread).
//
// An inform's id is its source address and port, version, community or
// (user, context engine id), request-id, and its identity key (snmp/identity.h:
// type and varbinds). Not the v3 msgID: RFC 3412 6.2 asks senders to use a
// new msgID for each retransmission (net-snmp does), while the PDU and its
// request-id stay the same. The identity key keeps two different informs
// that happen to reuse a request-id apart.
//
// Each id is remembered for `window` from when it was first seen (not
// refreshed by retransmissions); at most `max_entries` ids are kept, the
// oldest forgotten first. A forgotten id's next retransmission is delivered
// again: downstream pair dedup still sees one key, emitted twice.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "snmp/inbound.h"

namespace duet::intake {

// The id of an accepted InformRequest from `source`:`port`.
std::string inform_id(std::string_view source, std::uint16_t port,
                      const snmp::InboundMessage& inform);

class InformCache {
 public:
  struct Options {
    std::chrono::seconds window{60};
    std::size_t max_entries = 10000;
  };

  explicit InformCache(Options options) : options_(options) {}

  // True when `id` was seen within the window: a retransmission. Otherwise
  // remembers it and returns false.
  bool seen_before(const std::string& id, TimePoint now);

  std::size_t size() const { return first_seen_.size(); }
  // Ids forgotten because the cache was full (not by age).
  std::uint64_t evicted() const { return evicted_; }

 private:
  void expire(TimePoint now);

  Options options_;
  std::map<std::string, TimePoint, std::less<>> first_seen_;
  std::deque<std::pair<TimePoint, std::string>> order_;  // oldest first
  std::uint64_t evicted_ = 0;
};

}  // namespace duet::intake
