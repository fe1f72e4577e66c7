#pragma once

// MibNames: OIDs shown by name ("IF-MIB::ifIndex.3") where the MIBs at hand
// define them, numerically otherwise. The MIB files are parsed once, by
// net-snmp's parser, when the manager starts; the names are then copied into
// a tree of our own, so looking one up is a walk down that tree: no global
// library state, safe from any thread, a few hundred nanoseconds.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "snmp/oid.h"

namespace duet::snmp {

struct MibOptions {
  // Directories searched for MIB files; empty: net-snmp's default path
  // (/usr/share/snmp/mibs and its iana/ and ietf/ sub-directories).
  std::vector<std::string> dirs;
  // Modules to load; "ALL": every module in the directories.
  std::vector<std::string> modules{"ALL"};
};

class MibNames {
 public:
  MibNames() = default;  // no names: everything numeric
  // Parses the MIBs (one caller at a time: net-snmp's parser is global). A
  // module that does not parse, or imports one that is missing, is skipped;
  // its objects stay numeric. An error only when no directory can be read.
  static Result<std::shared_ptr<const MibNames>> load(const MibOptions& options);
  // Built from (numeric OID, "MODULE::label") pairs, for tests.
  static std::shared_ptr<const MibNames> from(
      const std::vector<std::pair<Oid, std::string>>& names);

  // "MODULE::label" of the longest defined prefix, and ".n.m" for the rest;
  // the numeric form when no prefix has a name.
  std::string name(const Oid& oid) const;
  std::size_t size() const { return named_; }

 private:
  struct Node {
    std::uint32_t sub = 0;
    std::string name;            // empty: not named here
    std::vector<Node> children;  // sorted by sub
  };
  void add(const std::vector<std::uint32_t>& arcs, std::string name);
  Node root_;
  std::size_t named_ = 0;
};

}  // namespace duet::snmp
