#pragma once

// SNMP PDUs (RFC 1157 Trap-PDU; RFC 3416 PDUs) and their BER form.
//
// Pdu covers every PDU with the common layout (request-id, error-status,
// error-index, varbinds); for GetBulkRequest error_status/error_index carry
// non-repeaters/max-repetitions. TrapV1Pdu is the SNMPv1 Trap-PDU. AnyPdu is
// either. decode_pdu accepts any of the ten PDU tags; which ones a message
// version may carry is checked by the message layer (see allowed_in()).
// Pure values and functions.

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "snmp/ber.h"
#include "snmp/value.h"

namespace duet::snmp {

enum class PduType : uint8_t {
  kGetRequest = 0xA0,
  kGetNextRequest = 0xA1,
  kResponse = 0xA2,
  kSetRequest = 0xA3,
  kTrapV1 = 0xA4,
  kGetBulkRequest = 0xA5,
  kInformRequest = 0xA6,
  kTrapV2 = 0xA7,
  kReport = 0xA8,
};

std::string to_string(PduType type);

// RFC 3411 2.8: a PDU of the Confirmed Class expects a Response (or Report).
bool is_confirmed(PduType type);

struct Pdu {
  PduType type = PduType::kTrapV2;
  int32_t request_id = 0;
  int32_t error_status = 0;  // GetBulkRequest: non-repeaters
  int32_t error_index = 0;   // GetBulkRequest: max-repetitions
  std::vector<Varbind> varbinds;
  bool operator==(const Pdu&) const = default;
};

struct TrapV1Pdu {
  Oid enterprise;
  std::array<uint8_t, 4> agent_addr{};
  int32_t generic_trap = 0;  // 0 coldStart .. 5 egpNeighborLoss, 6 enterpriseSpecific
  int32_t specific_trap = 0;
  uint32_t time_stamp = 0;  // TimeTicks
  std::vector<Varbind> varbinds;
  bool operator==(const TrapV1Pdu&) const = default;
};

using AnyPdu = std::variant<Pdu, TrapV1Pdu>;

PduType pdu_type(const AnyPdu& pdu);
const std::vector<Varbind>& varbinds_of(const AnyPdu& pdu);

void encode_varbinds(BerWriter& writer, const std::vector<Varbind>& varbinds);
Result<std::vector<Varbind>> decode_varbinds(BerReader& reader);

void encode_pdu(BerWriter& writer, const AnyPdu& pdu);
// Reads one PDU from `reader` (which must be positioned at it).
Result<AnyPdu> decode_pdu(BerReader& reader);

// The varbinds of an SNMPv2 notification: sysUpTime.0, snmpTrapOID.0, then `rest`.
std::vector<Varbind> notification_varbinds(uint32_t sys_uptime, const Oid& trap_oid,
                                           std::vector<Varbind> rest);

}  // namespace duet::snmp
