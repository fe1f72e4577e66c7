#include "snmp/get_exchange.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "snmp/errors.h"
#include "snmp/notification.h"
#include "snmp/usm_message.h"

namespace duet::snmp {
namespace {

// Report counters outside USM (RFC 3412 snmpMPDStats, RFC 3413 target MIB).
const Oid kSnmpUnknownSecurityModels0{1, 3, 6, 1, 6, 3, 11, 2, 1, 1, 0};
const Oid kSnmpInvalidMsgs0{1, 3, 6, 1, 6, 3, 11, 2, 1, 2, 0};
const Oid kSnmpUnknownPduHandlers0{1, 3, 6, 1, 6, 3, 11, 2, 1, 3, 0};
const Oid kSnmpUnavailableContexts0{1, 3, 6, 1, 6, 3, 12, 1, 4, 0};
const Oid kSnmpUnknownContexts0{1, 3, 6, 1, 6, 3, 12, 1, 5, 0};

// The engine id a discovery probe may learn: what localize_user accepts.
constexpr size_t kMinEngineId = 5;
constexpr size_t kMaxEngineId = 32;
// A placeholder engine id, only to validate a user's settings up front.
const Bytes kCheckEngine{0x80, 0, 0, 0, 0};

Error invalid(std::string what) { return make_error(SnmpErrc::kInvalidArgument, std::move(what)); }

bool same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

bool same_community(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The user with passwords replaced by master keys (Ku), so the megabyte of
// hashing happens once, before anything is sent.
Result<UsmUserConfig> with_master_keys(UsmUserConfig user) {
  const auto derive = [&](std::string& password, Bytes& key, const char* what) -> Status {
    if (password.empty()) return ok_status();
    auto ku = password_to_key(user.auth, password);
    if (!ku.ok()) {
      return invalid("USM user '" + user.name + "': " + what + " password: " + ku.error().message);
    }
    key = std::move(ku).value();
    password.clear();
    return ok_status();
  };
  if (user.auth != AuthProtocol::kNone) {
    DUET_TRY(derive(user.auth_password, user.auth_key, "auth"));
    if (user.priv != PrivProtocol::kNone) {
      DUET_TRY(derive(user.priv_password, user.priv_key, "privacy"));
    }
  }
  DUET_TRY(localize_user(user, kCheckEngine));  // name, key lengths, privacy without auth
  user.engine_id.clear();
  return user;
}

Result<Pdu> check_response(Pdu pdu, const std::vector<Oid>& oids) {
  if (pdu.error_status != 0) return pdu;
  if (pdu.varbinds.size() != oids.size()) {
    return make_error(SnmpErrc::kMalformed, "wrong reply: " + std::to_string(pdu.varbinds.size()) +
                                                " varbinds for " + std::to_string(oids.size()) +
                                                " OIDs asked");
  }
  for (size_t i = 0; i < oids.size(); ++i) {
    if (pdu.varbinds[i].name != oids[i]) {
      return make_error(SnmpErrc::kMalformed, "wrong reply: varbind " + std::to_string(i + 1) +
                                                  " is " + pdu.varbinds[i].name.to_string() +
                                                  ", not " + oids[i].to_string());
    }
  }
  return pdu;
}

SecurityLevel level_of(const UsmUserConfig& user) {
  UsmKeys keys;
  keys.auth = user.auth;
  keys.priv = user.priv;
  return keys.level();
}

// Why the agent sent `report` (which is not a time-window report).
Error report_error(const Pdu& report, const GetTarget& target, const RemoteEngine& engine) {
  if (report.varbinds.empty()) {
    return make_error(SnmpErrc::kUnsupported, "the agent sent a Report without varbinds");
  }
  const Varbind& vb = report.varbinds.front();
  const std::string user = "user '" + target.user.name + "'";
  if (vb.name == oids::kUsmStatsWrongDigests0) {
    return make_error(SnmpErrc::kWrongDigest,
                      "authentication failure: the agent reports a wrong digest "
                      "(usmStatsWrongDigests) for " +
                          user + ": wrong auth password or protocol");
  }
  if (vb.name == oids::kUsmStatsUnknownUserNames0) {
    return make_error(SnmpErrc::kUnknownUser,
                      "the agent does not know " + user + " (usmStatsUnknownUserNames)");
  }
  if (vb.name == oids::kUsmStatsUnsupportedSecLevels0) {
    return make_error(SnmpErrc::kUnsupportedSecurityLevel,
                      "the agent does not allow " + to_string(level_of(target.user)) + " for " +
                          user + " (usmStatsUnsupportedSecLevels)");
  }
  if (vb.name == oids::kUsmStatsDecryptionErrors0) {
    return make_error(SnmpErrc::kDecryptionError,
                      "the agent cannot decrypt the request (usmStatsDecryptionErrors) from " +
                          user + ": wrong privacy password or protocol");
  }
  if (vb.name == oids::kUsmStatsUnknownEngineIds0) {
    return make_error(SnmpErrc::kUnknownEngineId, "the agent does not know engine id " +
                                                      to_hex(engine.engine_id) +
                                                      " (usmStatsUnknownEngineIDs)");
  }
  if (vb.name == oids::kUsmStatsNotInTimeWindows0) {
    return make_error(SnmpErrc::kNotInTimeWindow, "not in the agent's time window");
  }
  std::string what = "the agent sent a Report: " + to_string(vb);
  if (vb.name == kSnmpUnknownContexts0 || vb.name == kSnmpUnavailableContexts0) {
    what = "the agent does not serve context '" +
           std::string(target.context_name.begin(), target.context_name.end()) +
           "' (snmpUnknownContexts/snmpUnavailableContexts)";
  } else if (vb.name == kSnmpUnknownSecurityModels0 || vb.name == kSnmpInvalidMsgs0 ||
             vb.name == kSnmpUnknownPduHandlers0) {
    what += " (the agent refused the message)";
  }
  return make_error(SnmpErrc::kUnsupported, std::move(what));
}

}  // namespace

std::string error_status_name(int32_t status) {
  static constexpr const char* kNames[] = {"noError",
                                           "tooBig",
                                           "noSuchName",
                                           "badValue",
                                           "readOnly",
                                           "genErr",
                                           "noAccess",
                                           "wrongType",
                                           "wrongLength",
                                           "wrongEncoding",
                                           "wrongValue",
                                           "noCreation",
                                           "inconsistentValue",
                                           "resourceUnavailable",
                                           "commitFailed",
                                           "undoFailed",
                                           "authorizationError",
                                           "notWritable",
                                           "inconsistentName"};
  if (status >= 0 && static_cast<size_t>(status) < std::size(kNames)) return kNames[status];
  return "error-status " + std::to_string(status);
}

Result<GetExchange> GetExchange::start(GetTarget target, std::vector<Oid> oids, GetIds ids,
                                       uint64_t now_seconds) {
  if (oids.empty()) return invalid("no OIDs to get");
  if (oids.size() > kMaxGetOids) {
    return invalid(std::to_string(oids.size()) + " OIDs in one Get (at most " +
                   std::to_string(kMaxGetOids) + ")");
  }
  for (const Oid& oid : oids) {
    if (!oid.valid()) return invalid("invalid OID '" + oid.to_string() + "'");
  }
  GetExchange x;
  if (target.version == Version::kV3) {
    DUET_ASSIGN_OR_RETURN(target.user, with_master_keys(std::move(target.user)));
    x.stage_ = Stage::kDiscovery;
    x.stage_index_ = 0;
  } else {
    x.stage_ = Stage::kGet;
    x.stage_index_ = 1;
  }
  x.target_ = std::move(target);
  x.oids_ = std::move(oids);
  x.ids_ = ids;
  x.ids_.msg_id &= 0x3FFFFFFF;  // stays non-negative after + stage
  DUET_TRY(x.build_request(now_seconds));
  return x;
}

Status GetExchange::build_request(uint64_t now_seconds) {
  msg_id_ = ids_.msg_id + stage_index_;
  request_id_ = static_cast<int32_t>(static_cast<uint32_t>(ids_.request_id) +
                                     static_cast<uint32_t>(stage_index_));
  Pdu pdu;
  pdu.type = PduType::kGetRequest;
  pdu.request_id = request_id_;
  for (const Oid& oid : oids_) pdu.varbinds.push_back({oid, Null{}});
  if (target_.version != Version::kV3) {
    DUET_ASSIGN_OR_RETURN(request_,
                          encode_community_message({target_.version, target_.community, pdu}));
    return ok_status();
  }
  if (stage_ == Stage::kDiscovery) {
    DUET_ASSIGN_OR_RETURN(request_, build_discovery_probe(msg_id_, request_id_));
    return ok_status();
  }
  SealParams params;
  params.msg_id = msg_id_;
  params.reportable = true;
  params.level = keys_->level();
  params.engine_id = engine_.engine_id;
  params.engine_boots = engine_.boots;
  const uint64_t elapsed = now_seconds > engine_learnt_at_ ? now_seconds - engine_learnt_at_ : 0;
  params.engine_time =
      static_cast<uint32_t>(std::min<uint64_t>(uint64_t{engine_.time} + elapsed, INT32_MAX));
  params.salt = ids_.salt + static_cast<uint64_t>(stage_index_);
  const ScopedPdu scoped{engine_.engine_id, target_.context_name, std::move(pdu)};
  DUET_ASSIGN_OR_RETURN(request_, seal_v3(params, *keys_, scoped));
  return ok_status();
}

GetExchange::Step GetExchange::ignore(std::string why) {
  ++ignored_;
  last_ignored_ = std::move(why);
  return Step::kIgnored;
}

GetExchange::Step GetExchange::finish(Result<Pdu> outcome) {
  outcome_ = std::move(outcome);
  stage_ = Stage::kDone;
  request_.clear();
  return Step::kDone;
}

GetExchange::Step GetExchange::on_datagram(std::span<const uint8_t> datagram,
                                           uint64_t now_seconds) {
  if (stage_ == Stage::kDone) return ignore("a datagram after the exchange ended");
  if (target_.version == Version::kV3) return on_v3(datagram, now_seconds);
  return on_community(datagram);
}

GetExchange::Step GetExchange::on_community(std::span<const uint8_t> datagram) {
  auto decoded = decode_community_message(datagram);
  if (!decoded.ok()) return ignore("not a v1/v2c message: " + decoded.error().message);
  CommunityMessage& m = decoded.value();
  if (m.version != target_.version) {
    return ignore("a " + to_string(m.version) + " message to a " + to_string(target_.version) +
                  " request");
  }
  if (!same_community(m.community, target_.community)) return ignore("another community");
  const auto* pdu = std::get_if<Pdu>(&m.pdu);
  if (pdu == nullptr || pdu->type != PduType::kResponse) {
    return ignore("a " + to_string(pdu_type(m.pdu)) + ", not a Response");
  }
  if (pdu->request_id != request_id_) {
    return ignore("request-id " + std::to_string(pdu->request_id) + " is not ours");
  }
  return finish(check_response(std::move(*std::get_if<Pdu>(&m.pdu)), oids_));
}

GetExchange::Step GetExchange::on_v3(std::span<const uint8_t> datagram, uint64_t now_seconds) {
  auto decoded = decode_v3_message(datagram);
  if (!decoded.ok()) return ignore("not an SNMPv3 message: " + decoded.error().message);
  const V3Message& m = decoded.value();
  if (m.header.msg_id != msg_id_) {
    return ignore("msgID " + std::to_string(m.header.msg_id) + " is not ours");
  }
  const SecurityLevel level = level_from_flags(m.header.flags);
  if (stage_ == Stage::kDiscovery) {
    if (level != SecurityLevel::kNoAuthNoPriv) {
      return ignore("an authenticated reply to the discovery probe");
    }
    return on_discovery_reply(m, &std::get<ScopedPdu>(m.data).pdu, now_seconds);
  }
  const bool authenticated = level != SecurityLevel::kNoAuthNoPriv;
  const bool ours = m.usm.user_name == keys_->user_name && same(m.usm.engine_id, engine_.engine_id);
  if (authenticated) {
    if (static_cast<int>(level) > static_cast<int>(keys_->level())) {
      return ignore("a reply at " + to_string(level) + ", above the user's " +
                    to_string(keys_->level()));
    }
    if (!ours) return ignore("an authenticated reply for another user or engine");
    if (Status mac = check_v3_mac(datagram, m, *keys_); !mac.ok()) {
      return ignore("a reply whose MAC does not verify: " + mac.error().message);
    }
  }
  auto scoped = open_v3_scoped(m, *keys_);
  if (!scoped.ok()) {
    // The MAC verified: the agent sent it, and it cannot be read.
    const Error& e = scoped.error();
    return finish(make_error(static_cast<SnmpErrc>(e.code.value()),
                             "cannot decrypt the agent's reply: " + e.message));
  }
  Pdu& pdu = scoped->pdu;
  if (pdu.type == PduType::kReport) return on_report(pdu, authenticated, m, now_seconds);
  if (pdu.type != PduType::kResponse)
    return ignore("a " + to_string(pdu.type) + ", not a Response");
  if (level != keys_->level()) {
    return ignore("a Response at " + to_string(level) + " to a " + to_string(keys_->level()) +
                  " request");
  }
  if (!ours) return ignore("a Response for another user or engine");
  if (pdu.request_id != request_id_) {
    return ignore("request-id " + std::to_string(pdu.request_id) + " is not ours");
  }
  return finish(check_response(std::move(pdu), oids_));
}

GetExchange::Step GetExchange::on_discovery_reply(const V3Message& m, const Pdu* pdu,
                                                  uint64_t now_seconds) {
  const bool engine_report = pdu->type == PduType::kReport && !pdu->varbinds.empty() &&
                             pdu->varbinds.front().name == oids::kUsmStatsUnknownEngineIds0;
  if (pdu->type == PduType::kReport && !engine_report) {
    return finish(report_error(*pdu, target_, engine_));
  }
  if (!engine_report && pdu->type != PduType::kResponse) {
    return ignore("a " + to_string(pdu->type) + " to the discovery probe");
  }
  if (m.usm.engine_id.size() < kMinEngineId || m.usm.engine_id.size() > kMaxEngineId) {
    return finish(
        make_error(SnmpErrc::kMalformed,
                   "the agent's engine id " + to_hex(m.usm.engine_id) + " is not 5..32 octets"));
  }
  engine_ = RemoteEngine{m.usm.engine_id, m.usm.engine_boots, m.usm.engine_time};
  engine_learnt_at_ = now_seconds;
  auto keys = localize_user(target_.user, engine_.engine_id);
  if (!keys.ok()) return finish(std::move(keys).take_error());
  keys_ = std::move(keys).value();
  stage_ = Stage::kGet;
  stage_index_ = 1;
  if (Status built = build_request(now_seconds); !built.ok()) {
    return finish(std::move(built).take_error());
  }
  return Step::kSend;
}

GetExchange::Step GetExchange::on_report(const Pdu& report, bool authenticated, const V3Message& m,
                                         uint64_t now_seconds) {
  const bool time_report =
      !report.varbinds.empty() && report.varbinds.front().name == oids::kUsmStatsNotInTimeWindows0;
  if (!time_report) return finish(report_error(report, target_, engine_));
  const std::string reported =
      std::to_string(m.usm.engine_boots) + "/" + std::to_string(m.usm.engine_time);
  if (!authenticated) {
    return finish(make_error(SnmpErrc::kNotInTimeWindow,
                             "not in the agent's time window (an unauthenticated Report with "
                             "boots/time " +
                                 reported + ", not trusted for a retry)"));
  }
  if (time_retried_) {
    return finish(make_error(
        SnmpErrc::kNotInTimeWindow,
        "still not in the agent's time window after a retry (boots/time " + reported + ")"));
  }
  time_retried_ = true;
  engine_.boots = m.usm.engine_boots;
  engine_.time = m.usm.engine_time;
  engine_learnt_at_ = now_seconds;
  stage_index_ = 2;
  if (Status built = build_request(now_seconds); !built.ok()) {
    return finish(std::move(built).take_error());
  }
  return Step::kSend;
}

}  // namespace duet::snmp
