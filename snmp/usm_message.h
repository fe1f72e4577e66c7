#pragma once

// Sealing and opening SNMPv3 messages with USM keys (RFC 3414 3.1 and 3.2,
// the crypto steps only; which keys to use is the caller's decision).
//
// seal_v3: encodes the message with the MAC field zeroed, encrypts the
// scopedPDU when the level has privacy, then writes the MAC into place.
// check_v3_mac: recomputes the MAC over the raw datagram with the MAC field
// zeroed and compares the full length in constant time.
// open_v3_scoped: the plaintext scopedPDU, decrypting when needed.
// Pure functions.

#include <cstdint>
#include <span>

#include "common/result.h"
#include "snmp/message.h"
#include "snmp/usm_user.h"

namespace duet::snmp {

struct SealParams {
  int32_t msg_id = 0;
  int32_t max_size = 65507;
  bool reportable = false;
  SecurityLevel level = SecurityLevel::kNoAuthNoPriv;
  Bytes engine_id;  // the authoritative engine
  uint32_t engine_boots = 0;
  uint32_t engine_time = 0;
  uint64_t salt = 0;  // see encrypt()
};

// `keys` must support `params.level` (kInvalidArgument otherwise).
Result<Bytes> seal_v3(const SealParams& params, const UsmKeys& keys, const ScopedPdu& scoped);

// `datagram` is the raw message `message` was decoded from. kWrongDigest on
// a MAC of the wrong length or value.
Status check_v3_mac(std::span<const uint8_t> datagram, const V3Message& message,
                    const UsmKeys& keys);

// kDecryptionError when the encrypted part cannot be decrypted; kMalformed
// when the plaintext is not a scopedPDU.
Result<ScopedPdu> open_v3_scoped(const V3Message& message, const UsmKeys& keys);

}  // namespace duet::snmp
