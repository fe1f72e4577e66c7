#include "common/config.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/temp_dir.h"

using duet::ConfigError;
using duet::parse_agent_config;
using duet::parse_manager_config;

namespace {

const char* kValid = R"(node:  { name: a, address: "127.0.0.11:7420" }
peer:  { name: b, address: "127.0.0.12:7420" }
store: { sqlite: "/var/lib/duet/a.db" }
tls:   { insecure: true }
log:   { level: debug, format: json }
ha:    { guard: reference, reference: ["127.0.0.1:22", "icmp:127.0.0.1"] }
)";

// The ConfigError message for `yaml`, or "" if it parsed.
std::string manager_error(const std::string& yaml) {
  try {
    (void)parse_manager_config(yaml, "m.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string agent_error(const std::string& yaml) {
  try {
    (void)parse_agent_config(yaml, "agent.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a valid manager config parses with its values and defaults", "[config]") {
  auto c = parse_manager_config(kValid, "m.yaml");
  CHECK(c.node.name == "a");
  CHECK(c.node.address.host == "127.0.0.11");
  CHECK(c.node.address.port == 7420);
  REQUIRE(c.peer);
  CHECK(c.peer->name == "b");
  CHECK(c.store.backend == duet::StoreConfig::Backend::kSqlite);
  CHECK(c.store.sqlite_path == "/var/lib/duet/a.db");
  CHECK(c.tls.insecure);
  CHECK(c.log.level == "debug");
  CHECK(c.log.format == duet::LogFormat::kJson);
  CHECK(c.shutdown_grace_ms == 5000);
  CHECK(c.store.retry_initial_ms == 200);
  CHECK(c.ha.interval_ms == 500);
  CHECK(c.ha.timeout_ms == 3000);
  CHECK(c.ha.sync);
  CHECK(c.ha.guard == duet::HaConfig::Guard::kReference);
  REQUIRE(c.ha.reference.size() == 2);
  CHECK(c.ha.reference[0].to_string() == "127.0.0.1:22");
  CHECK(c.ha.reference[1].kind == duet::ReferenceTarget::Kind::kIcmp);
  CHECK(c.ha.reference[1].to_string() == "icmp:127.0.0.1");
}

TEST_CASE("the ha section: bounds, guards and their companions", "[config]") {
  const std::string head =
      "node: {name: a, address: \"127.0.0.11:7420\"}\npeer: {name: b, address: "
      "\"127.0.0.12:7420\"}\nstore: {sqlite: a.db}\ntls: {insecure: true}\n";
  CHECK(manager_error(head) == "m.yaml:1: (top level): a pair (peer is set) needs an 'ha' section");
  CHECK(manager_error(head + "ha: {interval_ms: 500, timeout_ms: 1000, guard: reference, "
                             "reference: [\"h:1\"]}\n") ==
        "m.yaml:5: ha.timeout_ms: must be at least 3 x interval_ms (1500)");
  CHECK(manager_error(head + "ha: {guard: none}\n") ==
        "m.yaml:5: ha.guard: a pair needs a split-brain guard: 'reference' (with ha.reference) or "
        "'witness' (with ha.witness)");
  CHECK(manager_error(head + "ha: {guard: reference}\n") ==
        "m.yaml:5: ha: missing required key 'reference'");
  CHECK(
      manager_error(head + "ha: {guard: reference, reference: [\"gateway\"]}\n") ==
      "m.yaml:5: ha.reference: 'gateway' is not host:port (give host:port for TCP, or icmp:host)");
  CHECK(manager_error(head + "ha: {guard: witness}\n") ==
        "m.yaml:5: ha: 'guard: witness' needs a 'witness: {address: host:port}' entry");
  CHECK(manager_error(head + "ha: {guard: reference, reference: [\"h:1\"], witness: {address: "
                             "\"w:1\"}}\n") ==
        "m.yaml:5: ha.witness: is used only with 'guard: witness'");
  auto c = parse_manager_config(head +
                                    "ha:\n  interval_ms: 200\n  timeout_ms: 1000\n  guard: "
                                    "witness\n  witness: {address: \"127.0.0.13:7430\"}\n  "
                                    "sync: async\n  priority: 5\n",
                                "m.yaml");
  CHECK(c.ha.interval_ms == 200);
  CHECK_FALSE(c.ha.sync);
  CHECK(c.ha.priority == 5);
  REQUIRE(c.ha.witness);
  CHECK(c.ha.witness->lease_ms == 1000);  // default: the failover timeout
}

TEST_CASE("witness config", "[config]") {
  auto c = duet::parse_witness_config(
      "listen: \"127.0.0.13:7430\"\nstate: /var/lib/duet/witness.state\ntls: {insecure: true}\n",
      "w.yaml");
  CHECK(c.listen.to_string() == "127.0.0.13:7430");
  CHECK(c.max_lease_ms == 30000);
  CHECK_THROWS_WITH(
      duet::parse_witness_config("listen: \"h:1\"\ntls: {insecure: true}\n", "w.yaml"),
      "w.yaml:1: (top level): missing required key 'state'");
}

TEST_CASE("peer and log are optional; postgres is accepted", "[config]") {
  auto c = parse_manager_config(
      "node: {name: a, address: \"[::1]:7420\"}\nstore: {postgres: \"host=db dbname=duet\"}\n"
      "tls: {insecure: true}\n",
      "m.yaml");
  CHECK_FALSE(c.peer);
  CHECK(c.node.address.host == "::1");
  CHECK(c.node.address.to_string() == "[::1]:7420");
  CHECK(c.store.backend == duet::StoreConfig::Backend::kPostgres);
  CHECK(c.store.postgres_conninfo == "host=db dbname=duet");
  CHECK(c.log.level == "info");
  CHECK(c.log.format == duet::LogFormat::kText);
}

TEST_CASE("each config error names FILE:LINE: KEY: REASON", "[config]") {
  const std::string base_tail = "store: {sqlite: a.db}\ntls: {insecure: true}\n";
  const std::string node = "node: {name: a, address: \"127.0.0.11:7420\"}\n";

  SECTION("unknown top-level key") {
    CHECK(manager_error(node + base_tail + "bogus: 1\n") == "m.yaml:4: bogus: unknown key");
  }
  SECTION("unknown nested key, on its own line") {
    CHECK(manager_error("node:\n  name: a\n  address: \"1.2.3.4:1\"\n  colour: red\n" +
                        base_tail) == "m.yaml:4: node.colour: unknown key");
  }
  SECTION("missing required section") {
    CHECK(manager_error(base_tail) == "m.yaml:1: (top level): missing required key 'node'");
  }
  SECTION("missing required value") {
    CHECK(manager_error("node:\n  name: a\n" + base_tail) ==
          "m.yaml:2: node: missing required key 'address'");
  }
  SECTION("wrong type: mapping where a scalar belongs") {
    CHECK(manager_error("node:\n  name: {x: 1}\n  address: \"1.2.3.4:1\"\n" + base_tail) ==
          "m.yaml:2: node.name: expected a scalar value, found a mapping");
  }
  SECTION("wrong type: scalar where a mapping belongs") {
    CHECK(manager_error("node: a\n" + base_tail) ==
          "m.yaml:1: node: expected a mapping, found a scalar");
  }
  SECTION("wrong type: not an integer") {
    CHECK(manager_error(node + base_tail + "shutdown_grace_ms: soon\n") ==
          "m.yaml:4: shutdown_grace_ms: expected an integer, found 'soon'");
  }
  SECTION("integer out of range") {
    CHECK(manager_error(node + base_tail + "shutdown_grace_ms: -1\n") ==
          "m.yaml:4: shutdown_grace_ms: -1 is out of range [0, 600000]");
  }
  SECTION("wrong type: not a boolean") {
    CHECK(manager_error(node + "store: {sqlite: a.db}\ntls: {insecure: maybe}\n") ==
          "m.yaml:3: tls.insecure: expected true or false, found 'maybe'");
  }
  SECTION("empty value") {
    CHECK(manager_error("node: {name: \"\", address: \"1.2.3.4:1\"}\n" + base_tail) ==
          "m.yaml:1: node.name: must not be empty");
  }
  SECTION("invalid node name") {
    CHECK_THAT(manager_error("node: {name: \"a b\", address: \"1.2.3.4:1\"}\n" + base_tail),
               Catch::StartsWith("m.yaml:1: node.name: 'a b' is not a valid node name"));
  }
  SECTION("address without port") {
    CHECK(manager_error("node: {name: a, address: \"1.2.3.4\"}\n" + base_tail) ==
          "m.yaml:1: node.address: '1.2.3.4' is not host:port");
  }
  SECTION("address with port out of range") {
    CHECK(manager_error("node: {name: a, address: \"1.2.3.4:70000\"}\n" + base_tail) ==
          "m.yaml:1: node.address: port 70000 is out of range [1, 65535]");
  }
  SECTION("peer with the node's own name") {
    CHECK(manager_error(node + "peer: {name: a, address: \"127.0.0.12:7420\"}\n" + base_tail) ==
          "m.yaml:2: peer: peer.name must differ from node.name");
  }
  SECTION("store with both backends") {
    CHECK(manager_error(node + "store: {sqlite: a.db, postgres: x}\ntls: {insecure: true}\n") ==
          "m.yaml:2: store: give exactly one of 'sqlite' (a file path) or 'postgres'");
  }
  SECTION("store with no backend") {
    CHECK(manager_error(node + "store: {retry_max_ms: 5}\ntls: {insecure: true}\n") ==
          "m.yaml:2: store: give exactly one of 'sqlite' (a file path) or 'postgres'");
  }
  SECTION("tls insecure combined with certificates") {
    CHECK(manager_error(node + "store: {sqlite: a.db}\ntls: {insecure: true, ca: x}\n") ==
          "m.yaml:3: tls.ca: cannot be combined with 'insecure: true'");
  }
  SECTION("tls without certificates and not insecure") {
    CHECK(manager_error(node + "store: {sqlite: a.db}\ntls: {cert: x}\n") ==
          "m.yaml:3: tls: missing required key 'ca'");
  }
  SECTION("tls file that cannot be read") {
    CHECK(manager_error(node +
                        "store: {sqlite: a.db}\ntls:\n  ca: /nonexistent/ca.pem\n  cert: c\n  "
                        "key: k\n") == "m.yaml:4: tls.ca: cannot read file '/nonexistent/ca.pem'");
  }
  SECTION("enum value not allowed") {
    CHECK(manager_error(node + base_tail + "log: {level: loud}\n") ==
          "m.yaml:4: log.level: 'loud' is not one of: trace, debug, info, warn, error, critical, "
          "off");
  }
  SECTION("YAML syntax error") {
    CHECK_THAT(manager_error("node: {name: a\n"),
               Catch::StartsWith("m.yaml:") && Catch::Contains("YAML syntax error"));
  }
  SECTION("empty file") { CHECK(manager_error("") == "m.yaml:1: (top level): the file is empty"); }
  SECTION("top level is a list") {
    CHECK(manager_error("- a\n- b\n") == "m.yaml:1: (top level): expected a mapping, found a list");
  }
}

TEST_CASE("tls files that exist are accepted, and client_auth is parsed", "[config]") {
  duet::testing::TempDir dir;
  for (const char* f : {"ca.pem", "cert.pem", "key.pem"}) std::ofstream(dir.file(f)) << "x";
  auto c = parse_manager_config(
      "node: {name: a, address: \"127.0.0.1:1\"}\nstore: {sqlite: "
      "x.db}\ntls:\n  ca: " +
          dir.file("ca.pem") + "\n  cert: " + dir.file("cert.pem") +
          "\n  key: " + dir.file("key.pem") + "\n  client_auth: none\n",
      "m.yaml");
  CHECK_FALSE(c.tls.insecure);
  CHECK(c.tls.ca_file == dir.file("ca.pem"));
  CHECK_FALSE(c.tls.require_client_cert);
}

TEST_CASE("tls.peer_names is parsed, and refused where it cannot work", "[config]") {
  duet::testing::TempDir dir;
  for (const char* f : {"ca.pem", "cert.pem", "key.pem"}) std::ofstream(dir.file(f)) << "x";
  const std::string head = "node: {name: a, address: \"127.0.0.1:1\"}\nstore: {sqlite: x.db}\n";
  const std::string files = "tls:\n  ca: " + dir.file("ca.pem") +
                            "\n  cert: " + dir.file("cert.pem") +
                            "\n  key: " + dir.file("key.pem") + "\n";
  auto c = parse_manager_config(head + files + "  peer_names: [mgr-a, mgr-b]\n", "m.yaml");
  CHECK(c.tls.peer_names == std::vector<std::string>{"mgr-a", "mgr-b"});
  CHECK(parse_manager_config(head + files, "m.yaml").tls.peer_names.empty());
  CHECK(manager_error(head + files + "  client_auth: none\n  peer_names: [mgr-b]\n") ==
        "m.yaml:8: tls.peer_names: needs client certificates (client_auth: require)");
  CHECK(manager_error(head + "tls: {insecure: true, peer_names: [b]}\n") ==
        "m.yaml:3: tls.peer_names: cannot be combined with 'insecure: true'");
}

TEST_CASE("load_manager_config reports an unreadable file", "[config]") {
  CHECK_THROWS_WITH(duet::load_manager_config("/nonexistent/duet.yaml"),
                    "/nonexistent/duet.yaml:0: (file): cannot be read");
}

TEST_CASE("agent config: valid, and each error case", "[config]") {
  const std::string ok =
      "managers: [\"127.0.0.11:7420\", \"127.0.0.12:7420\"]\nnode: web01\noutbox: "
      "/var/lib/duet/agent.db\ntls: {insecure: true}\nenrol_token: \"s3cret\"\n";
  auto c = parse_agent_config(ok, "agent.yaml");
  REQUIRE(c.managers.size() == 2);
  CHECK(c.managers[1].to_string() == "127.0.0.12:7420");
  CHECK(c.node == "web01");
  CHECK(c.outbox == "/var/lib/duet/agent.db");
  CHECK(c.enrol_token == "s3cret");

  CHECK(agent_error("managers: []\nnode: w\noutbox: o\ntls: {insecure: true}\n") ==
        "agent.yaml:1: managers: must list at least one entry");
  CHECK(agent_error("managers: \"1.2.3.4:1\"\nnode: w\noutbox: o\ntls: {insecure: true}\n") ==
        "agent.yaml:1: managers: expected a list, found a scalar");
  CHECK(agent_error("managers: [\"1.2.3.4\"]\nnode: w\noutbox: o\ntls: {insecure: true}\n") ==
        "agent.yaml:1: managers: '1.2.3.4' is not host:port");
  CHECK(agent_error("managers: [\"a:1\", \"b:1\", \"c:1\"]\nnode: w\noutbox: o\ntls: {insecure: "
                    "true}\n") ==
        "agent.yaml:1: managers: a manager pair has at most two "
        "addresses");
  CHECK(agent_error("managers: [\"a:1\"]\noutbox: o\ntls: {insecure: true}\n") ==
        "agent.yaml:1: (top level): missing required key 'node'");
  CHECK(agent_error("managers: [\"a:1\"]\nnode: w\noutbox: o\ntls: {insecure: true}\nextra: 1\n") ==
        "agent.yaml:5: extra: unknown key");
}

TEST_CASE("redact_conninfo hides passwords in keyword and URI forms", "[config]") {
  CHECK(duet::redact_conninfo("host=db user=duet password=hunter2 dbname=x") ==
        "host=db user=duet password=*** dbname=x");
  CHECK(duet::redact_conninfo("host=db password = 'a b\\'c' dbname=x") ==
        "host=db password = *** dbname=x");
  CHECK(duet::redact_conninfo("postgresql://duet:hunter2@db:5432/x") ==
        "postgresql://duet:***@db:5432/x");
  CHECK(duet::redact_conninfo("host=db dbname=x") == "host=db dbname=x");
}

TEST_CASE("parse_host_port accepts host:port and [v6]:port only", "[config]") {
  std::string why;
  CHECK(duet::parse_host_port("localhost:1", &why)->host == "localhost");
  CHECK(duet::parse_host_port("[fe80::1]:65535", &why)->port == 65535);
  CHECK_FALSE(duet::parse_host_port("::1:80", &why));
  CHECK_FALSE(duet::parse_host_port(":80", &why));
  CHECK_FALSE(duet::parse_host_port("h:0", &why));
  CHECK_FALSE(duet::parse_host_port("h:8o", &why));
  CHECK_FALSE(duet::parse_host_port("[::1]80", &why));
}
