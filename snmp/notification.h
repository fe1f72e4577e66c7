#pragma once

// The sending side: building traps and informs (and the discovery probe) as
// a device or a test sender does, and opening the reply to a v3 inform.
// Used by tests, tests/support/snmp_send and later the SNMP-get monitor.
// Pure functions; the caller owns sockets, retries and clocks.
//
// v3 notifications: a trap is sent with the sender's own engine id, boots and
// time (the sender is authoritative); an inform with the receiving manager's
// (found with build_discovery_probe and the Report it provokes).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "snmp/message.h"
#include "snmp/usm_message.h"

namespace duet::snmp {

Result<Bytes> build_v1_trap(const std::string& community, const TrapV1Pdu& trap);

// `type` is kTrapV2 or kInformRequest; `varbinds` should start with sysUpTime.0
// and snmpTrapOID.0 (see notification_varbinds()).
Result<Bytes> build_v2c_notification(const std::string& community, PduType type, int32_t request_id,
                                     std::vector<Varbind> varbinds);

// `params.engine_id` is the authoritative engine (the sender's for a trap,
// the manager's for an inform); the context engine id is the same engine.
// Informs are sent reportable, so USM errors come back as Reports.
Result<Bytes> build_v3_notification(SealParams params, const UsmKeys& keys, PduType type,
                                    int32_t request_id, std::vector<Varbind> varbinds);

// An empty, reportable noAuthNoPriv GetRequest with no engine id and no user
// (RFC 3414 4): the receiver answers with a Report carrying its engine id,
// boots and time.
Result<Bytes> build_discovery_probe(int32_t msg_id, int32_t request_id);

struct V3Reply {
  V3Header header;
  UsmParameters usm;
  ScopedPdu scoped;
};

// Opens a reply from the manager. An authenticated reply is checked (and
// decrypted) with `keys`, which may be nullptr only for noAuthNoPriv replies.
Result<V3Reply> open_v3_reply(std::span<const uint8_t> datagram, const UsmKeys* keys);

}  // namespace duet::snmp
