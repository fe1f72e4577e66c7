#pragma once

// From the `receivers.snmp` configuration to what the SNMP receiver needs:
// its options and its credentials (communities, and the USM users localized
// to this manager's engine id and to each trap sender's). Localizing hashes a
// megabyte per password and engine, so this runs once, at start-up, on any
// thread. Errors name the user (never a password) and why.

#include <string>

#include "common/intake_config.h"
#include "common/result.h"
#include "intake/snmp_receiver.h"
#include "snmp/inbound.h"

namespace duet::intake {

struct SnmpReceiverSetup {
  SnmpReceiverOptions options;
  snmp::Credentials credentials;
};

// `config.udp` must be set. The engine id is the configured one or the
// default derived from `node_name` (common/intake_config.h).
Result<SnmpReceiverSetup> snmp_receiver_setup(const SnmpReceiverConfig& config,
                                              const std::string& node_name);

// snmpEngineBoots (RFC 3414, 2.2.2): how many times this manager's SNMP
// engine started, kept in the local file `path` (one per manager: the engine
// id is the manager's own). Reads it, adds one (it stays at 2147483647 once
// there), writes it back durably (temporary file, fsync, rename) and returns
// the new value; a missing file counts as 0. An unreadable or malformed file
// is an error naming it: the manager refuses to start rather than reuse a
// value, which would let an old v3 message be replayed.
Result<std::uint32_t> next_engine_boots(const std::string& path);

}  // namespace duet::intake
