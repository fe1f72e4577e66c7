#include "snmp/notification.h"

#include "snmp/errors.h"

namespace duet::snmp {
namespace {

Status check_notification_type(PduType type) {
  if (type != PduType::kTrapV2 && type != PduType::kInformRequest) {
    return make_error(SnmpErrc::kInvalidArgument,
                      to_string(type) + " is not a notification (SNMPv2-Trap or InformRequest)");
  }
  return ok_status();
}

}  // namespace

Result<Bytes> build_v1_trap(const std::string& community, const TrapV1Pdu& trap) {
  return encode_community_message({Version::kV1, community, trap});
}

Result<Bytes> build_v2c_notification(const std::string& community, PduType type, int32_t request_id,
                                     std::vector<Varbind> varbinds) {
  DUET_TRY(check_notification_type(type));
  Pdu pdu;
  pdu.type = type;
  pdu.request_id = request_id;
  pdu.varbinds = std::move(varbinds);
  return encode_community_message({Version::kV2c, community, std::move(pdu)});
}

Result<Bytes> build_v3_notification(SealParams params, const UsmKeys& keys, PduType type,
                                    int32_t request_id, std::vector<Varbind> varbinds) {
  DUET_TRY(check_notification_type(type));
  params.reportable = type == PduType::kInformRequest;
  ScopedPdu scoped;
  scoped.context_engine_id = params.engine_id;
  scoped.pdu.type = type;
  scoped.pdu.request_id = request_id;
  scoped.pdu.varbinds = std::move(varbinds);
  return seal_v3(params, keys, scoped);
}

Result<Bytes> build_discovery_probe(int32_t msg_id, int32_t request_id) {
  SealParams params;
  params.msg_id = msg_id;
  params.reportable = true;
  ScopedPdu scoped;
  scoped.pdu.type = PduType::kGetRequest;
  scoped.pdu.request_id = request_id;
  return seal_v3(params, UsmKeys{}, scoped);
}

Result<V3Reply> open_v3_reply(std::span<const uint8_t> datagram, const UsmKeys* keys) {
  DUET_ASSIGN_OR_RETURN(V3Message m, decode_v3_message(datagram));
  const SecurityLevel level = level_from_flags(m.header.flags);
  UsmKeys none;
  if (level != SecurityLevel::kNoAuthNoPriv) {
    if (keys == nullptr || static_cast<int>(level) > static_cast<int>(keys->level())) {
      return make_error(SnmpErrc::kUnsupportedSecurityLevel,
                        "reply at " + to_string(level) + " but no keys for it");
    }
    DUET_TRY(check_v3_mac(datagram, m, *keys));
  }
  DUET_ASSIGN_OR_RETURN(ScopedPdu scoped, open_v3_scoped(m, keys != nullptr ? *keys : none));
  return V3Reply{m.header, std::move(m.usm), std::move(scoped)};
}

}  // namespace duet::snmp
