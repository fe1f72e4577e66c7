// The repository in a real store (SQLite and PostgreSQL), and the resolver over it.

#include <catch2/catch.hpp>

#include "repository/plan.h"
#include "repository/repository_error.h"
#include "repository/resolver.h"
#include "repository/store_rows.h"
#include "tests/support/store_fixtures.h"

using duet::ManualClock;
using duet::repository::applied;
using duet::repository::load_state;
using duet::repository::parse_document;
using duet::repository::plan_apply;
using duet::repository::plan_remove_scope;
using duet::repository::Resolution;
using duet::repository::Resolver;
using duet::repository::Stamp;
using duet::repository::State;
using duet::repository::to_batch;

namespace {

const char* const kDoc = R"(scopes:
  - {name: prod}
  - {name: web, parent: prod, description: "Web servers"}
  - {name: lab}
nodes:
  - name: web01
    addresses: [10.0.0.11, "2001:db8::11", web01.example.net]
    os: debian-12
    attributes: {rack: r12, "k8s.io/role": frontend}
    scopes: [web, lab]
  - {name: web02, addresses: [10.0.0.12], scopes: [web]}
  - {name: lonely, addresses: [10.0.9.9]}
  - {name: twin, addresses: [10.0.0.12], scopes: [lab]}
)";

State from_doc(const State& current, const char* text) {
  auto doc = parse_document(text, "f.yaml");
  REQUIRE(doc.ok());
  auto plan = plan_apply(current, *doc);
  REQUIRE(plan.ok());
  return applied(current, *plan);
}

}  // namespace

// Both backends: a journal written by one applies to the other, so the rows
// must read back the same from each ("[store]" runs it in store.both_backends).
TEMPLATE_TEST_CASE("The repository is stored as rows and read back the same", "[repository][store]",
                   duet::testing::SqliteLocation, duet::testing::PostgresLocation) {
  ManualClock clock;
  TestType where;
  auto opened = duet::testing::open_at(where, duet::store::manager_schema(), clock);
  REQUIRE(opened.ok());
  auto& store = **opened;
  REQUIRE(store.advance_epoch(1).ok());

  auto empty = load_state(store);
  REQUIRE(empty.ok());
  CHECK(empty->nodes.empty());

  auto doc = parse_document(kDoc, "f.yaml");
  REQUIRE(doc.ok());
  auto plan = plan_apply(*empty, *doc);
  REQUIRE(plan.ok());
  auto lsn = store.commit(to_batch(*plan, Stamp{1234, "a"}));
  REQUIRE(lsn.ok());
  // One journal record per row: 3 scopes, 4 nodes, 4 memberships.
  CHECK(*lsn == 11);

  auto loaded = load_state(store);
  REQUIRE(loaded.ok());
  const State expected = applied(State{}, *plan);
  REQUIRE(loaded->nodes.size() == 4);
  for (const auto& [name, n] : expected.nodes) {
    CHECK(same_content(loaded->nodes.at(name), n));
    CHECK(loaded->nodes.at(name).updated.at_ms == 1234);
    CHECK(loaded->nodes.at(name).updated.by == "a");
  }
  for (const auto& [name, s] : expected.scopes) CHECK(same_content(loaded->scopes.at(name), s));
  CHECK(loaded->members == expected.members);

  // The same document again: nothing to write.
  auto again = plan_apply(*loaded, *doc);
  REQUIRE(again.ok());
  CHECK_FALSE(again->writes());
  CHECK(to_batch(*again, Stamp{}).empty());

  // Removing a scope deletes its row and its membership rows in one batch.
  auto remove = plan_remove_scope(*loaded, "lab");
  REQUIRE(remove.ok());
  const auto batch = to_batch(*remove, Stamp{2000, "a"});
  CHECK(batch.size() == 3);
  REQUIRE(store.commit(batch).ok());
  auto after = load_state(store);
  REQUIRE(after.ok());
  CHECK(after->scopes.count("lab") == 0);
  CHECK(after->scopes_of("web01") == std::vector<std::string>{"web"});
  CHECK(after->scopes_of("twin").empty());
}

TEST_CASE("A damaged row is named; writing or removing its object repairs it", "[repository]") {
  using duet::repository::DamagedRow;
  using duet::repository::Membership;
  ManualClock clock;
  duet::testing::SqliteLocation where;
  auto opened = duet::testing::open_at(where, duet::store::manager_schema(), clock);
  REQUIRE(opened.ok());
  auto& store = **opened;
  REQUIRE(store.advance_epoch(1).ok());
  auto text = [](const char* s) { return duet::store::Value{std::string(s)}; };
  duet::store::WriteBatch batch;
  batch.put(duet::repository::kNodesTable, duet::store::Row{{"name", text("x")},
                                                            {"addresses", text("{not json")},
                                                            {"os", text("")},
                                                            {"attributes", text("{}")},
                                                            {"updated_at_ms", std::int64_t{1}}});
  auto base = parse_document("scopes:\n  - {name: s}\n", "f.yaml");
  REQUIRE(base.ok());
  batch.put(duet::repository::kScopesTable, duet::repository::scope_row(base->scopes[0].scope));
  batch.put(duet::repository::kMembersTable,
            duet::repository::member_row(Membership{"s", "x"}, Stamp{}));
  REQUIRE(store.commit(batch).ok());

  auto loaded = load_state(store);
  REQUIRE(loaded.ok());
  CHECK(loaded->nodes.empty());
  REQUIRE(loaded->damaged.size() == 1);
  CHECK(loaded->damaged[0].kind == DamagedRow::Kind::kNode);
  CHECK(loaded->damaged[0].key == "x");
  CHECK(loaded->damaged[0].why == "repo_nodes row 'x': addresses is not a JSON list");
  auto damage = duet::repository::check_damage(*loaded);
  REQUIRE_FALSE(damage.ok());
  CHECK(damage.error().code == make_error_code(duet::repository::RepoErrc::kBadRow));
  CHECK(damage.error().message ==
        "damaged repository rows on this node: repo_nodes row 'x': addresses is not a JSON list. "
        "Apply the object again (that replaces its row) or remove it, or re-seed this node from "
        "its peer (docs/repository.md)");

  // Removing the node deletes its row and its memberships.
  auto remove = duet::repository::plan_remove_node(*loaded, "x");
  REQUIRE(remove.ok());
  CHECK(remove->erase_nodes == std::vector<std::string>{"x"});
  CHECK(remove->erase_members == std::vector<Membership>{{"s", "x"}});

  // Applying it again replaces the row.
  auto doc =
      parse_document("nodes:\n  - {name: x, addresses: [10.0.0.1], scopes: [s]}\n", "f.yaml");
  REQUIRE(doc.ok());
  auto plan = plan_apply(*loaded, *doc);
  REQUIRE(plan.ok());
  REQUIRE(store.commit(to_batch(*plan, Stamp{})).ok());
  auto repaired = load_state(store);
  REQUIRE(repaired.ok());
  CHECK(repaired->damaged.empty());
  CHECK(repaired->nodes.at("x").addresses == std::vector<std::string>{"10.0.0.1"});
  CHECK(repaired->scopes_of("x") == std::vector<std::string>{"s"});
}

TEST_CASE("The resolver: an address's nodes and the scopes they sit in", "[repository]") {
  const State s = from_doc(State{}, kDoc);
  const Resolver r(s);

  Resolution web01 = r.resolve("10.0.0.11");
  CHECK(web01.registered());
  CHECK(web01.nodes == std::vector<std::string>{"web01"});
  CHECK(web01.scopes == std::vector<std::string>{"lab", "web"});
  CHECK(web01.enclosing == std::vector<std::string>{"lab", "prod", "web"});
  // Other spellings of the same address, and the host name in any case.
  CHECK(r.resolve("2001:DB8:0::11").nodes == std::vector<std::string>{"web01"});
  CHECK(r.resolve("::ffff:10.0.0.11").nodes == std::vector<std::string>{"web01"});
  CHECK(r.resolve("WEB01.example.net.").nodes == std::vector<std::string>{"web01"});

  // Two nodes share an address: both, and the union of their scopes.
  Resolution shared = r.resolve("10.0.0.12");
  CHECK(shared.nodes == std::vector<std::string>{"twin", "web02"});
  CHECK(shared.scopes == std::vector<std::string>{"lab", "web"});
  CHECK(shared.enclosing == std::vector<std::string>{"lab", "prod", "web"});

  // A node in no scope: registered, no scopes.
  Resolution lonely = r.resolve("10.0.9.9");
  CHECK(lonely.nodes == std::vector<std::string>{"lonely"});
  CHECK(lonely.scopes.empty());

  // Unknown, or not an address at all: "unregistered".
  for (const char* unknown : {"10.0.0.99", "fd00::1", "nobody.example", "", "not an address"}) {
    Resolution u = r.resolve(unknown);
    CHECK_FALSE(u.registered());
    CHECK(u.nodes.empty());
    CHECK(u.scopes == std::vector<std::string>{"unregistered"});
    CHECK(u.enclosing == std::vector<std::string>{"unregistered"});
  }

  // A resolver is a snapshot: a later state needs a new one.
  const State moved = from_doc(s, "nodes:\n  - {name: lonely, addresses: [10.0.0.99]}\n");
  CHECK(r.resolve("10.0.0.99").nodes.empty());
  CHECK(Resolver(moved).resolve("10.0.0.99").nodes == std::vector<std::string>{"lonely"});
  CHECK_FALSE(Resolver(moved).resolve("10.0.9.9").registered());
}
