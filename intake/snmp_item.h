#pragma once

// An accepted SNMP notification (trap or inform, decoded and authenticated by
// snmp/inbound.h) as an IntakeItem. Pure functions; thread-compatible.
//
// - protocol: "snmp/v1", "snmp/v2c" or "snmp/v3".
// - key: dedup_key(source address, snmp::identity_key(pdu)). It leaves out
//   request-id, msgID, community and every security parameter, which differ
//   per destination, so the copies a device sends to both managers match.
// - message: one line, "trap 1.3.6.1.6.3.1.1.5.3 from 10.0.0.1:
//   1.3.6.1.2.1.2.2.1.1.2=2 ..." ("inform" for an InformRequest); the
//   varbinds after sysUpTime.0 and snmpTrapOID.0, with numeric OIDs.
// - fields_json: {version, pdu, community | user + security_level +
//   engine_id, trap_oid, sys_uptime, [v1: enterprise, generic_trap,
//   specific_trap, agent_addr,] varbinds: [{oid, type, value}]}. Never a key
//   or password: the codec's message holds none.
// - fields (for rules): version, pdu, community or user and security_level,
//   trap_oid, sys_uptime, v1's enterprise/generic_trap/specific_trap/
//   agent_addr, and "varbind.<oid>" -> value for every varbind.
// A v1 trap's trap_oid is its SNMPv2 translation (RFC 3584 3.1): generic
// 0..5 -> 1.3.6.1.6.3.1.1.5.(generic+1); 6 -> enterprise.0.specific.

#include <string>

#include "intake/intake_item.h"
#include "snmp/inbound.h"
#include "snmp/mib_names.h"

namespace duet::intake {

// `receipt.raw` holds the datagram; `message` is what process_inbound made of it.
// `names` (may be null): OIDs shown by their MIB names where known.
IntakeItem snmp_item(Receipt receipt, const snmp::InboundMessage& message,
                     const snmp::MibNames* names = nullptr);

// A value without its type, as rules and the message show it: numbers in
// decimal, OIDs dotted, IpAddress dotted quad, an OCTET STRING as text when
// it is printable UTF-8 and "0x..." hex otherwise.
std::string snmp_value_text(const snmp::Value& value);
// The SMI type name: "INTEGER", "OCTET STRING", "OBJECT IDENTIFIER", "IpAddress",
// "Counter32", "Gauge32", "TimeTicks", "Opaque", "Counter64", "NULL",
// "noSuchObject", "noSuchInstance", "endOfMibView".
std::string snmp_type_name(const snmp::Value& value);

}  // namespace duet::intake
