#include "snmp/value.h"

#include <cctype>
#include <charconv>

#include "snmp/errors.h"

namespace duet::snmp {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool printable(const Bytes& bytes) {
  for (uint8_t b : bytes) {
    if ((b < 0x20 || b > 0x7E) && b != '\n' && b != '\r' && b != '\t') return false;
  }
  return true;
}

std::string spaced_hex(const Bytes& bytes) {
  std::string hex = to_hex(bytes).substr(2);
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out += ' ';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i])));
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i + 1])));
  }
  return out;
}

template <typename T>
Result<T> parse_number(std::string_view text) {
  T v{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return make_error(SnmpErrc::kInvalidArgument, "'" + std::string(text) + "' is not a number");
  }
  return v;
}

}  // namespace

std::string to_string(const Value& value) {
  return std::visit(
      Overloaded{
          [](const Null&) -> std::string { return "NULL"; },
          [](const Integer32& v) { return "INTEGER: " + std::to_string(v.value); },
          [](const OctetString& v) {
            if (printable(v.bytes))
              return "STRING: \"" + std::string(v.bytes.begin(), v.bytes.end()) + "\"";
            return "Hex-STRING: " + spaced_hex(v.bytes);
          },
          [](const Oid& v) { return "OID: " + v.to_string(); },
          [](const IpAddress& v) {
            return "IpAddress: " + std::to_string(v.octets[0]) + "." + std::to_string(v.octets[1]) +
                   "." + std::to_string(v.octets[2]) + "." + std::to_string(v.octets[3]);
          },
          [](const Counter32& v) { return "Counter32: " + std::to_string(v.value); },
          [](const Gauge32& v) { return "Gauge32: " + std::to_string(v.value); },
          [](const TimeTicks& v) { return "Timeticks: (" + std::to_string(v.value) + ")"; },
          [](const Opaque& v) { return "Opaque: " + spaced_hex(v.bytes); },
          [](const Counter64& v) { return "Counter64: " + std::to_string(v.value); },
          [](const NoSuchObject&) -> std::string { return "noSuchObject"; },
          [](const NoSuchInstance&) -> std::string { return "noSuchInstance"; },
          [](const EndOfMibView&) -> std::string { return "endOfMibView"; },
      },
      value);
}

std::string to_string(const Varbind& varbind) {
  return varbind.name.to_string() + " = " + to_string(varbind.value);
}

bool printable_utf8(std::span<const uint8_t> bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const uint8_t b = bytes[i];
    if (b < 0x80) {
      if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7F) return false;
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((b & 0xE0) == 0xC0) {
      n = 1;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 2;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 3;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + n >= bytes.size()) return false;  // cut short
    for (size_t k = 1; k <= n; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (bytes[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::string value_text(const Value& value) {
  return std::visit(Overloaded{
                        [](const Null&) -> std::string { return "NULL"; },
                        [](const Integer32& v) { return std::to_string(v.value); },
                        [](const OctetString& v) {
                          if (printable_utf8(v.bytes))
                            return std::string(v.bytes.begin(), v.bytes.end());
                          return to_hex(v.bytes);
                        },
                        [](const Oid& v) { return v.to_string(); },
                        [](const IpAddress& v) {
                          return std::to_string(v.octets[0]) + "." + std::to_string(v.octets[1]) +
                                 "." + std::to_string(v.octets[2]) + "." +
                                 std::to_string(v.octets[3]);
                        },
                        [](const Counter32& v) { return std::to_string(v.value); },
                        [](const Gauge32& v) { return std::to_string(v.value); },
                        [](const TimeTicks& v) { return std::to_string(v.value); },
                        [](const Opaque& v) { return to_hex(v.bytes); },
                        [](const Counter64& v) { return std::to_string(v.value); },
                        [](const NoSuchObject&) -> std::string { return "noSuchObject"; },
                        [](const NoSuchInstance&) -> std::string { return "noSuchInstance"; },
                        [](const EndOfMibView&) -> std::string { return "endOfMibView"; },
                    },
                    value);
}

std::string type_name(const Value& value) {
  static const char* const kNames[] = {
      "NULL",        "INTEGER",   "OCTET STRING", "OBJECT IDENTIFIER",
      "IpAddress",   "Counter32", "Gauge32",      "TimeTicks",
      "Opaque",      "Counter64", "noSuchObject", "noSuchInstance",
      "endOfMibView"};
  static_assert(std::size(kNames) == std::variant_size_v<Value>);
  return kNames[value.index()];
}

void encode_value(BerWriter& w, const Value& value) {
  std::visit(Overloaded{
                 [&](const Null&) { w.null(); },
                 [&](const Integer32& v) { w.integer(v.value); },
                 [&](const OctetString& v) { w.octets(v.bytes); },
                 [&](const Oid& v) { w.oid(v); },
                 [&](const IpAddress& v) { w.octets(v.octets, tag::kIpAddress); },
                 [&](const Counter32& v) { w.unsigned_integer(v.value, tag::kCounter32); },
                 [&](const Gauge32& v) { w.unsigned_integer(v.value, tag::kGauge32); },
                 [&](const TimeTicks& v) { w.unsigned_integer(v.value, tag::kTimeTicks); },
                 [&](const Opaque& v) { w.octets(v.bytes, tag::kOpaque); },
                 [&](const Counter64& v) { w.unsigned_integer(v.value, tag::kCounter64); },
                 [&](const NoSuchObject&) { w.null(tag::kNoSuchObject); },
                 [&](const NoSuchInstance&) { w.null(tag::kNoSuchInstance); },
                 [&](const EndOfMibView&) { w.null(tag::kEndOfMibView); },
             },
             value);
}

Result<Value> decode_value(BerReader& reader) {
  DUET_ASSIGN_OR_RETURN(Tlv tlv, reader.read_any());
  auto empty = [&](Value v) -> Result<Value> {
    if (!tlv.value.empty())
      return make_error(SnmpErrc::kMalformed, "NULL-like value with contents");
    return v;
  };
  switch (tlv.tag) {
    case tag::kNull:
      return empty(Null{});
    case tag::kNoSuchObject:
      return empty(NoSuchObject{});
    case tag::kNoSuchInstance:
      return empty(NoSuchInstance{});
    case tag::kEndOfMibView:
      return empty(EndOfMibView{});
    case tag::kInteger: {
      DUET_ASSIGN_OR_RETURN(int64_t v, decode_integer(tlv.value));
      if (v < INT32_MIN || v > INT32_MAX) {
        return make_error(SnmpErrc::kMalformed, "Integer32 value out of range");
      }
      return Value(Integer32{static_cast<int32_t>(v)});
    }
    case tag::kOctetString:
      return Value(OctetString{Bytes(tlv.value.begin(), tlv.value.end())});
    case tag::kOpaque:
      return Value(Opaque{Bytes(tlv.value.begin(), tlv.value.end())});
    case tag::kOid: {
      DUET_ASSIGN_OR_RETURN(Oid oid, decode_oid(tlv.value));
      return Value(std::move(oid));
    }
    case tag::kIpAddress: {
      if (tlv.value.size() != 4) {
        return make_error(SnmpErrc::kMalformed, "IpAddress of " + std::to_string(tlv.value.size()) +
                                                    " octets (4 expected)");
      }
      IpAddress ip;
      std::copy(tlv.value.begin(), tlv.value.end(), ip.octets.begin());
      return Value(ip);
    }
    case tag::kCounter32:
    case tag::kGauge32:
    case tag::kTimeTicks: {
      DUET_ASSIGN_OR_RETURN(uint64_t v, decode_unsigned(tlv.value, 32));
      const auto u = static_cast<uint32_t>(v);
      if (tlv.tag == tag::kCounter32) return Value(Counter32{u});
      if (tlv.tag == tag::kGauge32) return Value(Gauge32{u});
      return Value(TimeTicks{u});
    }
    case tag::kCounter64: {
      DUET_ASSIGN_OR_RETURN(uint64_t v, decode_unsigned(tlv.value, 64));
      return Value(Counter64{v});
    }
    default:
      return make_error(SnmpErrc::kMalformed,
                        "varbind value of unknown type tag " + std::to_string(tlv.tag));
  }
}

Result<Value> parse_value(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return make_error(
        SnmpErrc::kInvalidArgument,
        "value '" + std::string(text) + "' must be TYPE:VALUE (types i u c C t s x o a n)");
  }
  const std::string_view type = text.substr(0, colon);
  const std::string_view v = text.substr(colon + 1);
  if (type == "i") {
    DUET_ASSIGN_OR_RETURN(int32_t n, parse_number<int32_t>(v));
    return Value(Integer32{n});
  }
  if (type == "u" || type == "c" || type == "t") {
    DUET_ASSIGN_OR_RETURN(uint32_t n, parse_number<uint32_t>(v));
    if (type == "u") return Value(Gauge32{n});
    if (type == "c") return Value(Counter32{n});
    return Value(TimeTicks{n});
  }
  if (type == "C") {
    DUET_ASSIGN_OR_RETURN(uint64_t n, parse_number<uint64_t>(v));
    return Value(Counter64{n});
  }
  if (type == "s") return Value(OctetString::from(v));
  if (type == "x") {
    DUET_ASSIGN_OR_RETURN(Bytes b, parse_hex(v));
    return Value(OctetString{std::move(b)});
  }
  if (type == "o") {
    DUET_ASSIGN_OR_RETURN(Oid oid, Oid::parse(v));
    return Value(std::move(oid));
  }
  if (type == "n") return Value(Null{});
  if (type == "a") {
    IpAddress ip;
    std::string_view rest = v;
    for (int i = 0; i < 4; ++i) {
      const size_t dot = rest.find('.');
      if ((i < 3) == (dot == std::string_view::npos)) {
        return make_error(SnmpErrc::kInvalidArgument,
                          "'" + std::string(v) + "' is not an IPv4 address");
      }
      DUET_ASSIGN_OR_RETURN(uint32_t n, parse_number<uint32_t>(rest.substr(0, dot)));
      if (n > 255) {
        return make_error(SnmpErrc::kInvalidArgument,
                          "'" + std::string(v) + "' is not an IPv4 address");
      }
      ip.octets[i] = static_cast<uint8_t>(n);
      rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    }
    return Value(ip);
  }
  return make_error(SnmpErrc::kInvalidArgument,
                    "unknown value type '" + std::string(type) + "' (types: i u c C t s x o a n)");
}

}  // namespace duet::snmp
