#pragma once

// Channels and notification definitions: the `channels:` and `notifications:`
// sections of an apply file, their checks, their export, and the compiled
// form the manager matches results against. Pure.
//
//   channels:
//     - name: ops-mail
//       kind: mail                     # mail, webhook, command, syslog
//       params: {url: "smtp://mail:587", from: duet@example.com, to: "ops@example.com"}
//       timeout: 10s
//       retry: {attempts: 5, backoff: 1s, max_backoff: 1m}
//       calendar: {zone: Europe/London, days: [mon, tue, wed, thu, fri], from: "08:00", to:
//       "18:00"}
//   notifications:
//     - name: web-down
//       monitors: [web-http]           # also nodes, scopes, priorities, pattern
//       priorities: [critical, warning]
//       channels: [ops-mail]
//       after: 3                       # suppression (notify/suppression.h)
//       repeat: period
//       period: 30m
//
// Each kind's params are listed in docs/notifications.md; an unknown one is
// refused, naming it.

#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/priority.h"
#include "common/result.h"
#include "common/yaml_fields.h"
#include "duet/v1/notify.pb.h"
#include "notify/calendar.h"
#include "notify/suppression.h"

namespace duet::notify {

inline constexpr std::uint32_t kDefaultTimeoutMs = 10'000;
inline constexpr std::uint32_t kDefaultAttempts = 5;
inline constexpr std::uint32_t kDefaultBackoffMs = 1000;
inline constexpr std::uint32_t kDefaultMaxBackoffMs = 60'000;

// The sections of one apply file.
struct NotifyFile {
  bool present = false;  // the file has `channels:` or `notifications:`
  std::vector<duet::v1::ChannelDef> channels;
  std::vector<duet::v1::NotificationDef> notifications;
  std::map<std::string, int> lines;  // "channel NAME" / "notification NAME" -> line of the item
  std::vector<FileProblem> problems;
};

// Reads the two sections of `text` (other top-level keys are not looked at),
// and checks each definition (check_channel, check_notification). A channel
// a notification names must be in the file or in `known_channels`.
NotifyFile parse_notify_file(std::string_view text, const std::set<std::string>& known_channels);

// Defaults filled in (timeout, retry, after, repeat); updated_* cleared.
duet::v1::ChannelDef with_defaults(duet::v1::ChannelDef def);
duet::v1::NotificationDef with_defaults(duet::v1::NotificationDef def);

// Errors name the field: "params.url: ...", "calendar.zone: ...".
Status check_channel(const duet::v1::ChannelDef& def);
Status check_notification(const duet::v1::NotificationDef& def);

// The keys in which `want` differs from `have` (after with_defaults); empty: unchanged.
std::vector<std::string> changed_fields(const duet::v1::ChannelDef& want,
                                        const duet::v1::ChannelDef& have);
std::vector<std::string> changed_fields(const duet::v1::NotificationDef& want,
                                        const duet::v1::NotificationDef& have);

// The `channels:` and `notifications:` sections of an export, by name; "" when
// there are none. Applied back, every definition is unchanged.
std::string notify_section(std::vector<duet::v1::ChannelDef> channels,
                           std::vector<duet::v1::NotificationDef> notifications);

// What a notification is matched against: one monitor result, or one event
// (syslog, SNMP, agent liveness).
struct Occurrence {
  std::string node;                 // the repository node ("" for an unregistered sender)
  std::string monitor;              // the monitor; "syslog", "snmp", "agent" for those events
  std::vector<std::string> scopes;  // the node's scopes and every scope above them
  Priority priority = Priority::kUnknown;
  std::string message;
  std::string sub_key;  // what else tells results apart (an event's rule)
  std::int64_t at_ms = 0;
  std::uint64_t event_id = 0;               // the event raised with it, if any
  std::map<std::string, std::string> vars;  // for the templates (besides the above)
};

// A notification ready to match.
struct Compiled {
  duet::v1::NotificationDef def;
  std::set<std::string> monitors, nodes, scopes;
  std::set<Priority> priorities;  // empty: any
  std::optional<std::regex> pattern;
  Suppression suppression;

  // The monitor, node, scope and pattern criteria (not the priority: a
  // priority it does not want still counts for suppression).
  bool matches(const Occurrence& o) const;
  bool wants(Priority p) const { return priorities.empty() || priorities.count(p) != 0; }
  // The suppression key: node, monitor, this notification, sub-key (and the
  // message with by_message), joined by \x1f.
  std::string key_of(const Occurrence& o) const;
};

Result<Compiled> compile(const duet::v1::NotificationDef& def);

}  // namespace duet::notify
