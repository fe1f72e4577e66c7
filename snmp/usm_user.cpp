#include "snmp/usm_user.h"

#include "snmp/errors.h"
#include "snmp/message.h"

namespace duet::snmp {

std::string to_string(SecurityLevel level) {
  switch (level) {
    case SecurityLevel::kNoAuthNoPriv:
      return "noAuthNoPriv";
    case SecurityLevel::kAuthNoPriv:
      return "authNoPriv";
    case SecurityLevel::kAuthPriv:
      return "authPriv";
  }
  return "unknown";
}

SecurityLevel level_from_flags(uint8_t f) {
  if (f & msg_flags::kPriv) return SecurityLevel::kAuthPriv;
  if (f & msg_flags::kAuth) return SecurityLevel::kAuthNoPriv;
  return SecurityLevel::kNoAuthNoPriv;
}

uint8_t flags_for(SecurityLevel level) {
  switch (level) {
    case SecurityLevel::kNoAuthNoPriv:
      return 0;
    case SecurityLevel::kAuthNoPriv:
      return msg_flags::kAuth;
    case SecurityLevel::kAuthPriv:
      return msg_flags::kAuth | msg_flags::kPriv;
  }
  return 0;
}

SecurityLevel UsmKeys::level() const {
  if (auth == AuthProtocol::kNone) return SecurityLevel::kNoAuthNoPriv;
  if (priv == PrivProtocol::kNone) return SecurityLevel::kAuthNoPriv;
  return SecurityLevel::kAuthPriv;
}

Result<UsmKeys> localize_user(const UsmUserConfig& user, std::span<const uint8_t> engine_id) {
  const auto bad = [&](const std::string& why) {
    return make_error(SnmpErrc::kInvalidArgument, "USM user '" + user.name + "': " + why);
  };
  if (user.name.empty() || user.name.size() > 32) return bad("name must have 1..32 characters");
  if (engine_id.size() < 5 || engine_id.size() > 32) return bad("engine id must have 5..32 octets");
  UsmKeys keys;
  keys.user_name = user.name;
  keys.auth = user.auth;
  keys.priv = user.priv;
  if (user.auth == AuthProtocol::kNone) {
    if (user.priv != PrivProtocol::kNone) return bad("privacy needs an auth protocol");
    return keys;
  }
  auto derive = [&](const std::string& password, const Bytes& master,
                    const char* what) -> Result<Bytes> {
    Bytes ku = master;
    if (!password.empty()) {
      auto derived = password_to_key(user.auth, password);
      if (!derived.ok()) return bad(std::string(what) + ": " + derived.error().message);
      ku = std::move(derived).value();
    } else if (ku.size() != digest_length(user.auth)) {
      return bad(std::string(what) + " password missing (or a master key of " +
                 std::to_string(digest_length(user.auth)) + " octets)");
    }
    return localize_key(user.auth, ku, engine_id);
  };
  DUET_ASSIGN_OR_RETURN(keys.auth_key, derive(user.auth_password, user.auth_key, "auth"));
  if (user.priv != PrivProtocol::kNone) {
    DUET_ASSIGN_OR_RETURN(keys.priv_key, derive(user.priv_password, user.priv_key, "privacy"));
  }
  return keys;
}

Result<UsmUserTable> UsmUserTable::build(const std::vector<UsmUserConfig>& users,
                                         const Bytes& local_engine_id) {
  UsmUserTable table;
  table.local_engine_id_ = local_engine_id;
  auto add = [&](const UsmUserConfig& user, const Bytes& engine) -> Status {
    DUET_ASSIGN_OR_RETURN(UsmKeys keys, localize_user(user, engine));
    auto [it, inserted] = table.keys_.emplace(std::make_pair(engine, user.name), std::move(keys));
    if (!inserted) {
      return make_error(
          SnmpErrc::kInvalidArgument,
          "USM user '" + user.name + "' is configured twice for engine " + to_hex(engine));
    }
    return ok_status();
  };
  // First the entries for the local engine, then the trap senders'. A sender's
  // user may also send informs to this manager: it gets local keys too unless
  // an entry of its own for the local engine exists.
  for (const UsmUserConfig& user : users) {
    if (user.engine_id.empty() || user.engine_id == local_engine_id) {
      DUET_TRY(add(user, local_engine_id));
    }
  }
  for (const UsmUserConfig& user : users) {
    if (user.engine_id.empty() || user.engine_id == local_engine_id) continue;
    DUET_TRY(add(user, user.engine_id));
    if (!table.keys_.contains(std::make_pair(local_engine_id, user.name))) {
      DUET_TRY(add(user, local_engine_id));
    }
  }
  return table;
}

const UsmKeys* UsmUserTable::find(std::span<const uint8_t> engine_id,
                                  std::string_view user_name) const {
  auto it =
      keys_.find(std::make_pair(Bytes(engine_id.begin(), engine_id.end()), std::string(user_name)));
  return it == keys_.end() ? nullptr : &it->second;
}

bool UsmUserTable::knows_engine(std::span<const uint8_t> engine_id) const {
  if (engine_id.size() == local_engine_id_.size() &&
      std::equal(engine_id.begin(), engine_id.end(), local_engine_id_.begin())) {
    return true;
  }
  for (const auto& [key, keys] : keys_) {
    if (std::equal(engine_id.begin(), engine_id.end(), key.first.begin(), key.first.end()))
      return true;
  }
  return false;
}

bool UsmUserTable::knows_user(std::string_view user_name) const {
  for (const auto& [key, keys] : keys_) {
    if (key.second == user_name) return true;
  }
  return false;
}

}  // namespace duet::snmp
