#include "common/intake_config.h"

#include <algorithm>
#include <regex>
#include <set>
#include <string_view>

#include "common/config.h"

namespace duet {
namespace {

std::optional<std::string> address(YamlReader& r, const std::string& key) {
  auto text = r.optional_string(key);
  if (!text) return std::nullopt;
  std::string why;
  if (!parse_host_port(*text, &why)) r.fail(key, why);
  return text;
}

void check_regex(YamlReader& r, const std::string& key, const std::string& pattern) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    r.fail(key, "not a valid regex: " + std::string(e.what()));
  }
}

const std::vector<std::string> kPriorities = {"critical", "warning", "info", "unknown"};

// RFC 3411 SnmpEngineID: 5 to 32 octets, not all zeros, not all 0xff.
constexpr std::size_t kMinEngineId = 5, kMaxEngineId = 32;
// RFC 3414: a password of fewer than 8 characters is refused (net-snmp too).
constexpr std::size_t kMinPassword = 8;
// SnmpAdminString of a USM user name: 1 to 32 octets.
constexpr std::size_t kMaxUserName = 32;

// Hex with an optional "0x" prefix; ':' and ' ' separators are ignored.
std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  std::vector<std::uint8_t> out;
  int high = -1;
  for (char ch : text) {
    if (ch == ':' || ch == ' ') continue;
    int v = -1;
    if (ch >= '0' && ch <= '9') v = ch - '0';
    if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
    if (v < 0) return std::nullopt;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + v));
      high = -1;
    }
  }
  if (high >= 0) return std::nullopt;
  return out;
}

std::vector<std::uint8_t> engine_id(YamlReader& r, const std::string& key) {
  auto text = r.optional_string(key);
  if (!text) return {};
  auto bytes = parse_hex(*text);
  if (!bytes) r.fail(key, "expected an engine id in hex (e.g. 0x80001f8804...)");
  if (bytes->size() < kMinEngineId || bytes->size() > kMaxEngineId) {
    r.fail(key, "an engine id has 5 to 32 octets, not " + std::to_string(bytes->size()));
  }
  const bool zeros = std::all_of(bytes->begin(), bytes->end(), [](auto b) { return b == 0; });
  const bool ones = std::all_of(bytes->begin(), bytes->end(), [](auto b) { return b == 0xff; });
  if (zeros || ones) r.fail(key, "an engine id must not be all zeros or all 0xff");
  return *bytes;
}

// A password: required when `needed`, refused otherwise; never quoted back.
std::string password(YamlReader& r, const std::string& key, bool needed,
                     const std::string& protocol_key) {
  auto text = r.optional_string(key);
  if (!needed) {
    if (text) r.fail(key, "given, but " + protocol_key + " is none");
    return {};
  }
  if (!text) r.fail_here("missing required key '" + key + "' (" + protocol_key + " is set)");
  if (text->size() < kMinPassword) {
    r.fail(key, "too short: a USM password has at least " + std::to_string(kMinPassword) +
                    " characters");
  }
  return *text;
}

SnmpUserConfig read_snmp_user(YamlReader& r) {
  SnmpUserConfig u;
  u.name = r.required_string("name");
  if (u.name.size() > kMaxUserName) r.fail("name", "a USM user name has at most 32 octets");
  u.auth =
      r.enum_or("auth", {"md5", "sha", "sha224", "sha256", "sha384", "sha512", "none"}, "none");
  u.auth_key = password(r, "auth_key", u.auth != "none", "auth");
  u.priv = r.enum_or("priv", {"des", "aes", "none"}, "none");
  if (u.priv != "none" && u.auth == "none") {
    r.fail("priv", "privacy needs authentication: set auth too");
  }
  u.priv_key = password(r, "priv_key", u.priv != "none", "priv");
  u.engine_id = engine_id(r, "engine_id");
  r.finish();
  return u;
}

SnmpReceiverConfig read_snmp(YamlReader& s) {
  SnmpReceiverConfig c;
  c.udp = address(s, "udp");
  c.communities = s.string_or_list("communities");
  c.engine_id = engine_id(s, "engine_id");
  std::set<std::pair<std::string, std::vector<std::uint8_t>>> seen;
  for (auto& r : s.map_list("users")) {
    SnmpUserConfig u = read_snmp_user(r);
    if (!c.engine_id.empty() && u.engine_id == c.engine_id) {
      r.fail("engine_id",
             "is this manager's own engine id; leave it out for a user that "
             "only sends informs");
    }
    if (!seen.emplace(u.name, u.engine_id).second) {
      r.fail("name", "user '" + u.name + "' is listed twice for the same engine id");
    }
    c.users.push_back(std::move(u));
  }
  c.max_message_bytes = s.int_or("max_message_bytes", c.max_message_bytes, 484, 65507);
  c.udp_receive_buffer_bytes =
      s.int_or("udp_receive_buffer_bytes", c.udp_receive_buffer_bytes, 65536, 1 << 30);
  c.udp_coalesce_us = s.int_or("udp_coalesce_us", c.udp_coalesce_us, 0, 100000);
  c.boots_file = s.string_or("boots_file", "");
  if (auto m = s.optional_map("mibs")) {
    c.mibs_configured = true;
    c.mibs_enabled = m->bool_or("enabled", true);
    c.mib_dirs = m->string_or_list("dirs");
    auto modules = m->string_or_list("modules");
    if (!modules.empty()) c.mib_modules = std::move(modules);
    m->finish();
  }
  if (c.udp && c.communities.empty() && c.users.empty()) {
    s.fail("udp",
           "give communities (v1/v2c) or users (v3): with neither, every message "
           "is refused");
  }
  s.finish();
  return c;
}

std::uint32_t fnv1a(const std::string& text) {
  std::uint32_t h = 2166136261u;
  for (unsigned char ch : text) h = (h ^ ch) * 16777619u;
  return h;
}

}  // namespace

std::vector<std::uint8_t> default_snmp_engine_id(const std::string& node_name) {
  constexpr std::size_t kMaxText = 27;  // 32 octets minus the 5 of the header
  std::vector<std::uint8_t> id{0x80, 0x00, 0x1F, 0x88, 0x04};
  std::string text = node_name;
  if (text.size() > kMaxText) {
    static const char* digits = "0123456789abcdef";
    const std::uint32_t h = fnv1a(node_name);
    text = node_name.substr(0, 18) + "~";
    for (int shift = 28; shift >= 0; shift -= 4) text += digits[(h >> shift) & 15];
  }
  if (text.empty()) text = "duet";
  id.insert(id.end(), text.begin(), text.end());
  return id;
}

std::vector<std::uint8_t> snmp_engine_id(const SnmpReceiverConfig& config,
                                         const std::string& node_name) {
  return config.engine_id.empty() ? default_snmp_engine_id(node_name) : config.engine_id;
}

ReceiversConfig read_receivers(std::optional<YamlReader> r) {
  ReceiversConfig c;
  if (!r) return c;
  if (auto s = r->optional_map("syslog")) {
    auto& y = c.syslog;
    y.udp = address(*s, "udp");
    y.tcp = address(*s, "tcp");
    y.tls = address(*s, "tls");
    y.max_message_bytes = s->int_or("max_message_bytes", y.max_message_bytes, 480, 1 << 20);
    y.udp_receive_buffer_bytes =
        s->int_or("udp_receive_buffer_bytes", y.udp_receive_buffer_bytes, 65536, 1 << 30);
    y.udp_coalesce_us = s->int_or("udp_coalesce_us", y.udp_coalesce_us, 0, 100000);
    y.max_connections = s->int_or("max_connections", y.max_connections, 1, 100000);
    y.idle_timeout_s = s->int_or("idle_timeout_s", y.idle_timeout_s, 1, 86400);
    y.tls_client_auth = s->enum_or("tls_client_auth", {"none", "optional", "require"}, "none");
    y.tls_cert = s->string_or("tls_cert", "");
    y.tls_key = s->string_or("tls_key", "");
    if (y.tls_cert.empty() != y.tls_key.empty()) {
      s->fail(y.tls_cert.empty() ? "tls_key" : "tls_cert", "give tls_cert and tls_key together");
    }
    s->finish();
  }
  if (auto s = r->optional_map("snmp")) c.snmp = read_snmp(*s);
  r->finish();
  return c;
}

EventsConfig read_events(std::optional<YamlReader> r, std::int64_t timeout_ms) {
  EventsConfig c;
  if (!r) {
    c.window_ms = std::max(c.window_ms, timeout_ms);
    return c;
  }
  c.window_ms = r->int_or("window_ms", std::max(c.window_ms, timeout_ms), 100, 3600000);
  if (c.window_ms < timeout_ms) {
    r->fail("window_ms", "must be at least ha.timeout_ms (" + std::to_string(timeout_ms) +
                             ") plus the clock skew between the managers");
  }
  c.grace_ms = r->int_or("grace_ms", c.grace_ms, 10, 60000);
  if (c.grace_ms >= c.window_ms) r->fail("grace_ms", "must be below window_ms");
  c.batch_max = r->int_or("batch_max", c.batch_max, 1, 100000);
  c.batch_delay_ms = r->int_or("batch_delay_ms", c.batch_delay_ms, 0, 1000);
  c.default_priority = r->enum_or("default_priority", kPriorities, "unknown");
  c.default_keep = r->bool_or("default_keep", true);
  for (auto& rule : r->map_list("rules")) {
    EventRuleConfig e;
    e.name = rule.string_or("name", "");
    e.sources = rule.string_or_list("source");
    for (const auto& s : e.sources) {
      std::string addr = s.substr(0, s.find('/'));
      std::string why;
      if (!parse_host_port((addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":1",
                           &why)) {
        rule.fail("source", "'" + s + "' is not an address or CIDR block");
      }
    }
    e.scopes = rule.string_or_list("scope");
    if (auto f = rule.optional_map("fields")) {
      e.fields = f->string_map();
      for (const auto& [k, v] : e.fields) check_regex(*f, k, v);
    }
    e.message = rule.string_or("message", "");
    if (!e.message.empty()) check_regex(rule, "message", e.message);
    e.priority = rule.enum_or("priority", kPriorities, "unknown");
    e.keep = rule.bool_or("keep", true);
    rule.finish();
    c.rules.push_back(std::move(e));
  }
  r->finish();
  return c;
}

}  // namespace duet
