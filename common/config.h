#pragma once

// The configuration files of duet-manager and duet-agent: their shapes, their
// defaults and their rules. Loading validates everything it can before the
// process does anything (TLS files are read, addresses parsed), so a bad file
// fails at start with "config error: FILE:LINE: KEY: REASON".

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/intake_config.h"
#include "common/yaml_reader.h"

namespace duet {

struct HostPort {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string to_string() const;  // "host:port", "[v6]:port"
};

// Parses "host:port" / "[v6]:port"; nullopt with `why` set when malformed.
std::optional<HostPort> parse_host_port(const std::string& text, std::string* why);

struct TlsConfig {
  bool insecure = false;            // plaintext gRPC, for local demos only; warned at start
  std::string ca_file;              // CA that signs peers' and clients' certificates
  std::string cert_file;            // this process's certificate chain
  std::string key_file;             // its private key (never logged)
  bool require_client_cert = true;  // mutual TLS (servers only)
  std::string server_name;          // clients: name to verify instead of the dialled host
  // Servers: certificate names (subject CN or DNS SAN) accepted on the pair's
  // own links (Peer service; the witness's Witness service). Empty: the names
  // in this process's own certificate, which fits a pair sharing one
  // certificate. Other certificates of the same CA (duetctl, agents) are
  // refused there.
  std::vector<std::string> peer_names;
};

enum class LogFormat { kText, kJson };

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::kText;
  std::string file;  // empty: standard error
};

struct NodeConfig {
  std::string name;
  HostPort address;
};

struct StoreConfig {
  enum class Backend { kSqlite, kPostgres };
  Backend backend = Backend::kSqlite;
  std::string sqlite_path;
  std::string postgres_conninfo;  // may hold a password: print only redact_conninfo() of it
  std::int64_t retry_initial_ms = 200;
  std::int64_t retry_max_ms = 10000;
};

// One split-brain guard target: a TCP "host:port" that must accept a
// connection, or "icmp:host" that must answer an echo request.
struct ReferenceTarget {
  enum class Kind { kTcp, kIcmp };
  Kind kind = Kind::kTcp;
  HostPort tcp;      // kTcp
  std::string host;  // kIcmp
  std::string to_string() const;
};

struct WitnessClientConfig {
  HostPort address;
  std::int64_t lease_ms = 3000;  // lease length asked of the witness (default: ha.timeout_ms)
  // lease_ms was not set in the file: the lease follows the failover timeout
  // in force, also after a run-time change (duetctl ha timing).
  bool lease_follows_timeout = true;
};

// Bounds of the heartbeat interval and failover timeout (milliseconds), for
// the config file and run-time changes alike; also timeout >= 3 x interval.
inline constexpr std::int64_t kMinIntervalMs = 50;
inline constexpr std::int64_t kMaxIntervalMs = 60000;
inline constexpr std::int64_t kMinTimeoutMs = 150;
inline constexpr std::int64_t kMaxTimeoutMs = 600000;

struct HaConfig {
  std::int64_t interval_ms = 500;         // heartbeat interval
  std::int64_t timeout_ms = 3000;         // failover timeout; at least 3 x interval
  std::int64_t priority = 0;              // start-up tie-break: higher first
  bool sync = true;                       // sync replication (default) or async
  std::int64_t sync_lag_bound_ms = 2000;  // sync: wait this long for the standby, then run alone
  enum class Guard { kNone, kReference, kWitness };
  Guard guard = Guard::kNone;                  // none only without a peer
  std::vector<ReferenceTarget> reference;      // guard: reference
  std::optional<WitnessClientConfig> witness;  // guard: witness
  std::string fence_command;                   // run by a promoting node against the old master
  std::int64_t fence_timeout_ms = 10000;
};

// Agents as the master sees them.
struct AgentsConfig {
  // An agent without a session this long raises "agent unreachable".
  std::int64_t unreachable_after_ms = 60000;
  // Threads for the monitors the manager runs itself (pings need none).
  int workers = 8;
  // Monitor results are kept as they came for this long, then as hourly
  // points (mean, min, max, count) for the second span.
  std::int64_t metrics_raw_keep_ms = 7LL * 24 * 3600 * 1000;
  std::int64_t metrics_hourly_keep_ms = 400LL * 24 * 3600 * 1000;
  // Enrolment: agents with a one-time token get a certificate signed with
  // the deployment's CA (tls.ca and this key), on a port of its own whose
  // TLS does not ask for a client certificate.
  struct Enrol {
    std::string ca_key_file;  // secret: its contents are never logged
    HostPort listen;          // default: node.address with the port + 1
    int cert_days = 825;
  };
  std::optional<Enrol> enrol;
};

// Notifications (manager/notifier.h): how they are sent and how long kept.
// The channels and notifications themselves are in the replicated store
// (`duetctl apply`), not here.
struct NotificationsConfig {
  int workers = 4;                                       // sending threads
  std::int64_t keep_ms = 7LL * 24 * 3600 * 1000;         // sent/failed/muted intents kept
  std::int64_t state_keep_ms = 30LL * 24 * 3600 * 1000;  // idle suppression keys kept
};

struct ManagerConfig {
  std::string file;
  NodeConfig node;
  std::optional<NodeConfig> peer;
  StoreConfig store;
  TlsConfig tls;
  LogConfig log;
  HaConfig ha;
  ReceiversConfig receivers;  // syslog (and SNMP) listeners on this node's addresses
  EventsConfig events;        // duplicate window, rules
  AgentsConfig agents;
  NotificationsConfig notifications;
  std::int64_t shutdown_grace_ms = 5000;  // in-flight RPCs get this long at SIGTERM
};

// duet-witness: grants the master lease to one manager of a pair at a time.
struct WitnessConfig {
  std::string file;
  HostPort listen;
  std::string state;  // file holding the highest epoch granted (survives restarts)
  TlsConfig tls;
  LogConfig log;
  std::int64_t max_lease_ms = 30000;  // longest lease granted; also the quiet period after start
};

struct AgentConfig {
  std::string file;
  std::vector<HostPort> managers;
  std::string node;
  std::string outbox;
  TlsConfig tls;
  LogConfig log;
  std::string enrol_token;  // secret: never logged
  // Outbox bounds: the oldest results go (counted, reported) past either.
  std::uint64_t outbox_max_results = 100000;
  std::uint64_t outbox_max_bytes = std::uint64_t{64} << 20;
  // Reconnection backoff after a failed or lost session (doubling, with jitter).
  std::int64_t reconnect_min_ms = 500;
  std::int64_t reconnect_max_ms = 5000;
  // Monitors run at once at most (each check blocks one worker).
  int workers = 4;
  // Where to enrol (with enrol_token): default each manager with the port + 1.
  std::vector<HostPort> enrol_managers;
};

// Both throw ConfigError("FILE:LINE: KEY: REASON").
ManagerConfig parse_manager_config(const std::string& yaml_text, const std::string& file);
ManagerConfig load_manager_config(const std::string& file);
WitnessConfig parse_witness_config(const std::string& yaml_text, const std::string& file);
WitnessConfig load_witness_config(const std::string& file);
AgentConfig parse_agent_config(const std::string& yaml_text, const std::string& file);
AgentConfig load_agent_config(const std::string& file);

// A libpq conninfo with any password replaced by "***" (keyword or URI form).
std::string redact_conninfo(const std::string& conninfo);

}  // namespace duet
