#pragma once

// Object identifiers and byte strings as SNMP uses them.
//
// An Oid is a list of arcs (each fits in 32 bits, as SNMP requires). A valid
// Oid has 2..128 arcs, a first arc of 0, 1 or 2 and, below 2, a second arc
// under 40 (X.690 8.19). to_string gives the numeric dotted form
// ("1.3.6.1.6.3.1.1.5.3"); parse accepts that form, with or without a leading
// dot. Pure values; thread-compatible.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duet::snmp {

using Bytes = std::vector<uint8_t>;

inline constexpr size_t kMaxOidArcs = 128;

struct Oid {
  std::vector<uint32_t> arcs;

  Oid() = default;
  Oid(std::initializer_list<uint32_t> list) : arcs(list) {}
  explicit Oid(std::vector<uint32_t> a) : arcs(std::move(a)) {}

  bool valid() const;
  std::string to_string() const;
  // True when `prefix` is a leading part of (or equal to) this Oid.
  bool starts_with(const Oid& prefix) const;
  Oid child(uint32_t arc) const;

  static Result<Oid> parse(std::string_view text);

  auto operator<=>(const Oid&) const = default;
};

// Well-known OIDs used by notifications and USM reports.
namespace oids {
inline const Oid kSysUpTime0{1, 3, 6, 1, 2, 1, 1, 3, 0};
inline const Oid kSnmpTrapOid0{1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0};
inline const Oid kSnmpTrapEnterprise0{1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0};
inline const Oid kSnmpTraps{1, 3, 6, 1, 6, 3, 1, 1, 5};  // coldStart = .1 ... linkUp = .4
inline const Oid kUsmStatsUnsupportedSecLevels0{1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0};
inline const Oid kUsmStatsNotInTimeWindows0{1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0};
inline const Oid kUsmStatsUnknownUserNames0{1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0};
inline const Oid kUsmStatsUnknownEngineIds0{1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0};
inline const Oid kUsmStatsWrongDigests0{1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0};
inline const Oid kUsmStatsDecryptionErrors0{1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0};
}  // namespace oids

// "0x" + lower-case hex, for logs and display.
std::string to_hex(const Bytes& bytes);
// Parses hex with an optional "0x" prefix; ':' and ' ' separators are ignored.
Result<Bytes> parse_hex(std::string_view text);

}  // namespace duet::snmp
