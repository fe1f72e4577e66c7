#include <catch2/catch.hpp>

#include "repository/model.h"

using duet::repository::canonical_address;
using duet::repository::canonical_ip;
using duet::repository::Membership;
using duet::repository::name_problem;
using duet::repository::Node;
using duet::repository::same_content;
using duet::repository::Scope;
using duet::repository::scope_name_problem;
using duet::repository::State;
using duet::repository::tree_order;

namespace {

State tree() {
  // prod { web { web-eu }, db }, lab
  State s;
  for (auto [name, parent] :
       {std::pair{"prod", ""}, {"web", "prod"}, {"web-eu", "web"}, {"db", "prod"}, {"lab", ""}}) {
    s.scopes[name] = Scope{name, parent, "", {}};
  }
  s.nodes["web01"] = Node{"web01", {"10.0.0.11"}, "", {}, {}};
  s.nodes["db01"] = Node{"db01", {"10.0.1.1"}, "", {}, {}};
  s.members = {{"web-eu", "web01"}, {"lab", "web01"}, {"db", "db01"}};
  return s;
}

}  // namespace

TEST_CASE("Names: letters, digits, '.', '_', '-', 1 to 63, not starting with a sign",
          "[repository]") {
  for (const char* ok : {"a", "web01", "Web-01.example_x", "0", "a.b-c_d"}) {
    CHECK_FALSE(name_problem(ok));
  }
  CHECK_FALSE(name_problem(std::string(63, 'x')));
  CHECK(name_problem(std::string(64, 'x')));
  for (const char* bad : {"", "-a", ".a", "_a", "a b", "a/b", "a:b", "é", "a\n"}) {
    INFO(bad);
    CHECK(name_problem(bad));
  }
  CHECK(*name_problem("a b") ==
        "name 'a b' is not valid: use 1 to 63 letters, digits, '.', '_' "
        "or '-', starting with a letter or digit");
  CHECK(scope_name_problem("unregistered"));
  CHECK_FALSE(name_problem("unregistered"));  // a node may be called so
}

TEST_CASE("Addresses: IPv4, IPv6 and host names in canonical form", "[repository]") {
  auto canon = [](const char* text) {
    auto r = canonical_address(text);
    return r.ok() ? *r : "ERROR: " + r.error().message;
  };
  CHECK(canon("10.0.0.1") == "10.0.0.1");
  CHECK(canon("2001:DB8:0:0::1") == "2001:db8::1");
  CHECK(canon("::ffff:10.0.0.1") == "10.0.0.1");  // IPv4-mapped: as receivers report it
  CHECK(canon("Web01.Example.NET.") == "web01.example.net");
  CHECK(canon("localhost") == "localhost");
  CHECK(canon("a-b.c1") == "a-b.c1");
  CHECK(canon("10.0.0.300") ==
        "ERROR: address '10.0.0.300' is neither an IPv4/IPv6 address nor a host name");
  for (const char* bad : {"", "010.0.0.1", "1.2.3", "-a.b", "a-.b", "a..b", "a_b", "fe80::1%eth0",
                          "a b", "10.0.0.1/24", "host:80"}) {
    INFO(bad);
    CHECK_FALSE(canonical_address(bad).ok());
  }
  CHECK_FALSE(canonical_address(std::string(64, 'a') + ".example").ok());  // label > 63
  CHECK(canonical_ip("::1") == std::optional<std::string>("::1"));
  CHECK_FALSE(canonical_ip("web01"));
}

TEST_CASE("Free text: limits, UTF-8 and control characters", "[repository]") {
  using namespace duet::repository;
  CHECK_FALSE(os_problem("Debian GNU/Linux 12 (bookworm)"));
  CHECK_FALSE(os_problem(""));
  CHECK(os_problem(std::string(kMaxOs + 1, 'x')));
  CHECK(os_problem("a\tb"));
  CHECK_FALSE(description_problem("line one\nline two\twith a tab, und Grüße"));
  CHECK(description_problem("bell\a"));
  CHECK(*description_problem("\xff\xfe") == "description is not valid UTF-8");
  CHECK(attribute_value_problem("\xc0\xaf"));      // an overlong '/'
  CHECK(attribute_value_problem("\xed\xa0\x80"));  // a surrogate
  CHECK_FALSE(attribute_value_problem("\xf0\x9f\x98\x80"));
  CHECK_FALSE(attribute_key_problem("k8s.io/role"));
  CHECK_FALSE(attribute_key_problem("rack:row"));
  CHECK(attribute_key_problem("a=b"));
  CHECK(attribute_key_problem(""));
  CHECK(attribute_key_problem(std::string(kMaxAttributeKey + 1, 'k')));
}

TEST_CASE("Content equality ignores who changed a row and when", "[repository]") {
  Node a{"web01", {"10.0.0.1"}, "linux", {{"rack", "r1"}}, {1, "a"}};
  Node b = a;
  b.updated = {2, "b"};
  CHECK(same_content(a, b));
  b.attributes["rack"] = "r2";
  CHECK_FALSE(same_content(a, b));
  CHECK(same_content(Scope{"s", "p", "d", {1, "a"}}, Scope{"s", "p", "d", {}}));
  CHECK_FALSE(same_content(Scope{"s", "p", "d", {}}, Scope{"s", "", "d", {}}));
}

TEST_CASE("Tree order: top scopes by name, each followed by its subtree", "[repository]") {
  const State s = tree();
  std::vector<std::pair<std::string, int>> order;
  for (const auto& e : tree_order(s)) order.emplace_back(e.scope->name, e.depth);
  CHECK(order == std::vector<std::pair<std::string, int>>{
                     {"lab", 0}, {"prod", 0}, {"db", 1}, {"web", 1}, {"web-eu", 2}});
  CHECK(s.children_of("prod") == std::vector<std::string>{"db", "web"});
  CHECK(s.children_of("") == std::vector<std::string>{"lab", "prod"});
  CHECK(s.lineage("web-eu") == std::vector<std::string>{"web-eu", "web", "prod"});
  CHECK(s.scopes_of("web01") == std::vector<std::string>{"lab", "web-eu"});
  CHECK(s.nodes_within("prod") == std::vector<std::string>{"db01", "web01"});
  CHECK(s.nodes_within("web") == std::vector<std::string>{"web01"});
  CHECK(s.nodes_within("lab") == std::vector<std::string>{"web01"});
  CHECK(s.nodes_within("db").size() == 1);
}

TEST_CASE("A damaged state (a cycle, a missing parent) is still listed whole", "[repository]") {
  State s;
  s.scopes["a"] = Scope{"a", "b", "", {}};
  s.scopes["b"] = Scope{"b", "a", "", {}};
  s.scopes["c"] = Scope{"c", "gone", "", {}};
  CHECK(tree_order(s).size() == 3);
  CHECK(s.lineage("a") == std::vector<std::string>{"a", "b"});
  CHECK(s.lineage("c") == std::vector<std::string>{"c"});
  s.members.insert(Membership{"a", "n"});
  CHECK(s.nodes_within("b") == std::vector<std::string>{"n"});
}
