#include "snmp/pdu.h"

#include "snmp/errors.h"

namespace duet::snmp {

std::string to_string(PduType type) {
  switch (type) {
    case PduType::kGetRequest:
      return "GetRequest";
    case PduType::kGetNextRequest:
      return "GetNextRequest";
    case PduType::kResponse:
      return "Response";
    case PduType::kSetRequest:
      return "SetRequest";
    case PduType::kTrapV1:
      return "Trap-v1";
    case PduType::kGetBulkRequest:
      return "GetBulkRequest";
    case PduType::kInformRequest:
      return "InformRequest";
    case PduType::kTrapV2:
      return "SNMPv2-Trap";
    case PduType::kReport:
      return "Report";
  }
  return "unknown";
}

bool is_confirmed(PduType type) {
  switch (type) {
    case PduType::kGetRequest:
    case PduType::kGetNextRequest:
    case PduType::kSetRequest:
    case PduType::kGetBulkRequest:
    case PduType::kInformRequest:
      return true;
    default:
      return false;
  }
}

PduType pdu_type(const AnyPdu& pdu) {
  if (const auto* p = std::get_if<Pdu>(&pdu)) return p->type;
  return PduType::kTrapV1;
}

const std::vector<Varbind>& varbinds_of(const AnyPdu& pdu) {
  if (const auto* p = std::get_if<Pdu>(&pdu)) return p->varbinds;
  return std::get<TrapV1Pdu>(pdu).varbinds;
}

void encode_varbinds(BerWriter& w, const std::vector<Varbind>& varbinds) {
  const size_t list = w.open(tag::kSequence);
  for (const Varbind& vb : varbinds) {
    const size_t one = w.open(tag::kSequence);
    w.oid(vb.name);
    encode_value(w, vb.value);
    w.close(one);
  }
  w.close(list);
}

Result<std::vector<Varbind>> decode_varbinds(BerReader& reader) {
  DUET_ASSIGN_OR_RETURN(BerReader list, reader.enter(tag::kSequence));
  std::vector<Varbind> out;
  while (!list.at_end()) {
    DUET_ASSIGN_OR_RETURN(BerReader one, list.enter(tag::kSequence));
    Varbind vb;
    DUET_ASSIGN_OR_RETURN(vb.name, one.read_oid());
    DUET_ASSIGN_OR_RETURN(vb.value, decode_value(one));
    DUET_TRY(one.expect_end());
    out.push_back(std::move(vb));
  }
  return out;
}

void encode_pdu(BerWriter& w, const AnyPdu& any) {
  if (const auto* trap = std::get_if<TrapV1Pdu>(&any)) {
    const size_t mark = w.open(static_cast<uint8_t>(PduType::kTrapV1));
    w.oid(trap->enterprise);
    w.octets(trap->agent_addr, tag::kIpAddress);
    w.integer(trap->generic_trap);
    w.integer(trap->specific_trap);
    w.unsigned_integer(trap->time_stamp, tag::kTimeTicks);
    encode_varbinds(w, trap->varbinds);
    w.close(mark);
    return;
  }
  const Pdu& pdu = std::get<Pdu>(any);
  const size_t mark = w.open(static_cast<uint8_t>(pdu.type));
  w.integer(pdu.request_id);
  w.integer(pdu.error_status);
  w.integer(pdu.error_index);
  encode_varbinds(w, pdu.varbinds);
  w.close(mark);
}

Result<AnyPdu> decode_pdu(BerReader& reader) {
  DUET_ASSIGN_OR_RETURN(Tlv peek, BerReader(reader).read_any());
  const uint8_t t = peek.tag;
  if (t < static_cast<uint8_t>(PduType::kGetRequest) ||
      t > static_cast<uint8_t>(PduType::kReport)) {
    return make_error(SnmpErrc::kMalformed, "unknown PDU tag " + std::to_string(t));
  }
  DUET_ASSIGN_OR_RETURN(BerReader body, reader.enter(t));
  if (t == static_cast<uint8_t>(PduType::kTrapV1)) {
    TrapV1Pdu trap;
    DUET_ASSIGN_OR_RETURN(trap.enterprise, body.read_oid());
    DUET_ASSIGN_OR_RETURN(Tlv addr, body.read(tag::kIpAddress));
    if (addr.value.size() != 4) {
      return make_error(SnmpErrc::kMalformed, "Trap-v1 agent-addr is not 4 octets");
    }
    std::copy(addr.value.begin(), addr.value.end(), trap.agent_addr.begin());
    DUET_ASSIGN_OR_RETURN(trap.generic_trap, body.read_int32());
    if (trap.generic_trap < 0 || trap.generic_trap > 6) {
      return make_error(
          SnmpErrc::kMalformed,
          "Trap-v1 generic-trap " + std::to_string(trap.generic_trap) + " not in 0..6");
    }
    DUET_ASSIGN_OR_RETURN(trap.specific_trap, body.read_int32());
    DUET_ASSIGN_OR_RETURN(trap.time_stamp, body.read_uint32(tag::kTimeTicks));
    DUET_ASSIGN_OR_RETURN(trap.varbinds, decode_varbinds(body));
    DUET_TRY(body.expect_end());
    return AnyPdu(std::move(trap));
  }
  Pdu pdu;
  pdu.type = static_cast<PduType>(t);
  DUET_ASSIGN_OR_RETURN(pdu.request_id, body.read_int32());
  DUET_ASSIGN_OR_RETURN(pdu.error_status, body.read_int32());
  DUET_ASSIGN_OR_RETURN(pdu.error_index, body.read_int32());
  DUET_ASSIGN_OR_RETURN(pdu.varbinds, decode_varbinds(body));
  DUET_TRY(body.expect_end());
  return AnyPdu(std::move(pdu));
}

std::vector<Varbind> notification_varbinds(uint32_t sys_uptime, const Oid& trap_oid,
                                           std::vector<Varbind> rest) {
  std::vector<Varbind> out;
  out.reserve(rest.size() + 2);
  out.push_back({oids::kSysUpTime0, TimeTicks{sys_uptime}});
  out.push_back({oids::kSnmpTrapOid0, trap_oid});
  for (Varbind& vb : rest) out.push_back(std::move(vb));
  return out;
}

}  // namespace duet::snmp
