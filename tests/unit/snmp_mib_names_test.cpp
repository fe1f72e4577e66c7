// MibNames (snmp/mib_names.h): OIDs named from MIB files where defined,
// numeric otherwise; a module that does not parse costs only its own names.

#include <catch2/catch.hpp>

#include "snmp/mib_names.h"

using duet::snmp::MibNames;
using duet::snmp::MibOptions;
using duet::snmp::Oid;

namespace {
const std::string kMibDir = std::string(DUET_SOURCE_DIR) + "/tests/data/mibs";
}

TEST_CASE("mib names: the longest named prefix, then the rest in numbers", "[snmp][mib]") {
  auto names = MibNames::from({{Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 1}, "IF-MIB::ifIndex"},
                               {Oid{1, 3, 6, 1, 2, 1, 2}, "IF-MIB::interfaces"}});
  CHECK(names->name(Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7}) == "IF-MIB::ifIndex.7");
  CHECK(names->name(Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 1}) == "IF-MIB::ifIndex");
  CHECK(names->name(Oid{1, 3, 6, 1, 2, 1, 2, 9}) == "IF-MIB::interfaces.9");
  CHECK(names->name(Oid{1, 3, 6, 1, 4, 1, 9}) == "1.3.6.1.4.1.9");
  CHECK(MibNames().name(Oid{1, 3, 6, 1}) == "1.3.6.1");
}

TEST_CASE("mib names: loaded from MIB files by net-snmp's parser", "[snmp][mib]") {
  MibOptions o;
  o.dirs = {kMibDir};
  auto loaded = MibNames::load(o);
  REQUIRE(loaded.ok());
  const auto& names = **loaded;
  CHECK(names.name(Oid{1, 3, 6, 1, 4, 1, 99999, 0, 1}) == "DUET-TEST-MIB::duetTestLinkFlap");
  CHECK(names.name(Oid{1, 3, 6, 1, 4, 1, 99999, 1, 1, 3}) == "DUET-TEST-MIB::duetTestIfIndex.3");
  CHECK(names.name(Oid{1, 3, 6, 1, 4, 1, 99999, 1, 2, 3}) == "DUET-TEST-MIB::duetTestIfName.3");
  // Outside what the module defines: numbers (BROKEN-MIB did not parse and names nothing).
  CHECK(names.name(Oid{1, 3, 6, 1, 4, 1, 12345, 1}).rfind("DUET-TEST-MIB::", 0) != 0);
  CHECK(names.name(Oid{2, 5, 7}) == "2.5.7");

  // One module by name; loading again (at a restart of the receivers) works the same.
  o.modules = {"DUET-TEST-MIB"};
  auto again = MibNames::load(o);
  REQUIRE(again.ok());
  CHECK((*again)->name(Oid{1, 3, 6, 1, 4, 1, 99999, 0, 1}) == "DUET-TEST-MIB::duetTestLinkFlap");
}

TEST_CASE("mib names: no readable directory is a configuration error", "[snmp][mib]") {
  MibOptions o;
  o.dirs = {"/nonexistent/duet-mibs"};
  auto loaded = MibNames::load(o);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.find("receivers.snmp.mibs") != std::string::npos);
}
