// The pure parts of SNMP intake: a decoded notification as an IntakeItem
// (protocol, fields, key), and the retransmitted-inform cache.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "intake/snmp_inform_cache.h"
#include "intake/snmp_item.h"
#include "snmp/notification.h"
#include "tests/support/snmp_fixtures.h"

namespace {

using duet::intake::IntakeItem;
using duet::intake::Receipt;
using duet::intake::snmp_item;
using duet::intake::Transport;
namespace snmp = duet::snmp;

Receipt receipt_from(const std::string& source, std::uint16_t port = 40000) {
  Receipt r;
  r.transport = Transport::kSnmpUdp;
  r.source = source;
  r.source_port = port;
  r.received_ms = 1700000000000;
  r.raw = "datagram";
  return r;
}

const snmp::Oid kLinkDown{1, 3, 6, 1, 6, 3, 1, 1, 5, 3};
const snmp::Oid kIfIndex2{1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2};
const snmp::Oid kIfDescr2{1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 2};

snmp::InboundMessage v2c(const std::string& community, snmp::PduType type, int32_t request_id,
                         std::vector<snmp::Varbind> rest) {
  snmp::InboundMessage m;
  m.version = snmp::Version::kV2c;
  m.community = community;
  snmp::Pdu pdu;
  pdu.type = type;
  pdu.request_id = request_id;
  pdu.varbinds = snmp::notification_varbinds(4242, kLinkDown, std::move(rest));
  m.pdu = pdu;
  return m;
}

std::vector<snmp::Varbind> link_down_varbinds(int32_t index = 2) {
  return {{kIfIndex2, snmp::Integer32{index}}, {kIfDescr2, snmp::OctetString::from("eth1")}};
}

}  // namespace

TEST_CASE("snmp_item: a v2c trap's protocol, message, fields and JSON", "[intake]") {
  const IntakeItem item = snmp_item(receipt_from("10.0.0.1"),
                                    v2c("public", snmp::PduType::kTrapV2, 7, link_down_varbinds()));
  CHECK(item.protocol == "snmp/v2c");
  CHECK(item.parsed);
  CHECK(item.receipt.source == "10.0.0.1");
  CHECK(item.receipt.raw == "datagram");
  CHECK(item.message ==
        "trap 1.3.6.1.6.3.1.1.5.3 from 10.0.0.1: 1.3.6.1.2.1.2.2.1.1.2=2 "
        "1.3.6.1.2.1.2.2.1.2.2=eth1");
  CHECK(item.fields.at("version") == "v2c");
  CHECK(item.fields.at("pdu") == snmp::to_string(snmp::PduType::kTrapV2));
  CHECK(item.fields.at("community") == "public");
  CHECK(item.fields.at("trap_oid") == "1.3.6.1.6.3.1.1.5.3");
  CHECK(item.fields.at("sys_uptime") == "4242");
  CHECK(item.fields.at("varbind.1.3.6.1.2.1.2.2.1.1.2") == "2");
  CHECK(item.fields.at("varbind.1.3.6.1.2.1.2.2.1.2.2") == "eth1");
  CHECK_FALSE(item.fields.contains("user"));

  const auto j = nlohmann::json::parse(item.fields_json);
  CHECK(j["version"] == "v2c");
  CHECK(j["community"] == "public");
  CHECK(j["trap_oid"] == "1.3.6.1.6.3.1.1.5.3");
  CHECK(j["sys_uptime"] == 4242);
  REQUIRE(j["varbinds"].size() == 4);
  CHECK(j["varbinds"][0]["oid"] == "1.3.6.1.2.1.1.3.0");
  CHECK(j["varbinds"][0]["type"] == "TimeTicks");
  CHECK(j["varbinds"][2] ==
        nlohmann::json({{"oid", "1.3.6.1.2.1.2.2.1.1.2"}, {"type", "INTEGER"}, {"value", 2}}));
  CHECK(j["varbinds"][3]["type"] == "OCTET STRING");
  CHECK(j["varbinds"][3]["value"] == "eth1");
}

TEST_CASE("snmp_item: OIDs are shown by their MIB names where known", "[intake][mib]") {
  const auto names =
      snmp::MibNames::from({{kLinkDown, "IF-MIB::linkDown"},
                            {snmp::Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 1}, "IF-MIB::ifIndex"}});
  const IntakeItem item =
      snmp_item(receipt_from("10.0.0.1"),
                v2c("public", snmp::PduType::kTrapV2, 7, link_down_varbinds()), names.get());
  // ifDescr is not in these MIBs: it stays numeric.
  CHECK(item.message ==
        "trap IF-MIB::linkDown from 10.0.0.1: IF-MIB::ifIndex.2=2 1.3.6.1.2.1.2.2.1.2.2=eth1");
  // Rules keep matching the numeric forms; the name is there besides.
  CHECK(item.fields.at("trap_oid") == "1.3.6.1.6.3.1.1.5.3");
  CHECK(item.fields.at("trap_name") == "IF-MIB::linkDown");
  CHECK(item.fields.at("varbind.1.3.6.1.2.1.2.2.1.1.2") == "2");
  const auto j = nlohmann::json::parse(item.fields_json);
  CHECK(j["trap_name"] == "IF-MIB::linkDown");
  CHECK(j["varbinds"][2]["oid"] == "1.3.6.1.2.1.2.2.1.1.2");
  CHECK(j["varbinds"][2]["name"] == "IF-MIB::ifIndex.2");
  CHECK_FALSE(j["varbinds"][3].contains("name"));
}

TEST_CASE("snmp_item: a v2c inform reads 'inform'", "[intake]") {
  const IntakeItem item =
      snmp_item(receipt_from("10.0.0.1"), v2c("public", snmp::PduType::kInformRequest, 7, {}));
  CHECK(item.message == "inform 1.3.6.1.6.3.1.1.5.3 from 10.0.0.1");
  CHECK(item.fields.at("pdu") == snmp::to_string(snmp::PduType::kInformRequest));
}

TEST_CASE("snmp_item: a v1 trap has its v1 fields and an SNMPv2 trap OID", "[intake]") {
  snmp::InboundMessage m;
  m.version = snmp::Version::kV1;
  m.community = "ops";
  snmp::TrapV1Pdu trap;
  trap.enterprise = snmp::Oid{1, 3, 6, 1, 4, 1, 9};
  trap.agent_addr = {192, 0, 2, 7};
  trap.generic_trap = 6;
  trap.specific_trap = 17;
  trap.time_stamp = 999;
  trap.varbinds = {{kIfIndex2, snmp::Gauge32{5}}};
  m.pdu = trap;
  IntakeItem item = snmp_item(receipt_from("192.0.2.7"), m);
  CHECK(item.protocol == "snmp/v1");
  CHECK(item.fields.at("trap_oid") == "1.3.6.1.4.1.9.0.17");
  CHECK(item.fields.at("enterprise") == "1.3.6.1.4.1.9");
  CHECK(item.fields.at("generic_trap") == "6");
  CHECK(item.fields.at("specific_trap") == "17");
  CHECK(item.fields.at("agent_addr") == "192.0.2.7");
  CHECK(item.fields.at("sys_uptime") == "999");
  CHECK(item.message == "trap 1.3.6.1.4.1.9.0.17 from 192.0.2.7: 1.3.6.1.2.1.2.2.1.1.2=5");
  const auto j = nlohmann::json::parse(item.fields_json);
  CHECK(j["generic_trap"] == 6);
  CHECK(j["agent_addr"] == "192.0.2.7");
  CHECK(j["varbinds"][0]["type"] == "Gauge32");

  std::get<snmp::TrapV1Pdu>(m.pdu).generic_trap = 2;  // linkDown
  item = snmp_item(receipt_from("192.0.2.7"), m);
  CHECK(item.fields.at("trap_oid") == "1.3.6.1.6.3.1.1.5.3");
}

TEST_CASE("snmp_item: a v3 trap names its user and level, never a key", "[intake]") {
  snmp::InboundMessage m = v2c("", snmp::PduType::kTrapV2, 9, link_down_varbinds());
  m.version = snmp::Version::kV3;
  m.user_name = "ops-user";
  m.level = snmp::SecurityLevel::kAuthPriv;
  m.security_engine_id = duet::snmp::testing::kSenderEngine;
  m.msg_id = 1234;
  const IntakeItem item = snmp_item(receipt_from("10.0.0.2"), m);
  CHECK(item.protocol == "snmp/v3");
  CHECK(item.fields.at("user") == "ops-user");
  CHECK(item.fields.at("security_level") == snmp::to_string(snmp::SecurityLevel::kAuthPriv));
  CHECK(item.fields.at("engine_id") == snmp::to_hex(duet::snmp::testing::kSenderEngine));
  CHECK_FALSE(item.fields.contains("community"));
  const auto j = nlohmann::json::parse(item.fields_json);
  CHECK(j["user"] == "ops-user");
  CHECK_FALSE(j.contains("community"));
}

TEST_CASE("snmp_item: the key depends on source and content only", "[intake]") {
  // The copies a device sends to both managers differ in request-id (and
  // could in community, version, msgID): the same key.
  const auto a = snmp_item(receipt_from("10.0.0.1", 1000),
                           v2c("public", snmp::PduType::kTrapV2, 100, link_down_varbinds()));
  const auto b = snmp_item(receipt_from("10.0.0.1", 2000),
                           v2c("ops", snmp::PduType::kTrapV2, 200, link_down_varbinds()));
  snmp::InboundMessage v3 = v2c("", snmp::PduType::kTrapV2, 300, link_down_varbinds());
  v3.version = snmp::Version::kV3;
  v3.user_name = "u";
  v3.msg_id = 77;
  const auto c = snmp_item(receipt_from("10.0.0.1"), v3);
  CHECK(a.key == b.key);
  CHECK(a.key == c.key);
  // Different varbinds, another source, another PDU type: different keys.
  const auto d = snmp_item(receipt_from("10.0.0.1"),
                           v2c("public", snmp::PduType::kTrapV2, 100, link_down_varbinds(3)));
  const auto e = snmp_item(receipt_from("10.0.0.9"),
                           v2c("public", snmp::PduType::kTrapV2, 100, link_down_varbinds()));
  const auto f = snmp_item(receipt_from("10.0.0.1"),
                           v2c("public", snmp::PduType::kInformRequest, 100, link_down_varbinds()));
  CHECK(a.key != d.key);
  CHECK(a.key != e.key);
  CHECK(a.key != f.key);
}

TEST_CASE("snmp values as text: UTF-8 stays text, binary becomes hex", "[intake]") {
  using duet::intake::snmp_type_name;
  using duet::intake::snmp_value_text;
  CHECK(snmp_value_text(snmp::OctetString::from("caf\xc3\xa9")) == "caf\xc3\xa9");
  CHECK(snmp_value_text(snmp::OctetString{{0x00, 0x1b, 0xff}}) == "0x001bff");
  CHECK(snmp_value_text(snmp::OctetString{{0xc3}}) == "0xc3");  // cut short
  CHECK(snmp_value_text(snmp::IpAddress{{10, 1, 2, 3}}) == "10.1.2.3");
  CHECK(snmp_value_text(snmp::Counter64{1ull << 40}) == "1099511627776");
  CHECK(snmp_value_text(snmp::Oid{1, 3, 6}) == "1.3.6");
  CHECK(snmp_value_text(snmp::NoSuchInstance{}) == "noSuchInstance");
  CHECK(snmp_type_name(snmp::Counter32{1}) == "Counter32");
  CHECK(snmp_type_name(snmp::EndOfMibView{}) == "endOfMibView");

  // A binary value is marked in the JSON; a newline does not break the line.
  const auto item =
      snmp_item(receipt_from("10.0.0.1"), v2c("public", snmp::PduType::kTrapV2, 1,
                                              {{kIfDescr2, snmp::OctetString{{0x01, 0x02}}},
                                               {kIfIndex2, snmp::OctetString::from("a\nb")}}));
  const auto j = nlohmann::json::parse(item.fields_json);
  CHECK(j["varbinds"][2]["value"] == "0x0102");
  CHECK(j["varbinds"][2]["encoding"] == "hex");
  CHECK(j["varbinds"][3]["value"] == "a\nb");
  CHECK(item.message.find('\n') == std::string::npos);
}

TEST_CASE("inform cache: a retransmission is recognized within the window", "[intake]") {
  using duet::intake::inform_id;
  using duet::intake::InformCache;
  InformCache cache(InformCache::Options{std::chrono::seconds(60), 3});
  const duet::TimePoint t0{};
  const auto m = v2c("public", snmp::PduType::kInformRequest, 5, link_down_varbinds());
  const std::string id = inform_id("10.0.0.1", 5000, m);
  CHECK_FALSE(cache.seen_before(id, t0));
  CHECK(cache.seen_before(id, t0 + std::chrono::seconds(1)));
  // Another port, request-id or content is another inform.
  CHECK(inform_id("10.0.0.1", 5001, m) != id);
  CHECK(inform_id("10.0.0.1", 5000,
                  v2c("public", snmp::PduType::kInformRequest, 6, link_down_varbinds())) != id);
  CHECK(inform_id("10.0.0.1", 5000,
                  v2c("public", snmp::PduType::kInformRequest, 5, link_down_varbinds(9))) != id);
  // v3: a new msgID on a retransmission (RFC 3412 6.2) is the same inform.
  snmp::InboundMessage v3 = m;
  v3.version = snmp::Version::kV3;
  v3.user_name = "u";
  v3.msg_id = 1;
  snmp::InboundMessage v3_again = v3;
  v3_again.msg_id = 2;
  CHECK(inform_id("10.0.0.1", 5000, v3) == inform_id("10.0.0.1", 5000, v3_again));

  // After the window it is new again.
  CHECK_FALSE(cache.seen_before(id, t0 + std::chrono::seconds(61)));
  // Bounded: the oldest is forgotten first.
  CHECK_FALSE(cache.seen_before("b", t0 + std::chrono::seconds(62)));
  CHECK_FALSE(cache.seen_before("c", t0 + std::chrono::seconds(62)));
  CHECK_FALSE(cache.seen_before("d", t0 + std::chrono::seconds(62)));
  CHECK(cache.size() == 3);
  CHECK(cache.evicted() == 1);
  CHECK_FALSE(cache.seen_before(id, t0 + std::chrono::seconds(63)));
}
