#include "tests/fuzz/snmp_fuzz_config.h"

#include <cstdio>
#include <cstdlib>

namespace duet::fuzz {
namespace {

snmp::UsmUserConfig user(std::string name, snmp::AuthProtocol auth, snmp::PrivProtocol priv) {
  snmp::UsmUserConfig u;
  u.name = std::move(name);
  u.auth = auth;
  u.priv = priv;
  if (auth != snmp::AuthProtocol::kNone) u.auth_password = "auth-pass-" + u.name;
  if (priv != snmp::PrivProtocol::kNone) u.priv_password = "priv-pass-" + u.name;
  u.engine_id = kSenderEngine;
  return u;
}

}  // namespace

const std::vector<snmp::UsmUserConfig>& fuzz_users() {
  using snmp::AuthProtocol;
  using snmp::PrivProtocol;
  static const std::vector<snmp::UsmUserConfig> users{
      user("noauth", AuthProtocol::kNone, PrivProtocol::kNone),
      user("md5", AuthProtocol::kHmacMd5, PrivProtocol::kNone),
      user("sha256", AuthProtocol::kHmacSha256, PrivProtocol::kNone),
      user("md5des", AuthProtocol::kHmacMd5, PrivProtocol::kDes),
      user("shaaes", AuthProtocol::kHmacSha1, PrivProtocol::kAes128),
  };
  return users;
}

const snmp::Credentials& fuzz_credentials() {
  static const snmp::Credentials credentials = [] {
    auto table = snmp::UsmUserTable::build(fuzz_users(), kManagerEngine);
    if (!table.ok()) {
      // Start-up of a test tool: a broken fixed configuration cannot fuzz anything.
      std::fprintf(stderr, "fuzz config: %s\n", table.error().to_string().c_str());
      std::abort();
    }
    return snmp::Credentials{{"public", "ops"}, std::move(table).value()};
  }();
  return credentials;
}

const snmp::LocalEngine& fuzz_engine() {
  static const snmp::LocalEngine engine{kManagerEngine, kManagerBoots, kManagerTime};
  return engine;
}

}  // namespace duet::fuzz
