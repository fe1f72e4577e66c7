#include "common/config.h"

#include <filesystem>
#include <fstream>
#include <regex>

namespace duet {
namespace {

bool valid_name(const std::string& s) {
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$");
  return std::regex_match(s, re);
}

HostPort read_address(YamlReader& r, const std::string& key) {
  std::string text = r.required_string(key);
  std::string why;
  auto hp = parse_host_port(text, &why);
  if (!hp) r.fail(key, why);
  return *hp;
}

NodeConfig read_node(YamlReader r) {
  NodeConfig n;
  n.name = r.required_string("name");
  if (!valid_name(n.name)) {
    r.fail("name", "'" + n.name +
                       "' is not a valid node name (1-63 of A-Z a-z 0-9 . _ -, starting with a "
                       "letter or digit)");
  }
  n.address = read_address(r, "address");
  r.finish();
  return n;
}

void check_readable(YamlReader& r, const std::string& key, const std::string& path) {
  std::ifstream in(path);
  if (!in) r.fail(key, "cannot read file '" + path + "'");
}

TlsConfig read_tls(YamlReader r, bool server, bool identity_optional = false) {
  TlsConfig t;
  t.insecure = r.bool_or("insecure", false);
  if (t.insecure) {
    for (const char* k : {"ca", "cert", "key", "client_auth", "server_name", "peer_names"}) {
      if (r.has(k)) r.fail(k, "cannot be combined with 'insecure: true'");
    }
    r.finish();
    return t;
  }
  t.ca_file = r.required_string("ca");
  t.cert_file = r.required_string("cert");
  t.key_file = r.required_string("key");
  check_readable(r, "ca", t.ca_file);
  // An agent that enrols makes its key and certificate: they may not exist yet.
  std::error_code ec;
  if (!identity_optional || std::filesystem::exists(t.cert_file, ec)) {
    check_readable(r, "cert", t.cert_file);
  }
  if (!identity_optional || std::filesystem::exists(t.key_file, ec)) {
    check_readable(r, "key", t.key_file);
  }
  if (server) {
    t.require_client_cert = r.enum_or("client_auth", {"require", "none"}, "require") == "require";
    t.peer_names = r.string_list("peer_names", /*required=*/false);
    for (const auto& n : t.peer_names) {
      if (n.empty()) r.fail("peer_names", "names must not be empty");
    }
    if (!t.peer_names.empty() && !t.require_client_cert) {
      r.fail("peer_names", "needs client certificates (client_auth: require)");
    }
  } else {
    t.server_name = r.string_or("server_name", "");
  }
  r.finish();
  return t;
}

LogConfig read_log(std::optional<YamlReader> r) {
  LogConfig l;
  if (!r) return l;
  l.level =
      r->enum_or("level", {"trace", "debug", "info", "warn", "error", "critical", "off"}, "info");
  l.format = r->enum_or("format", {"text", "json"}, "text") == "json" ? LogFormat::kJson
                                                                      : LogFormat::kText;
  l.file = r->string_or("file", "");
  r->finish();
  return l;
}

StoreConfig read_store(YamlReader r) {
  StoreConfig s;
  const bool sqlite = r.has("sqlite");
  const bool postgres = r.has("postgres");
  if (sqlite == postgres) r.fail_here("give exactly one of 'sqlite' (a file path) or 'postgres'");
  if (sqlite) {
    s.backend = StoreConfig::Backend::kSqlite;
    s.sqlite_path = r.required_string("sqlite");
  } else {
    s.backend = StoreConfig::Backend::kPostgres;
    s.postgres_conninfo = r.required_string("postgres");
  }
  s.retry_initial_ms = r.int_or("retry_initial_ms", s.retry_initial_ms, 10, 60000);
  s.retry_max_ms = r.int_or("retry_max_ms", s.retry_max_ms, s.retry_initial_ms, 600000);
  r.finish();
  return s;
}

ReferenceTarget read_reference(YamlReader& r, const std::string& key, const std::string& text) {
  ReferenceTarget t;
  std::string why;
  if (text.rfind("icmp:", 0) == 0) {
    t.kind = ReferenceTarget::Kind::kIcmp;
    t.host = text.substr(5);
    if (t.host.empty()) r.fail(key, "'" + text + "' names no host");
    return t;
  }
  auto hp = parse_host_port(text, &why);
  if (!hp) r.fail(key, why + " (give host:port for TCP, or icmp:host)");
  t.tcp = *hp;
  return t;
}

HaConfig read_ha(std::optional<YamlReader> r, bool has_peer) {
  HaConfig h;
  if (!r) return h;
  h.interval_ms = r->int_or("interval_ms", h.interval_ms, kMinIntervalMs, kMaxIntervalMs);
  h.timeout_ms = r->int_or("timeout_ms", h.timeout_ms, kMinTimeoutMs, kMaxTimeoutMs);
  if (h.timeout_ms < 3 * h.interval_ms) {
    r->fail("timeout_ms",
            "must be at least 3 x interval_ms (" + std::to_string(3 * h.interval_ms) + ")");
  }
  h.priority = r->int_or("priority", 0, -1000, 1000);
  h.sync = r->enum_or("sync", {"sync", "async"}, "sync") == "sync";
  h.sync_lag_bound_ms = r->int_or("sync_lag_bound_ms", h.sync_lag_bound_ms, 10, 600000);
  const std::string guard = r->enum_or("guard", {"none", "reference", "witness"}, "none");
  h.guard = guard == "reference" ? HaConfig::Guard::kReference
            : guard == "witness" ? HaConfig::Guard::kWitness
                                 : HaConfig::Guard::kNone;
  if (has_peer && h.guard == HaConfig::Guard::kNone) {
    r->fail("guard",
            "a pair needs a split-brain guard: 'reference' (with ha.reference) or "
            "'witness' (with ha.witness)");
  }
  for (const auto& text : r->string_list("reference", h.guard == HaConfig::Guard::kReference)) {
    h.reference.push_back(read_reference(*r, "reference", text));
  }
  if (h.guard != HaConfig::Guard::kReference && !h.reference.empty()) {
    r->fail("reference", "is used only with 'guard: reference'");
  }
  if (auto w = r->optional_map("witness")) {
    WitnessClientConfig wc;
    wc.address = read_address(*w, "address");
    // A lease as long as the failover timeout: a dead master's lease has run
    // out by the time its standby may promote, so the witness adds no delay.
    wc.lease_follows_timeout = !w->has("lease_ms");
    wc.lease_ms = w->int_or("lease_ms", h.timeout_ms, 2 * h.interval_ms, 600000);
    w->finish();
    h.witness = wc;
  }
  if (h.guard == HaConfig::Guard::kWitness && !h.witness) {
    r->fail_here("'guard: witness' needs a 'witness: {address: host:port}' entry");
  }
  if (h.guard != HaConfig::Guard::kWitness && h.witness) {
    r->fail("witness", "is used only with 'guard: witness'");
  }
  h.fence_command = r->string_or("fence_command", "");
  h.fence_timeout_ms = r->int_or("fence_timeout_ms", h.fence_timeout_ms, 100, 600000);
  r->finish();
  return h;
}

std::string read_config_text(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError(file + ":0: (file): cannot be read");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::string ReferenceTarget::to_string() const {
  return kind == Kind::kIcmp ? "icmp:" + host : tcp.to_string();
}

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(const std::string& text, std::string* why) {
  HostPort hp;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "'" + text + "' is not [IPv6]:port";
      return std::nullopt;
    }
    hp.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      *why = "'" + text + "' is not host:port";
      return std::nullopt;
    }
    hp.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) {
    *why = "'" + text + "' has no host";
    return std::nullopt;
  }
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    *why = "'" + text + "' has no valid port";
    return std::nullopt;
  }
  const int port = std::stoi(port_text);
  if (port < 1 || port > 65535) {
    *why = "port " + port_text + " is out of range [1, 65535]";
    return std::nullopt;
  }
  hp.port = static_cast<std::uint16_t>(port);
  return hp;
}

ManagerConfig parse_manager_config(const std::string& yaml_text, const std::string& file) {
  YamlReader root(parse_yaml(yaml_text, file), file, "");
  ManagerConfig c;
  c.file = file;
  c.node = read_node(root.required_map("node"));
  if (auto peer = root.optional_map("peer")) {
    c.peer = read_node(*peer);
    if (c.peer->name == c.node.name) root.fail("peer", "peer.name must differ from node.name");
    if (c.peer->address.to_string() == c.node.address.to_string()) {
      root.fail("peer", "peer.address must differ from node.address");
    }
  }
  c.store = read_store(root.required_map("store"));
  c.tls = read_tls(root.required_map("tls"), /*server=*/true);
  c.log = read_log(root.optional_map("log"));
  if (c.peer && !root.has("ha")) root.fail_here("a pair (peer is set) needs an 'ha' section");
  c.ha = read_ha(root.optional_map("ha"), c.peer.has_value());
  c.receivers = read_receivers(root.optional_map("receivers"));
  if (c.store.backend == StoreConfig::Backend::kPostgres && !c.receivers.snmp.users.empty() &&
      c.receivers.snmp.boots_file.empty()) {
    root.fail_here(
        "receivers.snmp.boots_file: needed with the PostgreSQL store and v3 users (a local file "
        "that counts this manager's SNMP engine starts, RFC 3414)");
  }
  c.events = read_events(root.optional_map("events"), c.ha.timeout_ms);
  if (auto a = root.optional_map("agents")) {
    c.agents.unreachable_after_ms =
        a->int_or("unreachable_after_ms", c.agents.unreachable_after_ms, 1000, 86400000);
    c.agents.workers = static_cast<int>(a->int_or("workers", c.agents.workers, 1, 256));
    if (auto e = a->optional_map("enrol")) {
      AgentsConfig::Enrol en;
      en.ca_key_file = e->required_string("ca_key");
      check_readable(*e, "ca_key", en.ca_key_file);
      if (e->has("listen")) {
        en.listen = read_address(*e, "listen");
      } else {
        en.listen = c.node.address;
        if (en.listen.port == 65535) e->fail_here("listen: give it (node.address uses port 65535)");
        en.listen.port = static_cast<std::uint16_t>(en.listen.port + 1);
      }
      en.cert_days = static_cast<int>(e->int_or("cert_days", en.cert_days, 1, 3650));
      if (c.tls.insecure)
        e->fail_here("needs TLS: an enrolled agent authenticates with its certificate");
      e->finish();
      c.agents.enrol = en;
    }
    c.agents.metrics_raw_keep_ms =
        a->int_or("metrics_raw_hours", c.agents.metrics_raw_keep_ms / 3600000, 1, 24 * 3660) *
        3600000;
    c.agents.metrics_hourly_keep_ms =
        a->int_or("metrics_hourly_days", c.agents.metrics_hourly_keep_ms / 86400000, 1, 3660) *
        86400000;
    a->finish();
  }
  if (auto n = root.optional_map("notifications")) {
    c.notifications.workers =
        static_cast<int>(n->int_or("workers", c.notifications.workers, 1, 64));
    c.notifications.keep_ms =
        n->int_or("keep_hours", c.notifications.keep_ms / 3600000, 1, 24 * 3660) * 3600000;
    c.notifications.state_keep_ms =
        n->int_or("state_keep_days", c.notifications.state_keep_ms / 86400000, 1, 3660) * 86400000;
    n->finish();
  }
  c.shutdown_grace_ms = root.int_or("shutdown_grace_ms", c.shutdown_grace_ms, 0, 600000);
  root.finish();
  return c;
}

ManagerConfig load_manager_config(const std::string& file) {
  return parse_manager_config(read_config_text(file), file);
}

WitnessConfig parse_witness_config(const std::string& yaml_text, const std::string& file) {
  YamlReader root(parse_yaml(yaml_text, file), file, "");
  WitnessConfig c;
  c.file = file;
  c.listen = read_address(root, "listen");
  c.state = root.required_string("state");
  c.tls = read_tls(root.required_map("tls"), /*server=*/true);
  c.log = read_log(root.optional_map("log"));
  c.max_lease_ms = root.int_or("max_lease_ms", c.max_lease_ms, 100, 600000);
  root.finish();
  return c;
}

WitnessConfig load_witness_config(const std::string& file) {
  return parse_witness_config(read_config_text(file), file);
}

AgentConfig parse_agent_config(const std::string& yaml_text, const std::string& file) {
  YamlReader root(parse_yaml(yaml_text, file), file, "");
  AgentConfig c;
  c.file = file;
  for (const auto& m : root.string_list("managers", /*required=*/true)) {
    std::string why;
    auto hp = parse_host_port(m, &why);
    if (!hp) root.fail("managers", why);
    c.managers.push_back(*hp);
  }
  if (c.managers.size() > 2) root.fail("managers", "a manager pair has at most two addresses");
  c.node = root.required_string("node");
  if (!valid_name(c.node)) root.fail("node", "'" + c.node + "' is not a valid node name");
  c.outbox = root.required_string("outbox");
  c.enrol_token = root.string_or("enrol_token", "");
  c.tls = read_tls(root.required_map("tls"), /*server=*/false,
                   /*identity_optional=*/!c.enrol_token.empty());
  c.log = read_log(root.optional_map("log"));
  for (const auto& m : root.string_list("enrol_managers", /*required=*/false)) {
    std::string why;
    auto hp = parse_host_port(m, &why);
    if (!hp) root.fail("enrol_managers", why);
    c.enrol_managers.push_back(*hp);
  }
  if (c.enrol_managers.empty()) {
    for (auto m : c.managers) {
      if (m.port < 65535) m.port = static_cast<std::uint16_t>(m.port + 1);
      c.enrol_managers.push_back(m);
    }
  }
  c.outbox_max_results = static_cast<std::uint64_t>(root.int_or(
      "outbox_max_results", static_cast<std::int64_t>(c.outbox_max_results), 100, 100000000));
  c.outbox_max_bytes = static_cast<std::uint64_t>(
      root.int_or("outbox_max_bytes", static_cast<std::int64_t>(c.outbox_max_bytes), 65536,
                  std::int64_t{1} << 40));
  c.reconnect_min_ms = root.int_or("reconnect_min_ms", c.reconnect_min_ms, 10, 60000);
  c.reconnect_max_ms =
      root.int_or("reconnect_max_ms", c.reconnect_max_ms, c.reconnect_min_ms, 600000);
  c.workers = static_cast<int>(root.int_or("workers", c.workers, 1, 256));
  root.finish();
  return c;
}

AgentConfig load_agent_config(const std::string& file) {
  return parse_agent_config(read_config_text(file), file);
}

std::string redact_conninfo(const std::string& conninfo) {
  // Keyword form: password=secret or password='se cret'.
  static const std::regex kw(R"((password\s*=\s*)('([^'\\]|\\.)*'|\S+))", std::regex::icase);
  // URI form: postgresql://user:secret@host/...
  static const std::regex uri(R"(((?:postgres|postgresql)://[^:/@]+:)([^@]*)(@))",
                              std::regex::icase);
  std::string out = std::regex_replace(conninfo, kw, "$1***");
  return std::regex_replace(out, uri, "$1***$3");
}

}  // namespace duet
