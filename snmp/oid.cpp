#include "snmp/oid.h"

#include <charconv>

#include "snmp/errors.h"

namespace duet::snmp {

bool Oid::valid() const {
  if (arcs.size() < 2 || arcs.size() > kMaxOidArcs) return false;
  if (arcs[0] > 2) return false;
  if (arcs[0] < 2 && arcs[1] >= 40) return false;
  // The first two arcs share one subidentifier (40 * a + b), which must fit 32 bits.
  if (arcs[0] == 2 && arcs[1] > 0xFFFFFFFFu - 80) return false;
  return true;
}

std::string Oid::to_string() const {
  std::string out;
  for (size_t i = 0; i < arcs.size(); ++i) {
    if (i > 0) out += '.';
    out += std::to_string(arcs[i]);
  }
  return out;
}

bool Oid::starts_with(const Oid& prefix) const {
  if (prefix.arcs.size() > arcs.size()) return false;
  for (size_t i = 0; i < prefix.arcs.size(); ++i) {
    if (arcs[i] != prefix.arcs[i]) return false;
  }
  return true;
}

Oid Oid::child(uint32_t arc) const {
  Oid out = *this;
  out.arcs.push_back(arc);
  return out;
}

Result<Oid> Oid::parse(std::string_view text) {
  std::string_view rest = text;
  if (!rest.empty() && rest.front() == '.') rest.remove_prefix(1);
  Oid oid;
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    std::string_view part = rest.substr(0, dot);
    uint32_t arc = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), arc);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size()) {
      return make_error(SnmpErrc::kInvalidArgument, "OID '" + std::string(text) + "': arc '" +
                                                        std::string(part) +
                                                        "' is not a number from 0 to 4294967295");
    }
    oid.arcs.push_back(arc);
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
    if (rest.empty()) {
      return make_error(SnmpErrc::kInvalidArgument, "OID '" + std::string(text) + "' ends in '.'");
    }
  }
  if (!oid.valid()) {
    return make_error(SnmpErrc::kInvalidArgument,
                      "OID '" + std::string(text) +
                          "' is not valid (2..128 arcs, first 0..2, second < 40 under 0 and 1)");
  }
  return oid;
}

std::string to_hex(const Bytes& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

Result<Bytes> parse_hex(std::string_view text) {
  std::string_view rest = text;
  if (rest.starts_with("0x") || rest.starts_with("0X")) rest.remove_prefix(2);
  Bytes out;
  int high = -1;
  for (char c : rest) {
    if (c == ':' || c == ' ') continue;
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) {
      return make_error(SnmpErrc::kInvalidArgument,
                        "'" + std::string(text) + "' is not hex: bad character '" + c + "'");
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) {
    return make_error(SnmpErrc::kInvalidArgument,
                      "'" + std::string(text) + "' has an odd number of hex digits");
  }
  return out;
}

}  // namespace duet::snmp
