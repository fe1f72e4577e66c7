#pragma once

// Shared values for the snmp unit tests: engine ids, one USM user per
// auth/priv combination, and Credentials built from them. Header-only; test
// code only.

#include <string>
#include <vector>

#include "snmp/inbound.h"
#include "snmp/notification.h"

namespace duet::snmp::testing {

inline const Bytes kManagerEngine{0x80, 0x00, 0x1F, 0x88, 0x04, 'd', 'u', 'e', 't', 'A'};
inline const Bytes kSenderEngine{0x80, 0x00, 0x1F, 0x88, 0x04, 's', 'w', '0', '1'};

struct Combo {
  AuthProtocol auth;
  PrivProtocol priv;
};

// Every protocol at every level (authNoPriv for each auth protocol; both
// privacy protocols with MD5, SHA and SHA-256/-512).
inline std::vector<Combo> all_combos() {
  std::vector<Combo> out{{AuthProtocol::kNone, PrivProtocol::kNone}};
  for (AuthProtocol a :
       {AuthProtocol::kHmacMd5, AuthProtocol::kHmacSha1, AuthProtocol::kHmacSha224,
        AuthProtocol::kHmacSha256, AuthProtocol::kHmacSha384, AuthProtocol::kHmacSha512}) {
    out.push_back({a, PrivProtocol::kNone});
    out.push_back({a, PrivProtocol::kDes});
    out.push_back({a, PrivProtocol::kAes128});
  }
  return out;
}

inline std::string user_name(const Combo& c) {
  return "u-" + to_string(c.auth) + "-" + to_string(c.priv);
}

inline UsmUserConfig user_config(const Combo& c, Bytes engine_id = {}) {
  UsmUserConfig u;
  u.name = user_name(c);
  u.auth = c.auth;
  u.priv = c.priv;
  if (c.auth != AuthProtocol::kNone) u.auth_password = "auth-pass-" + u.name;
  if (c.priv != PrivProtocol::kNone) u.priv_password = "priv-pass-" + u.name;
  u.engine_id = std::move(engine_id);
  return u;
}

// Communities "public" and "ops"; every combo as a trap sender from
// kSenderEngine (which also makes it usable for informs to kManagerEngine).
inline Credentials make_credentials() {
  std::vector<UsmUserConfig> users;
  for (const Combo& c : all_combos()) users.push_back(user_config(c, kSenderEngine));
  auto table = UsmUserTable::build(users, kManagerEngine);
  if (!table.ok()) throw std::runtime_error(table.error().message);
  return Credentials{{"public", "ops"}, std::move(table).value()};
}

inline SecurityLevel level_of(const Combo& c) {
  if (c.auth == AuthProtocol::kNone) return SecurityLevel::kNoAuthNoPriv;
  if (c.priv == PrivProtocol::kNone) return SecurityLevel::kAuthNoPriv;
  return SecurityLevel::kAuthPriv;
}

inline std::vector<Varbind> sample_varbinds() {
  return notification_varbinds(123456, Oid{1, 3, 6, 1, 6, 3, 1, 1, 5, 3},
                               {{Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7}, Integer32{7}},
                                {Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 7}, OctetString::from("eth7")}});
}

}  // namespace duet::snmp::testing
