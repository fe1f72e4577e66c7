#include "manager/notify_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <memory>

#include "common/caller_policy.h"
#include "duet/v1/monitoring.pb.h"
#include "manager/strand_call.h"
#include "monitors/check.h"
#include "notify/board.h"
#include "notify/definitions.h"
#include "repository/store_rows.h"

namespace duet::manager {
namespace {

constexpr std::size_t kMaxIntentsScanned = 100'000;  // ListIntents counts over these at most
constexpr std::size_t kUnconfirmedWindow = 10'000;   // Board: the newest events looked at

using store::int_of;
using store::text_of;

void set_field(store::Row& row, const char* name, store::Value v) {
  for (auto& f : row) {
    if (f.name == name) {
      f.value = std::move(v);
      return;
    }
  }
  row.push_back(store::Field{name, std::move(v)});
}

template <typename Def>
std::map<std::string, Def> load_defs(store::Store& s, const char* table) {
  std::map<std::string, Def> out;
  (void)s.scan(table, [&](const store::Row& row) {
    Def d;
    if (d.ParseFromString(text_of(row, "definition"))) out[d.name()] = std::move(d);
    return true;
  });
  return out;
}

std::string who(const grpc::CallbackServerContext* context, const std::string& fallback) {
  auto names = caller_names(*context);
  return names.empty() ? fallback : names.front();
}

grpc::Status invalid(const std::string& what) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, what);
}

// Plans one kind of definitions; adds the ObjectChanges and the rows.
template <typename Def>
void plan(const char* kind, const char* table, const std::vector<Def>& want,
          const std::map<std::string, Def>& have, bool prune, const std::string& by,
          std::int64_t now_ms, duet::v1::ChangeResponse* resp, store::WriteBatch& batch) {
  std::set<std::string> named;
  for (auto d : want) {
    named.insert(d.name());
    auto* ch = resp->add_changes();
    ch->set_kind(kind);
    ch->set_name(d.name());
    auto it = have.find(d.name());
    if (it == have.end()) {
      ch->set_action("created");
    } else {
      auto fields = notify::changed_fields(d, it->second);
      if (fields.empty()) {
        ch->set_action("unchanged");
        continue;
      }
      ch->set_action("updated");
      for (auto& f : fields) ch->add_fields(std::move(f));
    }
    d.set_updated_at_ms(now_ms);
    d.set_updated_by(by);
    batch.put(table, store::Row{{"name", d.name()},
                                {"definition", store::Blob{d.SerializeAsString()}},
                                {"updated_at_ms", now_ms}});
  }
  if (!prune) return;
  for (const auto& [name, d] : have) {
    if (named.count(name) != 0) continue;
    auto* ch = resp->add_changes();
    ch->set_kind(kind);
    ch->set_name(name);
    ch->set_action("removed");
    batch.erase(table, name);
  }
}

}  // namespace

NotifyService::NotifyService(boost::asio::any_io_executor strand, std::string node_name,
                             const Clock& clock, Hooks hooks)
    : strand_(std::move(strand)),
      node_name_(std::move(node_name)),
      clock_(clock),
      hooks_(std::move(hooks)),
      call_{strand_, hooks_.store, hooks_.may_act, hooks_.not_master} {}

grpc::ServerUnaryReactor* NotifyService::on_strand(
    grpc::CallbackServerContext* context, bool write,
    std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn) {
  return manager::on_strand(call_, context, write, std::move(fn));
}

grpc::ServerUnaryReactor* NotifyService::Apply(grpc::CallbackServerContext* context,
                                               const duet::v1::ApplyNotifyRequest* request,
                                               duet::v1::ChangeResponse* response) {
  const std::string by = who(context, node_name_);
  return on_strand(
      context, !request->dry_run(), [this, request, response, by](store::Store& s, auto finish) {
        response->set_node(node_name_);
        response->set_dry_run(request->dry_run());
        auto channels = load_defs<duet::v1::ChannelDef>(s, "notify_channels");
        std::set<std::string> known;
        // With prune, only the file's channels remain: a notification must name one of them.
        if (!request->prune()) {
          for (const auto& [name, d] : channels) known.insert(name);
        }
        auto file = notify::parse_notify_file(request->yaml(), known);
        if (!file.problems.empty()) {
          finish(invalid(format_file_problems(request->file(), file.problems)));
          return;
        }
        // The channels there will be; without prune, the stored notifications
        // the file does not name stay, and must still name one of them.
        std::set<std::string> after;
        for (const auto& c : file.channels) after.insert(c.name());
        if (!request->prune()) {
          for (const auto& [name, d] : channels) after.insert(name);
        }
        const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
        store::WriteBatch batch;
        plan("channel", "notify_channels", file.channels, channels, request->prune(), by, now_ms,
             response, batch);
        auto stored_notifications = load_defs<duet::v1::NotificationDef>(s, "notifications");
        plan("notification", "notifications", file.notifications, stored_notifications,
             request->prune(), by, now_ms, response, batch);
        if (!request->prune()) {
          std::set<std::string> in_file;
          for (const auto& n : file.notifications) in_file.insert(n.name());
          for (const auto& [name, n] : stored_notifications) {
            if (in_file.count(name) != 0) continue;
            for (const auto& c : n.channels()) {
              if (after.count(c) == 0) {
                finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "notification '" + name + "' names channel '" + c +
                                        "', which would not exist"));
                return;
              }
            }
          }
        }
        commit_definitions(
            hooks_.commit, batch, request->dry_run(), response, "notify",
            [this] {
              if (Notifier* n = hooks_.notifier ? hooks_.notifier() : nullptr) n->reload();
            },
            std::move(finish));
      });
}

grpc::ServerUnaryReactor* NotifyService::Definitions(grpc::CallbackServerContext* context,
                                                     const duet::v1::NotifyDefsRequest*,
                                                     duet::v1::NotifyDefsResponse* response) {
  return on_strand(context, false, [this, response](store::Store& s, auto finish) {
    response->set_node(node_name_);
    std::vector<duet::v1::ChannelDef> channels;
    std::vector<duet::v1::NotificationDef> notifications;
    for (auto& [name, d] : load_defs<duet::v1::ChannelDef>(s, "notify_channels")) {
      channels.push_back(d);
      *response->add_channels() = std::move(d);
    }
    for (auto& [name, d] : load_defs<duet::v1::NotificationDef>(s, "notifications")) {
      notifications.push_back(d);
      *response->add_notifications() = std::move(d);
    }
    response->set_yaml(notify::notify_section(std::move(channels), std::move(notifications)));
    finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* NotifyService::ListIntents(grpc::CallbackServerContext* context,
                                                     const duet::v1::ListIntentsRequest* request,
                                                     duet::v1::ListIntentsResponse* response) {
  return on_strand(context, false, [this, request, response](store::Store& s, auto finish) {
    response->set_node(node_name_);
    const std::size_t limit = request->limit() == 0 ? 100 : request->limit();
    std::size_t scanned = 0;
    auto& by_state = *response->mutable_by_state();
    auto st = s.scan_newest_first("notify_outbox", [&](const store::Row& row) {
      const std::string state = text_of(row, "state");
      by_state[state] += 1;
      if (static_cast<std::size_t>(response->intents_size()) < limit &&
          (request->state().empty() || request->state() == state)) {
        duet::v1::NotifyIntent intent;
        if (intent.ParseFromString(text_of(row, "intent")) &&
            (request->notification().empty() || request->notification() == intent.notification()) &&
            (request->event_id() == 0 || request->event_id() == intent.event_id())) {
          *response->add_intents() = std::move(intent);
        }
      }
      return ++scanned < kMaxIntentsScanned;
    });
    finish(st.ok() ? grpc::Status::OK
                   : grpc::Status(grpc::StatusCode::INTERNAL, st.error().to_string()));
  });
}

grpc::ServerUnaryReactor* NotifyService::Test(grpc::CallbackServerContext* context,
                                              const duet::v1::TestNotifyRequest* request,
                                              duet::v1::TestNotifyResponse* response) {
  return on_strand(context, true, [this, request, response](store::Store&, auto finish) {
    response->set_node(node_name_);
    Notifier* n = hooks_.notifier ? hooks_.notifier() : nullptr;
    if (n == nullptr) {
      finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "notifications not started"));
      return;
    }
    n->test(request->channel(), request->message(),
            [response, finish](Result<std::vector<duet::v1::NotifyIntent>> r) {
              if (!r.ok()) {
                finish(grpc::Status(grpc::StatusCode::NOT_FOUND, r.error().message));
                return;
              }
              for (auto& i : *r) *response->add_intents() = std::move(i);
              finish(grpc::Status::OK);
            });
  });
}

grpc::ServerUnaryReactor* NotifyService::ConfirmEvents(
    grpc::CallbackServerContext* context, const duet::v1::ConfirmEventsRequest* request,
    duet::v1::ConfirmEventsResponse* response) {
  const std::string caller = who(context, "");
  return on_strand(context, true, [this, request, response, caller](store::Store& s, auto finish) {
    response->set_node(node_name_);
    const std::string state = request->state().empty() ? "confirmed" : request->state();
    if (state != "unconfirmed" && state != "confirming" && state != "confirmed") {
      finish(invalid("state: '" + state + "' is not unconfirmed, confirming or confirmed"));
      return;
    }
    if (request->ids().empty()) {
      finish(invalid("name at least one event id"));
      return;
    }
    const std::string by = !request->by().empty() ? request->by()
                           : !caller.empty()      ? caller
                                                  : std::string("operator");
    const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
    store::WriteBatch batch;
    std::uint32_t changed = 0;
    for (const auto id : request->ids()) {
      auto row = s.get("events", static_cast<std::int64_t>(id));
      if (!row.ok()) {
        finish(grpc::Status(grpc::StatusCode::INTERNAL, row.error().to_string()));
        return;
      }
      if (!*row) {
        finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no event " + std::to_string(id)));
        return;
      }
      store::Row r = std::move(**row);
      const std::string before = text_of(r, "confirm_state");
      if ((before.empty() ? "unconfirmed" : before) == state && request->comment().empty()) {
        continue;
      }
      set_field(r, "confirm_state", state);
      set_field(r, "confirmed_by", by);
      set_field(r, "confirmed_at_ms", now_ms);
      set_field(r, "confirm_comment", request->comment());
      batch.put("events", std::move(r));
      ++changed;
    }
    response->set_changed(changed);
    if (batch.empty()) {
      finish(grpc::Status::OK);
      return;
    }
    hooks_.commit(batch, [response, finish, by, state, changed](Result<ha::Runner::Committed> r) {
      if (!r.ok()) {
        finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "commit failed, nothing changed: " + r.error().to_string()));
        return;
      }
      spdlog::info("events: {} set {} event(s) {}", by, changed, state);
      response->set_lsn(r->lsn);
      response->set_replicated(r->replicated);
      finish(grpc::Status::OK);
    });
  });
}

grpc::ServerUnaryReactor* NotifyService::Board(grpc::CallbackServerContext* context,
                                               const duet::v1::BoardRequest* request,
                                               duet::v1::BoardResponse* response) {
  return on_strand(context, false, [this, request, response](store::Store& s, auto finish) {
    auto state = repository::load_state(s);
    if (!state.ok()) {
      finish(grpc::Status(grpc::StatusCode::INTERNAL, state.error().to_string()));
      return;
    }
    if (!request->scope().empty() && state->scopes.count(request->scope()) == 0) {
      finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no scope '" + request->scope() + "'"));
      return;
    }
    std::map<std::string, std::int64_t> valid_ms;  // by monitor
    (void)s.scan("monitors", [&](const store::Row& row) {
      duet::v1::MonitorDef d;
      if (!d.ParseFromString(text_of(row, "definition"))) return true;
      const std::int64_t interval = d.interval_s() == 0 ? 60 : d.interval_s();
      valid_ms[d.name()] = monitors::event_per_result(d.kind())
                               ? 0
                               : std::max<std::int64_t>(3 * interval, 60) * 1000;
      return true;
    });
    std::vector<notify::StatusRow> rows;
    (void)s.scan("monitor_status", [&](const store::Row& row) {
      notify::StatusRow r;
      r.node = text_of(row, "node");
      r.monitor = text_of(row, "monitor");
      r.priority = text_of(row, "priority");
      r.message = text_of(row, "message");
      r.since_ms = int_of(row, "since_ms");
      r.last_at_ms = int_of(row, "last_at_ms");
      auto it = valid_ms.find(r.monitor);
      if (it == valid_ms.end()) return true;  // a removed monitor's last status
      r.valid_ms = it->second;
      rows.push_back(std::move(r));
      return true;
    });
    std::map<std::string, std::vector<std::string>> scopes;
    for (const auto& [name, sc] : state->scopes) scopes[name] = state->nodes_within(name);
    std::vector<std::string> nodes;
    for (const auto& [name, n] : state->nodes) nodes.push_back(name);
    *response =
        notify::make_board(rows, scopes, nodes, to_unix_ms(clock_.wall_now()), request->scope());
    response->set_node(node_name_);
    std::uint64_t unconfirmed = 0;
    std::size_t seen = 0;
    (void)s.scan_newest_first("events", [&](const store::Row& row) {
      const std::string cs = text_of(row, "confirm_state");
      if ((cs.empty() || cs == "unconfirmed") && text_of(row, "priority") != "info") ++unconfirmed;
      return ++seen < kUnconfirmedWindow;
    });
    response->set_unconfirmed_events(unconfirmed);
    finish(grpc::Status::OK);
  });
}

}  // namespace duet::manager
