#pragma once

// SNMP messages: the outer layer around a PDU.
//
// - v1/v2c (RFC 1157, RFC 1901): SEQUENCE { version, community, PDU }.
//   decode_community_message checks the PDU is allowed in the version:
//   Trap-v1 only in v1; GetBulk, Inform, SNMPv2-Trap and Report only in v2c.
// - v3 (RFC 3412): SEQUENCE { version 3, msgGlobalData, msgSecurityParameters,
//   msgData }. This layer only parses the structure; authentication and
//   encryption are usm_message.h. decode_v3_message keeps the offset of the
//   msgAuthenticationParameters contents in the raw datagram, so the MAC can
//   be checked over the message with that field zeroed.
// Trailing bytes after the outer SEQUENCE are rejected. Pure functions.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "common/result.h"
#include "snmp/pdu.h"

namespace duet::snmp {

enum class Version : int32_t { kV1 = 0, kV2c = 1, kV3 = 3 };

std::string to_string(Version version);

// The version field of any SNMP message (fails on anything but 0, 1 or 3).
Result<Version> peek_version(std::span<const uint8_t> datagram);

struct CommunityMessage {
  Version version = Version::kV2c;
  std::string community;
  AnyPdu pdu;
};

Result<Bytes> encode_community_message(const CommunityMessage& message);
Result<CommunityMessage> decode_community_message(std::span<const uint8_t> datagram);

// msgFlags bits (RFC 3412 6.4).
namespace msg_flags {
inline constexpr uint8_t kAuth = 0x01;
inline constexpr uint8_t kPriv = 0x02;
inline constexpr uint8_t kReportable = 0x04;
}  // namespace msg_flags

inline constexpr int32_t kUsmSecurityModel = 3;
inline constexpr int32_t kMinMaxSize = 484;

struct V3Header {
  int32_t msg_id = 0;
  int32_t max_size = 65507;
  uint8_t flags = 0;
  int32_t security_model = kUsmSecurityModel;
};

// UsmSecurityParameters (RFC 3414 2.4).
struct UsmParameters {
  Bytes engine_id;  // msgAuthoritativeEngineID
  uint32_t engine_boots = 0;
  uint32_t engine_time = 0;
  std::string user_name;
  Bytes auth_params;  // the MAC (zeros while computing it)
  Bytes priv_params;  // the salt
};

struct ScopedPdu {
  Bytes context_engine_id;
  Bytes context_name;
  Pdu pdu;
};

struct V3Message {
  V3Header header;
  UsmParameters usm;
  // The plaintext scopedPDU, or the encrypted one (contents of the OCTET STRING).
  std::variant<ScopedPdu, Bytes> data;
  // Where usm.auth_params' contents start in the decoded datagram.
  size_t auth_params_offset = 0;
};

// Encodes a v3 message; the scopedPDU is encrypted when `data` holds Bytes.
// When `auth_offset` is given it receives where the auth params contents start.
Result<Bytes> encode_v3_message(const V3Message& message, size_t* auth_offset = nullptr);
// Structure only; the security parameters must be USM (model 3) or the
// message is kUnsupported. Flags priv-without-auth are kMalformed.
Result<V3Message> decode_v3_message(std::span<const uint8_t> datagram);

Result<Bytes> encode_scoped_pdu(const ScopedPdu& scoped);
// `allow_padding`: decrypted DES data ends in up to 7 padding octets (RFC 3414 8.1.1.2).
Result<ScopedPdu> decode_scoped_pdu(std::span<const uint8_t> bytes, bool allow_padding);

}  // namespace duet::snmp
