#include "intake/snmp_setup.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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
  setup.options.udp_coalesce = std::chrono::microseconds(config.udp_coalesce_us);

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

  // OID names from the MIBs. Configured directories must exist; the default
  // ones are used when they do.
  if (config.mibs_enabled) {
    snmp::MibOptions mibs;
    mibs.dirs = config.mib_dirs;
    mibs.modules = config.mib_modules;
    auto names = snmp::MibNames::load(mibs);
    if (names.ok()) {
      setup.options.mib_names = std::move(names).value();
      spdlog::info("snmp: {} MIB object names loaded", setup.options.mib_names->size());
    } else if (config.mibs_configured) {
      return names.error();
    } else {
      spdlog::info("snmp: no MIB directory found; OIDs are shown in numbers");
    }
  }
  return setup;
}

Result<std::uint32_t> next_engine_boots(const std::string& path) {
  constexpr std::uint64_t kMax = 2147483647;  // RFC 3414: stays there
  std::uint64_t boots = 0;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    std::string v = text.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    auto [ptr, perr] = std::from_chars(v.data(), v.data() + v.size(), boots);
    if (!in || v.empty() || perr != std::errc() || ptr != v.data() + v.size() || boots > kMax) {
      return make_error(CommonErrc::kInvalidConfig,
                        "SNMP engine boots file " + path + ": not a number of boots ('" +
                            v.substr(0, 32) +
                            "'); fix or remove it (removing it restarts the "
                            "count, which lets senders' cached times lapse)");
    }
  }
  boots = std::min(boots + 1, kMax);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return make_error(CommonErrc::kInvalidConfig,
                      "SNMP engine boots file " + tmp + ": " + std::strerror(errno));
  }
  const std::string line = std::to_string(boots) + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return make_error(CommonErrc::kInvalidConfig, "SNMP engine boots file " + path + ": " +
                                                      std::strerror(written ? errno : saved));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return static_cast<std::uint32_t>(boots);
}

}  // namespace duet::intake
