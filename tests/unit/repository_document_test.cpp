#include <catch2/catch.hpp>

#include "repository/document.h"
#include "repository/export.h"
#include "repository/plan.h"

using duet::repository::applied;
using duet::repository::export_yaml;
using duet::repository::Node;
using duet::repository::parse_document;
using duet::repository::plan_apply;
using duet::repository::Scope;
using duet::repository::State;

namespace {

// The problems of `text` as "repo.yaml:LINE: ..." lines, or "" when it parses.
std::string problems(const std::string& text) {
  auto r = parse_document(text, "repo.yaml");
  return r.ok() ? "" : r.error().message;
}

const char* const kGood = R"(# a repository
scopes:
  - name: prod
    description: Production
  - name: web
    parent: prod
nodes:
  - name: web01
    addresses: [10.0.0.11, Web01.Example.NET]
    os: debian-12
    attributes:
      rack: r12
      owner: team-a
    scopes: [web]
  - name: db01
    addresses: 2001:DB8::5
)";

}  // namespace

TEST_CASE("A document: scopes and nodes with their lines, addresses canonical", "[repository]") {
  auto doc = parse_document(kGood, "repo.yaml");
  REQUIRE(doc.ok());
  CHECK(doc->file == "repo.yaml");
  REQUIRE(doc->scopes.size() == 2);
  CHECK(doc->scopes[0].scope.name == "prod");
  CHECK(doc->scopes[0].scope.description == "Production");
  CHECK(doc->scopes[0].lines.object == 3);
  CHECK(doc->scopes[1].scope.parent == "prod");
  CHECK(doc->scopes[1].lines.of("parent") == 6);
  REQUIRE(doc->nodes.size() == 2);
  const auto& web = doc->nodes[0];
  CHECK(web.node.addresses == std::vector<std::string>{"10.0.0.11", "web01.example.net"});
  CHECK(web.node.os == "debian-12");
  CHECK(web.node.attributes ==
        std::map<std::string, std::string>{{"owner", "team-a"}, {"rack", "r12"}});
  CHECK(web.scopes == std::vector<std::string>{"web"});
  CHECK(web.lines.of("attributes.owner") == 13);
  CHECK(web.lines.of("scopes[0]") == 14);
  // A single address stands for a list of one; left-out keys are empty.
  CHECK(doc->nodes[1].node.addresses == std::vector<std::string>{"2001:db8::5"});
  CHECK(doc->nodes[1].node.os.empty());
  CHECK(doc->nodes[1].scopes.empty());
}

TEST_CASE("An empty document is valid and plans nothing", "[repository]") {
  for (const char* text : {"", "# nothing\n", "scopes:\nnodes:\n", "scopes: []\nnodes: []\n"}) {
    auto doc = parse_document(text, "empty.yaml");
    REQUIRE(doc.ok());
    CHECK(doc->scopes.empty());
    CHECK(doc->nodes.empty());
  }
}

TEST_CASE("Every problem of a document is reported as FILE:LINE: what and why", "[repository]") {
  const std::string text = R"(scopes:
  - name: prod
  - name: bad name
  - name: prod
    colour: blue
nodes:
  - name: web01
    addresses:
      - 10.0.0.300
      - 10.0.0.1
      - 10.0.0.01
      - ::ffff:10.0.0.1
    attributes: {"a=b": x}
    scopes: [prod, prod, unregistered]
  - addresses: [10.0.0.2]
  - name: web02
  - name: web03
    addresses: {a: b}
    os: [x]
)";
  CHECK(problems(text) ==
        "repo.yaml:3: scope name 'bad name' is not valid: use 1 to 63 letters, digits, '.', '_' "
        "or '-', starting with a letter or digit\n"
        "repo.yaml:4: scope 'prod' appears twice in this document (first at line 2)\n"
        "repo.yaml:5: scope 'prod': unknown key 'colour' (expected name, parent, description)\n"
        "repo.yaml:9: node 'web01': address '10.0.0.300' is neither an IPv4/IPv6 address nor a "
        "host name\n"
        "repo.yaml:11: node 'web01': address '10.0.0.01' is neither an IPv4/IPv6 address nor a "
        "host name\n"
        "repo.yaml:12: node 'web01': address '10.0.0.1' is listed twice\n"
        "repo.yaml:13: node 'web01': attribute key 'a=b' is not valid: use 1 to 128 letters, "
        "digits, '.', '_', '-', '/' or ':', starting with a letter or digit\n"
        "repo.yaml:14: node 'web01': scope 'prod' is listed twice\n"
        "repo.yaml:14: node 'web01': scope name 'unregistered' is reserved (it stands for "
        "addresses of no node)\n"
        "repo.yaml:15: nodes[1]: missing 'name'\n"
        "repo.yaml:16: node 'web02': give at least one address (an IP or a host name)\n"
        "repo.yaml:18: node 'web03': 'addresses' must be a list, found a mapping\n"
        "repo.yaml:18: node 'web03': give at least one address (an IP or a host name)\n"
        "repo.yaml:19: node 'web03': 'os' must be a text value, found a list");
}

TEST_CASE("Document structure: syntax, top-level keys, repeated keys", "[repository]") {
  CHECK(problems("scopes: [\n  - name: a\n").rfind("repo.yaml:", 0) == 0);
  CHECK_THAT(problems("scopes:\n  - name: a\n    parent: [b\n"),
             Catch::Matches("repo\\.yaml:[0-9]+: YAML syntax: .*"));
  CHECK(problems("- a\n- b\n") ==
        "repo.yaml:1: expected a mapping with 'scopes' and 'nodes', found a list");
  CHECK(problems("scope:\n  - name: a\n") ==
        "repo.yaml:1: document: unknown key 'scope' (expected scopes, nodes)");
  CHECK(problems("nodes:\n  - name: a\n    addresses: [10.0.0.1]\n    os: x\n    os: y\n") ==
        "repo.yaml:5: node 'a': key 'os' appears twice (first at line 4)");
  CHECK(problems("nodes:\n  - name: a\n    addresses: [10.0.0.1]\n    attributes:\n      k: 1\n"
                 "      k: 2\n") ==
        "repo.yaml:6: node 'a': attributes: key 'k' appears twice (first at line 5)");
  CHECK(problems("nodes: {a: b}\n") == "repo.yaml:1: 'nodes' must be a list, found a mapping");
  CHECK(problems("nodes:\n  - web01\n") ==
        "repo.yaml:2: nodes[0]: expected a mapping, found a scalar");
  CHECK(problems("scopes: []\n---\nnodes: []\n") ==
        "repo.yaml:3: more than one YAML document: put everything in one");
}

TEST_CASE("Export round-trips through apply to the identical state", "[repository]") {
  State s;
  s.scopes["prod"] = Scope{"prod", "", "Production", {5, "a"}};
  s.scopes["web"] = Scope{"web", "prod", "Web servers\nsecond line: \"quoted\"", {}};
  s.scopes["null"] = Scope{"null", "", "", {}};  // words YAML would read otherwise
  s.scopes["true"] = Scope{"true", "null", "~", {}};
  s.scopes["1e3"] = Scope{"1e3", "", "# not a comment", {}};
  s.nodes["web01"] = Node{"web01",
                          {"10.0.0.11", "2001:db8::1", "web01.example.net"},
                          "Debian GNU/Linux 12 (bookworm)",
                          {{"rack", "12"},
                           {"owner", "team: a"},
                           {"empty", ""},
                           {"null", "null"},
                           {"yes", "yes"},
                           {"k8s.io/role", "- dash"},
                           {"unicode", "Grüße 😀"}},
                          {}};
  s.nodes["db01"] = Node{"db01", {"10.0.1.1"}, "", {}, {}};
  s.nodes["0"] = Node{"0", {"10.0.1.2"}, "NULL", {}, {}};
  s.members = {{"web", "web01"}, {"prod", "web01"}, {"true", "db01"}, {"1e3", "0"}};

  const std::string text = export_yaml(s, "exported for a test\nsecond line");
  INFO(text);
  CHECK(text.rfind("# exported for a test\n# second line\n", 0) == 0);
  auto doc = parse_document(text, "export.yaml");
  REQUIRE(doc.ok());

  // Into an empty repository: the same content.
  auto fresh = plan_apply(State{}, *doc);
  REQUIRE(fresh.ok());
  const State copy = applied(State{}, *fresh);
  REQUIRE(copy.nodes.size() == s.nodes.size());
  for (const auto& [name, n] : s.nodes) CHECK(same_content(copy.nodes.at(name), n));
  REQUIRE(copy.scopes.size() == s.scopes.size());
  for (const auto& [name, sc] : s.scopes) CHECK(same_content(copy.scopes.at(name), sc));
  CHECK(copy.members == s.members);

  // Onto the state it came from: nothing to write, everything unchanged.
  auto again = plan_apply(s, *doc);
  REQUIRE(again.ok());
  CHECK_FALSE(again->writes());
  CHECK(again->count(duet::repository::Action::kUnchanged) == 8);
  CHECK(export_yaml(copy, "exported for a test\nsecond line") == text);
}

TEST_CASE("Export of an empty repository applies as nothing", "[repository]") {
  const std::string text = export_yaml(State{}, "");
  auto doc = parse_document(text, "e.yaml");
  REQUIRE(doc.ok());
  CHECK(doc->scopes.empty());
  CHECK(doc->nodes.empty());
}
