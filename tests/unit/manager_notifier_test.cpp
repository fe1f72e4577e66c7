// The notification outbox (manager/notifier.h) over a real SQLite store, with
// a manual clock, a commit whose replication the test decides, and a fake
// channel that records what it was asked to send.

#include <catch2/catch.hpp>
#include <deque>

#include "common/errors.h"
#include "manager/notifier.h"
#include "tests/support/held_commit.h"
#include "tests/support/store_fixtures.h"

using duet::ManualClock;
using duet::Priority;
using duet::manager::Notifier;
namespace v1 = duet::v1;

namespace {

struct Fixture {
  ManualClock clock;
  duet::testing::SqliteLocation where;
  std::unique_ptr<duet::store::JournaledStore> store;
  std::unique_ptr<duet::testing::HeldCommit> held;       // replication decided by the test
  std::vector<v1::NotifyIntent> delivered;               // every send asked for
  std::map<std::string, duet::notify::Delivery> answer;  // by channel; default ok
  std::unique_ptr<Notifier> notifier;

  Fixture() {
    auto opened = duet::testing::open_at(where, duet::store::manager_schema(), clock);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    REQUIRE(store->advance_epoch(4).ok());
    held = std::make_unique<duet::testing::HeldCommit>(*store);
    channel("hook", "webhook", {{"url", "http://127.0.0.1:1/x"}});
    channel("bad", "webhook", {{"url", "http://127.0.0.1:1/y"}});
    v1::NotificationDef n;
    n.set_name("web");
    n.set_enabled(true);
    n.add_monitors("web-http");
    n.add_priorities("critical");
    n.add_channels("hook");
    define(n);
  }

  void channel(const std::string& name, const std::string& kind,
               std::map<std::string, std::string> params,
               std::optional<v1::Calendar> calendar = std::nullopt) {
    v1::ChannelDef c;
    c.set_name(name);
    c.set_kind(kind);
    for (auto& [k, v] : params) (*c.mutable_params())[k] = v;
    c.mutable_retry()->set_attempts(3);
    c.mutable_retry()->set_backoff_ms(100);
    if (calendar) *c.mutable_calendar() = *calendar;
    duet::store::WriteBatch b;
    b.put("notify_channels",
          duet::store::Row{{"name", name},
                           {"definition", duet::store::Blob{c.SerializeAsString()}},
                           {"updated_at_ms", std::int64_t{1}}});
    REQUIRE(store->commit(b).ok());
  }

  void define(const v1::NotificationDef& n) {
    duet::store::WriteBatch b;
    b.put("notifications",
          duet::store::Row{{"name", n.name()},
                           {"definition", duet::store::Blob{n.SerializeAsString()}},
                           {"updated_at_ms", std::int64_t{1}}});
    REQUIRE(store->commit(b).ok());
  }

  std::int64_t keep_ms = 7LL * 24 * 3600'000;

  void make_notifier() {
    Notifier::Hooks hooks;
    hooks.store = [this]() -> duet::store::Store* { return store.get(); };
    hooks.epoch = [this] { return store->current_epoch(); };
    hooks.commit = held->hook();
    hooks.make_deliver = [this]() -> Notifier::Deliver {
      return [this](const v1::ChannelDef& c, const v1::NotifyIntent& i) {
        delivered.push_back(i);
        auto it = answer.find(c.name());
        return it == answer.end() ? duet::notify::Delivery{true, false, ""} : it->second;
      };
    };
    Notifier::Options options;
    options.workers = 0;  // delivered inline, on the test's thread
    options.sender = "a";
    options.keep_ms = keep_ms;
    notifier = std::make_unique<Notifier>(boost::asio::any_io_executor(), clock, options,
                                          std::move(hooks));
    notifier->start_acting();
  }

  void replicate() { held->replicate(); }

  // One result of web-http on web01, committed like AgentHub does.
  Notifier::Changes result(Priority p, const std::string& message = "down") {
    duet::notify::Occurrence o;
    o.node = "web01";
    o.monitor = "web-http";
    o.scopes = {"web"};
    o.priority = p;
    o.message = message;
    o.at_ms = duet::to_unix_ms(clock.wall_now());
    duet::store::WriteBatch batch;
    Notifier::Changes changes;
    notifier->evaluate_into(o, batch, changes);
    if (batch.empty()) return changes;
    hooks_commit(batch, changes);
    return changes;
  }

  void hooks_commit(const duet::store::WriteBatch& batch, Notifier::Changes changes) {
    (*held)(batch,
            [this, changes](auto r) mutable { notifier->committed(std::move(changes), r.ok()); });
  }

  std::map<std::string, std::string> states() {
    std::map<std::string, std::string> out;
    REQUIRE(store
                ->scan("notify_outbox",
                       [&](const duet::store::Row& row) {
                         v1::NotifyIntent i;
                         for (const auto& f : row) {
                           if (f.name == "intent") {
                             i.ParseFromString(std::get<duet::store::Blob>(f.value).bytes);
                           }
                         }
                         out[i.key()] = i.state();
                         return true;
                       })
                .ok());
    return out;
  }
};

}  // namespace

TEST_CASE("notifier: an intent is sent once it is replicated, and marked sent", "[notifier]") {
  Fixture f;
  f.make_notifier();
  auto changes = f.result(Priority::kCritical);
  REQUIRE(changes.intents.size() == 1);
  const auto key = changes.intents[0].key();
  CHECK(key == "duet-4-1");
  CHECK(f.states() == std::map<std::string, std::string>{{key, "pending"}});
  CHECK(f.delivered.empty());  // committed, not yet replicated
  f.replicate();
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].vars().at("node") == "web01");
  CHECK(f.delivered[0].vars().at("priority") == "critical");
  f.clock.advance(std::chrono::milliseconds(10));  // the outcome's batch
  f.replicate();
  CHECK(f.states() == std::map<std::string, std::string>{{key, "sent"}});
  // Same priority again: repeat always (the default) notifies again; a warning does not.
  f.result(Priority::kCritical);
  f.result(Priority::kWarning);
  f.replicate();
  CHECK(f.delivered.size() == 2);
}

TEST_CASE("notifier: a failed commit rolls the suppression state back", "[notifier]") {
  Fixture f;
  v1::NotificationDef n;
  n.set_name("once");
  n.set_enabled(true);
  n.add_monitors("web-http");
  n.add_channels("hook");
  n.set_repeat("never");
  f.define(n);
  f.make_notifier();
  f.held->fail = true;
  auto lost = f.result(Priority::kCritical);
  CHECK(lost.intents.size() == 2);  // web and once
  f.held->fail = false;
  // The result comes again (its agent resends it): it notifies, as if the first never happened.
  auto again = f.result(Priority::kCritical);
  CHECK(again.intents.size() == 2);
  f.replicate();
  CHECK(f.delivered.size() == 2);
  // "once" never repeats now that it is committed.
  auto third = f.result(Priority::kCritical);
  CHECK(third.intents.size() == 1);
}

TEST_CASE("notifier: retries with backoff, then fails; a permanent error fails at once",
          "[notifier]") {
  Fixture f;
  f.make_notifier();
  f.answer["hook"] = duet::notify::Delivery{false, false, "HTTP status 503"};
  auto c = f.result(Priority::kCritical);
  f.replicate();
  CHECK(f.delivered.size() == 1);
  f.clock.advance(std::chrono::milliseconds(99));
  CHECK(f.delivered.size() == 1);
  f.clock.advance(std::chrono::milliseconds(1));  // backoff 100 ms
  CHECK(f.delivered.size() == 2);
  f.clock.advance(std::chrono::milliseconds(200));  // then 200 ms: the 3rd and last attempt
  CHECK(f.delivered.size() == 3);
  f.clock.advance(std::chrono::seconds(10));
  f.replicate();
  CHECK(f.delivered.size() == 3);
  CHECK(f.states().at(c.intents[0].key()) == "failed");
  CHECK(f.notifier->stats().failed == 1);
  CHECK(f.notifier->stats().retried == 2);

  f.answer["hook"] = duet::notify::Delivery{false, true, "HTTP status 404"};
  auto d = f.result(Priority::kCritical);
  f.replicate();
  f.clock.advance(std::chrono::seconds(10));
  f.replicate();
  CHECK(f.delivered.size() == 4);
  CHECK(f.states().at(d.intents[0].key()) == "failed");
}

TEST_CASE("notifier: a new master sends only the unsent intents, with their keys", "[notifier]") {
  Fixture f;
  v1::NotificationDef n;
  n.set_name("both");
  n.set_enabled(true);
  n.add_monitors("web-http");
  n.add_channels("hook");
  n.add_channels("bad");
  f.define(n);
  f.make_notifier();
  f.answer["bad"] = duet::notify::Delivery{false, false, "connection refused"};
  auto c = f.result(Priority::kCritical);  // web->hook, both->hook, both->bad
  REQUIRE(c.intents.size() == 3);
  f.replicate();
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  CHECK(f.delivered.size() == 3);
  std::string bad_key;
  for (const auto& i : c.intents) {
    if (i.channel() == "bad") bad_key = i.key();
  }
  // The master dies before "bad" succeeds; another takes over (a new epoch).
  f.notifier->stop_acting();
  f.notifier.reset();
  REQUIRE(f.store->advance_epoch(5).ok());
  f.delivered.clear();
  f.answer.erase("bad");
  f.make_notifier();
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].key() == bad_key);
  CHECK(f.notifier->stats().resent == 1);
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  for (const auto& [key, state] : f.states()) CHECK(state == "sent");
  // New intents of the new master carry its epoch.
  auto d = f.result(Priority::kCritical);
  CHECK(d.intents[0].key().rfind("duet-5-", 0) == 0);
  CHECK(d.intents[0].id() > c.intents.back().id());
}

TEST_CASE("notifier: a closed calendar mutes; a missing channel fails", "[notifier]") {
  Fixture f;
  v1::Calendar closed;
  closed.set_zone("UTC");
  closed.add_days("sun");
  // Wednesday 2026-11-18 12:00 UTC: closed.
  f.clock.set_wall(duet::from_unix_ms(1'795'003'200'000));
  f.channel("quiet", "webhook", {{"url", "http://127.0.0.1:1/q"}}, closed);
  v1::NotificationDef n;
  n.set_name("q");
  n.set_enabled(true);
  n.add_monitors("web-http");
  n.add_channels("quiet");
  n.add_channels("gone");
  f.define(n);
  f.make_notifier();
  auto c = f.result(Priority::kCritical);
  f.replicate();
  std::map<std::string, std::string> by_channel;
  for (const auto& i : c.intents) by_channel[i.channel()] = i.state();
  CHECK(by_channel["quiet"] == "muted");
  CHECK(by_channel["gone"] == "failed");
  CHECK(by_channel["hook"] == "pending");  // the fixture's "web"
  CHECK(f.delivered.size() == 1);
}

TEST_CASE("notifier: final intents past the keep span are deleted; the newest stays",
          "[notifier]") {
  Fixture f;
  f.keep_ms = 3600'000;  // an hour
  f.make_notifier();
  f.answer["hook"] = duet::notify::Delivery{false, false, "down"};
  for (int i = 0; i < 3; ++i) f.result(Priority::kCritical);  // each fails 3 times: failed
  f.replicate();
  f.clock.advance(std::chrono::seconds(5));
  f.replicate();
  f.answer.erase("hook");
  f.result(Priority::kCritical);  // sent
  f.replicate();
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  f.answer["hook"] = duet::notify::Delivery{false, false, "down"};
  auto last = f.result(Priority::kCritical);  // its first attempt fails: pending, retrying
  f.replicate();
  REQUIRE(f.states().size() == 5);
  CHECK(f.states().at(last.intents[0].key()) == "pending");
  // The master goes; two hours later another takes over and sends the pending one.
  f.notifier->stop_acting();
  f.answer.erase("hook");
  f.clock.advance(std::chrono::hours(2));
  f.make_notifier();
  f.replicate();
  f.clock.advance(std::chrono::milliseconds(10));
  f.replicate();
  f.clock.advance(std::chrono::seconds(61));  // its first maintenance round
  f.replicate();
  // Every intent is two hours old and final; the newest row stays, so that a
  // later master numbers its intents on from it.
  auto left = f.states();
  CHECK(left == std::map<std::string, std::string>{{last.intents[0].key(), "sent"}});
}
