#include "store/schema.h"

#include <algorithm>
#include <regex>
#include <set>

#include "store/store_error.h"

namespace duet::store {
namespace {

bool valid_identifier(const std::string& s) {
  static const std::regex re("^[a-z][a-z0-9_]{0,62}$");
  // "duet_" is reserved for the store's own tables (meta, journal).
  return std::regex_match(s, re) && s.rfind("duet_", 0) != 0;
}

}  // namespace

const ColumnDef* TableDef::column(const std::string& column_name) const {
  for (const auto& c : columns) {
    if (c.name == column_name) return &c;
  }
  return nullptr;
}

const ColumnDef& TableDef::key_column() const { return *column(key); }

std::size_t TableDef::key_index() const {
  return static_cast<std::size_t>(&key_column() - columns.data());
}

Schema::Schema(std::vector<Migration> migrations) : migrations_(std::move(migrations)) {
  for (const auto& m : migrations_) {
    for (const auto& t : m.create_tables) tables_.push_back(t);
    for (const auto& a : m.add_columns) {
      for (auto& t : tables_) {
        if (t.name == a.table) t.columns.push_back(a.column);
      }
    }
  }
}

Status Schema::validate() const {
  std::set<std::string> names;
  for (std::size_t i = 0; i < migrations_.size(); ++i) {
    const auto& m = migrations_[i];
    if (m.version != i + 1) {
      return make_error(StoreErrc::kInternal, "migration versions must be 1, 2, 3, ...; found " +
                                                  std::to_string(m.version) + " at position " +
                                                  std::to_string(i + 1));
    }
    for (const auto& t : m.create_tables) {
      if (!valid_identifier(t.name) || !names.insert(t.name).second) {
        return make_error(StoreErrc::kInternal, "bad or duplicate table name '" + t.name + "'");
      }
      std::set<std::string> cols;
      for (const auto& c : t.columns) {
        if (!valid_identifier(c.name) || !cols.insert(c.name).second) {
          return make_error(StoreErrc::kInternal,
                            "bad or duplicate column '" + c.name + "' in " + t.name);
        }
      }
      const ColumnDef* key = t.column(t.key);
      if (key == nullptr || (key->type != ColumnType::kInt && key->type != ColumnType::kText)) {
        return make_error(StoreErrc::kInternal,
                          "table " + t.name + " needs an integer or text key column");
      }
    }
    for (const auto& ix : m.create_indexes) {
      const TableDef* t = table(ix.table);
      if (t == nullptr || !valid_identifier(ix.name) || ix.columns.empty()) {
        return make_error(StoreErrc::kInternal, "bad index '" + ix.name + "'");
      }
      for (const auto& c : ix.columns) {
        if (t->column(c) == nullptr) {
          return make_error(StoreErrc::kInternal,
                            "index " + ix.name + " names unknown column " + c);
        }
      }
    }
    for (const auto& name : m.drop_indexes) {
      bool created_before = false;
      for (const auto& earlier : migrations_) {
        if (earlier.version >= m.version) break;
        for (const auto& ix : earlier.create_indexes) created_before |= ix.name == name;
      }
      if (!created_before) {
        return make_error(StoreErrc::kInternal, "migration " + std::to_string(m.version) +
                                                    " drops index " + name +
                                                    " that no earlier migration created");
      }
    }
    for (const auto& a : m.add_columns) {
      if (!names.count(a.table)) {
        return make_error(StoreErrc::kInternal, "migration " + std::to_string(m.version) +
                                                    " adds a column to unknown table " + a.table);
      }
      const TableDef* t = table(a.table);
      const auto same = std::count_if(t->columns.begin(), t->columns.end(),
                                      [&](const ColumnDef& c) { return c.name == a.column.name; });
      if (!valid_identifier(a.column.name) || a.column.not_null || same != 1) {
        return make_error(StoreErrc::kInternal, "added column '" + a.column.name + "' of " +
                                                    a.table + " must be a valid, nullable column");
      }
    }
  }
  return ok_status();
}

std::uint32_t Schema::latest_version() const {
  return migrations_.empty() ? 0 : migrations_.back().version;
}

void TableDef::fill_nulls(Row& row) const {
  for (std::size_t i = row.size(); i < columns.size(); ++i)
    row.push_back(Field{columns[i].name, Null{}});
}

const TableDef* Schema::table(const std::string& name) const {
  for (const auto& t : tables_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Schema& manager_schema() {
  static const Schema schema({
      Migration{
          .version = 1,
          .description = "cluster-wide settings",
          .create_tables = {TableDef{.name = "settings",
                                     .columns = {{"key", ColumnType::kText, true},
                                                 {"value", ColumnType::kText, true},
                                                 {"updated_by", ColumnType::kText, false},
                                                 {"updated_at_ms", ColumnType::kInt, true}},
                                     .key = "key"}},
          .create_indexes = {},
      },
      Migration{
          .version = 2,
          .description = "events received from syslog and SNMP, and the intake's position",
          .create_tables = {TableDef{
                                .name = "events",
                                .columns = {{"id", ColumnType::kInt, true},
                                            {"received_at_ms", ColumnType::kInt, true},
                                            {"node", ColumnType::kText, true},  // receiving manager
                                            {"source", ColumnType::kText, true},
                                            {"source_port", ColumnType::kInt, true},
                                            {"protocol", ColumnType::kText, true},
                                            {"scope", ColumnType::kText, true},
                                            {"priority", ColumnType::kText, true},
                                            {"rule", ColumnType::kText, false},
                                            {"message", ColumnType::kText, true},
                                            {"fields", ColumnType::kText, true},  // JSON object
                                            {"raw", ColumnType::kBlob, true},
                                            {"truncated", ColumnType::kInt, true},
                                            {"dedup_key", ColumnType::kText, true},
                                            {"epoch", ColumnType::kInt, true}},
                                .key = "id"},
                            // "next_event_id", and per standby incarnation the receipts decided.
                            TableDef{.name = "intake_state",
                                     .columns = {{"key", ColumnType::kText, true},
                                                 {"value", ColumnType::kInt, true}},
                                     .key = "key"}},
          .create_indexes = {IndexDef{.name = "events_received_at",
                                      .table = "events",
                                      .columns = {"received_at_ms"}},
                             IndexDef{.name = "events_dedup_key",
                                      .table = "events",
                                      .columns = {"dedup_key", "received_at_ms"}}},
      },
      Migration{
          .version = 3,
          .description = "which events stand for which of the peer's receipts (event intake)",
          // One row per committed batch of events: the pairs (event id, the
          // standby's receipt number) decided in it, so whoever acts next
          // rebuilds the pairing per receipt (manager/event_intake.cpp).
          .create_tables = {TableDef{.name = "event_pairs",
                                     .columns = {{"id", ColumnType::kInt, true},
                                                 {"at_ms", ColumnType::kInt, true},
                                                 {"node", ColumnType::kText, true},
                                                 {"incarnation", ColumnType::kInt, true},
                                                 {"pairs", ColumnType::kBlob, true}},
                                     .key = "id"}},
          .create_indexes = {},
      },
      Migration{
          .version = 4,
          .description = "the repository: nodes, scopes and memberships (repository/store_rows.h)",
          .create_tables = {TableDef{
                                .name = "repo_nodes",
                                .columns = {{"name", ColumnType::kText, true},
                                            {"addresses", ColumnType::kText, true},  // JSON list
                                            {"os", ColumnType::kText, true},
                                            {"attributes", ColumnType::kText, true},  // JSON
                                            {"updated_at_ms", ColumnType::kInt, true},
                                            {"updated_by", ColumnType::kText, false}},
                                .key = "name"},
                            TableDef{.name = "repo_scopes",
                                     .columns = {{"name", ColumnType::kText, true},
                                                 {"parent", ColumnType::kText, true},  // '' = top
                                                 {"description", ColumnType::kText, true},
                                                 {"updated_at_ms", ColumnType::kInt, true},
                                                 {"updated_by", ColumnType::kText, false}},
                                     .key = "name"},
                            // One row per (scope, node), keyed "scope/node".
                            TableDef{.name = "repo_members",
                                     .columns = {{"key", ColumnType::kText, true},
                                                 {"scope", ColumnType::kText, true},
                                                 {"node", ColumnType::kText, true},
                                                 {"updated_at_ms", ColumnType::kInt, true},
                                                 {"updated_by", ColumnType::kText, false}},
                                     .key = "key"}},
          .create_indexes = {},
      },
      Migration{
          .version = 5,
          .description = "events: the repository node the sender maps to",
          .create_tables = {},
          .create_indexes = {},
          // The repository node whose address sent it; empty: unregistered.
          .add_columns = {AddColumn{"events", ColumnDef{"host", ColumnType::kText, false}}},
      },
      Migration{
          .version = 6,
          .description = "events: no index on the dedup key or the receive time",
          // Pairing is in memory and rebuilt by walking recent events by id;
          // listing walks by id too. No query reads these indexes, and
          // keeping them was the dearest part of storing an event (the dedup
          // key's random inserts; the receive time's about a tenth of an
          // event's instructions on both nodes).
          .drop_indexes = {"events_dedup_key", "events_received_at"},
      },
      Migration{
          .version = 7,
          .description = "agents, enrolment tokens, monitors, their status and metrics",
          .create_tables =
              {// One row per agent (by its node): the highest result sequence
               // stored (exactly once, keyed (agent, seq)) and its liveness.
               TableDef{.name = "agents",
                        .columns = {{"node", ColumnType::kText, true},
                                    {"acked_up_to", ColumnType::kInt, true},
                                    {"last_seen_ms", ColumnType::kInt, true},
                                    {"reachable", ColumnType::kInt, true},
                                    {"version", ColumnType::kText, false},
                                    {"address", ColumnType::kText, false},
                                    {"outbox_dropped", ColumnType::kInt, false},
                                    {"enrolled_at_ms", ColumnType::kInt, false},
                                    {"updated_at_ms", ColumnType::kInt, true}},
                        .key = "node"},
               // One-time enrolment tokens, by the SHA-256 of the token (hex).
               TableDef{.name = "agent_tokens",
                        .columns = {{"hash", ColumnType::kText, true},
                                    {"node", ColumnType::kText, true},
                                    {"expires_at_ms", ColumnType::kInt, true},
                                    {"issued_at_ms", ColumnType::kInt, true}},
                        .key = "hash"},
               // A monitor's definition: a duet.v1.MonitorDef.
               TableDef{.name = "monitors",
                        .columns = {{"name", ColumnType::kText, true},
                                    {"definition", ColumnType::kBlob, true},
                                    {"updated_at_ms", ColumnType::kInt, true}},
                        .key = "name"},
               // The current priority per (monitor, node), keyed "monitor\x1fnode".
               TableDef{.name = "monitor_status",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"monitor", ColumnType::kText, true},
                                    {"node", ColumnType::kText, true},
                                    {"priority", ColumnType::kText, true},
                                    {"since_ms", ColumnType::kInt, true},
                                    {"last_at_ms", ColumnType::kInt, true},
                                    {"message", ColumnType::kText, false}},
                        .key = "key"},
               // One row per result: "node\x1fmonitor\x1f<at_ms, 15 digits>\x1f<seq>",
               // so a node's monitor over a time range is one range of keys.
               // `point` is a duet.v1.MetricPoint.
               TableDef{.name = "metrics",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"at_ms", ColumnType::kInt, true},
                                    {"point", ColumnType::kBlob, true}},
                        .key = "key"}},
      },
      Migration{
          .version = 8,
          .description = "metrics downsampled by the hour; the identity of an agent's outbox",
          // Keyed like `metrics` ("node\x1fmonitor\x1f<hour start ms, 15 digits>");
          // `point` is a duet.v1.MetricPoint with resolution "hour".
          .create_tables = {TableDef{.name = "metrics_hourly",
                                     .columns = {{"key", ColumnType::kText, true},
                                                 {"at_ms", ColumnType::kInt, true},
                                                 {"point", ColumnType::kBlob, true}},
                                     .key = "key"}},
          .create_indexes = {},
          // The identity of the agent's outbox file whose numbers acked_up_to counts.
          .add_columns = {AddColumn{"agents",
                                    ColumnDef{"outbox_identity", ColumnType::kInt, false}}},
      },
      Migration{
          .version = 9,
          .description = "notifications: channels, definitions, suppression state, the outbox; "
                         "event confirmation",
          .create_tables =
              {// A channel: a duet.v1.ChannelDef.
               TableDef{.name = "notify_channels",
                        .columns = {{"name", ColumnType::kText, true},
                                    {"definition", ColumnType::kBlob, true},
                                    {"updated_at_ms", ColumnType::kInt, true}},
                        .key = "name"},
               // A notification definition: a duet.v1.NotificationDef.
               TableDef{.name = "notifications",
                        .columns = {{"name", ColumnType::kText, true},
                                    {"definition", ColumnType::kBlob, true},
                                    {"updated_at_ms", ColumnType::kInt, true}},
                        .key = "name"},
               // Suppression state per "node\x1fmonitor\x1fnotification\x1fsub-key"
               // (notify/suppression.h encode_state).
               TableDef{.name = "notify_state",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"state", ColumnType::kText, true},
                                    {"updated_at_ms", ColumnType::kInt, true}},
                        .key = "key"},
               // The outbox: one intent per (notification, channel) decided;
               // `intent` is a duet.v1.NotifyIntent, `state` its state.
               TableDef{.name = "notify_outbox",
                        .columns = {{"id", ColumnType::kInt, true},
                                    {"created_at_ms", ColumnType::kInt, true},
                                    {"state", ColumnType::kText, true},
                                    {"intent", ColumnType::kBlob, true}},
                        .key = "id"},
               // "pending_from": every intent below it is sent, failed or muted.
               TableDef{.name = "notify_meta",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"value", ColumnType::kInt, true}},
                        .key = "key"}},
          .create_indexes = {},
          // Who confirmed an event, and when (the event console).
          .add_columns =
              {AddColumn{"events", ColumnDef{"confirm_state", ColumnType::kText, false}},
               AddColumn{"events", ColumnDef{"confirmed_by", ColumnType::kText, false}},
               AddColumn{"events", ColumnDef{"confirmed_at_ms", ColumnType::kInt, false}},
               AddColumn{"events", ColumnDef{"confirm_comment", ColumnType::kText, false}}},
      },
      Migration{
          .version = 10,
          .description = "job nets: definitions and their versions, calendars, limits, sessions, "
                         "unit states, operations",
          .create_tables =
              {// The current definition of a net: a duet.v1.JobNetDef.
               TableDef{.name = "job_nets",
                        .columns = {{"name", ColumnType::kText, true},
                                    {"version", ColumnType::kInt, true},
                                    {"definition", ColumnType::kBlob, true},
                                    {"updated_at_ms", ColumnType::kInt, true}},
                        .key = "name"},
               // Every version a session ran or runs: "net\x1f<version, 15 digits>".
               TableDef{.name = "job_net_versions",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"definition", ColumnType::kBlob, true}},
                        .key = "key"},
               // A business calendar: a duet.v1.JobCalendarDef.
               TableDef{.name = "job_calendars",
                        .columns = {{"name", ColumnType::kText, true},
                                    {"definition", ColumnType::kBlob, true}},
                        .key = "name"},
               // Limits: "queue\x1fNAME" or "node\x1fNAME" -> jobs running at once.
               TableDef{.name = "job_limits",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"max_running", ColumnType::kInt, true}},
                        .key = "key"},
               // A session: a duet.v1.JobSessionInfo.
               TableDef{.name = "job_sessions",
                        .columns = {{"id", ColumnType::kInt, true},
                                    {"net", ColumnType::kText, true},
                                    {"state", ColumnType::kText, true},
                                    {"created_at_ms", ColumnType::kInt, true},
                                    {"info", ColumnType::kBlob, true}},
                        .key = "id"},
               // The sessions still open (a new master restores them).
               TableDef{.name = "job_open",
                        .columns = {{"session", ColumnType::kInt, true}},
                        .key = "session"},
               // A unit of a session: "<session, 15 digits>\x1f<index, 8 digits>",
               // a duet.v1.JobUnitState.
               TableDef{.name = "job_units",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"session", ColumnType::kInt, true},
                                    {"state", ColumnType::kText, true},
                                    {"unit", ColumnType::kBlob, true}},
                        .key = "key"},
               // Operators' operations: a duet.v1.JobOperation.
               TableDef{.name = "job_operations",
                        .columns = {{"id", ColumnType::kInt, true},
                                    {"session", ColumnType::kInt, true},
                                    {"at_ms", ColumnType::kInt, true},
                                    {"operation", ColumnType::kBlob, true}},
                        .key = "id"},
               // Counters: next_session, next_operation.
               TableDef{.name = "job_meta",
                        .columns = {{"key", ColumnType::kText, true},
                                    {"value", ColumnType::kInt, true}},
                        .key = "key"}},
          .create_indexes = {IndexDef{
              .name = "job_operations_session", .table = "job_operations", .columns = {"session"}}},
          .add_columns = {},
      },
  });
  return schema;
}

}  // namespace duet::store
