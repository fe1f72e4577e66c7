#pragma once

// Error enum of the snmp module. Every error a datagram from the network can
// cause has its own code, so the receiver can count each class separately
// (malformed, unknown community, unknown user, ...). The category is "snmp".

#include <system_error>

namespace duet::snmp {

enum class SnmpErrc {
  kMalformed = 1,             // not valid BER or not a valid SNMP message
  kUnsupported,               // well formed but not handled (version, security model)
  kUnknownCommunity,          // v1/v2c community not configured
  kUnknownUser,               // v3 user name not configured (usmStatsUnknownUserNames)
  kUnknownEngineId,           // v3 engine id not known (usmStatsUnknownEngineIDs)
  kWrongDigest,               // v3 MAC missing, of the wrong length or wrong (usmStatsWrongDigests)
  kDecryptionError,           // v3 encrypted part cannot be decrypted (usmStatsDecryptionErrors)
  kNotInTimeWindow,           // v3 boots/time outside the window (usmStatsNotInTimeWindows)
  kUnsupportedSecurityLevel,  // v3 level not allowed for the user (usmStatsUnsupportedSecLevels)
  kCrypto,                    // the crypto library failed or lacks an algorithm (e.g. DES)
  kInvalidArgument,           // an encoder or key function was given unusable values
};

const std::error_category& snmp_category();

inline std::error_code make_error_code(SnmpErrc e) {
  return {static_cast<int>(e), snmp_category()};
}

}  // namespace duet::snmp

template <>
struct std::is_error_code_enum<duet::snmp::SnmpErrc> : std::true_type {};
