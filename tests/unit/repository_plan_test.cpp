#include <catch2/catch.hpp>

#include "repository/plan.h"
#include "repository/repository_error.h"

using duet::repository::Action;
using duet::repository::applied;
using duet::repository::Change;
using duet::repository::Document;
using duet::repository::Membership;
using duet::repository::parse_document;
using duet::repository::Plan;
using duet::repository::plan_add;
using duet::repository::plan_apply;
using duet::repository::plan_remove_node;
using duet::repository::plan_remove_scope;
using duet::repository::RepoErrc;
using duet::repository::State;

namespace {

Document doc(const std::string& text) {
  auto d = parse_document(text, "f.yaml");
  if (!d.ok()) FAIL(d.error().message);
  return *d;
}

// "kind name: action (fields)" per change.
std::vector<std::string> outcome(const Plan& plan) {
  std::vector<std::string> out;
  for (const Change& c : plan.changes) {
    std::string line = c.kind + " " + c.name + ": " + action_name(c.action);
    std::string fields;
    for (const auto& f : c.fields) fields += (fields.empty() ? "" : ", ") + f;
    if (!fields.empty()) line += " (" + fields + ")";
    out.push_back(line);
  }
  return out;
}

const char* const kBase = R"(scopes:
  - {name: prod, description: Production}
  - {name: web, parent: prod}
  - {name: db, parent: prod}
nodes:
  - {name: web01, addresses: [10.0.0.11], os: debian, attributes: {rack: r1}, scopes: [web]}
  - {name: db01, addresses: [10.0.1.1], scopes: [db, prod]}
)";

State base() {
  auto p = plan_apply(State{}, doc(kBase));
  REQUIRE(p.ok());
  return applied(State{}, *p);
}

}  // namespace

TEST_CASE("apply into an empty repository creates everything", "[repository]") {
  auto p = plan_apply(State{}, doc(kBase));
  REQUIRE(p.ok());
  CHECK(outcome(*p) == std::vector<std::string>{"scope prod: created", "scope web: created",
                                                "scope db: created", "node web01: created",
                                                "node db01: created"});
  CHECK(p->put_scopes.size() == 3);
  CHECK(p->put_nodes.size() == 2);
  CHECK(p->put_members ==
        std::vector<Membership>{{"web", "web01"}, {"db", "db01"}, {"prod", "db01"}});
  CHECK(p->erase_members.empty());
  CHECK(p->writes());
}

TEST_CASE("apply is idempotent: the second time every object is unchanged", "[repository]") {
  const State once = base();
  auto second = plan_apply(once, doc(kBase));
  REQUIRE(second.ok());
  CHECK_FALSE(second->writes());
  CHECK(second->count(Action::kUnchanged) == 5);
  CHECK(applied(once, *second).members == once.members);
  // Spelling differences that mean the same content are unchanged too.
  auto respelled = plan_apply(
      once, doc("nodes:\n  - name: db01\n    addresses: '::ffff:10.0.1.1'\n    scopes: [prod, "
                "db]\n"));
  REQUIRE(respelled.ok());
  CHECK(outcome(*respelled) == std::vector<std::string>{"node db01: unchanged"});
}

TEST_CASE("apply updates what differs and leaves objects not in the file alone", "[repository]") {
  const State before = base();
  auto p = plan_apply(before, doc(R"(scopes:
  - {name: web, parent: prod, description: Web servers}
  - {name: lab}
nodes:
  - {name: web01, addresses: [10.0.0.12], os: debian, attributes: {rack: r2}, scopes: [lab]}
)"));
  REQUIRE(p.ok());
  CHECK(outcome(*p) == std::vector<std::string>{"scope web: updated (description)",
                                                "scope lab: created",
                                                "node web01: updated (addresses, attributes, "
                                                "scopes)"});
  CHECK(p->erase_members == std::vector<Membership>{{"web", "web01"}});
  CHECK(p->put_members == std::vector<Membership>{{"lab", "web01"}});
  const State after = applied(before, *p);
  CHECK(after.nodes.count("db01") == 1);  // not in the file: untouched
  CHECK(after.scopes.count("db") == 1);
  CHECK(after.scopes_of("db01") == std::vector<std::string>{"db", "prod"});
  CHECK(after.scopes_of("web01") == std::vector<std::string>{"lab"});
  CHECK(after.nodes.at("web01").addresses == std::vector<std::string>{"10.0.0.12"});

  // Only the memberships changed: the node row is not rewritten.
  auto moved = plan_apply(after, doc("nodes:\n  - {name: web01, addresses: [10.0.0.12], os: "
                                     "debian, attributes: {rack: r2}, scopes: [web]}\n"));
  REQUIRE(moved.ok());
  CHECK(outcome(*moved) == std::vector<std::string>{"node web01: updated (scopes)"});
  CHECK(moved->put_nodes.empty());
}

TEST_CASE("References: a parent or a node's scope must exist in the file or the repository",
          "[repository]") {
  const State before = base();
  auto p = plan_apply(before, doc(R"(scopes:
  - {name: eu, parent: europe}
  - {name: fr, parent: web}
nodes:
  - name: n1
    addresses: [n1.example]
    scopes: [fr, nowhere]
)"));
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == make_error_code(RepoErrc::kInvalid));
  CHECK(p.error().message ==
        "f.yaml:2: scope 'eu': parent 'europe' does not exist (neither in this document nor in "
        "the repository)\n"
        "f.yaml:7: node 'n1': scope 'nowhere' does not exist (neither in this document nor in "
        "the repository)");
  // A scope defined later in the same file is fine.
  CHECK(plan_apply(before, doc("scopes:\n  - {name: eu, parent: europe}\n  - {name: europe}\n"))
            .ok());
}

TEST_CASE("One run reports every problem: parsing, each object, references", "[repository]") {
  Document d;
  d.file = "all.yaml";
  auto parsing = duet::repository::parse_into(R"(scopes:
  - {name: eu, parent: europe, colour: blue}
nodes:
  - {name: n1, addresses: [10.0.0.300], scopes: [eu, nowhere, "bad name"]}
)",
                                              d);
  CHECK(parsing.size() == 1);  // the unknown key
  auto p = plan_apply(State{}, d, parsing);
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().message ==
        "all.yaml:2: scope 'eu': unknown key 'colour' (expected name, parent, description)\n"
        "all.yaml:2: scope 'eu': parent 'europe' does not exist (neither in this document nor in "
        "the repository)\n"
        "all.yaml:4: node 'n1': address '10.0.0.300' is neither an IPv4/IPv6 address nor a host "
        "name\n"
        "all.yaml:4: node 'n1': scope name 'bad name' is not valid: use 1 to 63 letters, digits, "
        "'.', '_' or '-', starting with a letter or digit\n"
        "all.yaml:4: node 'n1': scope 'nowhere' does not exist (neither in this document nor in "
        "the repository)");
  // Objects given as flags (no file): the same checks, without FILE:LINE.
  Document flags;
  flags.nodes.push_back({{"n 1", {"10.0.0.1"}, "", {}, {}}, {"nowhere"}, {}});
  auto f = plan_add(State{}, flags);
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().message ==
        "node name 'n 1' is not valid: use 1 to 63 letters, digits, '.', '_' or '-', starting "
        "with a letter or digit\n"
        "node 'n 1': scope 'nowhere' does not exist (neither in this document nor in the "
        "repository)");
}

TEST_CASE("Cycles in the scope tree are refused, within the file and with the repository",
          "[repository]") {
  auto self = plan_apply(State{}, doc("scopes:\n  - {name: a, parent: a}\n"));
  REQUIRE_FALSE(self.ok());
  CHECK(self.error().message == "f.yaml:2: scope 'a': parent 'a' makes a cycle: a -> a");

  auto loop = plan_apply(State{}, doc(R"(scopes:
  - {name: a, parent: c}
  - {name: b, parent: a}
  - {name: c, parent: b}
  - {name: d, parent: c}
)"));
  REQUIRE_FALSE(loop.ok());  // reported once, at its first scope; d only hangs off it
  CHECK(loop.error().message == "f.yaml:2: scope 'a': parent 'c' makes a cycle: a -> c -> b -> a");

  // prod is the repository's top scope; moving it under its own grandchild.
  State before = base();
  before = applied(before, *plan_apply(before, doc("scopes:\n  - {name: web-eu, parent: web}\n")));
  auto moved = plan_apply(before, doc("scopes:\n  - {name: prod, parent: web-eu}\n"));
  REQUIRE_FALSE(moved.ok());
  CHECK(moved.error().message ==
        "f.yaml:2: scope 'prod': parent 'web-eu' makes a cycle: prod -> web-eu -> web -> prod");
  // Moving it elsewhere is fine.
  CHECK(
      plan_apply(before, doc("scopes:\n  - {name: root}\n  - {name: prod, parent: root}\n")).ok());
}

TEST_CASE("add: unchanged when it exists as given, refused when it differs", "[repository]") {
  const State before = base();
  auto same = plan_add(before, doc("scopes:\n  - {name: web, parent: prod}\n"));
  REQUIRE(same.ok());
  CHECK(outcome(*same) == std::vector<std::string>{"scope web: unchanged"});
  auto other = plan_add(before, doc("nodes:\n  - {name: web01, addresses: [10.0.0.99]}\n"));
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == make_error_code(RepoErrc::kExists));
  CHECK(other.error().message ==
        "node 'web01' exists with other addresses, os, attributes, scopes; change it with "
        "'duetctl apply -f FILE' or remove it first");
  auto fresh = plan_add(before, doc("nodes:\n  - {name: web02, addresses: [10.0.0.12]}\n"));
  REQUIRE(fresh.ok());
  CHECK(outcome(*fresh) == std::vector<std::string>{"node web02: created"});
}

TEST_CASE("Removing a node takes its memberships; removing a scope keeps its nodes",
          "[repository]") {
  const State before = base();
  auto node = plan_remove_node(before, "db01");
  REQUIRE(node.ok());
  CHECK(outcome(*node) == std::vector<std::string>{"node db01: removed",
                                                   "membership db/db01: removed",
                                                   "membership prod/db01: removed"});
  State after = applied(before, *node);
  CHECK(after.nodes.count("db01") == 0);
  CHECK(after.scopes_of("db01").empty());

  auto missing = plan_remove_node(before, "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == make_error_code(RepoErrc::kNotFound));
  CHECK(missing.error().message == "no node 'nope'");

  auto parent = plan_remove_scope(before, "prod");
  REQUIRE_FALSE(parent.ok());
  CHECK(parent.error().code == make_error_code(RepoErrc::kHasChildren));
  CHECK(parent.error().message ==
        "scope 'prod' has child scopes: db, web; remove them or give them another parent first");

  auto leaf = plan_remove_scope(before, "web");
  REQUIRE(leaf.ok());
  CHECK(outcome(*leaf) ==
        std::vector<std::string>{"scope web: removed", "membership web/web01: removed"});
  after = applied(before, *leaf);
  CHECK(after.scopes.count("web") == 0);
  CHECK(after.nodes.count("web01") == 1);
  CHECK(after.scopes_of("web01").empty());
  CHECK(plan_remove_scope(before, "gone").error().code == make_error_code(RepoErrc::kNotFound));
}

TEST_CASE("document_of gives back a state's content", "[repository]") {
  const State s = base();
  const Document d = duet::repository::document_of(s);
  REQUIRE(d.scopes.size() == 3);
  CHECK(d.scopes[0].scope.name == "prod");  // tree order: parents first
  auto p = plan_apply(s, d);
  REQUIRE(p.ok());
  CHECK_FALSE(p->writes());
}
