// The `receivers.syslog` and `receivers.snmp` sections: values, defaults, and errors naming
// FILE:LINE: KEY without ever quoting a password.

#include "common/intake_config.h"

#include <catch2/catch.hpp>

#include "common/config.h"

using duet::ConfigError;
using duet::parse_manager_config;

namespace {

const std::string kHead = R"(node:  { name: a, address: "127.0.0.11:7420" }
store: { sqlite: "/var/lib/duet/a.db" }
tls:   { insecure: true }
)";

duet::ManagerConfig parse(const std::string& receivers) {
  return parse_manager_config(kHead + receivers, "m.yaml");
}

std::string error_of(const std::string& receivers) {
  try {
    (void)parse(receivers);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("receivers.snmp: a full section parses with its values", "[config]") {
  const auto c = parse(R"(receivers:
  snmp:
    udp: "127.0.0.11:10162"
    communities: [public, ops]
    engine_id: "0x80001f880464756574"
    max_message_bytes: 4096
    udp_receive_buffer_bytes: 1048576
    udp_coalesce_us: 0
    users:
      - { name: sw01, auth: sha256, auth_key: "auth-secret-1", priv: aes,
          priv_key: "priv-secret-1", engine_id: "80:00:1f:88:04:73:77:30:31" }
      - { name: poller, auth: md5, auth_key: "auth-secret-2" }
      - { name: anon }
)");
  const auto& s = c.receivers.snmp;
  REQUIRE(s.udp);
  CHECK(*s.udp == "127.0.0.11:10162");
  CHECK(s.communities == std::vector<std::string>{"public", "ops"});
  CHECK(s.engine_id == std::vector<std::uint8_t>{0x80, 0x00, 0x1f, 0x88, 0x04, 'd', 'u', 'e', 't'});
  CHECK(s.max_message_bytes == 4096);
  CHECK(s.udp_receive_buffer_bytes == 1048576);
  CHECK(s.udp_coalesce_us == 0);
  REQUIRE(s.users.size() == 3);
  CHECK(s.users[0].name == "sw01");
  CHECK(s.users[0].auth == "sha256");
  CHECK(s.users[0].auth_key == "auth-secret-1");
  CHECK(s.users[0].priv == "aes");
  CHECK(s.users[0].priv_key == "priv-secret-1");
  CHECK(s.users[0].engine_id ==
        std::vector<std::uint8_t>{0x80, 0x00, 0x1f, 0x88, 0x04, 's', 'w', '0', '1'});
  CHECK(s.users[1].priv == "none");
  CHECK(s.users[1].engine_id.empty());
  CHECK(s.users[2].auth == "none");
  CHECK(c.receivers.any());
  CHECK_FALSE(c.receivers.any_syslog());
  CHECK(duet::snmp_engine_id(s, "a") == s.engine_id);
}

TEST_CASE("receivers.snmp: defaults, and an engine id derived from the node name", "[config]") {
  const auto c = parse("receivers: { snmp: { udp: \"127.0.0.11:10162\", communities: public } }\n");
  const auto& s = c.receivers.snmp;
  CHECK(s.communities == std::vector<std::string>{"public"});
  CHECK(s.max_message_bytes == 8192);
  CHECK(s.udp_receive_buffer_bytes == 8 << 20);
  CHECK(s.udp_coalesce_us == 1000);
  CHECK(s.engine_id.empty());
  // RFC 3411 text format: 0x80 | enterprise, 4, the text.
  CHECK(duet::snmp_engine_id(s, "mgr-a") ==
        std::vector<std::uint8_t>{0x80, 0x00, 0x1f, 0x88, 0x04, 'm', 'g', 'r', '-', 'a'});
  CHECK(duet::default_snmp_engine_id("mgr-a") != duet::default_snmp_engine_id("mgr-b"));
  // A long name keeps 32 octets and stays distinct.
  const std::string long_a(40, 'a');
  const std::string long_b = std::string(39, 'a') + "b";
  CHECK(duet::default_snmp_engine_id(long_a).size() == 32);
  CHECK(duet::default_snmp_engine_id(long_a) != duet::default_snmp_engine_id(long_b));
  CHECK(duet::default_snmp_engine_id(long_a) == duet::default_snmp_engine_id(long_a));

  CHECK_FALSE(parse("").receivers.any());
}

TEST_CASE("receivers.syslog: values, defaults, and out-of-range sizes named", "[config]") {
  const auto c = parse(R"(receivers:
  syslog:
    udp: "127.0.0.11:5514"
    tcp: "127.0.0.11:5514"
    max_message_bytes: 16384
    udp_receive_buffer_bytes: 1048576
    udp_coalesce_us: 250
    max_connections: 50
    idle_timeout_s: 30
)");
  const auto& y = c.receivers.syslog;
  REQUIRE(y.udp);
  CHECK(*y.udp == "127.0.0.11:5514");
  REQUIRE(y.tcp);
  CHECK_FALSE(y.tls);
  CHECK(y.max_message_bytes == 16384);
  CHECK(y.udp_receive_buffer_bytes == 1048576);
  CHECK(y.udp_coalesce_us == 250);
  CHECK(y.max_connections == 50);
  CHECK(y.idle_timeout_s == 30);
  CHECK(c.receivers.any_syslog());

  const auto d = parse("receivers: { syslog: { udp: \"127.0.0.11:5514\" } }\n").receivers.syslog;
  CHECK(d.max_message_bytes == 8192);
  CHECK(d.udp_receive_buffer_bytes == 8 << 20);
  CHECK(d.udp_coalesce_us == 1000);

  const std::string r = "receivers:\n  syslog:\n    udp: \"127.0.0.11:5514\"\n";
  CHECK(error_of(r + "    udp_coalesce_us: -1\n") ==
        "m.yaml:7: receivers.syslog.udp_coalesce_us: -1 is out of range [0, 100000]");
  CHECK(error_of(r + "    udp_coalesce_us: 200000\n") ==
        "m.yaml:7: receivers.syslog.udp_coalesce_us: 200000 is out of range [0, 100000]");
  CHECK(error_of(r + "    udp_receive_buffer_bytes: 1000\n") ==
        "m.yaml:7: receivers.syslog.udp_receive_buffer_bytes: 1000 is out of range [65536, "
        "1073741824]");
}

TEST_CASE("receivers.snmp: every key is checked and named", "[config]") {
  const std::string r = "receivers:\n  snmp:\n    udp: \"127.0.0.11:10162\"\n";
  CHECK(error_of(r) ==
        "m.yaml:6: receivers.snmp.udp: give communities (v1/v2c) or users (v3): with neither, "
        "every message is refused");
  CHECK(error_of("receivers:\n  snmp:\n    udp: nowhere\n")
            .starts_with("m.yaml:6: receivers.snmp.udp: "));
  CHECK(error_of(r + "    communities: public\n    colour: red\n") ==
        "m.yaml:8: receivers.snmp.colour: unknown key");
  CHECK(error_of(r + "    communities: public\n    engine_id: \"0xzz\"\n") ==
        "m.yaml:8: receivers.snmp.engine_id: expected an engine id in hex (e.g. 0x80001f8804...)");
  CHECK(error_of(r + "    communities: public\n    engine_id: \"0x8000\"\n") ==
        "m.yaml:8: receivers.snmp.engine_id: an engine id has 5 to 32 octets, not 2");
  CHECK(error_of(r + "    communities: public\n    engine_id: \"0x0000000000\"\n") ==
        "m.yaml:8: receivers.snmp.engine_id: an engine id must not be all zeros or all 0xff");
  CHECK(error_of(r + "    communities: public\n    max_message_bytes: 100\n") ==
        "m.yaml:8: receivers.snmp.max_message_bytes: 100 is out of range [484, 65507]");
  CHECK(error_of(r + "    communities: [public, \"\"]\n") ==
        "m.yaml:7: receivers.snmp.communities[1]: expected a non-empty string");

  const std::string u = r + "    users:\n";
  CHECK(error_of(u + "      - { auth: md5, auth_key: \"secret-123\" }\n") ==
        "m.yaml:8: receivers.snmp.users[0]: missing required key 'name'");
  CHECK(error_of(u + "      - { name: x, auth: sha1 }\n") ==
        "m.yaml:8: receivers.snmp.users[0].auth: 'sha1' is not one of: md5, sha, sha224, sha256, "
        "sha384, sha512, none");
  CHECK(error_of(u + "      - { name: x, auth: md5 }\n") ==
        "m.yaml:8: receivers.snmp.users[0]: missing required key 'auth_key' (auth is set)");
  CHECK(error_of(u + "      - { name: x, priv: aes, priv_key: \"secret-123\" }\n") ==
        "m.yaml:8: receivers.snmp.users[0].priv: privacy needs authentication: set auth too");
  CHECK(error_of(u + "      - { name: x, auth_key: \"secret-123\" }\n") ==
        "m.yaml:8: receivers.snmp.users[0].auth_key: given, but auth is none");
  CHECK(error_of(u + "      - { name: x, auth: sha, auth_key: \"secret-123\", priv: des }\n") ==
        "m.yaml:8: receivers.snmp.users[0]: missing required key 'priv_key' (priv is set)");
  CHECK(error_of(u + "      - { name: x, auth: sha, auth_key: \"secret-123\", priv: des3, "
                     "priv_key: \"secret-456\" }\n") ==
        "m.yaml:8: receivers.snmp.users[0].priv: 'des3' is not one of: des, aes, none");
  CHECK(error_of(u + "      - { name: x, engine_id: \"0x01\" }\n") ==
        "m.yaml:8: receivers.snmp.users[0].engine_id: an engine id has 5 to 32 octets, not 1");
  CHECK(error_of(u + "      - { name: x, extra: 1 }\n") ==
        "m.yaml:8: receivers.snmp.users[0].extra: unknown key");
  CHECK(error_of(u + "      - { name: " + std::string(33, 'n') + " }\n") ==
        "m.yaml:8: receivers.snmp.users[0].name: a USM user name has at most 32 octets");
  CHECK(error_of(u + "      - { name: x }\n      - { name: x }\n") ==
        "m.yaml:9: receivers.snmp.users[1].name: user 'x' is listed twice for the same engine id");
  CHECK(error_of(u + "      - { name: x, engine_id: \"0x8000000001\" }\n      - { name: x, "
                     "engine_id: \"0x8000000002\" }\n") == "");
  CHECK(error_of(r + "    engine_id: \"0x8000000001\"\n    users:\n      - { name: x, engine_id: "
                     "\"0x8000000001\" }\n") ==
        "m.yaml:9: receivers.snmp.users[0].engine_id: is this manager's own engine id; leave it "
        "out for a user that only sends informs");
}

TEST_CASE("receivers.snmp: a password is never quoted in an error", "[config]") {
  const std::string u =
      "receivers:\n  snmp:\n    udp: \"127.0.0.11:10162\"\n    users:\n"
      "      - { name: x, auth: sha, auth_key: \"short7!\", priv: aes, priv_key: \"tiny\" }\n";
  const std::string e = error_of(u);
  CHECK(e ==
        "m.yaml:8: receivers.snmp.users[0].auth_key: too short: a USM password has at least 8 "
        "characters");
  CHECK(e.find("short7!") == std::string::npos);
  const std::string p = error_of(
      "receivers:\n  snmp:\n    udp: \"127.0.0.11:10162\"\n    users:\n"
      "      - { name: x, auth: sha, auth_key: \"long-enough\", priv: aes, priv_key: \"tiny\" }\n");
  CHECK(p.find("tiny") == std::string::npos);
  CHECK(p.find("long-enough") == std::string::npos);
  CHECK(p.find("receivers.snmp.users[0].priv_key") != std::string::npos);
}

TEST_CASE("receivers.snmp.mibs: directories, modules, off; unknown keys named", "[config][mib]") {
  auto c = parse(R"(receivers:
  snmp:
    udp: "127.0.0.11:10162"
    communities: [public]
    mibs: { dirs: [/opt/mibs, /usr/share/snmp/mibs], modules: [IF-MIB, SNMPv2-MIB] }
)");
  CHECK(c.receivers.snmp.mibs_configured);
  CHECK(c.receivers.snmp.mibs_enabled);
  CHECK(c.receivers.snmp.mib_dirs == std::vector<std::string>{"/opt/mibs", "/usr/share/snmp/mibs"});
  CHECK(c.receivers.snmp.mib_modules == std::vector<std::string>{"IF-MIB", "SNMPv2-MIB"});

  c = parse(R"(receivers:
  snmp: { udp: "127.0.0.11:10162", communities: [public] }
)");
  CHECK_FALSE(c.receivers.snmp.mibs_configured);
  CHECK(c.receivers.snmp.mib_modules == std::vector<std::string>{"ALL"});

  c = parse(R"(receivers:
  snmp: { udp: "127.0.0.11:10162", communities: [public], mibs: { enabled: false } }
)");
  CHECK_FALSE(c.receivers.snmp.mibs_enabled);

  CHECK_THAT(error_of(R"(receivers:
  snmp: { udp: "127.0.0.11:10162", communities: [public], mibs: { dir: /opt/mibs } }
)"),
             Catch::Contains("receivers.snmp.mibs.dir") && Catch::Contains("unknown key"));
}
