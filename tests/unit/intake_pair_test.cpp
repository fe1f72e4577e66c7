// EventIntake on both nodes of a pair, without sockets: receipts are handed
// in directly, the standby's forwarding requests are carried by the test,
// and both nodes use one store (replication taken as perfect and immediate:
// whatever the master committed, the standby has). What is checked is
// invariant 5 across a promotion: every message recorded as many times as
// the node that saw it most often saw it - including when the master's last
// transaction failed and it stopped acting before retrying.

#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/clock.h"
#include "common/errors.h"
#include "manager/event_intake.h"
#include "manager/event_intake_internal.h"
#include "repository/document.h"
#include "repository/plan.h"
#include "repository/store_rows.h"
#include "tests/support/store_fixtures.h"

using namespace std::chrono_literals;
using duet::ManualClock;
using duet::manager::EventIntake;

namespace {

duet::ManagerConfig node_config(const std::string& name, const std::string& peer) {
  duet::ManagerConfig c;
  c.node.name = name;
  c.peer = duet::NodeConfig{peer, {}};
  c.tls.insecure = true;
  c.events.window_ms = 10000;
  c.events.grace_ms = 1000;
  c.events.batch_max = 2;  // small: a backlog spans several transactions
  return c;
}

struct Pair {
  ManualClock clock;
  duet::testing::SqliteLocation where;
  std::unique_ptr<duet::store::JournaledStore> store;
  boost::asio::io_context io;
  duet::ManagerConfig config_a = node_config("a", "b");
  duet::ManagerConfig config_b = node_config("b", "a");
  std::unique_ptr<EventIntake> a;
  std::unique_ptr<EventIntake> b;
  int fail_commits_after = -1;  // commits that still succeed; -1: all do
  bool a_may_act = true;

  Pair() {
    auto s = duet::testing::open_at(where, duet::store::manager_schema(), clock);
    REQUIRE(s.ok());
    store = std::move(*s);
    REQUIRE(store->advance_epoch(1).ok());
    a = make(config_a, [this] { return a_may_act; });
    b = make(config_b, [] { return true; });
  }

  std::unique_ptr<EventIntake> make(const duet::ManagerConfig& c, std::function<bool()> may_act) {
    auto made = EventIntake::create(
        io.get_executor(), clock, c, *store, std::move(may_act),
        [this](const duet::store::WriteBatch& batch,
               std::function<void(duet::Result<duet::ha::Runner::Committed>)> done) {
          if (fail_commits_after == 0) {
            done(duet::make_error(duet::CommonErrc::kInvalidArgument, "test: disk full"));
            return;
          }
          if (fail_commits_after > 0) --fail_commits_after;
          auto lsn = store->commit(batch);
          if (!lsn.ok()) return done(lsn.error());
          done(duet::ha::Runner::Committed{*lsn, 1, true});
        });
    REQUIRE(made.ok());
    return std::move(*made);
  }

  duet::intake::IntakeItem item(const std::string& text) {
    duet::intake::Receipt r;
    r.source = "10.0.0.9";
    r.source_port = 514;
    r.received_ms = duet::to_unix_ms(clock.wall_now());
    r.raw = "<13>Oct 11 22:14:15 host app: " + text;
    return duet::intake::syslog_item(std::move(r));
  }
  void to_a(const std::string& text) { a->on_items({item(text)}); }
  void to_b(const std::string& text) { b->on_items({item(text)}); }
  void to_both(const std::string& text) {
    to_a(text);
    to_b(text);
  }
  // One round of the standby's forwarding.
  void forward() {
    auto req = b->build_forward_request();
    auto resp = a->on_forward(req);
    if (resp.ok()) b->on_forwarded(grpc::Status::OK, *resp);
  }
  // Recorded events per message text.
  std::map<std::string, int> recorded() {
    std::map<std::string, int> n;
    // A syslog event keeps its message in raw only (see item()).
    (void)store->scan("events", [&](const duet::store::Row& row) {
      const auto* v = duet::store::find_field(row, "raw");
      if (v != nullptr) {
        const std::string& raw = std::get<duet::store::Blob>(*v).bytes;
        ++n[raw.substr(raw.find("app: ") + 5)];
      }
      return true;
    });
    return n;
  }
};

}  // namespace

TEST_CASE("intake pair: the standby's receipts are paired, fetched and recorded once",
          "[intake][pair]") {
  Pair p;
  p.a->start_acting(1);
  p.to_both("both");
  p.to_b("only-b");
  p.to_a("only-a");
  for (int i = 0; i < 3; ++i) p.to_both("thrice");
  p.to_b("thrice");  // b saw it 4 times
  p.forward();
  p.clock.advance(1500ms);  // the grace of b's only copies runs out
  p.forward();              // a asks for their content
  p.forward();              // b sends it
  p.a->flush_now();
  auto n = p.recorded();
  CHECK(n["both"] == 1);
  CHECK(n["only-b"] == 1);
  CHECK(n["only-a"] == 1);
  CHECK(n["thrice"] == 4);
}

TEST_CASE("intake pair: a syslog event is stored without message and fields, listed with them",
          "[intake][pair]") {
  Pair p;
  p.a->start_acting(1);
  p.to_both("listed");
  p.to_b("only-b listed");
  p.forward();
  p.clock.advance(1500ms);
  p.forward();
  p.forward();
  p.a->flush_now();
  (void)p.store->scan("events", [&](const duet::store::Row& row) {
    CHECK(std::get<std::string>(*duet::store::find_field(row, "message")).empty());
    CHECK(std::get<std::string>(*duet::store::find_field(row, "fields")).empty());
    return true;
  });
  auto listed = p.a->list(duet::v1::ListEventsRequest());
  REQUIRE(listed.ok());
  REQUIRE(listed->events_size() == 2);
  std::set<std::string> messages;
  for (const auto& e : listed->events()) {
    messages.insert(e.message());
    const auto fields = nlohmann::json::parse(e.fields_json());
    CHECK(fields["app_name"] == "app");
    CHECK(fields["hostname"] == "host");
    CHECK(fields["format"] == "rfc3164");
  }
  CHECK(messages == std::set<std::string>{"listed", "only-b listed"});
}

TEST_CASE("intake pair: a promotion records what the old master had not, nothing twice",
          "[intake][pair]") {
  Pair p;
  p.a->start_acting(1);
  for (int i = 0; i < 3; ++i) p.to_both("early-" + std::to_string(i));
  p.to_both("repeat");
  p.to_both("repeat");
  p.forward();
  p.a->flush_now();
  // Then the master records copies the standby has not forwarded yet, and
  // one more arrives only at the standby, and the master dies.
  p.to_both("late");
  p.to_both("repeat");  // third copy at both
  p.to_b("repeat");     // fourth at b only
  p.to_b("only-b");
  p.a->flush_now();
  p.a->stop_acting(false);
  p.b->start_acting(2);
  p.b->flush_now();
  auto n = p.recorded();
  for (int i = 0; i < 3; ++i) CHECK(n["early-" + std::to_string(i)] == 1);
  CHECK(n["late"] == 1);
  CHECK(n["repeat"] == 4);
  CHECK(n["only-b"] == 1);
}

TEST_CASE(
    "intake pair: a master whose last transaction failed, then stopped, loses and doubles "
    "nothing",
    "[intake][pair]") {
  // b's receipts fetched by a are recorded in transactions of two events;
  // the pairs and the cursor must not outrun the events they name, nor lag
  // behind them, when a transaction fails and a stops acting.
  for (int ok_commits : {0, 1, 2, 3}) {
    INFO("commits that succeed: " << ok_commits);
    Pair p;
    p.a->start_acting(1);
    for (int i = 0; i < 5; ++i) p.to_b("b-only-" + std::to_string(i));
    p.to_both("both-0");
    p.to_both("both-1");
    p.forward();
    p.clock.advance(1500ms);
    p.forward();  // a asks for the content of the five
    p.fail_commits_after = ok_commits;
    p.forward();  // contents in: five events, in three transactions
    p.a->flush_now();
    p.a_may_act = false;  // a lapses and stops before retrying
    p.a->stop_acting(false);
    p.fail_commits_after = -1;
    p.b->start_acting(2);
    p.b->flush_now();
    auto n = p.recorded();
    for (int i = 0; i < 5; ++i) CHECK(n["b-only-" + std::to_string(i)] == 1);
    CHECK(n["both-0"] == 1);
    CHECK(n["both-1"] == 1);
  }
}

TEST_CASE("intake pair: a master that lapses and acts again pairs late digests with its events",
          "[intake][pair]") {
  Pair p;
  p.a->start_acting(1);
  for (int i = 0; i < 4; ++i) p.to_both("m-" + std::to_string(i));
  p.a->flush_now();  // recorded; b's digests not forwarded yet
  p.a->stop_acting(false);
  p.a->start_acting(1);  // acts again: rebuilt from the store
  p.forward();
  p.clock.advance(2s);
  p.forward();
  p.forward();
  p.a->flush_now();
  auto n = p.recorded();
  for (int i = 0; i < 4; ++i) CHECK(n["m-" + std::to_string(i)] == 1);
}

TEST_CASE("intake pair: events count follows every batch", "[intake][pair]") {
  Pair p;
  p.a->start_acting(1);
  for (int i = 0; i < 7; ++i) p.to_a("c-" + std::to_string(i));
  p.a->flush_now();
  auto c = p.a->count();
  REQUIRE(c.ok());
  CHECK(c->total() == 7);
  CHECK(c->by_protocol().at("syslog/udp") == 7);
  auto cb = p.b->count();  // the standby reads the same rows
  REQUIRE(cb.ok());
  CHECK(cb->total() == 7);
}

TEST_CASE("intake pair: a sender is placed again once the repository changes", "[intake][pair]") {
  // The master keeps where each sender is (node, scopes) between its events;
  // a change to the repository must not leave a sender where it was.
  Pair p;
  p.a->start_acting(1);
  p.a->reload_repository();
  p.to_a("before");
  p.a->flush_now();

  auto state = duet::repository::load_state(*p.store);
  REQUIRE(state.ok());
  auto doc = duet::repository::parse_document(
      "scopes:\n  - {name: web}\nnodes:\n  - {name: web01, addresses: [10.0.0.9], scopes: [web]}\n",
      "f.yaml");
  REQUIRE(doc.ok());
  auto plan = duet::repository::plan_apply(*state, *doc);
  REQUIRE(plan.ok());
  REQUIRE(p.store->commit(duet::repository::to_batch(*plan, duet::repository::Stamp{})).ok());
  p.a->reload_repository();
  p.to_a("after");
  p.a->flush_now();

  std::map<std::string, std::pair<std::string, std::string>> placed;  // text -> scope, host
  (void)p.store->scan("events", [&](const duet::store::Row& row) {
    const std::string raw = duet::store::text_of(row, "raw");
    placed[raw.substr(raw.find("app: ") + 5)] = {duet::store::text_of(row, "scope"),
                                                 duet::store::text_of(row, "host")};
    return true;
  });
  CHECK(placed["before"] == std::pair<std::string, std::string>{"unregistered", ""});
  CHECK(placed["after"] == std::pair<std::string, std::string>{"web", "web01"});
}

TEST_CASE("A batch of events is counted as its rows one by one", "[intake]") {
  using duet::manager::intake_internal::count_event;
  using duet::manager::intake_internal::count_rows;
  auto event = [](const char* priority, const char* protocol) {
    return duet::store::Row{{"id", std::int64_t{1}},
                            {"protocol", std::string(protocol)},
                            {"priority", std::string(priority)}};
  };
  // Runs of the same kind, and kinds that come back after others.
  const std::vector<duet::store::Row> rows{
      event("info", "syslog/udp"),    event("info", "syslog/udp"), event("critical", "syslog/udp"),
      event("info", "snmp/v2c"),      event("info", "syslog/udp"), event("warning", "syslog/tcp"),
      event("critical", "syslog/udp")};
  std::map<std::string, std::int64_t> one_by_one{{"total", 3}, {"priority.info", 2}};
  std::map<std::string, std::int64_t> batched = one_by_one;
  for (const auto& r : rows) count_event(r, 1, one_by_one);
  count_rows(rows, batched);
  CHECK(batched == one_by_one);
  CHECK(batched["total"] == 10);
  CHECK(batched["priority.info"] == 6);
  CHECK(batched["priority.critical"] == 2);
  CHECK(batched["protocol.syslog/udp"] == 5);
  CHECK(batched["protocol.snmp/v2c"] == 1);
  // Nothing to count: nothing changes, not even the total's key.
  std::map<std::string, std::int64_t> none;
  count_rows({}, none);
  CHECK(none.empty());
}

TEST_CASE("Scope and host names are stored joined with commas", "[intake]") {
  using duet::manager::intake_internal::join_names;
  CHECK(join_names({}).empty());
  CHECK(join_names({"web"}) == "web");
  CHECK(join_names({"web", "dc1", "tokyo"}) == "web,dc1,tokyo");
}
