#include "snmp/identity.h"

namespace duet::snmp {

Bytes identity_key(const AnyPdu& pdu) {
  BerWriter w;
  const size_t mark = w.open(tag::kSequence);
  w.integer(static_cast<uint8_t>(pdu_type(pdu)));
  if (const auto* trap = std::get_if<TrapV1Pdu>(&pdu)) {
    w.oid(trap->enterprise);
    w.octets(trap->agent_addr, tag::kIpAddress);
    w.integer(trap->generic_trap);
    w.integer(trap->specific_trap);
    w.unsigned_integer(trap->time_stamp, tag::kTimeTicks);
  }
  encode_varbinds(w, varbinds_of(pdu));
  w.close(mark);
  return w.take();
}

}  // namespace duet::snmp
