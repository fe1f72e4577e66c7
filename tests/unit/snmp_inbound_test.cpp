// The receiver: every version and security combination, USM failures and
// their Reports, inform responses, and malformed or truncated datagrams.

#include <catch2/catch.hpp>

#include "snmp/errors.h"
#include "snmp/identity.h"
#include "snmp/inbound.h"
#include "snmp/notification.h"
#include "tests/support/snmp_fixtures.h"

namespace duet::snmp {

using testing::all_combos;
using testing::Combo;
using testing::kManagerEngine;
using testing::kSenderEngine;
using testing::level_of;
using testing::sample_varbinds;
using testing::user_config;

namespace {

const Credentials& credentials() {
  static const Credentials c = testing::make_credentials();
  return c;
}

LocalEngine manager_engine() { return LocalEngine{kManagerEngine, 5, 1000}; }

UsmKeys keys_for(const Combo& c, const Bytes& engine) {
  return localize_user(user_config(c), engine).value();
}

// A v3 notification from `combo`'s user: a trap with the sender's engine, an
// inform with the manager's.
Bytes v3_message(const Combo& combo, PduType type, uint32_t boots = 5, uint32_t time = 1000,
                 int32_t request_id = 31) {
  SealParams params;
  params.msg_id = 4000 + request_id;
  params.level = level_of(combo);
  params.engine_id = type == PduType::kTrapV2 ? kSenderEngine : kManagerEngine;
  params.engine_boots = boots;
  params.engine_time = time;
  params.salt = 0x1122334455667788ull;
  return build_v3_notification(params, keys_for(combo, params.engine_id), type, request_id,
                               sample_varbinds())
      .value();
}

InboundResult receive(const Bytes& datagram, UsmStats& stats) {
  return process_inbound(datagram, credentials(), manager_engine(), stats);
}

SnmpErrc code_of(const InboundResult& r) {
  REQUIRE_FALSE(r.message.ok());
  return static_cast<SnmpErrc>(r.message.error().code.value());
}

// The Report's single varbind, opened without keys (noAuthNoPriv) or with them.
Varbind report_varbind(const Bytes& report, const UsmKeys* keys, V3Reply* out = nullptr) {
  auto reply = open_v3_reply(report, keys);
  REQUIRE(reply.ok());
  REQUIRE(reply->scoped.pdu.type == PduType::kReport);
  REQUIRE(reply->scoped.pdu.varbinds.size() == 1);
  if (out != nullptr) *out = *reply;
  return reply->scoped.pdu.varbinds[0];
}

}  // namespace

TEST_CASE("v1 and v2c notifications with a configured community are accepted", "[snmp]") {
  UsmStats stats;
  TrapV1Pdu trap;
  trap.enterprise = Oid{1, 3, 6, 1, 4, 1, 1};
  trap.generic_trap = 2;
  auto v1 = receive(*build_v1_trap("public", trap), stats);
  REQUIRE(v1.message.ok());
  CHECK(v1.message->version == Version::kV1);
  CHECK(std::get<TrapV1Pdu>(v1.message->pdu) == trap);

  auto v2 = receive(*build_v2c_notification("ops", PduType::kTrapV2, 9, sample_varbinds()), stats);
  REQUIRE(v2.message.ok());
  CHECK(std::get<Pdu>(v2.message->pdu).varbinds == sample_varbinds());
  CHECK(v2.report.empty());

  auto bad =
      receive(*build_v2c_notification("secret", PduType::kTrapV2, 9, sample_varbinds()), stats);
  CHECK(code_of(bad) == SnmpErrc::kUnknownCommunity);
  auto prefix =
      receive(*build_v2c_notification("publi", PduType::kTrapV2, 9, sample_varbinds()), stats);
  CHECK(code_of(prefix) == SnmpErrc::kUnknownCommunity);
}

TEST_CASE("v2c inform gets a Response with the same request-id and varbinds", "[snmp]") {
  UsmStats stats;
  auto in = receive(
      *build_v2c_notification("public", PduType::kInformRequest, 777, sample_varbinds()), stats);
  REQUIRE(in.message.ok());
  auto response = build_inform_response(*in.message, credentials(), manager_engine(), 1);
  REQUIRE(response.ok());
  auto back = decode_community_message(*response);
  REQUIRE(back.ok());
  CHECK(back->community == "public");
  const Pdu& pdu = std::get<Pdu>(back->pdu);
  CHECK(pdu.type == PduType::kResponse);
  CHECK(pdu.request_id == 777);
  CHECK(pdu.varbinds == sample_varbinds());
}

TEST_CASE("v3 traps at every level and protocol are accepted", "[snmp]") {
  for (const Combo& combo : all_combos()) {
    INFO(testing::user_name(combo));
    UsmStats stats;
    auto r = receive(v3_message(combo, PduType::kTrapV2, 77, 5), stats);
    REQUIRE(r.message.ok());
    CHECK(r.report.empty());
    CHECK(r.message->level == level_of(combo));
    CHECK(r.message->security_engine_id == kSenderEngine);
    CHECK(r.message->engine_boots == 77);  // a sender's clock is not checked
    const Pdu& pdu = std::get<Pdu>(r.message->pdu);
    CHECK(pdu.type == PduType::kTrapV2);
    CHECK(pdu.varbinds == sample_varbinds());
  }
}

TEST_CASE("v3 informs at every level get an authenticated Response", "[snmp]") {
  for (const Combo& combo : all_combos()) {
    INFO(testing::user_name(combo));
    UsmStats stats;
    auto r = receive(v3_message(combo, PduType::kInformRequest), stats);
    REQUIRE(r.message.ok());
    auto response = build_inform_response(*r.message, credentials(), manager_engine(), 99);
    REQUIRE(response.ok());
    const UsmKeys keys = keys_for(combo, kManagerEngine);
    auto reply = open_v3_reply(*response, &keys);
    REQUIRE(reply.ok());
    CHECK(reply->header.msg_id == 4031);
    CHECK(reply->usm.engine_id == kManagerEngine);
    CHECK(reply->scoped.pdu.type == PduType::kResponse);
    CHECK(reply->scoped.pdu.request_id == 31);
    CHECK(reply->scoped.pdu.varbinds == sample_varbinds());
    CHECK(level_from_flags(reply->header.flags) == level_of(combo));
    CHECK((reply->header.flags & msg_flags::kReportable) == 0);
  }
}

TEST_CASE("v3 discovery: an empty probe gets our engine id, boots and time", "[snmp]") {
  UsmStats stats;
  auto r = receive(*build_discovery_probe(12, 34), stats);
  CHECK(code_of(r) == SnmpErrc::kUnknownEngineId);
  CHECK(stats.unknown_engine_ids == 1);
  REQUIRE_FALSE(r.report.empty());
  V3Reply reply;
  Varbind vb = report_varbind(r.report, nullptr, &reply);
  CHECK(vb.name == oids::kUsmStatsUnknownEngineIds0);
  CHECK(vb.value == Value(Counter32{1}));
  CHECK(reply.header.msg_id == 12);
  CHECK(reply.scoped.pdu.request_id == 34);
  CHECK(reply.usm.engine_id == kManagerEngine);
  CHECK(reply.usm.engine_boots == 5);
  CHECK(reply.usm.engine_time == 1000);
}

TEST_CASE("v3 inform outside the time window gets an authenticated Report", "[snmp]") {
  const Combo combo{AuthProtocol::kHmacSha256, PrivProtocol::kAes128};
  const UsmKeys keys = keys_for(combo, kManagerEngine);
  UsmStats stats;
  for (auto [boots, time] : {std::pair<uint32_t, uint32_t>{0, 0}, {4, 1000}, {5, 1151}, {5, 849}}) {
    auto r = receive(v3_message(combo, PduType::kInformRequest, boots, time), stats);
    CHECK(code_of(r) == SnmpErrc::kNotInTimeWindow);
    REQUIRE_FALSE(r.report.empty());
    V3Reply reply;
    Varbind vb = report_varbind(r.report, &keys, &reply);
    CHECK(vb.name == oids::kUsmStatsNotInTimeWindows0);
    CHECK(level_from_flags(reply.header.flags) == SecurityLevel::kAuthNoPriv);
    CHECK(reply.usm.engine_boots == 5);
  }
  CHECK(stats.not_in_time_windows == 4);
  for (uint32_t time : {850u, 1150u}) {
    CHECK(receive(v3_message(combo, PduType::kInformRequest, 5, time), stats).message.ok());
  }
}

TEST_CASE("v3 altered, truncated or wrongly keyed MACs are rejected", "[snmp]") {
  const Combo combo{AuthProtocol::kHmacSha1, PrivProtocol::kNone};
  UsmStats stats;
  const Bytes good = v3_message(combo, PduType::kInformRequest);
  auto decoded = decode_v3_message(good);
  REQUIRE(decoded.ok());
  const size_t at = decoded->auth_params_offset;

  Bytes flipped = good;
  flipped[at + 11] ^= 0x01;
  auto r1 = receive(flipped, stats);
  CHECK(code_of(r1) == SnmpErrc::kWrongDigest);
  CHECK(report_varbind(r1.report, nullptr).name == oids::kUsmStatsWrongDigests0);

  Bytes body = good;
  body.back() ^= 0x01;  // a varbind octet changed in transit
  CHECK(code_of(receive(body, stats)) == SnmpErrc::kWrongDigest);

  // The same message re-encoded with a 10-octet MAC (a truncated digest).
  V3Message shorter = *decoded;
  shorter.usm.auth_params.resize(10);
  auto short_bytes = encode_v3_message(shorter);
  REQUIRE(short_bytes.ok());
  CHECK(code_of(receive(*short_bytes, stats)) == SnmpErrc::kWrongDigest);

  // Signed with another password.
  UsmUserConfig impostor = user_config(combo);
  impostor.auth_password = "not-the-password";
  SealParams params;
  params.level = SecurityLevel::kAuthNoPriv;
  params.engine_id = kManagerEngine;
  params.engine_boots = 5;
  params.engine_time = 1000;
  auto forged = build_v3_notification(params, localize_user(impostor, kManagerEngine).value(),
                                      PduType::kInformRequest, 1, sample_varbinds());
  CHECK(code_of(receive(*forged, stats)) == SnmpErrc::kWrongDigest);
  CHECK(stats.wrong_digests == 4);
}

TEST_CASE("v3 wrong privacy key is a decryption error", "[snmp]") {
  for (PrivProtocol priv : {PrivProtocol::kDes, PrivProtocol::kAes128}) {
    const Combo combo{AuthProtocol::kHmacMd5, priv};
    UsmUserConfig other = user_config(combo);
    other.priv_password = "wrong-privacy-password";
    SealParams params;
    params.level = SecurityLevel::kAuthPriv;
    params.engine_id = kSenderEngine;
    auto bytes = build_v3_notification(params, localize_user(other, kSenderEngine).value(),
                                       PduType::kTrapV2, 1, sample_varbinds());
    UsmStats stats;
    auto r = receive(*bytes, stats);
    CHECK(code_of(r) == SnmpErrc::kDecryptionError);
    CHECK(stats.decryption_errors == 1);
    CHECK(r.report.empty());  // the PDU could be a trap: traps get no Report
  }
}

TEST_CASE("v3 unknown user, unknown engine, wrong level", "[snmp]") {
  UsmStats stats;
  UsmUserConfig stranger;
  stranger.name = "stranger";
  SealParams params;
  params.engine_id = kSenderEngine;
  auto unknown_user = build_v3_notification(params, localize_user(stranger, kSenderEngine).value(),
                                            PduType::kTrapV2, 1, sample_varbinds());
  CHECK(code_of(receive(*unknown_user, stats)) == SnmpErrc::kUnknownUser);
  CHECK(stats.unknown_user_names == 1);

  const Combo combo{AuthProtocol::kHmacSha1, PrivProtocol::kAes128};
  params.engine_id = {0x80, 0, 0, 0, 9, 9, 9};
  params.level = SecurityLevel::kAuthPriv;
  auto unknown_engine = build_v3_notification(params, keys_for(combo, params.engine_id),
                                              PduType::kTrapV2, 1, sample_varbinds());
  auto r = receive(*unknown_engine, stats);
  CHECK(code_of(r) == SnmpErrc::kUnknownEngineId);
  CHECK(r.report.empty());

  // An authPriv user sending noAuthNoPriv or authNoPriv is refused.
  params.engine_id = kSenderEngine;
  for (SecurityLevel lower : {SecurityLevel::kNoAuthNoPriv, SecurityLevel::kAuthNoPriv}) {
    params.level = lower;
    auto weak = build_v3_notification(params, keys_for(combo, kSenderEngine), PduType::kTrapV2, 1,
                                      sample_varbinds());
    CHECK(code_of(receive(*weak, stats)) == SnmpErrc::kUnsupportedSecurityLevel);
  }
  CHECK(stats.unsupported_sec_levels == 2);

  // An inform must name this manager's engine, not the sender's.
  params.level = SecurityLevel::kAuthPriv;
  auto misdirected = build_v3_notification(params, keys_for(combo, kSenderEngine),
                                           PduType::kInformRequest, 1, sample_varbinds());
  auto m = receive(*misdirected, stats);
  CHECK(code_of(m) == SnmpErrc::kUnknownEngineId);
  CHECK_FALSE(m.report.empty());
}

TEST_CASE("Every truncation of a valid datagram is an error, never a crash", "[snmp]") {
  TrapV1Pdu trap;
  trap.enterprise = Oid{1, 3, 6, 1, 4, 1, 1};
  trap.varbinds = sample_varbinds();
  std::vector<Bytes> valid{
      *build_v1_trap("public", trap),
      *build_v2c_notification("public", PduType::kInformRequest, 5, sample_varbinds()),
      *build_discovery_probe(1, 2),
  };
  for (const Combo& combo : all_combos())
    valid.push_back(v3_message(combo, PduType::kInformRequest));
  for (const Bytes& datagram : valid) {
    UsmStats stats;
    REQUIRE(receive(datagram, stats).message.ok() !=
            (datagram == valid[2]));  // the probe is refused by design
    for (size_t len = 0; len < datagram.size(); ++len) {
      Bytes cut(datagram.begin(), datagram.begin() + static_cast<long>(len));
      auto r = receive(cut, stats);
      CHECK_FALSE(r.message.ok());
      CHECK(r.report.empty());
    }
    // Flipping any single octet must not crash either (the result may vary).
    for (size_t i = 0; i < datagram.size(); ++i) {
      Bytes bent = datagram;
      bent[i] ^= 0xFF;
      (void)receive(bent, stats);
    }
  }
}

TEST_CASE("Identity key is the same for one v3 trap sent to both managers", "[snmp]") {
  const Combo combo{AuthProtocol::kHmacSha1, PrivProtocol::kAes128};
  UsmStats stats;
  auto to_a = receive(v3_message(combo, PduType::kTrapV2, 5, 1000, 1), stats);
  auto to_b = receive(v3_message(combo, PduType::kTrapV2, 5, 1000, 2), stats);
  REQUIRE(to_a.message.ok());
  REQUIRE(to_b.message.ok());
  CHECK(identity_key(to_a.message->pdu) == identity_key(to_b.message->pdu));
  auto v2c = receive(*build_v2c_notification("ops", PduType::kTrapV2, 7, sample_varbinds()), stats);
  CHECK(identity_key(v2c.message->pdu) == identity_key(to_a.message->pdu));
}

}  // namespace duet::snmp
