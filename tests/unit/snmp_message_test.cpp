// PDUs and messages: round trips per version and PDU type, version rules,
// the identity key.

#include <catch2/catch.hpp>

#include "snmp/errors.h"
#include "snmp/identity.h"
#include "snmp/message.h"
#include "snmp/notification.h"
#include "tests/support/snmp_fixtures.h"

namespace duet::snmp {

using testing::sample_varbinds;

namespace {

TrapV1Pdu sample_v1_trap() {
  TrapV1Pdu trap;
  trap.enterprise = Oid{1, 3, 6, 1, 4, 1, 8072, 2, 3, 1};
  trap.agent_addr = {192, 0, 2, 7};
  trap.generic_trap = 6;
  trap.specific_trap = 17;
  trap.time_stamp = 4242;
  trap.varbinds = {{Oid{1, 3, 6, 1, 4, 1, 8072, 2, 3, 2, 1}, Integer32{99}}};
  return trap;
}

}  // namespace

TEST_CASE("v1 Trap-PDU round-trips", "[snmp]") {
  auto bytes = build_v1_trap("public", sample_v1_trap());
  REQUIRE(bytes.ok());
  CHECK(*peek_version(*bytes) == Version::kV1);
  auto back = decode_community_message(*bytes);
  REQUIRE(back.ok());
  CHECK(back->version == Version::kV1);
  CHECK(back->community == "public");
  CHECK(std::get<TrapV1Pdu>(back->pdu) == sample_v1_trap());
}

TEST_CASE("v2c PDUs of every type round-trip", "[snmp]") {
  for (PduType t :
       {PduType::kGetRequest, PduType::kGetNextRequest, PduType::kResponse, PduType::kSetRequest,
        PduType::kGetBulkRequest, PduType::kInformRequest, PduType::kTrapV2, PduType::kReport}) {
    INFO(to_string(t));
    Pdu pdu;
    pdu.type = t;
    pdu.request_id = -12345;
    pdu.error_status = t == PduType::kGetBulkRequest ? 1 : 0;
    pdu.error_index = t == PduType::kGetBulkRequest ? 10 : 0;
    pdu.varbinds = sample_varbinds();
    auto bytes = encode_community_message({Version::kV2c, "ops", pdu});
    REQUIRE(bytes.ok());
    auto back = decode_community_message(*bytes);
    REQUIRE(back.ok());
    CHECK(std::get<Pdu>(back->pdu) == pdu);
  }
}

TEST_CASE("PDU types must match the message version", "[snmp]") {
  CHECK_FALSE(encode_community_message({Version::kV2c, "p", sample_v1_trap()}).ok());
  Pdu inform;
  inform.type = PduType::kInformRequest;
  CHECK_FALSE(encode_community_message({Version::kV1, "p", inform}).ok());
  // Hand-craft the forbidden combinations: v1 version with an SNMPv2-Trap.
  auto v2 = build_v2c_notification("p", PduType::kTrapV2, 1, sample_varbinds());
  REQUIRE(v2.ok());
  Bytes as_v1 = *v2;
  REQUIRE(as_v1[2] == 0x02);  // version INTEGER right after the outer header
  as_v1[4] = 0x00;
  auto err = decode_community_message(as_v1);
  REQUIRE_FALSE(err.ok());
  CHECK(err.error().code == SnmpErrc::kMalformed);
  Bytes v7 = *v2;
  v7[4] = 0x07;
  CHECK(peek_version(v7).error().code == SnmpErrc::kUnsupported);
}

TEST_CASE("v3 message structure round-trips in plaintext and encrypted form", "[snmp]") {
  V3Message m;
  m.header = {77, 1500, msg_flags::kReportable, kUsmSecurityModel};
  m.usm.engine_id = testing::kManagerEngine;
  m.usm.engine_boots = 3;
  m.usm.engine_time = 99;
  m.usm.user_name = "alice";
  ScopedPdu scoped;
  scoped.context_engine_id = testing::kManagerEngine;
  scoped.context_name = {'c'};
  scoped.pdu.type = PduType::kInformRequest;
  scoped.pdu.request_id = 5;
  scoped.pdu.varbinds = sample_varbinds();
  m.data = scoped;
  auto bytes = encode_v3_message(m);
  REQUIRE(bytes.ok());
  auto back = decode_v3_message(*bytes);
  REQUIRE(back.ok());
  CHECK(back->header.msg_id == 77);
  CHECK(back->header.max_size == 1500);
  CHECK(back->usm.user_name == "alice");
  CHECK(back->usm.engine_boots == 3);
  const auto& got = std::get<ScopedPdu>(back->data);
  CHECK(got.pdu == scoped.pdu);
  CHECK(got.context_name == scoped.context_name);

  m.header.security_model = 2;
  auto other_model = decode_v3_message(*encode_v3_message(m));
  CHECK(other_model.error().code == SnmpErrc::kUnsupported);
  m.header.security_model = kUsmSecurityModel;
  m.header.flags = msg_flags::kPriv;  // privacy without authentication
  CHECK(decode_v3_message(*encode_v3_message(m)).error().code == SnmpErrc::kMalformed);
  m.header.flags = 0;
  m.header.max_size = 100;
  CHECK_FALSE(decode_v3_message(*encode_v3_message(m)).ok());
}

TEST_CASE("Trailing bytes after a message are rejected", "[snmp]") {
  Bytes bytes = *build_v2c_notification("public", PduType::kTrapV2, 1, sample_varbinds());
  bytes.push_back(0x00);
  CHECK(decode_community_message(bytes).error().code == SnmpErrc::kMalformed);
}

TEST_CASE("Identity key ignores request-id, message id, community and security", "[snmp]") {
  const auto vbs = sample_varbinds();
  auto a = decode_community_message(*build_v2c_notification("public", PduType::kTrapV2, 1, vbs));
  auto b = decode_community_message(*build_v2c_notification("ops", PduType::kTrapV2, 99, vbs));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(identity_key(a->pdu) == identity_key(b->pdu));

  Pdu v3pdu = std::get<Pdu>(a->pdu);
  v3pdu.request_id = 4711;
  CHECK(identity_key(v3pdu) == identity_key(a->pdu));

  auto later = notification_varbinds(123457, Oid{1, 3, 6, 1, 6, 3, 1, 1, 5, 3}, {});
  Pdu other = std::get<Pdu>(a->pdu);
  other.varbinds[0] = later[0];  // another sysUpTime: another event
  CHECK(identity_key(other) != identity_key(a->pdu));

  Pdu inform = std::get<Pdu>(a->pdu);
  inform.type = PduType::kInformRequest;
  CHECK(identity_key(inform) != identity_key(a->pdu));

  TrapV1Pdu t1 = sample_v1_trap();
  TrapV1Pdu t2 = t1;
  CHECK(identity_key(t1) == identity_key(t2));
  t2.specific_trap = 18;
  CHECK(identity_key(t1) != identity_key(t2));
  t2 = t1;
  t2.time_stamp = 1;
  CHECK(identity_key(t1) != identity_key(t2));
  t2 = t1;
  t2.agent_addr[3] = 8;
  CHECK(identity_key(t1) != identity_key(t2));
}

}  // namespace duet::snmp
