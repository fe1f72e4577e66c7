#pragma once

// The receiving side of a manager: one datagram in, a decoded message or a
// classified error out (RFC 3412 7.2 and RFC 3414 3.2, as a trap/inform
// receiver needs them). A pure function of its arguments: no sockets, no
// clock (the caller passes the local engine's boots and time), no threads.
//
// Security decisions:
// - v1/v2c: the community must be configured (compared in constant time);
//   Trap-v1 is accepted only in v1, v2 PDUs only in v2c.
// - v3 (USM only): the engine id must be this manager's own (informs and other
//   confirmed PDUs: the receiver is authoritative) or one configured for a
//   trap sender; the user must exist for that engine; the message must use
//   exactly the user's configured level (a lower level would let anyone spoof
//   an authenticated user's traps); the MAC is checked at full length; for
//   the manager's own engine, boots and time must be within 150 s; then the
//   scopedPDU is decrypted. An InformRequest addressed to another engine is
//   kUnknownEngineId. Traps carry their sender's boots/time, which are
//   returned but not checked (the receiver does not track each sender's clock).
// - Every USM failure bumps the matching counter in UsmStats and, when the
//   message is reportable and not a trap, yields a Report to send back to the
//   source: this is also how a sender discovers the engine id, boots and time
//   (an empty request with an unknown engine id gets usmStatsUnknownEngineIDs).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "snmp/message.h"
#include "snmp/usm_user.h"

namespace duet::snmp {

// This manager's SNMP engine as it stands now.
struct LocalEngine {
  Bytes engine_id;
  uint32_t boots = 1;  // snmpEngineBoots: persisted, +1 per start
  uint32_t time = 0;   // snmpEngineTime: seconds since boots last changed
};

// RFC 3414 usmStats counters; process_inbound increments them.
struct UsmStats {
  uint32_t unsupported_sec_levels = 0;
  uint32_t not_in_time_windows = 0;
  uint32_t unknown_user_names = 0;
  uint32_t unknown_engine_ids = 0;
  uint32_t wrong_digests = 0;
  uint32_t decryption_errors = 0;
};

// What the configuration accepts. Built once, read-only afterwards.
struct Credentials {
  std::vector<std::string> communities;
  UsmUserTable users;  // holds the local engine id
};

struct InboundMessage {
  Version version = Version::kV2c;
  std::string community;  // v1/v2c
  // v3 only:
  int32_t msg_id = 0;
  SecurityLevel level = SecurityLevel::kNoAuthNoPriv;
  std::string user_name;
  Bytes security_engine_id;  // msgAuthoritativeEngineID
  uint32_t engine_boots = 0;
  uint32_t engine_time = 0;
  Bytes context_engine_id;
  Bytes context_name;

  AnyPdu pdu;
};

struct InboundResult {
  // The message, or why it was refused (an SnmpErrc: count it by code).
  Result<InboundMessage> message;
  // When not empty: a Report to send back to the datagram's source.
  Bytes report;
};

InboundResult process_inbound(std::span<const uint8_t> datagram, const Credentials& credentials,
                              const LocalEngine& engine, UsmStats& stats);

// The Response to an accepted InformRequest: same version, community or user
// and security level, same request-id (and msgID), same varbinds; for v3 the
// manager's engine is authoritative. `salt` is for v3 privacy (random_salt()).
Result<Bytes> build_inform_response(const InboundMessage& inform, const Credentials& credentials,
                                    const LocalEngine& engine, uint64_t salt);

}  // namespace duet::snmp
