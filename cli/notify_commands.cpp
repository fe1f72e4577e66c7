#include "cli/notify_commands.h"

#include <map>
#include <nlohmann/json.hpp>

#include "cli/events_commands.h"
#include "cli/output.h"
#include "duet/v1/events.grpc.pb.h"
#include "duet/v1/notify.grpc.pb.h"

namespace duet::cli {
namespace {

using json = nlohmann::ordered_json;

json intent_json(const duet::v1::NotifyIntent& i) {
  std::map<std::string, std::string> vars(i.vars().begin(), i.vars().end());
  json j{{"id", i.id()},
         {"key", i.key()},
         {"created_at", iso_time(i.created_at_ms())},
         {"notification", i.notification()},
         {"channel", i.channel()},
         {"state", i.state()},
         {"attempts", i.attempts()},
         {"event_id", i.event_id()},
         {"epoch", i.epoch()}};
  if (i.sent_at_ms() != 0) j["sent_at"] = iso_time(i.sent_at_ms());
  if (!i.sent_by().empty()) j["sent_by"] = i.sent_by();
  if (!i.error().empty()) j["error"] = i.error();
  j["vars"] = vars;
  return j;
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

void print_intents(const google::protobuf::RepeatedPtrField<duet::v1::NotifyIntent>& intents,
                   std::ostream& out) {
  std::vector<std::vector<std::string>> rows{
      {"ID", "CREATED", "NOTIFICATION", "CHANNEL", "STATE", "TRIES", "EVENT", "ERROR"}};
  for (const auto& i : intents) {
    rows.push_back({std::to_string(i.id()), iso_time(i.created_at_ms()), i.notification(),
                    i.channel(), i.state(), std::to_string(i.attempts()),
                    i.event_id() == 0 ? "-" : std::to_string(i.event_id()),
                    i.error().empty() ? "-" : i.error()});
  }
  print_table(rows, out);
}

}  // namespace

NotifyCommands::NotifyCommands(CLI::App& app, CLI::App& events) {
  auto* notify = app.add_subcommand("notify", "notification channels, definitions and the outbox");
  notify->require_subcommand(1);
  list_ = notify->add_subcommand("list", "every channel and notification");
  show_ = notify->add_subcommand("show", "one channel or notification, and its latest intents");
  show_->add_option("name", name_, "channel or notification")->required();
  test_ = notify->add_subcommand(
      "test", "send a test through a channel (or every channel of a notification)");
  test_->add_option("name", name_, "channel or notification")->required();
  test_->add_option("--message", message_, "the test's message");
  outbox_ = notify->add_subcommand("outbox", "the newest intents: pending, sent, failed, muted");
  outbox_->add_option("--state", state_, "only this state")
      ->check(CLI::IsMember({"pending", "sent", "failed", "muted"}));
  outbox_->add_option("--notification", notification_, "only this notification");
  outbox_->add_option("--event", event_id_, "only intents about this event");
  outbox_->add_option("--limit", limit_, "at most N")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();

  event_show_ = events.add_subcommand("show", "one event, its confirmation and its notifications");
  event_show_->add_option("id", event_id_, "event id")->required();
  confirm_ =
      events.add_subcommand("confirm", "confirm events (or set them confirming/unconfirmed)");
  confirm_->add_option("ids", ids_, "event ids")->required();
  confirm_->add_option("--state", state_, "confirmed (default), confirming, unconfirmed")
      ->check(CLI::IsMember({"confirmed", "confirming", "unconfirmed"}));
  confirm_->add_option("--by", by_, "who (default: your certificate's name)");
  confirm_->add_option("--comment", comment_, "a note kept with the event");

  board_ = app.add_subcommand("board", "the worst priority per scope and node, and each monitor's");
  board_->add_option("--scope", scope_, "only this scope (and below)");
}

std::optional<int> NotifyCommands::run(const ConnectionOptions& options, bool json_out,
                                       std::ostream& out, std::ostream& err) const {
  if (list_->parsed()) return list(options, json_out, out, err);
  if (show_->parsed()) return show(options, json_out, out, err);
  if (test_->parsed()) return test(options, json_out, out, err);
  if (outbox_->parsed()) return outbox(options, json_out, out, err);
  if (event_show_->parsed()) return event_show(options, json_out, out, err);
  if (confirm_->parsed()) return confirm(options, json_out, out, err);
  if (board_->parsed()) return board(options, json_out, out, err);
  return std::nullopt;
}

int NotifyCommands::list(const ConnectionOptions& options, bool json_out, std::ostream& out,
                         std::ostream& err) const {
  duet::v1::NotifyDefsResponse resp;
  int rc = call_service<duet::v1::Notify>(options, "notify list", err, [&](auto& stub, auto& ctx) {
    return stub.Definitions(&ctx, duet::v1::NotifyDefsRequest(), &resp);
  });
  if (rc != 0) return rc;
  if (json_out) {
    json channels = json::array(), notifications = json::array();
    for (const auto& c : resp.channels()) {
      channels.push_back({{"name", c.name()},
                          {"kind", c.kind()},
                          {"calendar", c.has_calendar()},
                          {"description", c.description()},
                          {"updated_at", iso_time(c.updated_at_ms())},
                          {"updated_by", c.updated_by()}});
    }
    for (const auto& n : resp.notifications()) {
      notifications.push_back(
          {{"name", n.name()},
           {"enabled", n.enabled()},
           {"monitors", std::vector<std::string>(n.monitors().begin(), n.monitors().end())},
           {"scopes", std::vector<std::string>(n.scopes().begin(), n.scopes().end())},
           {"priorities", std::vector<std::string>(n.priorities().begin(), n.priorities().end())},
           {"channels", std::vector<std::string>(n.channels().begin(), n.channels().end())},
           {"after", n.after() == 0 ? 1 : n.after()},
           {"repeat", n.repeat().empty() ? "always" : n.repeat()},
           {"period_s", n.period_s()},
           {"updated_at", iso_time(n.updated_at_ms())},
           {"updated_by", n.updated_by()}});
    }
    out << json{{"node", resp.node()}, {"channels", channels}, {"notifications", notifications}}
               .dump(2)
        << "\n";
    return 0;
  }
  if (resp.channels().empty() && resp.notifications().empty()) {
    out << "no channels or notifications (define them with duetctl apply -f FILE)\n";
    return 0;
  }
  std::vector<std::vector<std::string>> channels{{"CHANNEL", "KIND", "CALENDAR", "DESCRIPTION"}};
  for (const auto& c : resp.channels()) {
    channels.push_back({c.name(), c.kind(), c.has_calendar() ? "yes" : "-",
                        c.description().empty() ? "-" : c.description()});
  }
  print_table(channels, out);
  out << "\n";
  std::vector<std::vector<std::string>> rows{
      {"NOTIFICATION", "ENABLED", "MONITORS", "SCOPES", "PRIORITIES", "CHANNELS", "SUPPRESSION"}};
  for (const auto& n : resp.notifications()) {
    std::string supp = "after " + std::to_string(n.after() == 0 ? 1 : n.after()) + ", repeat " +
                       (n.repeat().empty() ? "always" : n.repeat());
    if (n.repeat() == "period") supp += " " + std::to_string(n.period_s()) + "s";
    rows.push_back({n.name(), n.enabled() ? "yes" : "no",
                    n.monitors().empty() ? "*" : join(n.monitors()),
                    n.scopes().empty() ? "*" : join(n.scopes()),
                    n.priorities().empty() ? "*" : join(n.priorities()), join(n.channels()), supp});
  }
  print_table(rows, out);
  return 0;
}

int NotifyCommands::show(const ConnectionOptions& options, bool json_out, std::ostream& out,
                         std::ostream& err) const {
  duet::v1::NotifyDefsResponse defs;
  int rc = call_service<duet::v1::Notify>(options, "notify show", err, [&](auto& stub, auto& ctx) {
    return stub.Definitions(&ctx, duet::v1::NotifyDefsRequest(), &defs);
  });
  if (rc != 0) return rc;
  std::vector<duet::v1::ChannelDef> channels;
  std::vector<duet::v1::NotificationDef> notifications;
  for (const auto& c : defs.channels()) {
    if (c.name() == name_) channels.push_back(c);
  }
  for (const auto& n : defs.notifications()) {
    if (n.name() == name_) notifications.push_back(n);
  }
  if (channels.empty() && notifications.empty()) {
    err << "duetctl: notify show: no channel or notification '" << name_ << "'\n";
    return 3;
  }
  // Its latest intents: a notification's by name; a channel's from the newest ones.
  duet::v1::ListIntentsRequest req;
  req.set_limit(notifications.empty() ? 1000 : 20);
  if (!notifications.empty()) req.set_notification(name_);
  duet::v1::ListIntentsResponse intents;
  rc = call_service<duet::v1::Notify>(options, "notify show", err, [&](auto& stub, auto& ctx) {
    return stub.ListIntents(&ctx, req, &intents);
  });
  if (rc != 0) return rc;
  google::protobuf::RepeatedPtrField<duet::v1::NotifyIntent> mine;
  for (const auto& i : intents.intents()) {
    if ((!notifications.empty() || i.channel() == name_) && mine.size() < 20) *mine.Add() = i;
  }
  // Secrets are read from files on the managers (password_file, file:PATH
  // headers): the definitions hold only their paths, shown as they are.
  if (json_out) {
    json list = json::array();
    for (const auto& i : mine) list.push_back(intent_json(i));
    json j{{"node", defs.node()},
           {"name", name_},
           {"kind", notifications.empty() ? "channel" : "notification"}};
    if (!channels.empty()) {
      const auto& c = channels.front();
      j["channel"] = {
          {"kind", c.kind()},
          {"params", std::map<std::string, std::string>(c.params().begin(), c.params().end())},
          {"headers", std::map<std::string, std::string>(c.headers().begin(), c.headers().end())},
          {"timeout_ms", c.timeout_ms()},
          {"calendar", c.has_calendar()},
          {"updated_at", iso_time(c.updated_at_ms())},
          {"updated_by", c.updated_by()}};
    }
    if (!notifications.empty()) {
      const auto& n = notifications.front();
      j["notification"] = {
          {"enabled", n.enabled()},
          {"monitors", std::vector<std::string>(n.monitors().begin(), n.monitors().end())},
          {"nodes", std::vector<std::string>(n.nodes().begin(), n.nodes().end())},
          {"scopes", std::vector<std::string>(n.scopes().begin(), n.scopes().end())},
          {"priorities", std::vector<std::string>(n.priorities().begin(), n.priorities().end())},
          {"pattern", n.pattern()},
          {"channels", std::vector<std::string>(n.channels().begin(), n.channels().end())},
          {"after", n.after() == 0 ? 1 : n.after()},
          {"repeat", n.repeat().empty() ? "always" : n.repeat()},
          {"period_s", n.period_s()},
          {"by_message", n.by_message()},
          {"updated_at", iso_time(n.updated_at_ms())},
          {"updated_by", n.updated_by()}};
    }
    j["intents"] = list;
    out << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  out << (notifications.empty() ? "channel " : "notification ") << name_ << " (on " << defs.node()
      << ")\n";
  if (!channels.empty()) {
    const auto& c = channels.front();
    out << "  kind: " << c.kind() << "\n";
    for (const auto& [k, v] :
         std::map<std::string, std::string>(c.params().begin(), c.params().end())) {
      out << "  " << k << ": " << v << "\n";
    }
    if (c.has_calendar()) {
      const auto& cal = c.calendar();
      out << "  calendar: " << (cal.zone().empty() ? "UTC" : cal.zone()) << " "
          << (cal.days().empty() ? "every day" : join(cal.days())) << " "
          << (cal.from().empty() ? "00:00" : cal.from()) << "-"
          << (cal.to().empty() ? "24:00" : cal.to()) << "\n";
    }
    out << "  updated: " << iso_time(c.updated_at_ms()) << " by " << c.updated_by() << "\n";
  } else {
    const auto& n = notifications.front();
    out << "  enabled: " << (n.enabled() ? "yes" : "no") << "\n"
        << "  monitors: " << (n.monitors().empty() ? "*" : join(n.monitors())) << "\n"
        << "  nodes: " << (n.nodes().empty() ? "*" : join(n.nodes())) << "\n"
        << "  scopes: " << (n.scopes().empty() ? "*" : join(n.scopes())) << "\n"
        << "  priorities: " << (n.priorities().empty() ? "*" : join(n.priorities())) << "\n";
    if (!n.pattern().empty()) out << "  pattern: " << n.pattern() << "\n";
    out << "  channels: " << join(n.channels()) << "\n"
        << "  suppression: after " << (n.after() == 0 ? 1 : n.after()) << ", repeat "
        << (n.repeat().empty() ? "always" : n.repeat());
    if (n.repeat() == "period") out << " (" << n.period_s() << " s)";
    out << (n.by_message() ? ", by message" : "") << "\n";
    out << "  updated: " << iso_time(n.updated_at_ms()) << " by " << n.updated_by() << "\n";
  }
  out << "\n";
  if (mine.empty()) {
    out << "no intents yet\n";
  } else {
    print_intents(mine, out);
  }
  return 0;
}

int NotifyCommands::test(const ConnectionOptions& options, bool json_out, std::ostream& out,
                         std::ostream& err) const {
  duet::v1::TestNotifyRequest req;
  req.set_channel(name_);
  req.set_message(message_);
  duet::v1::TestNotifyResponse resp;
  int rc = call_service<duet::v1::Notify>(options, "notify test", err, [&](auto& stub, auto& ctx) {
    return stub.Test(&ctx, req, &resp);
  });
  if (rc != 0) return rc;
  if (json_out) {
    json list = json::array();
    for (const auto& i : resp.intents()) list.push_back(intent_json(i));
    out << json{{"node", resp.node()}, {"intents", list}}.dump(2) << "\n";
    return 0;
  }
  for (const auto& i : resp.intents()) {
    out << "intent " << i.id() << " (" << i.key() << ") through " << i.channel()
        << ": committed; see duetctl notify outbox for its outcome\n";
  }
  return 0;
}

int NotifyCommands::outbox(const ConnectionOptions& options, bool json_out, std::ostream& out,
                           std::ostream& err) const {
  duet::v1::ListIntentsRequest req;
  req.set_state(state_);
  req.set_notification(notification_);
  req.set_event_id(event_id_);
  req.set_limit(limit_);
  duet::v1::ListIntentsResponse resp;
  int rc = call_service<duet::v1::Notify>(
      options, "notify outbox", err,
      [&](auto& stub, auto& ctx) { return stub.ListIntents(&ctx, req, &resp); });
  if (rc != 0) return rc;
  std::map<std::string, std::uint64_t> by_state(resp.by_state().begin(), resp.by_state().end());
  if (json_out) {
    json list = json::array();
    for (const auto& i : resp.intents()) list.push_back(intent_json(i));
    out << json{{"node", resp.node()}, {"by_state", by_state}, {"intents", list}}.dump(
               2, ' ', false, json::error_handler_t::replace)
        << "\n";
    return 0;
  }
  if (resp.intents().empty()) {
    out << "no intents\n";
  } else {
    print_intents(resp.intents(), out);
  }
  std::string counts;
  for (const auto& [k, v] : by_state)
    counts += (counts.empty() ? "" : ", ") + std::to_string(v) + " " + k;
  out << resp.node() << ": " << (counts.empty() ? "an empty outbox" : counts) << "\n";
  return 0;
}

int NotifyCommands::event_show(const ConnectionOptions& options, bool json_out, std::ostream& out,
                               std::ostream& err) const {
  duet::v1::ListEventsRequest req;
  req.set_id(event_id_);
  duet::v1::ListEventsResponse resp;
  int rc = call_service<duet::v1::Events>(options, "events show", err, [&](auto& stub, auto& ctx) {
    return stub.ListEvents(&ctx, req, &resp);
  });
  if (rc != 0) return rc;
  if (resp.events().empty()) {
    err << "duetctl: events show: no event " << event_id_ << "\n";
    return 3;
  }
  duet::v1::ListIntentsRequest ireq;
  ireq.set_event_id(event_id_);
  ireq.set_limit(100);
  duet::v1::ListIntentsResponse intents;
  rc = call_service<duet::v1::Notify>(options, "events show", err, [&](auto& stub, auto& ctx) {
    return stub.ListIntents(&ctx, ireq, &intents);
  });
  if (rc != 0) return rc;
  const auto& e = resp.events(0);
  if (json_out) {
    json j = event_json(e, false);
    json list = json::array();
    for (const auto& i : intents.intents()) list.push_back(intent_json(i));
    j["notifications"] = list;
    out << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  out << "event " << e.id() << "  " << e.priority() << "  " << iso_time(e.received_at_ms()) << "\n"
      << "  source: " << e.source() << (e.host().empty() ? "" : " (" + e.host() + ")") << "\n"
      << "  protocol: " << e.protocol() << "\n"
      << "  scope: " << e.scope() << "\n"
      << "  message: " << e.message() << "\n"
      << "  confirm: " << e.confirm_state();
  if (!e.confirmed_by().empty()) {
    out << " by " << e.confirmed_by() << " at " << iso_time(e.confirmed_at_ms());
  }
  out << "\n";
  if (!e.confirm_comment().empty()) out << "  comment: " << e.confirm_comment() << "\n";
  out << "\n";
  if (intents.intents().empty()) {
    out << "no notifications\n";
  } else {
    print_intents(intents.intents(), out);
  }
  return 0;
}

int NotifyCommands::confirm(const ConnectionOptions& options, bool json_out, std::ostream& out,
                            std::ostream& err) const {
  duet::v1::ConfirmEventsRequest req;
  for (auto id : ids_) req.add_ids(id);
  req.set_state(state_);
  req.set_by(by_);
  req.set_comment(comment_);
  duet::v1::ConfirmEventsResponse resp;
  int rc = call_service<duet::v1::Notify>(
      options, "events confirm", err,
      [&](auto& stub, auto& ctx) { return stub.ConfirmEvents(&ctx, req, &resp); });
  if (rc != 0) return rc;
  if (json_out) {
    out << json{{"node", resp.node()},
                {"changed", resp.changed()},
                {"lsn", resp.lsn()},
                {"replicated", resp.replicated()}}
               .dump(2)
        << "\n";
    return 0;
  }
  out << resp.node() << ": " << resp.changed() << " event(s) set "
      << (state_.empty() ? "confirmed" : state_);
  if (resp.changed() != 0) {
    out << " at LSN " << resp.lsn()
        << (resp.replicated() ? ", replicated to the standby" : ", NOT replicated (master alone)");
  }
  out << "\n";
  return 0;
}

int NotifyCommands::board(const ConnectionOptions& options, bool json_out, std::ostream& out,
                          std::ostream& err) const {
  duet::v1::BoardRequest req;
  req.set_scope(scope_);
  duet::v1::BoardResponse resp;
  int rc = call_service<duet::v1::Notify>(
      options, "board", err, [&](auto& stub, auto& ctx) { return stub.Board(&ctx, req, &resp); });
  if (rc != 0) return rc;
  auto row_json = [](const duet::v1::BoardRow& r) {
    json j = json::object();
    if (!r.scope().empty()) j["scope"] = r.scope();
    if (!r.node().empty()) j["node"] = r.node();
    j["worst"] = r.worst();
    j["critical"] = r.critical();
    j["unknown"] = r.unknown();
    j["warning"] = r.warning();
    j["info"] = r.info();
    if (!r.node().empty()) {
      json cells = json::array();
      for (const auto& c : r.cells()) {
        cells.push_back({{"monitor", c.monitor()},
                         {"priority", c.priority()},
                         {"expired", c.expired()},
                         {"since", iso_time(c.since_ms())},
                         {"last_at", iso_time(c.last_at_ms())},
                         {"message", c.message()}});
      }
      j["monitors"] = cells;
    }
    return j;
  };
  if (json_out) {
    json scopes = json::array(), nodes = json::array();
    for (const auto& r : resp.scopes()) scopes.push_back(row_json(r));
    for (const auto& r : resp.nodes()) nodes.push_back(row_json(r));
    out << json{{"node", resp.node()},
                {"unconfirmed_events", resp.unconfirmed_events()},
                {"scopes", scopes},
                {"nodes", nodes}}
               .dump(2, ' ', false, json::error_handler_t::replace)
        << "\n";
    return 0;
  }
  auto counts = [](const duet::v1::BoardRow& r) {
    return std::to_string(r.critical()) + "/" + std::to_string(r.unknown()) + "/" +
           std::to_string(r.warning()) + "/" + std::to_string(r.info());
  };
  std::vector<std::vector<std::string>> rows{{"SCOPE", "WORST", "CRIT/UNKN/WARN/INFO"}};
  for (const auto& r : resp.scopes()) {
    rows.push_back({r.scope(), r.worst().empty() ? "-" : r.worst(), counts(r)});
  }
  if (rows.size() > 1) {
    print_table(rows, out);
    out << "\n";
  }
  std::vector<std::vector<std::string>> nodes{{"NODE", "WORST", "MONITORS"}};
  for (const auto& r : resp.nodes()) {
    std::string cells;
    for (const auto& c : r.cells()) {
      cells += (cells.empty() ? "" : ", ") + c.monitor() + "=" + c.priority() +
               (c.expired() ? " (expired)" : "");
    }
    nodes.push_back({r.node(), r.worst().empty() ? "-" : r.worst(), cells.empty() ? "-" : cells});
  }
  print_table(nodes, out);
  out << resp.node() << ": " << resp.unconfirmed_events()
      << " unconfirmed events above info among the newest 10,000\n";
  return 0;
}

}  // namespace duet::cli
