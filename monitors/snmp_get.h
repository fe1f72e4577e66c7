#pragma once

// The SNMP get monitor: a GetRequest for one or more OIDs to an agent at
// host:port (161 by default), v1/v2c with a community or v3 with a USM user
// at any level (noAuthNoPriv, authNoPriv, authPriv; MD5, SHA-1 or SHA-2
// auth, DES or AES-128 privacy). It reports the response time and, per OID,
// the value as text and, for Integer32, Counter32, Counter64, Gauge32 and
// TimeTicks, as a number.
//
// The protocol (v3 engine discovery, the time-window retry, matching replies
// by request-id and msgID, MAC checks) is snmp/get_exchange.h, a pure state
// machine; this is its socket glue. The UDP socket is connected to the
// agent's address, so the kernel drops datagrams from any other address.
//
// Time: every datagram sent waits `timeout` for its answer and is sent again
// up to `retries` times. v3 has up to three stages (discovery, the Get, the
// Get again after a notInTimeWindow report), each with that budget, so a
// check lasts at most 3 * (retries + 1) * timeout.
//
// Blocking: run it on a worker thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "snmp/message.h"
#include "snmp/usm.h"

namespace duet::monitors {

struct SnmpGetCheck {
  std::string host;  // an IP address or a host name
  std::uint16_t port = 161;
  std::vector<std::string> oids;  // numeric, dotted: "1.3.6.1.2.1.1.3.0"
  snmp::Version version = snmp::Version::kV2c;
  std::string community = "public";  // v1, v2c
  // v3: the user, its protocols and passwords (at least 8 characters). The
  // level follows: no auth protocol is noAuthNoPriv, auth without privacy
  // authNoPriv, both authPriv.
  std::string user;
  snmp::AuthProtocol auth = snmp::AuthProtocol::kNone;
  std::string auth_password;
  snmp::PrivProtocol priv = snmp::PrivProtocol::kNone;
  std::string priv_password;
  std::string context;                      // v3 context name; empty: the default context
  std::chrono::milliseconds timeout{2000};  // per datagram sent
  int retries = 1;                          // sends again after a timeout, 0..10
};

// Why a check failed; the result's `error` says it in words.
enum class SnmpGetFailure : std::uint8_t {
  kNone,
  kNetwork,      // cannot resolve the host, no socket, send failed, ICMP port unreachable
  kTimeout,      // no acceptable reply (ignored replies are named in the error)
  kSecurity,     // a USM report (wrong digest, unknown user, level, time window,
                 // decryption error at the agent) or a reply we cannot decrypt
  kWrongReply,   // a Response whose varbinds are not the OIDs asked, or another Report
  kErrorStatus,  // the Response has an error-status
};

std::string to_string(SnmpGetFailure failure);

struct SnmpGetValue {
  std::string oid;   // as asked, numeric
  std::string type;  // "INTEGER", "OCTET STRING", "TimeTicks", ... (snmp::type_name)
  // The value without its type: a string's text (or "0x..." hex when it is
  // not printable UTF-8), numbers in decimal, OIDs dotted (snmp::value_text).
  std::string text;
  std::optional<double> number;  // Integer32, Counter32/64, Gauge32, TimeTicks
  // Why this OID has no value: "noSuchObject", "noSuchInstance",
  // "endOfMibView", or the Response's error-status when it names this OID
  // (or none in particular).
  std::string error;
  bool ok() const { return error.empty(); }
};

struct SnmpGetResult {
  bool answered = false;  // a Response came (whatever its error-status)
  SnmpGetFailure failure = SnmpGetFailure::kNone;
  std::string error;     // why the check failed
  int error_status = 0;  // the Response's
  int error_index = 0;
  std::string engine_id;  // v3: the agent's, "0x..." hex
  // From the first sending of the Get to its Response (a retransmission
  // included); the v3 discovery before it is not.
  std::chrono::microseconds response_time{0};
  std::chrono::microseconds elapsed{0};  // the whole check
  int datagrams_sent = 0;
  std::vector<SnmpGetValue> values;  // once answered: one per OID asked, in order
  // ok(): answered with error-status 0, and every OID has a value.
  bool ok() const;
};

// An error only for invalid arguments (no host, no OIDs or an invalid one,
// port 0, a timeout of 0, retries outside 0..10, v3 without a user, a short
// password, privacy without auth); every failed check is a result.
Result<SnmpGetResult> snmp_get(const SnmpGetCheck& check);

}  // namespace duet::monitors
