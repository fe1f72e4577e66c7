#pragma once

// The identity of a trap or inform for duplicate suppression (ARCHITECTURE
// invariant 5): both managers receive the same notification, with a
// request-id and msgID that differ per destination. The identity key is
// canonical BER (minimal lengths, whatever the sender used) of
//   SEQUENCE { pdu-type, [Trap-v1: enterprise, agent-addr, generic-trap,
//              specific-trap, time-stamp,] varbinds (sysUpTime included) }
// and leaves out request-id, error-status/index, message id, version,
// community and all security parameters. The caller adds the source address.
// Note: an inform retransmitted after a lost Response has the same key; a
// receiver that wants to count it once must drop retransmissions itself
// (same source, msgID/request-id) before counting.

#include "snmp/pdu.h"

namespace duet::snmp {

Bytes identity_key(const AnyPdu& pdu);

}  // namespace duet::snmp
