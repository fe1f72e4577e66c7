#include "snmp/inbound.h"

#include <openssl/crypto.h>

#include <optional>

#include "snmp/errors.h"
#include "snmp/usm_message.h"

namespace duet::snmp {
namespace {

constexpr uint32_t kTimeWindowSeconds = 150;  // RFC 3414 3.2.7
constexpr uint32_t kMaxBoots = 2147483647;

bool community_known(const std::vector<std::string>& communities, const std::string& community) {
  bool found = false;
  for (const std::string& c : communities) {
    // Constant time per candidate of the same length; no early exit.
    if (c.size() == community.size() && CRYPTO_memcmp(c.data(), community.data(), c.size()) == 0) {
      found = true;
    }
  }
  return found;
}

InboundResult community_inbound(std::span<const uint8_t> datagram, const Credentials& credentials) {
  auto decoded = decode_community_message(datagram);
  if (!decoded.ok()) return {std::move(decoded).take_error(), {}};
  CommunityMessage& msg = decoded.value();
  if (!community_known(credentials.communities, msg.community)) {
    return {make_error(SnmpErrc::kUnknownCommunity,
                       to_string(msg.version) + " community is not configured"),
            {}};
  }
  InboundMessage out;
  out.version = msg.version;
  out.community = std::move(msg.community);
  out.pdu = std::move(msg.pdu);
  return {std::move(out), {}};
}

// Handles one v3 datagram; a failure records the counter and report to send.
class V3Receiver {
 public:
  V3Receiver(std::span<const uint8_t> datagram, const Credentials& credentials,
             const LocalEngine& engine, UsmStats& stats)
      : datagram_(datagram), credentials_(credentials), engine_(engine), stats_(stats) {}

  InboundResult run() {
    auto decoded = decode_v3_message(datagram_);
    if (!decoded.ok()) return {std::move(decoded).take_error(), {}};
    msg_ = std::move(decoded).value();
    const UsmParameters& usm = msg_.usm;
    const SecurityLevel level = level_from_flags(msg_.header.flags);
    if (const auto* scoped = std::get_if<ScopedPdu>(&msg_.data)) {
      type_ = scoped->pdu.type;
      request_id_ = scoped->pdu.request_id;
    }
    const bool local = usm.engine_id == credentials_.users.local_engine_id();

    if (!local && !credentials_.users.knows_engine(usm.engine_id)) {
      return fail(SnmpErrc::kUnknownEngineId,
                  "engine id " + to_hex(usm.engine_id) + " is not known",
                  oids::kUsmStatsUnknownEngineIds0, stats_.unknown_engine_ids);
    }
    const UsmKeys* keys = credentials_.users.find(usm.engine_id, usm.user_name);
    if (keys == nullptr) {
      return fail(
          SnmpErrc::kUnknownUser,
          "user '" + usm.user_name + "' is not configured for engine " + to_hex(usm.engine_id),
          oids::kUsmStatsUnknownUserNames0, stats_.unknown_user_names);
    }
    if (level != keys->level()) {
      return fail(SnmpErrc::kUnsupportedSecurityLevel,
                  "user '" + usm.user_name + "' must use " + to_string(keys->level()) + ", not " +
                      to_string(level),
                  oids::kUsmStatsUnsupportedSecLevels0, stats_.unsupported_sec_levels);
    }
    if (level != SecurityLevel::kNoAuthNoPriv) {
      Status mac = check_v3_mac(datagram_, msg_, *keys);
      if (!mac.ok()) {
        if (mac.error().code != SnmpErrc::kWrongDigest) return {std::move(mac).take_error(), {}};
        return fail(SnmpErrc::kWrongDigest, "user '" + usm.user_name + "': " + mac.error().message,
                    oids::kUsmStatsWrongDigests0, stats_.wrong_digests);
      }
      if (local && !in_time_window()) {
        // Sent authenticated, so the sender can trust our boots/time.
        return fail(SnmpErrc::kNotInTimeWindow,
                    "boots/time " + std::to_string(usm.engine_boots) + "/" +
                        std::to_string(usm.engine_time) + " outside the window of " +
                        std::to_string(engine_.boots) + "/" + std::to_string(engine_.time),
                    oids::kUsmStatsNotInTimeWindows0, stats_.not_in_time_windows, keys);
      }
    }
    auto scoped = open_v3_scoped(msg_, *keys);
    if (!scoped.ok()) {
      if (scoped.error().code != SnmpErrc::kDecryptionError)
        return {std::move(scoped).take_error(), {}};
      return fail(SnmpErrc::kDecryptionError,
                  "user '" + usm.user_name + "': " + scoped.error().message,
                  oids::kUsmStatsDecryptionErrors0, stats_.decryption_errors);
    }
    type_ = scoped->pdu.type;
    request_id_ = scoped->pdu.request_id;
    if (!local && is_confirmed(scoped->pdu.type)) {
      return fail(SnmpErrc::kUnknownEngineId,
                  to_string(scoped->pdu.type) + " must use this manager's engine id, not " +
                      to_hex(usm.engine_id),
                  oids::kUsmStatsUnknownEngineIds0, stats_.unknown_engine_ids);
    }
    InboundMessage out;
    out.version = Version::kV3;
    out.msg_id = msg_.header.msg_id;
    out.level = level;
    out.user_name = usm.user_name;
    out.security_engine_id = usm.engine_id;
    out.engine_boots = usm.engine_boots;
    out.engine_time = usm.engine_time;
    out.context_engine_id = std::move(scoped->context_engine_id);
    out.context_name = std::move(scoped->context_name);
    out.pdu = std::move(scoped->pdu);
    return {std::move(out), {}};
  }

 private:
  bool in_time_window() const {
    if (engine_.boots >= kMaxBoots || msg_.usm.engine_boots != engine_.boots) return false;
    const uint32_t t = msg_.usm.engine_time;
    const uint32_t diff = t > engine_.time ? t - engine_.time : engine_.time - t;
    return diff <= kTimeWindowSeconds;
  }

  // Counts the error and, for a reportable message not known to be a trap,
  // builds the Report (authNoPriv with `keys` when given, else noAuthNoPriv).
  InboundResult fail(SnmpErrc code, std::string message, const Oid& counter_oid, uint32_t& counter,
                     const UsmKeys* keys = nullptr) {
    ++counter;
    InboundResult result{make_error(code, std::move(message)), {}};
    const bool reportable = (msg_.header.flags & msg_flags::kReportable) != 0;
    if (!reportable || (type_.has_value() && !is_confirmed(*type_))) return result;
    ScopedPdu report;
    report.context_engine_id = engine_.engine_id;
    if (const auto* scoped = std::get_if<ScopedPdu>(&msg_.data)) {
      report.context_name = scoped->context_name;
    }
    report.pdu.type = PduType::kReport;
    report.pdu.request_id = request_id_;
    report.pdu.varbinds.push_back({counter_oid, Counter32{counter}});
    SealParams params;
    params.msg_id = msg_.header.msg_id;
    params.max_size = 65507;
    params.engine_id = engine_.engine_id;
    params.engine_boots = engine_.boots;
    params.engine_time = engine_.time;
    UsmKeys anonymous;
    anonymous.user_name = msg_.usm.user_name;
    if (keys != nullptr) params.level = SecurityLevel::kAuthNoPriv;
    auto sealed = seal_v3(params, keys != nullptr ? *keys : anonymous, report);
    if (sealed.ok()) result.report = std::move(sealed).value();
    return result;
  }

  std::span<const uint8_t> datagram_;
  const Credentials& credentials_;
  const LocalEngine& engine_;
  UsmStats& stats_;
  V3Message msg_;
  std::optional<PduType> type_;
  int32_t request_id_ = 0;
};

}  // namespace

InboundResult process_inbound(std::span<const uint8_t> datagram, const Credentials& credentials,
                              const LocalEngine& engine, UsmStats& stats) {
  auto version = peek_version(datagram);
  if (!version.ok()) return {std::move(version).take_error(), {}};
  if (*version != Version::kV3) return community_inbound(datagram, credentials);
  return V3Receiver(datagram, credentials, engine, stats).run();
}

Result<Bytes> build_inform_response(const InboundMessage& inform, const Credentials& credentials,
                                    const LocalEngine& engine, uint64_t salt) {
  const auto* request = std::get_if<Pdu>(&inform.pdu);
  if (request == nullptr || request->type != PduType::kInformRequest) {
    return make_error(SnmpErrc::kInvalidArgument, "a Response is built only for an InformRequest");
  }
  Pdu response;
  response.type = PduType::kResponse;
  response.request_id = request->request_id;
  response.varbinds = request->varbinds;
  if (inform.version != Version::kV3) {
    return encode_community_message({inform.version, inform.community, std::move(response)});
  }
  const UsmKeys* keys = credentials.users.find(engine.engine_id, inform.user_name);
  if (keys == nullptr) {
    return make_error(SnmpErrc::kUnknownUser, "user '" + inform.user_name + "' is not configured");
  }
  SealParams params;
  params.msg_id = inform.msg_id;
  params.level = inform.level;
  params.engine_id = engine.engine_id;
  params.engine_boots = engine.boots;
  params.engine_time = engine.time;
  params.salt = salt;
  ScopedPdu scoped{inform.context_engine_id, inform.context_name, std::move(response)};
  return seal_v3(params, *keys, scoped);
}

}  // namespace duet::snmp
