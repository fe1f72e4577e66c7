#pragma once

// Configuration of event intake: the receivers on this node's own addresses
// (`receivers:`) and how events are deduplicated and classified (`events:`).
// Read by parse_manager_config; every error names FILE:LINE: KEY.
//
// Secrets (USM passwords) are held here as read and go to the SNMP receiver;
// they never appear in an error message or a log line.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/yaml_reader.h"

namespace duet {

struct HostPort;

struct SyslogReceiversConfig {
  std::optional<std::string> udp, tcp, tls;  // "host:port", checked by the reader
  std::int64_t max_message_bytes = 8192;
  std::int64_t udp_receive_buffer_bytes = 8 << 20;
  std::int64_t udp_coalesce_us = 1000;  // wait after a drain of the socket (see docs/events.md)
  std::int64_t max_connections = 1000;
  std::int64_t idle_timeout_s = 600;
  std::string tls_client_auth = "none";  // none, optional, require
  std::string tls_cert, tls_key;         // default: the manager's tls.cert / tls.key
};

// One SNMPv3 (USM) user. Protocol names as in the config file.
struct SnmpUserConfig {
  std::string name;
  std::string auth = "none";  // md5, sha, sha224, sha256, sha384, sha512, none
  std::string auth_key;       // the authentication password (secret)
  std::string priv = "none";  // des, aes, none
  std::string priv_key;       // the privacy password (secret)
  // The sender's engine id, needed for its v3 traps; empty: informs only.
  std::vector<std::uint8_t> engine_id;
};

// The SNMP trap/inform receiver (`receivers.snmp`).
struct SnmpReceiverConfig {
  std::optional<std::string> udp;        // "host:port", checked by the reader
  std::vector<std::string> communities;  // v1/v2c
  std::vector<SnmpUserConfig> users;     // v3
  // This manager's engine id; empty: default_snmp_engine_id(node name).
  std::vector<std::uint8_t> engine_id;
  std::int64_t max_message_bytes = 8192;
  std::int64_t udp_receive_buffer_bytes = 8 << 20;
  std::int64_t udp_coalesce_us = 1000;  // wait after a drain of the socket (see docs/events.md)
  // Local file counting this engine's starts (snmpEngineBoots); empty: next
  // to the SQLite database (required with PostgreSQL when v3 users are set).
  std::string boots_file;
  // MIBs for OID names (`mibs: {dirs, modules, enabled}`). Not configured:
  // net-snmp's default directories when they exist, numeric otherwise.
  bool mibs_configured = false;
  bool mibs_enabled = true;  // `enabled: false` turns names off
  std::vector<std::string> mib_dirs;
  std::vector<std::string> mib_modules{"ALL"};
};

struct ReceiversConfig {
  SyslogReceiversConfig syslog;
  SnmpReceiverConfig snmp;
  bool any_syslog() const { return syslog.udp || syslog.tcp || syslog.tls; }
  bool any() const { return any_syslog() || snmp.udp.has_value(); }
};

// RFC 3411 SnmpEngineID in the text format: 0x80 | enterprise 8072 (net-snmp's,
// as Duet has no enterprise number of its own), format 4 (text), then the node
// name; a name over 27 octets keeps its first 18 and a hash of the whole. Both
// managers of a pair have different names, so different engine ids.
std::vector<std::uint8_t> default_snmp_engine_id(const std::string& node_name);
// The configured engine id, or the default for `node_name`.
std::vector<std::uint8_t> snmp_engine_id(const SnmpReceiverConfig& config,
                                         const std::string& node_name);

// One classification rule (see intake/rules.h); regexes are checked here.
struct EventRuleConfig {
  std::string name;
  std::vector<std::string> sources;
  std::vector<std::string> scopes;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string message;
  std::string priority = "unknown";  // critical, warning, info, unknown
  bool keep = true;
};

struct EventsConfig {
  std::int64_t window_ms = 10000;  // duplicate window; at least ha.timeout_ms
  std::int64_t grace_ms = 1000;    // how long a standby-only copy waits for the master's
  std::int64_t batch_max = 1000;   // events per store transaction
  std::int64_t batch_delay_ms = 5;
  std::string default_priority = "unknown";
  bool default_keep = true;
  std::vector<EventRuleConfig> rules;
};

ReceiversConfig read_receivers(std::optional<YamlReader> r);
// `timeout_ms`: the pair's failover timeout, the least window allowed.
EventsConfig read_events(std::optional<YamlReader> r, std::int64_t timeout_ms);

}  // namespace duet
