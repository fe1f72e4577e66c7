#include "intake/snmp_inform_cache.h"

#include "snmp/identity.h"

namespace duet::intake {
namespace {

// Length-prefixed, so no field can run into the next.
void append(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

std::string_view view(const snmp::Bytes& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

std::string inform_id(std::string_view source, std::uint16_t port,
                      const snmp::InboundMessage& inform) {
  std::string id;
  append(id, source);
  append(id, std::to_string(port));
  append(id, std::to_string(static_cast<int>(inform.version)));
  if (inform.version == snmp::Version::kV3) {
    append(id, inform.user_name);
    append(id, view(inform.context_engine_id));
    append(id, view(inform.context_name));
  } else {
    append(id, inform.community);
  }
  int32_t request_id = 0;
  if (const auto* pdu = std::get_if<snmp::Pdu>(&inform.pdu)) request_id = pdu->request_id;
  append(id, std::to_string(request_id));
  append(id, view(snmp::identity_key(inform.pdu)));
  return id;
}

bool InformCache::seen_before(const std::string& id, TimePoint now) {
  expire(now);
  if (first_seen_.contains(id)) return true;
  while (!order_.empty() && first_seen_.size() >= options_.max_entries) {
    first_seen_.erase(order_.front().second);
    order_.pop_front();
    ++evicted_;
  }
  if (options_.max_entries == 0) return false;
  first_seen_.emplace(id, now);
  order_.emplace_back(now, id);
  return false;
}

void InformCache::expire(TimePoint now) {
  while (!order_.empty() && now - order_.front().first >= options_.window) {
    first_seen_.erase(order_.front().second);
    order_.pop_front();
  }
}

}  // namespace duet::intake
