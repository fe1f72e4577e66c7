// The master's job runner (manager/job_runner.h) over a real SQLite store,
// with a manual clock and a commit whose replication the test decides: a
// run is sent to its agent only once the batch that issued its run id is
// replicated; a new master restores sessions and sends the runs again with
// the same ids; a failed commit changes nothing; schedules start each due
// time once, across a change of master.

#include <catch2/catch.hpp>

#include "jobs/business_calendar.h"
#include "manager/job_runner.h"
#include "tests/support/held_commit.h"
#include "tests/support/store_fixtures.h"

using duet::ManualClock;
using duet::manager::JobRunner;
namespace v1 = duet::v1;

namespace {

std::string padded(std::uint64_t v) {
  std::string s = std::to_string(v);
  return std::string(15 - s.size(), '0') + s;
}

struct Fixture {
  ManualClock clock;
  duet::testing::SqliteLocation where;
  std::unique_ptr<duet::store::JournaledStore> store;
  std::unique_ptr<duet::testing::HeldCommit> commit;
  std::vector<std::pair<std::string, v1::ManagerMessage>> sent;  // (node, message)
  std::unique_ptr<JobRunner> runner;

  Fixture() {
    auto opened = duet::testing::open_at(where, duet::store::manager_schema(), clock);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    REQUIRE(store->advance_epoch(4).ok());
    commit = std::make_unique<duet::testing::HeldCommit>(*store);
  }

  void define(const std::string& name, std::vector<std::string> chain,
              const std::string& cron = "") {
    v1::JobNetDef def;
    def.set_enabled(true);
    def.set_version(1);
    def.mutable_root()->set_name(name);
    def.mutable_root()->set_kind("net");
    def.set_max_sessions(10);
    std::string prev;
    for (const auto& j : chain) {
      auto* u = def.mutable_root()->add_units();
      u->set_name(j);
      u->set_kind("command");
      u->mutable_command()->set_run("run " + j);
      u->mutable_command()->set_node("n1");
      if (!prev.empty()) {
        u->mutable_wait()->add_groups()->add_conditions()->set_unit(prev);
      }
      prev = j;
    }
    if (!cron.empty()) def.add_schedules()->set_cron(cron);
    duet::store::WriteBatch b;
    const auto blob = duet::store::Blob{def.SerializeAsString()};
    b.put("job_nets", duet::store::Row{{"name", name},
                                       {"version", std::int64_t{1}},
                                       {"definition", blob},
                                       {"updated_at_ms", std::int64_t{1}}});
    b.put("job_net_versions",
          duet::store::Row{{"key", name + "\x1f" + padded(1)}, {"definition", blob}});
    REQUIRE(store->commit(b).ok());
  }

  void make_runner() {
    JobRunner::Hooks hooks;
    hooks.store = [this]() -> duet::store::Store* { return store.get(); };
    hooks.epoch = [this] { return store->current_epoch(); };
    hooks.commit = commit->hook();
    hooks.send = [this](const std::string& node, v1::ManagerMessage m) {
      sent.emplace_back(node, std::move(m));
      return true;
    };
    hooks.connected = [](const std::string&) { return true; };
    JobRunner::Options options;
    options.node_name = "a";
    runner = std::make_unique<JobRunner>(boost::asio::any_io_executor(), clock, options,
                                         std::move(hooks));
    runner->start_acting();
  }

  // Starts a session; its id reaches `started` once the start is replicated.
  std::uint64_t started = 0;
  void start(const std::string& net) {
    runner->start_session(net, {}, "", "manual by test", [this](auto r) {
      REQUIRE(r.ok());
      started = r->first;
    });
    clock.run_due();  // starts are committed once the strand has taken what is queued
  }

  std::vector<std::string> started_runs() const {
    std::vector<std::string> out;
    for (const auto& [node, m] : sent) {
      if (m.has_job_start()) out.push_back(m.job_start().run_id());
    }
    return out;
  }

  // The agent's end of a run, taken like AgentHub takes it.
  void end(const std::string& run_id, std::int64_t value) {
    v1::JobRunResult r;
    r.set_run_id(run_id);
    r.set_end_value(value);
    r.set_at_ms(duet::to_unix_ms(clock.wall_now()));
    runner->report_into("n1", r);
    duet::store::WriteBatch batch;
    JobRunner::Changes changes;
    runner->take_into(batch, changes);
    (*commit)(batch, [this, changes = std::move(changes)](auto res) mutable {
      runner->committed(std::move(changes), res.ok());
    });
  }

  v1::JobSessionInfo session(std::uint64_t id) {
    auto row = store->get("job_sessions", static_cast<std::int64_t>(id));
    REQUIRE(row.ok());
    REQUIRE(row->has_value());
    v1::JobSessionInfo info;
    REQUIRE(info.ParseFromString(duet::store::text_of(**row, "info")));
    return info;
  }

  std::size_t sessions_of(const std::string& net) {
    std::size_t n = 0;
    REQUIRE(store
                ->scan("job_sessions",
                       [&](const duet::store::Row& r) {
                         n += duet::store::text_of(r, "net") == net ? 1 : 0;
                         return true;
                       })
                .ok());
    return n;
  }
};

}  // namespace

TEST_CASE("job runner: a run is sent only once its run id is replicated", "[job_runner]") {
  Fixture f;
  f.define("chain", {"a", "b"});
  f.make_runner();
  f.start("chain");
  const std::uint64_t id = 1;
  CHECK(f.session(id).state() == "running");  // committed ...
  CHECK(f.started_runs().empty());            // ... but not replicated: nothing sent
  CHECK(f.started == 0);                      // nor answered
  f.commit->replicate();
  CHECK(f.started == id);
  REQUIRE(f.started_runs() == std::vector<std::string>{"1-1"});
  CHECK(f.sent[0].first == "n1");
  CHECK(f.sent[0].second.job_start().command() == "run a");
  f.end("1-1", 0);
  CHECK(f.started_runs().size() == 1);
  f.commit->replicate();
  CHECK(f.started_runs() == std::vector<std::string>{"1-1", "1-2"});
  f.end("1-2", 0);
  f.commit->replicate();
  CHECK(f.session(id).state() == "ended");
  CHECK(f.session(id).end_status() == "normal");
}

TEST_CASE("job runner: starts that come together share one transaction", "[job_runner]") {
  Fixture f;
  f.define("one", {"a"});
  f.define("two", {"b"});
  f.make_runner();
  std::vector<std::uint64_t> ids;
  for (const char* net : {"one", "two", "one"}) {
    f.runner->start_session(net, {}, "", "manual by test", [&](auto r) {
      REQUIRE(r.ok());
      CHECK(r->second > 0);  // the LSN that holds it
      ids.push_back(r->first);
    });
  }
  CHECK(f.commit->held() == 0);  // nothing committed yet: the strand has more to take
  f.clock.run_due();
  CHECK(f.commit->held() == 1);  // one transaction for the three
  CHECK(ids.empty());
  f.commit->replicate();
  CHECK(ids == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(f.started_runs() == std::vector<std::string>{"1-1", "2-1", "3-1"});
  CHECK(f.session(3).net() == "one");
  // A start waiting when the master stops is answered, not forgotten.
  bool answered = false;
  f.runner->start_session("two", {}, "", "manual by test", [&](auto r) {
    CHECK_FALSE(r.ok());
    answered = true;
  });
  f.runner->stop_acting();
  CHECK(answered);
  f.clock.run_due();
  CHECK(f.commit->held() == 0);
}

TEST_CASE("job runner: a new master resends undelivered runs with the same ids", "[job_runner]") {
  Fixture f;
  f.define("chain", {"a", "b"});
  f.make_runner();
  f.start("chain");
  const std::uint64_t id = 1;
  f.commit->replicate();
  REQUIRE(f.started_runs() == std::vector<std::string>{"1-1"});
  // The master dies; the next (epoch 5) restores the session from the store.
  f.runner->stop_acting();
  f.runner.reset();
  REQUIRE(f.store->advance_epoch(5).ok());
  f.sent.clear();
  f.make_runner();
  f.commit->replicate();
  f.runner->agent_connected("n1");
  f.commit->replicate();
  // The agent ignores a run id it has; none was issued anew.
  for (const auto& r : f.started_runs()) CHECK(r == "1-1");
  CHECK_FALSE(f.started_runs().empty());
  f.end("1-1", 0);
  f.commit->replicate();
  const auto runs = f.started_runs();
  REQUIRE(runs.back() == "1-2");
  f.end("1-2", 0);
  f.commit->replicate();
  CHECK(f.session(id).end_status() == "normal");
}

TEST_CASE("job runner: a failed commit sends nothing; the engine goes back to the store",
          "[job_runner]") {
  Fixture f;
  f.define("chain", {"a", "b"});
  f.make_runner();
  f.start("chain");
  const std::uint64_t id = 1;
  f.commit->replicate();
  f.commit->fail = true;
  f.end("1-1", 0);  // b would start: the commit fails
  CHECK(f.started_runs() == std::vector<std::string>{"1-1"});
  f.commit->fail = false;
  f.clock.advance(std::chrono::seconds(1));  // the engine comes back from the store
  f.commit->replicate();
  // The result comes again (the agent resends what was not acknowledged).
  f.end("1-1", 0);
  f.commit->replicate();
  const auto runs = f.started_runs();
  REQUIRE(runs.size() >= 2);
  CHECK(runs.back() == "1-2");
  f.end("1-2", 0);
  f.commit->replicate();
  CHECK(f.session(id).end_status() == "normal");
}

TEST_CASE("job runner: schedules start each due time once, across a change of master",
          "[job_runner]") {
  Fixture f;
  f.define("tick", {"t"}, "0 * * * * *");  // every minute
  // Start at a whole minute + 30 s.
  const auto now = duet::to_unix_ms(f.clock.wall_now());
  f.clock.advance(std::chrono::milliseconds(60'000 - now % 60'000 + 30'000));
  f.make_runner();
  f.commit->replicate();
  CHECK(f.sessions_of("tick") == 0);
  f.clock.advance(std::chrono::seconds(31));  // one due time
  f.commit->replicate();
  CHECK(f.sessions_of("tick") == 1);
  // No master for 2.5 minutes: two due times pass; the next master runs them, once each.
  f.runner->stop_acting();
  f.runner.reset();
  f.clock.advance(std::chrono::seconds(150));
  REQUIRE(f.store->advance_epoch(5).ok());
  f.make_runner();
  f.commit->replicate();
  CHECK(f.sessions_of("tick") == 3);
  // And the one after, again at once: nothing twice.
  f.runner->stop_acting();
  f.runner.reset();
  f.make_runner();
  f.commit->replicate();
  CHECK(f.sessions_of("tick") == 3);
  std::set<std::string> triggers;
  REQUIRE(f.store
              ->scan("job_sessions",
                     [&](const duet::store::Row& r) {
                       v1::JobSessionInfo info;
                       info.ParseFromString(duet::store::text_of(r, "info"));
                       CHECK(triggers.insert(info.trigger()).second);
                       return true;
                     })
              .ok());
}
