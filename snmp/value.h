#pragma once

// Varbind values: the SNMPv2 SMI types a varbind can carry, as one
// std::variant, and their BER form. to_string gives a display form in the
// style operators know from net-snmp ("INTEGER: 5", "STRING: \"up\"",
// "OID: 1.3.6.1.6.3.1.1.5.3", "Timeticks: (1234)"). Pure value types.

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "snmp/ber.h"
#include "snmp/oid.h"

namespace duet::snmp {

struct Null {
  auto operator<=>(const Null&) const = default;
};
struct Integer32 {
  int32_t value = 0;
  auto operator<=>(const Integer32&) const = default;
};
struct OctetString {
  Bytes bytes;
  auto operator<=>(const OctetString&) const = default;
  static OctetString from(std::string_view text) { return {Bytes(text.begin(), text.end())}; }
};
struct IpAddress {
  std::array<uint8_t, 4> octets{};
  auto operator<=>(const IpAddress&) const = default;
};
struct Counter32 {
  uint32_t value = 0;
  auto operator<=>(const Counter32&) const = default;
};
struct Gauge32 {
  uint32_t value = 0;
  auto operator<=>(const Gauge32&) const = default;
};
struct TimeTicks {
  uint32_t value = 0;  // hundredths of a second
  auto operator<=>(const TimeTicks&) const = default;
};
struct Opaque {
  Bytes bytes;
  auto operator<=>(const Opaque&) const = default;
};
struct Counter64 {
  uint64_t value = 0;
  auto operator<=>(const Counter64&) const = default;
};
struct NoSuchObject {
  auto operator<=>(const NoSuchObject&) const = default;
};
struct NoSuchInstance {
  auto operator<=>(const NoSuchInstance&) const = default;
};
struct EndOfMibView {
  auto operator<=>(const EndOfMibView&) const = default;
};

using Value =
    std::variant<Null, Integer32, OctetString, Oid, IpAddress, Counter32, Gauge32, TimeTicks,
                 Opaque, Counter64, NoSuchObject, NoSuchInstance, EndOfMibView>;

struct Varbind {
  Oid name;
  Value value;
  bool operator==(const Varbind&) const = default;
};

std::string to_string(const Value& value);
// "1.3.6.1.2.1.1.3.0 = Timeticks: (1234)"
std::string to_string(const Varbind& varbind);

// A value without its type, for monitors and rules: numbers in decimal, OIDs
// dotted, IpAddress as a dotted quad, an OCTET STRING as text when it is
// printable UTF-8 and "0x..." hex otherwise, Opaque in hex, "NULL",
// "noSuchObject", "noSuchInstance", "endOfMibView".
std::string value_text(const Value& value);
// The SMI type name: "INTEGER", "OCTET STRING", "OBJECT IDENTIFIER", "IpAddress",
// "Counter32", "Gauge32", "TimeTicks", "Opaque", "Counter64", "NULL",
// "noSuchObject", "noSuchInstance", "endOfMibView".
std::string type_name(const Value& value);
// Valid UTF-8 without control characters other than tab, CR and LF.
bool printable_utf8(std::span<const uint8_t> bytes);

void encode_value(BerWriter& writer, const Value& value);
Result<Value> decode_value(BerReader& reader);

// Parses "TYPE:VALUE" as the test sender takes it on its command line:
// i:INT, u:GAUGE32, c:COUNTER32, C:COUNTER64, t:TIMETICKS, s:STRING, x:HEX,
// o:OID, a:IPV4, n: (null).
Result<Value> parse_value(std::string_view text);

}  // namespace duet::snmp
