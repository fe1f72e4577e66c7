#include "intake/snmp_setup.h"

#include "common/errors.h"
#include "snmp/usm.h"

namespace duet::intake {
namespace {

// The config's protocol names (checked by the config reader).
Result<snmp::AuthProtocol> auth_protocol(const std::string& name) {
  if (name == "none") return snmp::AuthProtocol::kNone;
  if (name == "md5") return snmp::AuthProtocol::kHmacMd5;
  if (name == "sha") return snmp::AuthProtocol::kHmacSha1;
  if (name == "sha224") return snmp::AuthProtocol::kHmacSha224;
  if (name == "sha256") return snmp::AuthProtocol::kHmacSha256;
  if (name == "sha384") return snmp::AuthProtocol::kHmacSha384;
  if (name == "sha512") return snmp::AuthProtocol::kHmacSha512;
  return make_error(CommonErrc::kInvalidConfig, "unknown auth protocol '" + name + "'");
}

Result<snmp::PrivProtocol> priv_protocol(const std::string& name) {
  if (name == "none") return snmp::PrivProtocol::kNone;
  if (name == "des") return snmp::PrivProtocol::kDes;
  if (name == "aes") return snmp::PrivProtocol::kAes128;
  return make_error(CommonErrc::kInvalidConfig, "unknown priv protocol '" + name + "'");
}

}  // namespace

Result<SnmpReceiverSetup> snmp_receiver_setup(const SnmpReceiverConfig& config,
                                              const std::string& node_name) {
  SnmpReceiverSetup setup;
  if (!config.udp) {
    return make_error(CommonErrc::kInvalidConfig, "receivers.snmp.udp is not set");
  }
  std::string why;
  auto hp = parse_host_port(*config.udp, &why);
  if (!hp) return make_error(CommonErrc::kInvalidConfig, "receivers.snmp.udp: " + why);
  setup.options.udp = *hp;
  setup.options.max_message_bytes = static_cast<std::size_t>(config.max_message_bytes);
  setup.options.udp_receive_buffer_bytes = static_cast<int>(config.udp_receive_buffer_bytes);

  std::vector<snmp::UsmUserConfig> users;
  for (const SnmpUserConfig& u : config.users) {
    snmp::UsmUserConfig c;
    c.name = u.name;
    DUET_ASSIGN_OR_RETURN(c.auth, auth_protocol(u.auth));
    DUET_ASSIGN_OR_RETURN(c.priv, priv_protocol(u.priv));
    c.auth_password = u.auth_key;
    c.priv_password = u.priv_key;
    c.engine_id = u.engine_id;
    users.push_back(std::move(c));
  }
  const snmp::Bytes engine_id = snmp_engine_id(config, node_name);
  auto table = snmp::UsmUserTable::build(users, engine_id);
  if (!table.ok()) {
    // The codec's message names the user and the reason, never a password.
    return make_error(CommonErrc::kInvalidConfig, "receivers.snmp.users: " + table.error().message);
  }
  setup.credentials.communities = config.communities;
  setup.credentials.users = std::move(table).value();
  return setup;
}

}  // namespace duet::intake
