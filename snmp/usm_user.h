#pragma once

// USM users: what the configuration says about a user, its keys localized to
// one engine, and the table a receiver looks users up in.
//
// A user entry (UsmUserConfig) is localized to this manager's own engine id
// (for informs, where the manager is authoritative) and, when the entry names
// a sender engine id, to that engine too (for traps, where the sender is
// authoritative). Localizing costs a megabyte of hashing per password, so the
// table is built once at configuration load and is immutable afterwards:
// safe to share between threads for reading.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "snmp/usm.h"

namespace duet::snmp {

enum class SecurityLevel { kNoAuthNoPriv, kAuthNoPriv, kAuthPriv };

std::string to_string(SecurityLevel level);
SecurityLevel level_from_flags(uint8_t msg_flags);
uint8_t flags_for(SecurityLevel level);  // auth/priv bits only

struct UsmUserConfig {
  std::string name;
  AuthProtocol auth = AuthProtocol::kNone;
  std::string auth_password;  // or, when empty, auth_key: the master key Ku
  Bytes auth_key;
  PrivProtocol priv = PrivProtocol::kNone;
  std::string priv_password;  // or, when empty, priv_key: the master key
  Bytes priv_key;
  // The engine id of a trap sender using this user; empty: only informs
  // (and requests) to this manager's own engine.
  Bytes engine_id;
};

// A user's keys localized to one engine.
struct UsmKeys {
  std::string user_name;
  AuthProtocol auth = AuthProtocol::kNone;
  Bytes auth_key;
  PrivProtocol priv = PrivProtocol::kNone;
  Bytes priv_key;

  SecurityLevel level() const;
};

// Errors: kInvalidArgument naming the user and the reason (priv without auth,
// short password, missing key).
Result<UsmKeys> localize_user(const UsmUserConfig& user, std::span<const uint8_t> engine_id);

class UsmUserTable {
 public:
  // Fails on an invalid user, or on two entries for the same name and engine.
  static Result<UsmUserTable> build(const std::vector<UsmUserConfig>& users,
                                    const Bytes& local_engine_id);

  UsmUserTable() = default;

  const Bytes& local_engine_id() const { return local_engine_id_; }
  // nullptr when the user is not configured for that engine.
  const UsmKeys* find(std::span<const uint8_t> engine_id, std::string_view user_name) const;
  bool knows_engine(std::span<const uint8_t> engine_id) const;
  bool knows_user(std::string_view user_name) const;

 private:
  Bytes local_engine_id_;
  std::map<std::pair<Bytes, std::string>, UsmKeys, std::less<>> keys_;
};

}  // namespace duet::snmp
