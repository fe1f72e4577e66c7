// The master's side of agents (manager/agent_hub.h) over a real SQLite store,
// with a manual clock and a commit whose replication the test decides.

#include <catch2/catch.hpp>
#include <deque>

#include "common/errors.h"
#include "manager/agent_hub.h"
#include "repository/plan.h"
#include "repository/store_rows.h"
#include "tests/support/held_commit.h"
#include "tests/support/store_fixtures.h"

using duet::ManualClock;
using duet::manager::AgentHub;
using duet::manager::AgentLink;
namespace v1 = duet::v1;

namespace {

struct FakeLink final : AgentLink {
  std::vector<v1::ManagerMessage> sent;
  std::optional<grpc::Status> finished;
  std::vector<std::string> names;
  void send(v1::ManagerMessage m) override {
    if (!finished) sent.push_back(std::move(m));
  }
  void finish(grpc::Status s) override {
    if (!finished) finished = std::move(s);
  }
  std::string peer_address() const override { return "ipv4:127.0.0.1:5555"; }
  std::vector<std::string> certificate_names() const override { return names; }
  std::vector<std::uint64_t> acks() const {
    std::vector<std::uint64_t> out;
    for (const auto& m : sent) {
      if (m.has_ack()) out.push_back(m.ack().up_to_seq());
    }
    return out;
  }
};

struct Fixture {
  ManualClock clock;
  duet::testing::SqliteLocation where;
  std::unique_ptr<duet::store::JournaledStore> store;
  std::unique_ptr<duet::testing::HeldCommit> held;  // replication decided by the test
  bool may_act = true;
  std::unique_ptr<duet::manager::Notifier> notifier;  // set by tests that notify
  std::unique_ptr<AgentHub> hub;

  Fixture() {
    auto opened = duet::testing::open_at(where, duet::store::manager_schema(), clock);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    REQUIRE(store->advance_epoch(3).ok());
    held = std::make_unique<duet::testing::HeldCommit>(*store);
    auto doc = duet::repository::parse_document(
        "scopes: [{name: web}]\n"
        "nodes: [{name: web01, addresses: [10.0.0.5], scopes: [web]}, "
        "{name: web02, addresses: [10.0.0.6]}]\n",
        "t.yaml");
    REQUIRE(doc.ok());
    auto plan = duet::repository::plan_apply({}, std::move(*doc));
    REQUIRE(plan.ok());
    REQUIRE(store->commit(duet::repository::to_batch(*plan, {1, "a"})).ok());
    make_hub();
  }

  void make_hub() {
    AgentHub::Hooks hooks;
    hooks.store = [this]() -> duet::store::Store* { return store.get(); };
    hooks.may_act = [this] { return may_act; };
    hooks.epoch = [this] { return store->current_epoch(); };
    hooks.not_master = [] {
      v1::NotMaster nm;
      nm.set_master_name("b");
      nm.set_master_address("127.0.0.12:7420");
      return nm;
    };
    hooks.not_master_text = [] { return std::string("not master; the master is b"); };
    hooks.notifier = [this] { return notifier.get(); };
    hooks.commit = held->hook();
    AgentHub::Options options;
    options.node_name = "a";
    options.unreachable_after_ms = 5000;
    options.hourly_keep_ms = 10LL * 365 * 24 * 3600 * 1000;  // the test's results are from 2023
    hub = std::make_unique<AgentHub>(boost::asio::any_io_executor(), clock, options,
                                     std::move(hooks));
    hub->start_acting();
  }

  void replicate() { held->replicate(); }

  void put_monitor(v1::MonitorDef def) {
    v1::PutMonitorRequest req;
    *req.mutable_monitor() = std::move(def);
    v1::MonitorChangeResponse resp;
    std::optional<grpc::Status> status;
    hub->put_monitor(req, &resp, [&](grpc::Status s) { status = s; });
    replicate();
    REQUIRE(status);
    INFO(status->error_message());
    REQUIRE(status->ok());
  }

  std::shared_ptr<FakeLink> hello(const std::string& node = "web01") {
    auto link = std::make_shared<FakeLink>();
    v1::AgentHello h;
    h.set_node(node);
    h.set_version("test");
    hub->on_hello(link, h);
    replicate();
    return link;
  }

  void result(const std::shared_ptr<FakeLink>& link, std::uint64_t seq, const std::string& monitor,
              std::optional<double> value, bool ok = true) {
    v1::MonitorResult r;
    r.set_monitor(monitor);
    r.set_node("someone-else");  // the hub keeps the agent's own node
    r.set_started_at_ms(1'700'000'000'000 + static_cast<std::int64_t>(seq) * 1000);
    r.set_ok(ok);
    if (!ok) r.set_error("connection refused");
    if (value) {
      auto* m = r.add_metrics();
      m->set_name("value");
      m->set_value(*value);
    }
    v1::AgentResult ar;
    ar.set_seq(seq);
    ar.set_kind("monitor");
    r.SerializeToString(ar.mutable_payload());
    hub->on_result(link, ar);
  }

  std::vector<std::uint64_t> stored_seqs(const std::string& node, const std::string& monitor) {
    v1::QueryMetricsRequest req;
    req.set_node(node);
    req.set_monitor(monitor);
    req.set_since_ms(1);
    auto r = hub->query_metrics(req);
    REQUIRE(r.ok());
    std::vector<std::uint64_t> out;
    for (const auto& p : r->points()) out.push_back(p.seq());
    return out;
  }

  std::string status_of(const std::string& monitor, const std::string& node) {
    auto row = store->get("monitor_status", AgentHub::status_key(monitor, node));
    REQUIRE(row.ok());
    if (!row->has_value()) return "";
    return std::get<std::string>(*duet::store::find_field(**row, "priority"));
  }
};

v1::MonitorDef command_monitor(const std::string& name) {
  v1::MonitorDef d;
  d.set_name(name);
  d.set_kind("command");
  d.set_node("web01");
  d.set_enabled(true);
  (*d.mutable_params())["command"] = "echo 1";
  d.mutable_judgement()->set_info_range("0:10");
  d.mutable_judgement()->set_warning_range("10:20");
  return d;
}

}  // namespace

TEST_CASE("hub: a welcome names what the master holds and what the agent runs", "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  auto scoped = command_monitor("by-scope");
  scoped.clear_node();
  scoped.set_scope("web");
  f.put_monitor(scoped);
  auto other = command_monitor("other-node");
  other.set_node("web02");
  f.put_monitor(other);
  auto agentless = command_monitor("agentless");
  agentless.set_kind("ping");
  agentless.clear_params();
  agentless.set_runs_on("manager");
  f.put_monitor(agentless);

  auto link = f.hello();
  REQUIRE(link->sent.size() == 1);
  const auto& m = link->sent[0];
  CHECK(m.epoch() == 3);
  REQUIRE(m.has_welcome());
  CHECK(m.welcome().manager() == "a");
  CHECK(m.welcome().acked_up_to() == 0);
  std::vector<std::string> names;
  for (const auto& d : m.welcome().assignments().monitors()) names.push_back(d.name());
  CHECK(names == std::vector<std::string>{"by-scope", "load"});
  CHECK_FALSE(link->finished);
  auto targets = f.hub->manager_targets();
  REQUIRE(targets.size() == 1);
  CHECK(targets[0].address == "10.0.0.5");
}

TEST_CASE("hub: results are acknowledged only once replicated, each exactly once", "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  auto link = f.hello();
  for (std::uint64_t s = 1; s <= 3; ++s) f.result(link, s, "load", 1.0);
  f.clock.advance(std::chrono::milliseconds(10));  // the batch timer
  CHECK(link->acks().empty());                     // committed, not replicated yet
  f.replicate();
  CHECK(link->acks() == std::vector<std::uint64_t>{3});
  CHECK(f.stored_seqs("web01", "load") == std::vector<std::uint64_t>{1, 2, 3});

  // The agent reconnects and resends 2..4: only 4 is new.
  auto again = f.hello();
  REQUIRE(again->sent[0].welcome().acked_up_to() == 3);
  CHECK(link->finished);  // the older session is replaced
  for (std::uint64_t s = 2; s <= 4; ++s) f.result(again, s, "load", 1.0);
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(f.stored_seqs("web01", "load") == std::vector<std::uint64_t>{1, 2, 3, 4});
  CHECK(again->acks().back() == 4);

  // A new master (a new hub over the same store) knows where the agent stands.
  f.hub->stop_acting();
  f.make_hub();
  auto third = f.hello();
  CHECK(third->sent[0].welcome().acked_up_to() == 4);
  f.result(third, 4, "load", 1.0);
  f.result(third, 5, "load", 1.0);
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(f.stored_seqs("web01", "load") == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
}

TEST_CASE("hub: a job's result does not wait for the batch timer, and takes what is queued",
          "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  auto link = f.hello();
  f.result(link, 1, "load", 1.0);
  f.clock.run_due();
  CHECK(f.held->held() == 0);  // a monitor's result waits for the batch timer
  v1::JobRunResult job;
  job.set_run_id("7-1");
  v1::AgentResult ar;
  ar.set_seq(2);
  ar.set_kind("job");
  job.SerializeToString(ar.mutable_payload());
  f.hub->on_result(link, ar);
  f.result(link, 3, "load", 2.0);  // came with it: shares its transaction
  f.clock.run_due();
  CHECK(f.held->held() == 1);
  f.replicate();
  CHECK(link->acks() == std::vector<std::uint64_t>{3});
  CHECK(f.stored_seqs("web01", "load") == std::vector<std::uint64_t>{1, 3});
  f.clock.advance(std::chrono::milliseconds(10));  // the timer set for result 1: nothing left
  CHECK(f.held->held() == 0);
}

TEST_CASE("hub: a failed commit ends the session and the results come again", "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  auto link = f.hello();
  f.held->fail = true;
  f.result(link, 1, "load", 1.0);
  f.clock.advance(std::chrono::milliseconds(10));
  REQUIRE(link->finished);
  CHECK(link->finished->error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(link->acks().empty());
  f.held->fail = false;
  auto again = f.hello();
  CHECK(again->sent[0].welcome().acked_up_to() == 0);
  f.result(again, 1, "load", 1.0);
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(f.stored_seqs("web01", "load") == std::vector<std::uint64_t>{1});
}

TEST_CASE("hub: judged results keep the status per monitor and node", "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  auto link = f.hello();
  auto step = [&](std::uint64_t seq, std::optional<double> v, bool ok = true) {
    f.result(link, seq, "load", v, ok);
    f.clock.advance(std::chrono::milliseconds(10));
    f.replicate();
    return f.status_of("load", "web01");
  };
  CHECK(step(1, 5.0) == "info");
  CHECK(step(2, 15.0) == "warning");
  CHECK(step(3, 25.0) == "critical");
  CHECK(step(4, std::nullopt, false) == "unknown");
  CHECK(step(5, 1.0) == "info");
  auto list = f.hub->list_monitors();
  REQUIRE(list.ok());
  REQUIRE(list->monitors_size() == 1);
  REQUIRE(list->monitors(0).status_size() == 1);
  CHECK(list->monitors(0).status(0).since_ms() == 1'700'000'005'000);
}

TEST_CASE("hub: a node that is not master sends the agent on", "[agent_hub]") {
  Fixture f;
  f.may_act = false;
  auto link = f.hello();
  REQUIRE(link->sent.size() == 1);
  CHECK(link->sent[0].not_master().master_address() == "127.0.0.12:7420");
  REQUIRE(link->finished);
  CHECK(link->finished->error_code() == grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_CASE("hub: a certificate for another node is refused", "[agent_hub]") {
  Fixture f;
  auto link = std::make_shared<FakeLink>();
  link->names = {"web02"};
  v1::AgentHello h;
  h.set_node("web01");
  f.hub->on_hello(link, h);
  REQUIRE(link->finished);
  CHECK(link->finished->error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(link->sent.empty());
}

TEST_CASE("hub: agents list shows who is connected, and to which manager", "[agent_hub]") {
  Fixture f;
  auto link = f.hello("web01");
  auto l2 = f.hello("web02");
  f.hub->on_closed(l2);
  auto list = f.hub->list_agents();
  REQUIRE(list.ok());
  REQUIRE(list->agents_size() == 2);
  CHECK(list->agents(0).node() == "web01");
  CHECK(list->agents(0).state() == "connected");
  CHECK(list->agents(0).manager() == "a");
  CHECK(list->agents(1).state() == "disconnected");
  CHECK(list->agents(1).manager().empty());
  CHECK(list->agents(1).last_seen_ms() > 0);
}

TEST_CASE("hub: results past the raw span become hourly points", "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  auto link = f.hello();
  // Three results in one hour of 2023, long past the raw span (7 days).
  for (std::uint64_t s = 1; s <= 3; ++s) f.result(link, s, "load", static_cast<double>(s));
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(f.hub->maintain_metrics() == 3);
  f.replicate();
  v1::QueryMetricsRequest req;
  req.set_node("web01");
  req.set_monitor("load");
  req.set_since_ms(1);
  auto q = f.hub->query_metrics(req);
  REQUIRE(q.ok());
  REQUIRE(q->points_size() == 1);
  const auto& p = q->points(0);
  CHECK(p.resolution() == "hour");
  CHECK(p.at_ms() == 1'700'000'000'000 / 3'600'000 * 3'600'000);
  CHECK(p.results() == 3);
  REQUIRE(p.metrics_size() == 1);
  CHECK(p.metrics(0).value() == Approx(2.0));
  CHECK(p.metrics(0).min() == 1.0);
  CHECK(p.metrics(0).max() == 3.0);
  CHECK(p.metrics(0).count() == 3);
  // A late result of the same hour merges into its point.
  f.result(link, 4, "load", 10.0);
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(f.hub->maintain_metrics() == 1);
  f.replicate();
  q = f.hub->query_metrics(req);
  REQUIRE(q.ok());
  REQUIRE(q->points_size() == 1);
  CHECK(q->points(0).results() == 4);
  CHECK(q->points(0).metrics(0).value() == Approx(4.0));
  CHECK(q->points(0).metrics(0).max() == 10.0);
  CHECK(f.hub->maintain_metrics() == 0);  // nothing left to roll up
}

TEST_CASE("hub: a new outbox (a rebuilt host) is taken from its start", "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  auto hello = [&](std::uint64_t identity) {
    auto link = std::make_shared<FakeLink>();
    v1::AgentHello h;
    h.set_node("web01");
    h.set_outbox_identity(identity);
    f.hub->on_hello(link, h);
    f.replicate();
    return link;
  };
  auto link = hello(111);
  for (std::uint64_t s = 1; s <= 3; ++s) f.result(link, s, "load", 1.0);
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(hello(111)->sent[0].welcome().acked_up_to() == 3);  // the same outbox: where it was
  auto fresh = hello(222);
  CHECK(fresh->sent[0].welcome().acked_up_to() == 0);
  f.result(fresh, 1, "load", 1.0);
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(fresh->acks().back() == 1);
  // A new master reads the identity with the number.
  f.hub->stop_acting();
  f.make_hub();
  CHECK(hello(222)->sent[0].welcome().acked_up_to() == 1);
}

TEST_CASE("hub: every judged result goes to the notifications, with the results' batch",
          "[agent_hub]") {
  Fixture f;
  f.put_monitor(command_monitor("load"));
  v1::ChannelDef c;
  c.set_name("hook");
  c.set_kind("webhook");
  (*c.mutable_params())["url"] = "http://127.0.0.1:1/";
  v1::NotificationDef n;
  n.set_name("load-critical");
  n.set_enabled(true);
  n.add_monitors("load");
  n.add_scopes("web");
  n.add_priorities("critical");
  n.add_channels("hook");
  n.set_after(2);
  n.set_repeat("never");
  duet::store::WriteBatch defs;
  defs.put("notify_channels",
           duet::store::Row{{"name", std::string("hook")},
                            {"definition", duet::store::Blob{c.SerializeAsString()}},
                            {"updated_at_ms", std::int64_t{1}}});
  defs.put("notifications",
           duet::store::Row{{"name", n.name()},
                            {"definition", duet::store::Blob{n.SerializeAsString()}},
                            {"updated_at_ms", std::int64_t{1}}});
  REQUIRE(f.store->commit(defs).ok());
  std::vector<v1::NotifyIntent> sent;
  duet::manager::Notifier::Hooks hooks;
  hooks.store = [&f]() -> duet::store::Store* { return f.store.get(); };
  hooks.epoch = [&f] { return f.store->current_epoch(); };
  hooks.commit = [&f](const duet::store::WriteBatch& batch, auto done) {
    auto lsn = f.store->commit(batch);
    REQUIRE(lsn.ok());
    done(duet::ha::Runner::Committed{*lsn, f.store->current_epoch(), true});
  };
  hooks.make_deliver = [&sent]() -> duet::manager::Notifier::Deliver {
    return [&sent](const v1::ChannelDef&, const v1::NotifyIntent& i) {
      sent.push_back(i);
      return duet::notify::Delivery{true, false, ""};
    };
  };
  duet::manager::Notifier::Options options;
  options.workers = 0;
  options.sender = "a";
  f.notifier = std::make_unique<duet::manager::Notifier>(boost::asio::any_io_executor(), f.clock,
                                                         options, std::move(hooks));
  f.notifier->start_acting();

  auto link = f.hello();
  f.result(link, 1, "load", 1.0);   // info
  f.result(link, 2, "load", 30.0);  // critical: 1 of 2
  f.clock.advance(std::chrono::milliseconds(10));
  auto intents = [&] {
    std::size_t n = 0;
    REQUIRE(
        f.store->scan("notify_outbox", [&](const duet::store::Row&) { return ++n, true; }).ok());
    return n;
  };
  CHECK(intents() == 0);
  f.result(link, 3, "load", 30.0);  // critical: 2 of 2, notifies
  f.result(link, 4, "load", 30.0);  // repeat never
  f.clock.advance(std::chrono::milliseconds(10));
  CHECK(intents() == 1);  // committed with results 3 and 4
  CHECK(sent.empty());    // not replicated yet
  f.replicate();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].vars().at("monitor") == "load");
  CHECK(sent[0].vars().at("node") == "web01");
  CHECK(sent[0].vars().at("priority") == "critical");
  CHECK(sent[0].vars().at("scope") == "web");
  CHECK(sent[0].event_id() == 0);  // the event was raised with result 2, the change
  CHECK(sent[0].vars().at("previous") == "critical");  // the 3rd result's previous status
}
