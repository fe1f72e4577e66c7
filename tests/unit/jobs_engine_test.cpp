// The job-net engine (jobs/engine.h), driven deterministically: a manual
// "now", a fake node directory, and the engine's outputs kept as the store
// would keep them (so a second engine can restore from them, as a new
// master does).
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "jobs/engine.h"
#include "jobs/plan.h"

using duet::v1::JobNetDef;
using duet::v1::JobUnitDef;
using namespace duet::jobs;

namespace {

constexpr std::int64_t kT0 = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

class Directory : public NodeDirectory {
 public:
  std::map<std::string, std::vector<std::string>> scopes;
  std::set<std::string> down;
  std::vector<std::string> nodes_in(const std::string& scope) const override {
    auto it = scopes.find(scope);
    return it == scopes.end() ? std::vector<std::string>{} : it->second;
  }
  bool available(const std::string& node) const override { return down.count(node) == 0; }
  std::string node_of_monitor(const std::string& m) const override {
    return m == "web-http" ? "web1" : "";
  }
  std::map<std::string, std::string> node_variables(const std::string& node) const override {
    return {{"node.name", node}, {"node.address", "192.0.2.1"}};
  }
};

JobUnitDef job(const std::string& name, std::vector<std::string> after = {},
               const std::string& node = "n1") {
  JobUnitDef u;
  u.set_name(name);
  u.set_kind("command");
  u.mutable_command()->set_run("run " + name);
  u.mutable_command()->set_node(node);
  if (!after.empty()) {
    auto* g = u.mutable_wait()->add_groups();
    for (const auto& a : after) {
      auto* c = g->add_conditions();
      c->set_unit(a);
      c->set_status("ok");
    }
  }
  return u;
}

JobUnitDef net(const std::string& name, std::vector<JobUnitDef> units,
               std::vector<std::string> after = {}) {
  JobUnitDef u = job(name, std::move(after));
  u.clear_command();
  u.set_kind("net");
  for (auto& c : units) *u.add_units() = std::move(c);
  return u;
}

std::shared_ptr<const Plan> plan_of(std::vector<JobUnitDef> units, std::uint64_t version = 1) {
  JobNetDef def;
  *def.mutable_root() = net("nightly", std::move(units));
  def.set_version(version);
  auto p = Plan::compile(def, nullptr);
  REQUIRE(p.ok());
  return *p;
}

struct Harness {
  Directory dir;
  std::unique_ptr<Engine> engine = std::make_unique<Engine>(dir, 1);
  std::int64_t now = kT0;
  std::map<std::pair<std::uint64_t, std::uint32_t>, duet::v1::JobUnitState> units;
  std::map<std::uint64_t, duet::v1::JobSessionInfo> sessions;
  std::vector<Dispatch> sent;
  std::vector<Kill> killed;
  std::vector<Notice> notices;
  std::vector<duet::v1::JobOperation> ops;
  std::set<std::string> run_ids_started;
  std::uint64_t next_session = 1;

  void pump() {
    auto o = engine->take();
    for (auto& [k, v] : o.units) units[k] = v;
    for (auto& [k, v] : o.sessions) sessions[k] = v;
    for (auto& d : o.dispatch) {
      // An agent starts a run id at most once: a repeated dispatch is not a second start.
      if (run_ids_started.insert(d.run.run_id()).second) sent.push_back(d);
    }
    for (auto& k : o.kill) killed.push_back(k);
    for (auto& n : o.notices) notices.push_back(n);
    for (auto& op : o.operations) ops.push_back(op);
  }
  std::uint64_t start(std::shared_ptr<const Plan> plan,
                      std::map<std::string, std::string> params = {}) {
    duet::v1::JobSessionInfo info;
    info.set_id(next_session++);
    info.set_net(plan->name());
    info.set_business_day("2027-01-15");
    info.set_trigger("manual by test");
    for (auto& [k, v] : params) (*info.mutable_params())[k] = v;
    engine->start(info, std::move(plan), now);
    pump();
    return info.id();
  }
  // The run id dispatched for a unit (the latest).
  std::string run_of(const std::string& unit) {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      if (it->unit == unit) return it->run.run_id();
    }
    FAIL("no run dispatched for " << unit);
    return {};
  }
  bool dispatched(const std::string& unit) {
    for (const auto& d : sent) {
      if (d.unit == unit) return true;
    }
    return false;
  }
  void end(const std::string& run_id, std::int64_t value,
           std::map<std::string, std::string> set = {}) {
    RunReport r;
    r.run_id = run_id;
    r.at_ms = now;
    r.end_value = value;
    r.set_variables = std::move(set);
    engine->report(r, now);
    pump();
  }
  void end_unit(const std::string& unit, std::int64_t value = 0) { end(run_of(unit), value); }
  void advance(std::int64_t ms) {
    now += ms;
    engine->tick(now);
    pump();
  }
  duet::Status op(std::uint64_t session, const std::string& unit, const std::string& what,
                  const std::string& status = "", std::int64_t value = 0,
                  const std::string& rerun = "from") {
    Operation o;
    o.session = session;
    o.unit = unit;
    o.op = what;
    o.status = status;
    o.value = value;
    o.rerun = rerun;
    o.by = "alice";
    auto r = engine->operate(o, now);
    pump();
    return r;
  }
  std::string state(std::uint64_t session, std::uint32_t index) {
    return units.at({session, index}).state();
  }
  std::string state(std::uint64_t session, const std::string& path, const Plan& plan) {
    return state(session, *plan.find(path));
  }
  const duet::v1::JobSessionInfo& info(std::uint64_t s) { return sessions.at(s); }
};

}  // namespace

TEST_CASE("engine: a chain runs in order, each job once, and the session ends normal", "[engine]") {
  Harness h;
  auto plan = plan_of({job("a"), job("b", {"a"}), job("c", {"b"})});
  const auto s = h.start(plan);
  REQUIRE(h.sent.size() == 1);
  CHECK(h.sent[0].unit == "a");
  CHECK(h.sent[0].command == "run a");
  CHECK(h.sent[0].run.run_id() == "1-1");
  CHECK(h.sent[0].run.epoch() == 1);
  CHECK(h.sent[0].env.at("DUET_RUN_ID") == "1-1");
  CHECK(h.state(s, "b", *plan) == "waiting");
  h.now += 1000;
  h.end_unit("a");
  REQUIRE(h.sent.size() == 2);
  CHECK(h.sent[1].unit == "b");
  CHECK(h.units.at({s, 2}).ready_at_ms() == h.now);
  h.end_unit("b", 1);  // warning: "ok" still lets c go
  h.end_unit("c");
  CHECK(h.sent.size() == 3);
  CHECK(h.info(s).state() == "ended");
  CHECK(h.info(s).end_status() == "warning");
  CHECK(h.state(s, "b", *plan) == "ended");
  CHECK(h.units.at({s, 2}).end_status() == "warning");
  REQUIRE(h.notices.size() == 1);
  CHECK(h.notices[0].priority == duet::Priority::kWarning);
  CHECK_FALSE(h.engine->has(s));  // ended sessions leave the engine
  // A report that comes again (an agent's resend) changes nothing.
  h.end(h.sent[0].run.run_id(), 2);
  CHECK(h.sent.size() == 3);
}

TEST_CASE("engine: an abnormal end stops its successors; an error branch runs", "[engine]") {
  Harness h;
  auto on_error = job("on-error");
  on_error.mutable_wait()->add_groups()->add_conditions()->set_unit("a");
  on_error.mutable_wait()->mutable_groups(0)->mutable_conditions(0)->set_status("abnormal");
  auto cleanup = job("cleanup");
  cleanup.mutable_wait()->add_groups()->add_conditions()->set_unit("a");
  cleanup.mutable_wait()->mutable_groups(0)->mutable_conditions(0)->set_status("abnormal");
  cleanup.mutable_wait()->set_end_if_unmet(true);
  cleanup.mutable_wait()->set_unmet_status("normal");
  cleanup.mutable_wait()->set_unmet_value(0);
  auto plan = plan_of({job("a"), job("b", {"a"}), on_error, cleanup});

  SECTION("a fails") {
    const auto s = h.start(plan);
    h.end_unit("a", 7);
    CHECK(h.state(s, "a", *plan) == "ended");
    CHECK(h.units.at({s, 1}).end_status() == "abnormal");
    CHECK(h.state(s, "b", *plan) == "not-run");
    CHECK(h.dispatched("on-error"));
    CHECK(h.dispatched("cleanup"));
    h.end_unit("on-error");
    h.end_unit("cleanup");
    CHECK(h.info(s).end_status() == "abnormal");
    CHECK(h.notices.back().priority == duet::Priority::kCritical);
  }
  SECTION("a succeeds: the error branch is not run, and cleanup ends as told") {
    const auto s = h.start(plan);
    h.end_unit("a");
    CHECK(h.state(s, "on-error", *plan) == "not-run");
    CHECK(h.state(s, "cleanup", *plan) == "ended");
    CHECK(h.units.at({s, *plan->find("cleanup")}).end_status() == "normal");
    CHECK_FALSE(h.dispatched("cleanup"));
    h.end_unit("b");
    CHECK(h.info(s).end_status() == "normal");
  }
}

TEST_CASE("engine: end judgement ranges, retries with new run ids", "[engine]") {
  Harness h;
  auto a = job("a");
  auto* r = a.add_end();
  r->set_min(0);
  r->set_max(3);
  r->set_status("normal");
  r = a.add_end();
  r->set_min(4);
  r->set_max(9);
  r->set_status("warning");
  auto b = job("b");
  b.mutable_retry()->set_count(2);
  b.mutable_retry()->set_interval_s(30);
  b.mutable_retry()->add_on("abnormal");
  auto plan = plan_of({a, b});
  const auto s = h.start(plan);
  h.end_unit("a", 3);
  CHECK(h.units.at({s, 1}).end_status() == "normal");
  const auto first = h.run_of("b");
  h.end(first, 2);
  CHECK(h.state(s, "b", *plan) == "retry-wait");
  h.advance(29'000);
  CHECK(h.run_of("b") == first);
  h.advance(1'000);
  const auto second = h.run_of("b");
  CHECK(second != first);
  CHECK(h.units.at({s, 2}).attempt() == 2);
  h.end(second, 2);
  h.advance(30'000);
  const auto third = h.run_of("b");
  CHECK(third != second);
  h.end(third, 2);
  CHECK(h.state(s, "b", *plan) == "ended");
  CHECK(h.units.at({s, 2}).attempt() == 3);
  CHECK(h.info(s).end_status() == "abnormal");
}

TEST_CASE("engine: OR groups, end values, times of day, minutes after start", "[engine]") {
  Harness h;
  auto x = job("x");
  auto* w = x.mutable_wait();
  w->set_combine("any");
  auto* g1 = w->add_groups();
  g1->add_conditions()->set_unit("a");
  g1->mutable_conditions(0)->set_end_value(">= 5");
  auto* g2 = w->add_groups();
  g2->add_conditions()->set_unit("b");
  g2->add_conditions()->set_time("09:00");  // 2027-01-15 09:00 UTC = kT0 + 1 h
  auto late = job("late");
  late.mutable_wait()->add_groups()->add_conditions()->set_after_start_s(600);
  auto plan = plan_of({job("a"), job("b"), x, late});
  const auto s = h.start(plan);
  h.end_unit("a", 4);  // abnormal, and below 5: the first group fails
  h.end_unit("b");
  CHECK(h.state(s, "x", *plan) == "waiting");  // the second waits for 09:00
  CHECK(h.engine->next_wakeup() == kT0 + 600'000);
  h.advance(600'000);
  CHECK(h.dispatched("late"));
  CHECK_FALSE(h.dispatched("x"));
  h.advance(2'000'000);
  CHECK_FALSE(h.dispatched("x"));
  CHECK(h.engine->next_wakeup() == kT0 + 3'600'000);
  h.advance(h.engine->next_wakeup().value() - h.now);
  CHECK(h.dispatched("x"));
}

TEST_CASE("engine: params and variables reach commands and conditions", "[engine]") {
  Harness h;
  auto a = job("a");
  a.mutable_command()->set_run("load ${TARGET} ${DAY} ${UNKNOWN} ${node.address}");
  (*a.mutable_command()->mutable_env())["WHERE"] = "${TARGET}";
  auto full = job("full", {"a"});
  full.mutable_wait()->mutable_groups(0)->add_conditions()->set_variable("MODE");
  full.mutable_wait()->mutable_groups(0)->mutable_conditions(1)->set_compare("== full");
  auto quick = job("quick", {"a"});
  quick.mutable_wait()->mutable_groups(0)->add_conditions()->set_variable("MODE");
  quick.mutable_wait()->mutable_groups(0)->mutable_conditions(1)->set_compare("!= full");
  JobNetDef def;
  *def.mutable_root() = net("nightly", {a, full, quick});
  (*def.mutable_root()->mutable_variables())["DAY"] = "d1";
  (*def.mutable_params())["TARGET"] = "test";
  auto plan = *Plan::compile(def, nullptr);
  const auto s = h.start(plan, {{"TARGET", "prod"}});
  REQUIRE(h.sent.size() == 1);
  CHECK(h.sent[0].command == "load prod d1 ${UNKNOWN} 192.0.2.1");
  CHECK(h.sent[0].env.at("WHERE") == "prod");
  CHECK(h.sent[0].env.at("DUET_BUSINESS_DAY") == "2027-01-15");
  h.end(h.run_of("a"), 0, {{"MODE", "full"}});
  CHECK(h.dispatched("full"));
  CHECK(h.state(s, "quick", *plan) == "not-run");
  CHECK(h.info(s).variables().at("MODE") == "full");
}

TEST_CASE("engine: a transfer's paths take variables once, as it is dispatched", "[engine]") {
  Harness h;
  JobUnitDef t;
  t.set_name("ship");
  t.set_kind("transfer");
  auto* spec = t.mutable_transfer();
  spec->set_from_node("db1");
  spec->set_from_path("/exports/${TARGET}-${DUET_BUSINESS_DAY}.csv");
  spec->set_to_node("n1");
  spec->set_to_path("/imports/${TARGET}.csv");
  JobNetDef def;
  *def.mutable_root() = net("nightly", {t});
  (*def.mutable_params())["TARGET"] = "test";
  auto plan = *Plan::compile(def, nullptr);
  const auto s = h.start(plan, {{"TARGET", "sales"}});
  REQUIRE(h.sent.size() == 1);
  CHECK(h.sent[0].run.node() == "n1");  // the receiving agent runs it
  CHECK(h.sent[0].from_path == "/exports/sales-2027-01-15.csv");
  CHECK(h.sent[0].to_path == "/imports/sales.csv");
  // Kept with the run: what a resend and the master's fetch check use.
  const auto& run = h.units.at({s, *plan->find("ship")}).runs(0);
  CHECK(run.from_path() == "/exports/sales-2027-01-15.csv");
  auto found = h.engine->find_run(run.run_id());
  REQUIRE(found);
  CHECK(found->from_path == "/exports/sales-2027-01-15.csv");
  CHECK(found->kind == "transfer");
  CHECK_FALSE(h.engine->find_run("no-such-run"));
}

TEST_CASE("engine: every node of a scope, any one node, and multiplicity", "[engine]") {
  Harness h;
  h.dir.scopes["web"] = {"w1", "w2", "w3"};
  SECTION("all: one run per node, the worst decides") {
    auto a = job("a");
    a.mutable_command()->clear_node();
    a.mutable_command()->set_scope("web");
    a.mutable_command()->set_on("all");
    auto plan = plan_of({a});
    const auto s = h.start(plan);
    REQUIRE(h.sent.size() == 3);
    std::set<std::string> nodes, ids;
    for (auto& d : h.sent) {
      nodes.insert(d.run.node());
      ids.insert(d.run.run_id());
    }
    CHECK(nodes == std::set<std::string>{"w1", "w2", "w3"});
    CHECK(ids.size() == 3);
    h.end(h.sent[0].run.run_id(), 0);
    h.end(h.sent[1].run.run_id(), 1);
    CHECK(h.info(s).state() == "running");
    h.end(h.sent[2].run.run_id(), 0);
    CHECK(h.units.at({s, 1}).end_status() == "warning");
    CHECK(h.units.at({s, 1}).end_value() == 1);
  }
  SECTION("any: one available node, the least busy") {
    h.dir.down = {"w1"};
    auto a = job("a");
    a.mutable_command()->clear_node();
    a.mutable_command()->set_scope("web");
    a.mutable_command()->set_on("any");
    auto b = a;
    b.set_name("b");
    auto plan = plan_of({a, b});
    h.start(plan);
    REQUIRE(h.sent.size() == 2);
    CHECK(h.sent[0].run.node() == "w2");
    CHECK(h.sent[1].run.node() == "w3");
  }
  SECTION("a node's limit and a queue's limit") {
    EngineLimits limits;
    limits.default_node_limit = 2;
    limits.queues["db"] = 1;
    h.engine->set_limits(limits);
    std::vector<JobUnitDef> jobs;
    for (int i = 0; i < 5; ++i) jobs.push_back(job("j" + std::to_string(i)));
    auto q1 = job("q1", {}, "w1");
    q1.set_queue("db");
    auto q2 = job("q2", {}, "w2");
    q2.set_queue("db");
    jobs.push_back(q1);
    jobs.push_back(q2);
    auto plan = plan_of(jobs);
    const auto s = h.start(plan);
    CHECK(h.sent.size() == 3);  // j0, j1 on n1; q1 on w1; q2 waits for the queue
    CHECK(h.engine->running_on("n1") == 2);
    CHECK(h.state(s, "j2", *plan) == "queued");
    CHECK(h.state(s, "q2", *plan) == "queued");
    h.end_unit("j0");
    CHECK(h.dispatched("j2"));
    CHECK_FALSE(h.dispatched("j3"));
    h.end_unit("q1");
    CHECK(h.dispatched("q2"));
    h.end_unit("j1");
    h.end_unit("j2");
    h.end_unit("j3");
    h.end_unit("j4");
    h.end_unit("q2");
    CHECK(h.info(s).end_status() == "normal");
    CHECK(h.engine->running_on("n1") == 0);
  }
}

TEST_CASE("engine: nested nets, 30 levels deep, end with their children", "[engine]") {
  Harness h;
  JobUnitDef inner = job("leaf");
  for (int level = 29; level >= 1; --level) {
    inner = net("n" + std::to_string(level), {inner});
  }
  auto plan = plan_of({inner, job("after", {"n1"})});
  const auto s = h.start(plan);
  REQUIRE(h.sent.size() == 1);
  CHECK(h.sent[0].unit.size() > 80);  // n1/n2/.../n29/leaf
  CHECK(plan->unit(*plan->find(h.sent[0].unit)).depth == 30);
  h.end(h.sent[0].run.run_id(), 1);
  CHECK(h.state(s, "n1", *plan) == "ended");
  CHECK(h.units.at({s, *plan->find("n1")}).end_status() == "warning");
  CHECK(h.dispatched("after"));
}

TEST_CASE("engine: hold, release, skip, suspend, resume", "[engine]") {
  Harness h;
  auto plan = plan_of({job("a"), job("b", {"a"}), job("c", {"b"})});
  const auto s = h.start(plan);
  CHECK_FALSE(h.op(s, "a", "hold").ok());  // already running
  REQUIRE(h.op(s, "b", "hold").ok());
  REQUIRE(h.op(s, "c", "skip").ok());
  h.end_unit("a");
  CHECK(h.state(s, "b", *plan) == "held");
  CHECK_FALSE(h.dispatched("b"));
  REQUIRE(h.op(s, "", "suspend").ok());
  REQUIRE(h.op(s, "b", "release").ok());
  CHECK_FALSE(h.dispatched("b"));  // suspended: nothing new starts
  REQUIRE(h.op(s, "", "resume").ok());
  CHECK(h.dispatched("b"));
  h.end_unit("b");
  CHECK(h.state(s, "c", *plan) == "skipped");
  CHECK_FALSE(h.dispatched("c"));
  CHECK(h.info(s).end_status() == "normal");
  REQUIRE(h.ops.size() == 5);
  CHECK(h.ops[0].op() == "hold");
  CHECK(h.ops[0].unit() == "b");
  CHECK(h.ops[0].by() == "alice");
  CHECK(h.ops[0].at_ms() == kT0);
}

TEST_CASE("engine: stop kills a job, and a whole session", "[engine]") {
  Harness h;
  auto plan = plan_of({job("a"), job("b"), job("c", {"a"})});
  const auto s = h.start(plan);
  REQUIRE(h.op(s, "a", "stop").ok());
  REQUIRE(h.killed.size() == 1);
  CHECK(h.killed[0].run_id == h.run_of("a"));
  CHECK(h.state(s, "a", *plan) == "stopping");
  h.end_unit("a", 143);  // the agent reports the killed process
  CHECK(h.state(s, "a", *plan) == "stopped");
  CHECK(h.units.at({s, 1}).end_value() == kValueStopped);
  CHECK(h.state(s, "c", *plan) == "not-run");
  REQUIRE(h.op(s, "", "stop").ok());
  CHECK(h.killed.size() == 2);
  h.end_unit("b", 143);
  CHECK(h.info(s).state() == "ended");
  CHECK(h.info(s).end_status() == "stopped");
}

TEST_CASE("engine: force-end, and rerun from, after, top and warning", "[engine]") {
  Harness h;
  auto plan = plan_of({job("a"), job("b", {"a"}), job("c", {"b"})});
  const auto s = h.start(plan);
  h.end_unit("a");
  h.end_unit("b", 9);  // abnormal: c is not run, the session ends abnormal
  CHECK(h.info(s).end_status() == "abnormal");
  CHECK_FALSE(h.engine->has(s));
  // A new engine view of the ended session, as the runner restores it to operate.
  std::vector<duet::v1::JobUnitState> states;
  for (auto& [k, v] : h.units) {
    if (k.first == s) states.push_back(v);
  }
  h.engine->restore(h.info(s), plan, states, h.now);
  h.pump();

  SECTION("force-end the failed job normal: its successor runs") {
    REQUIRE(h.op(s, "b", "force-end", "normal", 0).ok());
    CHECK(h.info(s).state() == "running");
    CHECK(h.dispatched("c"));
    h.end_unit("c");
    CHECK(h.info(s).end_status() == "normal");
  }
  SECTION("rerun from the failed job") {
    const auto old = h.run_of("b");
    REQUIRE(h.op(s, "b", "rerun", "", 0, "from").ok());
    CHECK(h.run_of("b") != old);
    h.end_unit("b");
    h.end_unit("c");
    CHECK(h.info(s).end_status() == "normal");
    CHECK(h.ops.back().detail() == "from");
  }
  SECTION("rerun from after it") {
    const auto old = h.run_of("b");
    REQUIRE(h.op(s, "b", "rerun", "", 0, "after").ok());
    CHECK(h.run_of("b") == old);
    CHECK(h.dispatched("c"));
    h.end_unit("c");
    CHECK(h.info(s).end_status() == "normal");
  }
  SECTION("rerun from the top") {
    const auto count = h.sent.size();
    REQUIRE(h.op(s, "", "rerun", "", 0, "top").ok());
    CHECK(h.sent.size() == count + 1);
    CHECK(h.sent.back().unit == "a");
    h.end_unit("a");
    h.end_unit("b");
    h.end_unit("c");
    CHECK(h.info(s).end_status() == "normal");
  }
  SECTION("rerun only the jobs that ended with warning: none here") {
    CHECK_FALSE(h.op(s, "", "rerun", "", 0, "warning").ok());
  }
  // Every run id was started once only.
  std::set<std::string> ids;
  for (auto& d : h.sent) CHECK(ids.insert(d.run.run_id()).second);
}

TEST_CASE("engine: force-end of a running net ends what is open inside", "[engine]") {
  Harness h;
  auto plan = plan_of({net("sub", {job("x"), job("y", {"x"})}), job("z", {"sub"})});
  const auto s = h.start(plan);
  REQUIRE(h.op(s, "sub", "force-end", "warning", 1).ok());
  CHECK(h.killed.size() == 1);
  CHECK(h.state(s, "sub/y", *plan) == "not-run");
  CHECK(h.state(s, "sub", *plan) == "ended");
  CHECK(h.dispatched("z"));
  h.end_unit("sub/x", 0);  // the killed run's late report changes nothing
  CHECK(h.state(s, "sub", *plan) == "ended");
  h.end_unit("z");
  CHECK(h.info(s).end_status() == "warning");
  CHECK(h.engine->running_on("n1") == 0);
}

TEST_CASE("engine: approval jobs wait for an operator", "[engine]") {
  Harness h;
  JobUnitDef ap;
  ap.set_name("approve");
  ap.set_kind("approval");
  auto plan = plan_of({ap, job("go", {"approve"})});
  const auto s = h.start(plan);
  CHECK(h.sent.empty());
  CHECK(h.state(s, "approve", *plan) == "running");
  CHECK_FALSE(h.op(s, "go", "approve").ok());
  SECTION("approved") {
    REQUIRE(h.op(s, "approve", "approve").ok());
    CHECK(h.units.at({s, 1}).approved_by() == "alice");
    CHECK(h.dispatched("go"));
  }
  SECTION("rejected") {
    REQUIRE(h.op(s, "approve", "reject").ok());
    CHECK(h.units.at({s, 1}).end_value() == kValueRejected);
    CHECK(h.state(s, "go", *plan) == "not-run");
    CHECK(h.info(s).end_status() == "abnormal");
  }
}

TEST_CASE("engine: start and end delays notify, hold, skip or stop", "[engine]") {
  Harness h;
  auto late = job("late", {"a"});
  late.mutable_start_delay()->set_after_s(60);
  late.mutable_start_delay()->set_action("hold");
  auto slow = job("slow");
  slow.mutable_end_delay()->set_after_s(120);
  slow.mutable_end_delay()->set_action("stop");
  auto plan = plan_of({job("a"), late, slow});
  const auto s = h.start(plan);
  h.advance(60'000);
  REQUIRE(h.notices.size() == 1);
  CHECK(h.notices[0].unit == "late");
  CHECK(h.notices[0].priority == duet::Priority::kWarning);
  h.end_unit("a");
  CHECK(h.state(s, "late", *plan) == "held");
  h.advance(60'000);
  CHECK(h.notices.size() == 2);
  CHECK(h.killed.size() == 1);
  CHECK(h.killed[0].run_id == h.run_of("slow"));
  h.end_unit("slow", 143);
  CHECK(h.state(s, "slow", *plan) == "stopped");
}

TEST_CASE("engine: a new master restores open sessions; nothing runs twice, nothing is lost",
          "[engine]") {
  Harness h;
  EngineLimits limits;
  limits.default_node_limit = 3;
  h.engine->set_limits(limits);
  std::vector<JobUnitDef> jobs;
  for (int i = 0; i < 10; ++i) jobs.push_back(job("j" + std::to_string(i)));
  auto timed = job("timed", {"j0"});
  timed.mutable_wait()->mutable_groups(0)->add_conditions()->set_time("08:05");
  jobs.push_back(timed);
  auto plan = plan_of(jobs);
  const auto s = h.start(plan);
  REQUIRE(h.sent.size() == 3);
  h.engine->report(RunReport{h.run_of("j1"), true, h.now, 0, "", "", "", {}}, h.now);
  h.pump();
  h.end_unit("j0");  // j3 is dispatched
  CHECK(h.sent.size() == 4);
  // The master dies. Its successor (epoch 2) loads what was committed.
  h.engine = std::make_unique<Engine>(h.dir, 2);
  h.engine->set_limits(limits);
  std::vector<duet::v1::JobUnitState> states;
  for (auto& [k, v] : h.units) {
    if (k.first == s) states.push_back(v);
  }
  h.now += 10 * 60'000;  // 08:10: the 08:05 condition fell due meanwhile
  const auto before = h.sent.size();
  h.engine->restore(h.info(s), plan, states, h.now);
  h.pump();
  CHECK(h.sent.size() == before);  // the same run ids again: the agents ignore them
  CHECK(h.engine->running_on("n1") == 3);
  CHECK(h.state(s, "timed", *plan) == "queued");  // due, waiting for room on n1
  // Every open run ends once; what was queued runs, with run ids of the new epoch.
  for (int round = 0; round < 20 && h.info(s).state() != "ended"; ++round) {
    std::vector<std::string> open;
    for (auto& d : h.sent) {
      auto idx = plan->find(d.unit);
      if (h.units.at({s, *idx}).state() == "running") open.push_back(d.run.run_id());
    }
    for (auto& id : open) h.end(id, 0);
  }
  CHECK(h.info(s).state() == "ended");
  CHECK(h.info(s).end_status() == "normal");
  CHECK(h.sent.size() == 11);
  CHECK(h.sent.back().run.epoch() == 2);
}

TEST_CASE("engine: runs an agent lost (a rebuilt host) end -1; those not started go again",
          "[engine]") {
  Harness h;
  auto plan = plan_of({job("a"), job("b"), job("next", {"a"})});
  const auto s = h.start(plan);
  REQUIRE(h.sent.size() == 2);
  // a started on n1; b was sent but its start never reported.
  h.engine->report(RunReport{h.run_of("a"), true, h.now, 0, "", "", "", {}}, h.now);
  h.pump();
  h.engine->runs_lost("n2", "lost", h.now);  // another node: nothing
  h.pump();
  CHECK(h.state(s, "a", *plan) == "running");
  h.engine->runs_lost("n1", "the agent came back with a new outbox", h.now);
  h.pump();
  CHECK(h.state(s, "a", *plan) == "ended");
  CHECK(h.units.at({s, *plan->find("a")}).end_value() == duet::jobs::kValueFailedToStart);
  CHECK(h.units.at({s, *plan->find("a")}).runs(0).error() ==
        "the agent came back with a new outbox");
  CHECK_FALSE(h.dispatched("next"));           // a ended abnormal
  CHECK(h.state(s, "b", *plan) == "running");  // not started yet: the agent is sent it again
  auto again = h.engine->undelivered("n1");
  REQUIRE(again.dispatch.size() == 1);
  CHECK(again.dispatch[0].run.run_id() == h.run_of("b"));
}

TEST_CASE("engine: a net of 10,000 jobs in one level runs them all", "[engine]") {
  Harness h;
  EngineLimits limits;
  limits.default_node_limit = 100;
  h.engine->set_limits(limits);
  std::vector<JobUnitDef> jobs;
  for (int i = 0; i < 10'000; ++i)
    jobs.push_back(job("j" + std::to_string(i), {}, "n" + std::to_string(i % 10)));
  auto plan = plan_of(jobs);
  const auto s = h.start(plan);
  CHECK(h.sent.size() == 1000);
  std::size_t done = 0;
  while (done < h.sent.size()) h.end(h.sent[done++].run.run_id(), 0);
  CHECK(done == 10'000);
  CHECK(h.info(s).end_status() == "normal");
}
