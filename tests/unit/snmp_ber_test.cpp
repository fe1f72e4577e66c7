// BER reader/writer: encodings, and every class of malformed input.

#include <catch2/catch.hpp>

#include "snmp/ber.h"
#include "snmp/errors.h"
#include "snmp/value.h"

namespace duet::snmp {
namespace {

Bytes enc_integer(int64_t v) {
  BerWriter w;
  w.integer(v);
  return w.take();
}

bool malformed(const Error& e) { return e.code == SnmpErrc::kMalformed; }

}  // namespace

TEST_CASE("BER integers are minimal and round-trip", "[snmp]") {
  CHECK(enc_integer(0) == Bytes{0x02, 0x01, 0x00});
  CHECK(enc_integer(127) == Bytes{0x02, 0x01, 0x7F});
  CHECK(enc_integer(128) == Bytes{0x02, 0x02, 0x00, 0x80});
  CHECK(enc_integer(-1) == Bytes{0x02, 0x01, 0xFF});
  CHECK(enc_integer(-129) == Bytes{0x02, 0x02, 0xFF, 0x7F});
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{255}, int64_t{-256},
                    int64_t{INT32_MAX}, int64_t{INT32_MIN}, INT64_MAX, INT64_MIN}) {
    Bytes b = enc_integer(v);
    BerReader r(b);
    auto got = r.read_integer();
    REQUIRE(got.ok());
    CHECK(*got == v);
  }
  BerWriter w;
  w.unsigned_integer(0xFFFFFFFFu, tag::kCounter32);
  CHECK(w.bytes() == Bytes{0x41, 0x05, 0x00, 0xFF, 0xFF, 0xFF, 0xFF});
  BerReader r(w.bytes());
  auto u = r.read_uint32(tag::kCounter32);
  REQUIRE(u.ok());
  CHECK(*u == 0xFFFFFFFFu);
}

TEST_CASE("BER lengths: long form accepted up to 4 octets, indefinite rejected", "[snmp]") {
  // Non-minimal long form, as net-snmp sends for sequences.
  Bytes nonminimal{0x04, 0x82, 0x00, 0x02, 'h', 'i'};
  BerReader r1(nonminimal);
  auto s = r1.read_octets();
  REQUIRE(s.ok());
  CHECK(*s == Bytes{'h', 'i'});

  Bytes indefinite{0x30, 0x80, 0x05, 0x00, 0x00, 0x00};
  BerReader r2(indefinite);
  auto e2 = r2.read_any();
  REQUIRE_FALSE(e2.ok());
  CHECK(malformed(e2.error()));
  CHECK_THAT(e2.error().message, Catch::Contains("indefinite"));

  Bytes five{0x04, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01, 'x'};
  BerReader r3(five);
  CHECK_FALSE(r3.read_any().ok());

  Bytes past_end{0x04, 0x05, 'a', 'b'};
  BerReader r4(past_end);
  auto e4 = r4.read_any();
  REQUIRE_FALSE(e4.ok());
  CHECK_THAT(e4.error().message, Catch::Contains("past the end"));

  Bytes huge{0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 'a'};
  BerReader r5(huge);
  CHECK_FALSE(r5.read_any().ok());

  Bytes truncated_len{0x04, 0x82, 0x01};
  BerReader r6(truncated_len);
  CHECK_FALSE(r6.read_any().ok());

  Bytes high_tag{0x1F, 0x81, 0x01, 0x00};
  BerReader r7(high_tag);
  CHECK_FALSE(r7.read_any().ok());
}

TEST_CASE("BER constructed values must be consumed exactly", "[snmp]") {
  Bytes trailing{0x30, 0x05, 0x02, 0x01, 0x01, 0x05, 0x00};
  BerReader outer(trailing);
  auto seq = outer.enter(tag::kSequence);
  REQUIRE(seq.ok());
  REQUIRE(seq->read_integer().ok());
  auto end = seq->expect_end();
  REQUIRE_FALSE(end.ok());
  CHECK_THAT(end.error().message, Catch::Contains("trailing"));

  BerReader wrong_tag(trailing);
  CHECK_FALSE(wrong_tag.enter(tag::kOctetString).ok());
}

TEST_CASE("BER integers too long for their type are rejected", "[snmp]") {
  CHECK_FALSE(decode_integer(Bytes{}).ok());
  CHECK_FALSE(decode_integer(Bytes(9, 0x01)).ok());
  CHECK(decode_integer(Bytes(8, 0x01)).ok());
  // uint32: 4 octets, or 5 with a leading zero; never negative.
  CHECK(decode_unsigned(Bytes{0x00, 0xFF, 0xFF, 0xFF, 0xFF}, 32).ok());
  CHECK_FALSE(decode_unsigned(Bytes{0x01, 0x00, 0x00, 0x00, 0x00}, 32).ok());
  CHECK_FALSE(decode_unsigned(Bytes{0x00, 0x00, 0x00, 0x00, 0x00, 0x01}, 32).ok());
  CHECK_FALSE(decode_unsigned(Bytes{0x80}, 32).ok());
  CHECK(decode_unsigned(Bytes{0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 64).ok());
  CHECK_FALSE(decode_unsigned(Bytes{0x01, 0, 0, 0, 0, 0, 0, 0, 0}, 64).ok());
  // An INTEGER that must be int32.
  Bytes big = enc_integer(int64_t{1} << 40);
  BerReader r(big);
  CHECK_FALSE(r.read_int32().ok());
}

TEST_CASE("BER OIDs: encoding, arc limits, empty and truncated", "[snmp]") {
  Oid oid{1, 3, 6, 1, 4, 1, 4294967295u};
  BerWriter w;
  w.oid(oid);
  REQUIRE(w.status().ok());
  CHECK(w.bytes() == Bytes{0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F});
  BerReader r(w.bytes());
  auto back = r.read_oid();
  REQUIRE(back.ok());
  CHECK(*back == oid);

  CHECK_FALSE(decode_oid(Bytes{}).ok());                                    // empty
  CHECK_FALSE(decode_oid(Bytes{0x2B, 0x90, 0x80, 0x80, 0x80, 0x00}).ok());  // arc > 32 bits
  CHECK_FALSE(decode_oid(Bytes{0x2B, 0x86}).ok());                          // ends mid-arc
  CHECK_FALSE(decode_oid(Bytes{0x2B, 0x80, 0x01}).ok());                    // non-minimal arc
  CHECK_FALSE(decode_oid(Bytes(200, 0x01)).ok());                           // > 128 arcs
  auto two = decode_oid(Bytes{0x88, 0x37});                                 // 2.999
  REQUIRE(two.ok());
  CHECK(two->to_string() == "2.999");

  BerWriter bad;
  bad.oid(Oid{1});
  CHECK_FALSE(bad.status().ok());
  CHECK_FALSE(Oid::parse("1.3.6.").ok());
  CHECK_FALSE(Oid::parse("1.x").ok());
  CHECK_FALSE(Oid::parse("1.40").ok());
  CHECK(Oid::parse(".1.3.6.1.6.3.1.1.5.3")->to_string() == "1.3.6.1.6.3.1.1.5.3");
}

TEST_CASE("BER nesting deeper than the limit is rejected", "[snmp]") {
  Bytes nested;
  for (int i = 0; i < 20; ++i) {  // 20 levels, 40 bytes: short lengths throughout
    Bytes outer{0x30, static_cast<uint8_t>(nested.size())};
    outer.insert(outer.end(), nested.begin(), nested.end());
    nested = outer;
  }
  BerReader r(nested);
  Status failed = ok_status();
  BerReader cur = r;
  for (int i = 0; i < 20; ++i) {
    auto next = cur.enter(tag::kSequence);
    if (!next.ok()) {
      failed = std::move(next).take_error();
      break;
    }
    cur = *next;
  }
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.error().message, Catch::Contains("nesting"));
}

TEST_CASE("Varbind values round-trip and display", "[snmp]") {
  const std::vector<std::pair<Value, std::string>> cases = {
      {Null{}, "NULL"},
      {Integer32{-5}, "INTEGER: -5"},
      {OctetString::from("link up"), "STRING: \"link up\""},
      {OctetString{{0x00, 0xAB}}, "Hex-STRING: 00 AB"},
      {Oid{1, 3, 6, 1, 6, 3, 1, 1, 5, 3}, "OID: 1.3.6.1.6.3.1.1.5.3"},
      {IpAddress{{10, 0, 0, 1}}, "IpAddress: 10.0.0.1"},
      {Counter32{7}, "Counter32: 7"},
      {Gauge32{8}, "Gauge32: 8"},
      {TimeTicks{1234}, "Timeticks: (1234)"},
      {Opaque{{0x9F, 0x78}}, "Opaque: 9F 78"},
      {Counter64{0xFFFFFFFFFFFFFFFFull}, "Counter64: 18446744073709551615"},
      {NoSuchObject{}, "noSuchObject"},
      {NoSuchInstance{}, "noSuchInstance"},
      {EndOfMibView{}, "endOfMibView"},
  };
  for (const auto& [value, text] : cases) {
    CHECK(to_string(value) == text);
    BerWriter w;
    encode_value(w, value);
    REQUIRE(w.status().ok());
    BerReader r(w.bytes());
    auto back = decode_value(r);
    REQUIRE(back.ok());
    CHECK(*back == value);
    CHECK(r.at_end());
  }
  Bytes bad_ip{0x40, 0x03, 1, 2, 3};
  BerReader r(bad_ip);
  CHECK_FALSE(decode_value(r).ok());
  Bytes null_with_body{0x05, 0x01, 0x00};
  BerReader r2(null_with_body);
  CHECK_FALSE(decode_value(r2).ok());
  Bytes unknown{0x47, 0x01, 0x00};
  BerReader r3(unknown);
  CHECK_FALSE(decode_value(r3).ok());
}

TEST_CASE("parse_value reads the sender's TYPE:VALUE form", "[snmp]") {
  CHECK(*parse_value("i:-3") == Value(Integer32{-3}));
  CHECK(*parse_value("s:hello") == Value(OctetString::from("hello")));
  CHECK(*parse_value("x:00ff") == Value(OctetString{{0x00, 0xFF}}));
  CHECK(*parse_value("o:1.3.6.1") == Value(Oid{1, 3, 6, 1}));
  CHECK(*parse_value("a:192.168.1.2") == Value(IpAddress{{192, 168, 1, 2}}));
  CHECK(*parse_value("t:100") == Value(TimeTicks{100}));
  CHECK(*parse_value("C:5") == Value(Counter64{5}));
  CHECK_FALSE(parse_value("a:1.2.3").ok());
  CHECK_FALSE(parse_value("q:1").ok());
  CHECK_FALSE(parse_value("i:abc").ok());
}

}  // namespace duet::snmp
