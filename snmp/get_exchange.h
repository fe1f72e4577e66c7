#pragma once

// The requesting side of one SNMP Get (RFC 3416 4.2.1), as a pure state
// machine: no sockets, no clocks, no threads. The caller sends request(),
// feeds every datagram that came from the agent's address to on_datagram(),
// and sends request() again when its own timer runs out.
//
// v1/v2c: one GetRequest with the community; the answer is the Response with
// the same version, community and request-id. Anything else is ignored.
//
// v3 (USM, RFC 3412 7 and RFC 3414 3 and 4):
// 1. Discovery: an empty, reportable noAuthNoPriv GetRequest with no engine
//    id and no user. The agent's Report (usmStatsUnknownEngineIDs) carries
//    its engine id, boots and time; the user's keys are then localized to
//    that engine id.
// 2. The Get at the user's level, with the agent as the authoritative engine
//    and its time estimated as (reported time + seconds since the Report).
// 3. An authenticated usmStatsNotInTimeWindows Report (the agent rebooted,
//    or our estimate is off) gives the agent's boots/time: the Get is built
//    again with them, once. A second one ends the exchange.
// Replies are matched by msgID (the current stage's; each stage has its own)
// and, for a Response, request-id. A Response must come at the request's
// security level from the agent's engine for our user, and its MAC must
// verify (full length, constant time, snmp/usm_message.h); an authenticated
// Report must verify too. A reply that fails those checks is ignored (it
// may be spoofed; last_ignored() says why), except a Response whose MAC
// verifies but that cannot be decrypted, which ends the exchange.
// Any other Report ends the exchange with its counter's error code:
// kWrongDigest, kUnknownUser, kUnsupportedSecurityLevel, kDecryptionError,
// kUnknownEngineId, kNotInTimeWindow, or kUnsupported for others.
//
// The outcome is the Response PDU: its error-status and the noSuchObject,
// noSuchInstance and endOfMibView values in it are the caller's to read. A
// Response with error-status 0 whose varbinds are not the requested names in
// the requested order is kMalformed ("wrong reply").
//
// Single-threaded value type.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "snmp/message.h"
#include "snmp/usm_user.h"

namespace duet::snmp {

inline constexpr size_t kMaxGetOids = 128;

struct GetTarget {
  Version version = Version::kV2c;
  std::string community;  // v1, v2c
  // v3: the user's name, protocols and passwords (or master keys). The
  // security level follows from the protocols; engine_id is not used (the
  // agent's is discovered).
  UsmUserConfig user;
  Bytes context_name;  // v3; empty: the default context
};

// Starting values, random from the caller: stage k uses request_id + k and
// msg_id + k (msgIDs are kept non-negative).
struct GetIds {
  int32_t request_id = 0;
  int32_t msg_id = 0;
  uint64_t salt = 0;  // v3 privacy; see encrypt()
};

// The agent's engine as the exchange has learnt it.
struct RemoteEngine {
  Bytes engine_id;
  uint32_t boots = 0;
  uint32_t time = 0;
};

class GetExchange {
 public:
  enum class Stage { kDiscovery, kGet, kDone };
  enum class Step {
    kIgnored,  // not ours, or not acceptable: keep waiting
    kSend,     // a new stage: send request() now
    kDone,     // outcome() is set
  };

  // kInvalidArgument for: no OIDs or more than kMaxGetOids, an invalid OID,
  // version v3 with an unusable user (name, short password, privacy without
  // auth). The v3 passwords are turned into master keys here (a megabyte of
  // hashing each). `now_seconds`: the caller's monotonic time in seconds.
  static Result<GetExchange> start(GetTarget target, std::vector<Oid> oids, GetIds ids,
                                   uint64_t now_seconds);

  Stage stage() const { return stage_; }
  // The datagram of the current stage (empty once kDone).
  const Bytes& request() const { return request_; }

  Step on_datagram(std::span<const uint8_t> datagram, uint64_t now_seconds);

  // Set once stage() is kDone: the Response, or why there is none.
  const std::optional<Result<Pdu>>& outcome() const { return outcome_; }
  // v3: the agent's engine (after discovery).
  const RemoteEngine& engine() const { return engine_; }
  // Datagrams ignored so far, and why the last one was.
  int ignored() const { return ignored_; }
  const std::string& last_ignored() const { return last_ignored_; }

 private:
  GetExchange() = default;

  Status build_request(uint64_t now_seconds);
  Step ignore(std::string why);
  Step finish(Result<Pdu> outcome);
  Step on_community(std::span<const uint8_t> datagram);
  Step on_v3(std::span<const uint8_t> datagram, uint64_t now_seconds);
  Step on_discovery_reply(const V3Message& message, const Pdu* pdu, uint64_t now_seconds);
  Step on_report(const Pdu& report, bool authenticated, const V3Message& message,
                 uint64_t now_seconds);

  GetTarget target_;
  std::vector<Oid> oids_;
  GetIds ids_;
  Stage stage_ = Stage::kGet;
  int stage_index_ = 0;  // 0 discovery (v3), then 1 the Get, 2 the Get after a time-window report
  int32_t msg_id_ = 0;
  int32_t request_id_ = 0;
  Bytes request_;
  RemoteEngine engine_;
  uint64_t engine_learnt_at_ = 0;  // now_seconds when engine_.time was reported
  std::optional<UsmKeys> keys_;    // localized to engine_.engine_id
  bool time_retried_ = false;
  std::optional<Result<Pdu>> outcome_;
  int ignored_ = 0;
  std::string last_ignored_;
};

// RFC 3416 error-status names: "noError", "tooBig", "noSuchName", ...,
// "inconsistentName"; "error-status N" for others.
std::string error_status_name(int32_t status);

}  // namespace duet::snmp
