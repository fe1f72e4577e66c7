#include "notify/definitions.h"

#include <google/protobuf/util/message_differencer.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "common/errors.h"
#include "common/yaml_reader.h"
#include "notify/template.h"

namespace duet::notify {
namespace {

const std::vector<std::string> kChannelKeys{"name",    "kind",    "description", "params",
                                            "headers", "timeout", "retry",       "calendar"};
const std::vector<std::string> kRetryKeys{"attempts", "backoff", "max_backoff"};
const std::vector<std::string> kCalendarKeys{"zone", "days", "from", "to", "except"};
const std::vector<std::string> kNotificationKeys{
    "name",    "description", "enabled", "monitors", "nodes",  "scopes",    "priorities",
    "pattern", "channels",    "after",   "repeat",   "period", "by_message"};

// Per kind: the params it takes, which are required, and which are templates.
struct KindSpec {
  std::vector<std::string> params;
  std::vector<std::string> required;
  std::vector<std::string> templates;
};

const std::map<std::string, KindSpec>& kinds() {
  static const std::map<std::string, KindSpec> k{
      {"mail",
       {{"url", "from", "to", "cc", "subject", "body", "starttls", "user", "password_file",
         "ca_file"},
        {"url", "from", "to"},
        {"subject", "body"}}},
      {"webhook", {{"url", "method", "body", "content_type", "ca_file"}, {"url"}, {"body"}}},
      {"command", {{"command", "working_directory"}, {"command"}, {}}},
      {"syslog",
       {{"address", "transport", "facility", "app_name", "message", "ca_file"},
        {"address"},
        {"message"}}},
  };
  return k;
}

const std::vector<std::string> kFacilities{
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};

Status field_error(const std::string& field, const std::string& why) {
  return make_error(CommonErrc::kInvalidArgument, field + ": " + why);
}

bool has_host_port(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size()) return false;
  const auto port = s.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  const int n = std::stoi(std::string(port));
  return n > 0 && n < 65536;
}

std::string names_text(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

template <typename Map>
std::map<std::string, std::string> sorted(const Map& m) {
  return {m.begin(), m.end()};
}

std::optional<std::string> problem_field(const Status& s) {
  if (s.ok()) return std::nullopt;
  return s.error().message;
}

class FileParser {
 public:
  FileParser(NotifyFile& out) : out_(out), r_(out.problems) {}

  void channels(const YamlField& f) {
    if (!list(f)) return;
    std::size_t i = 0;
    for (const auto& item : f.value) channel(item, "channels[" + std::to_string(i++) + "]", f.line);
  }

  void notifications(const YamlField& f) {
    if (!list(f)) return;
    std::size_t i = 0;
    for (const auto& item : f.value) {
      notification(item, "notifications[" + std::to_string(i++) + "]", f.line);
    }
  }

 private:
  bool list(const YamlField& f) {
    if (f.value.IsNull()) return false;
    if (!f.value.IsSequence()) {
      r_.problem(f.line, "'" + f.key + "' must be a list, found " + yaml_type_name(f.value));
      return false;
    }
    return true;
  }

  // The item's name for messages ("channel 'ops-mail'"), else its index.
  static std::string where_of(const YAML::Node& item, const std::string& what,
                              const std::string& index) {
    if (item.IsMap()) {
      for (auto it = item.begin(); it != item.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar()) {
          return what + " '" + it->second.Scalar() + "'";
        }
      }
    }
    return index;
  }

  void string_map(const YamlField& f, const std::string& where,
                  google::protobuf::Map<std::string, std::string>& into) {
    if (f.value.IsNull()) return;
    if (!f.value.IsMap()) {
      r_.problem(f.line,
                 where + ": '" + f.key + "' must be a mapping, found " + yaml_type_name(f.value));
      return;
    }
    for (const auto& p : r_.fields(f.value, where + ": " + f.key, nullptr)) {
      if (auto v = r_.text(p, where + ": " + f.key)) into[p.key] = *v;
    }
  }

  void channel(const YAML::Node& item, const std::string& index, int list_line) {
    const int line = yaml_line(item) == 0 ? list_line : yaml_line(item);
    const std::string where = where_of(item, "channel", index);
    if (!item.IsMap()) {
      r_.problem(line, index + ": expected a mapping, found " + yaml_type_name(item));
      return;
    }
    const std::size_t before = r_.count();
    duet::v1::ChannelDef d;
    std::map<std::string, int> lines;
    for (const auto& f : r_.fields(item, where, &kChannelKeys)) {
      lines[f.key] = f.line;
      if (f.key == "params") {
        string_map(f, where, *d.mutable_params());
      } else if (f.key == "headers") {
        string_map(f, where, *d.mutable_headers());
      } else if (f.key == "timeout") {
        if (auto v = r_.millis(f, where)) d.set_timeout_ms(*v);
      } else if (f.key == "retry") {
        retry(f, where, *d.mutable_retry());
      } else if (f.key == "calendar") {
        calendar(f, where, *d.mutable_calendar());
      } else if (auto v = r_.text(f, where)) {
        if (f.key == "name") d.set_name(*v);
        if (f.key == "kind") d.set_kind(*v);
        if (f.key == "description") d.set_description(*v);
      }
    }
    if (lines.count("name") == 0) r_.problem(line, index + ": missing 'name'");
    if (lines.count("kind") == 0) r_.problem(line, where + ": missing 'kind'");
    if (r_.count() != before) return;
    if (auto why = problem_field(check_channel(d))) {
      const std::string field = why->substr(0, why->find_first_of(".:"));
      r_.problem(lines.count(field) != 0 ? lines[field] : line, where + ": " + *why);
      return;
    }
    if (!out_.lines.emplace("channel " + d.name(), line).second) {
      r_.problem(line, where + " appears twice in this document (first at line " +
                           std::to_string(out_.lines["channel " + d.name()]) + ")");
      return;
    }
    out_.channels.push_back(std::move(d));
  }

  void retry(const YamlField& f, const std::string& where, duet::v1::RetryPolicy& p) {
    if (!f.value.IsMap()) {
      r_.problem(f.line, where + ": 'retry' must be a mapping, found " + yaml_type_name(f.value));
      return;
    }
    for (const auto& g : r_.fields(f.value, where + ": retry", &kRetryKeys)) {
      if (g.key == "attempts") {
        if (auto v = r_.count_of(g, where + ": retry", 1, 100)) p.set_attempts(*v);
      } else if (auto v = r_.millis(g, where + ": retry")) {
        (g.key == "backoff" ? p.set_backoff_ms(*v) : p.set_max_backoff_ms(*v));
      }
    }
  }

  void calendar(const YamlField& f, const std::string& where, duet::v1::Calendar& c) {
    if (!f.value.IsMap()) {
      r_.problem(f.line,
                 where + ": 'calendar' must be a mapping, found " + yaml_type_name(f.value));
      return;
    }
    for (const auto& g : r_.fields(f.value, where + ": calendar", &kCalendarKeys)) {
      if (g.key == "days" || g.key == "except") {
        if (auto v = r_.texts(g, where + ": calendar")) {
          for (auto& s : *v) (g.key == "days" ? c.add_days(s) : c.add_except(s));
        }
      } else if (auto v = r_.text(g, where + ": calendar")) {
        if (g.key == "zone") c.set_zone(*v);
        if (g.key == "from") c.set_from(*v);
        if (g.key == "to") c.set_to(*v);
      }
    }
  }

  void notification(const YAML::Node& item, const std::string& index, int list_line) {
    const int line = yaml_line(item) == 0 ? list_line : yaml_line(item);
    const std::string where = where_of(item, "notification", index);
    if (!item.IsMap()) {
      r_.problem(line, index + ": expected a mapping, found " + yaml_type_name(item));
      return;
    }
    const std::size_t before = r_.count();
    duet::v1::NotificationDef d;
    d.set_enabled(true);
    std::map<std::string, int> lines;
    for (const auto& f : r_.fields(item, where, &kNotificationKeys)) {
      lines[f.key] = f.line;
      if (f.key == "enabled" || f.key == "by_message") {
        if (auto v = r_.boolean(f, where))
          (f.key == "enabled" ? d.set_enabled(*v) : d.set_by_message(*v));
      } else if (f.key == "after") {
        if (auto v = r_.count_of(f, where, 1, 1000)) d.set_after(*v);
      } else if (f.key == "period") {
        if (auto v = r_.seconds(f, where)) d.set_period_s(*v);
      } else if (f.key == "monitors" || f.key == "nodes" || f.key == "scopes" ||
                 f.key == "priorities" || f.key == "channels") {
        auto v = r_.texts(f, where);
        if (!v) continue;
        auto* into = f.key == "monitors"     ? d.mutable_monitors()
                     : f.key == "nodes"      ? d.mutable_nodes()
                     : f.key == "scopes"     ? d.mutable_scopes()
                     : f.key == "priorities" ? d.mutable_priorities()
                                             : d.mutable_channels();
        for (auto& s : *v) into->Add(std::move(s));
      } else if (auto v = r_.text(f, where)) {
        if (f.key == "name") d.set_name(*v);
        if (f.key == "description") d.set_description(*v);
        if (f.key == "pattern") d.set_pattern(*v);
        if (f.key == "repeat") d.set_repeat(*v);
      }
    }
    if (lines.count("name") == 0) r_.problem(line, index + ": missing 'name'");
    if (lines.count("channels") == 0) r_.problem(line, where + ": missing 'channels'");
    if (r_.count() != before) return;
    if (auto why = problem_field(check_notification(d))) {
      const std::string field = why->substr(0, why->find_first_of(".:["));
      r_.problem(lines.count(field) != 0 ? lines[field] : line, where + ": " + *why);
      return;
    }
    if (!out_.lines.emplace("notification " + d.name(), line).second) {
      r_.problem(line, where + " appears twice in this document (first at line " +
                           std::to_string(out_.lines["notification " + d.name()]) + ")");
      return;
    }
    notification_lines_[d.name()] = lines.count("channels") != 0 ? lines["channels"] : line;
    out_.notifications.push_back(std::move(d));
  }

 public:
  std::map<std::string, int> notification_lines_;  // name -> line of its channels

 private:
  NotifyFile& out_;
  FieldReader r_;
};

}  // namespace

NotifyFile parse_notify_file(std::string_view text, const std::set<std::string>& known_channels) {
  NotifyFile out;
  std::vector<YAML::Node> roots;
  try {
    roots = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    out.problems.push_back({e.mark.line < 0 ? 0 : e.mark.line + 1, e.msg});
    return out;
  }
  if (roots.size() != 1 || !roots[0].IsMap()) return out;
  FileParser parser(out);
  FieldReader r(out.problems);
  std::map<std::string, int> seen;
  for (auto it = roots[0].begin(); it != roots[0].end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string key = it->first.Scalar();
    if (key != "channels" && key != "notifications") continue;
    out.present = true;
    const int line = yaml_line(it->first);
    if (auto [at, fresh] = seen.emplace(key, line); !fresh) {
      r.problem(line, "document: key '" + key + "' appears twice (first at line " +
                          std::to_string(at->second) + ")");
      continue;
    }
    YamlField f{key, line, it->second};
    key == "channels" ? parser.channels(f) : parser.notifications(f);
  }
  std::set<std::string> channels = known_channels;
  for (const auto& c : out.channels) channels.insert(c.name());
  for (const auto& n : out.notifications) {
    for (const auto& c : n.channels()) {
      if (channels.count(c) == 0) {
        r.problem(parser.notification_lines_[n.name()],
                  "notification '" + n.name() + "': channels: no channel '" + c +
                      "' (neither in this file nor on the manager)");
      }
    }
  }
  return out;
}

duet::v1::ChannelDef with_defaults(duet::v1::ChannelDef def) {
  if (def.timeout_ms() == 0) def.set_timeout_ms(kDefaultTimeoutMs);
  auto* r = def.mutable_retry();
  if (r->attempts() == 0) r->set_attempts(kDefaultAttempts);
  if (r->backoff_ms() == 0) r->set_backoff_ms(kDefaultBackoffMs);
  if (r->max_backoff_ms() == 0)
    r->set_max_backoff_ms(std::max(kDefaultMaxBackoffMs, r->backoff_ms()));
  def.clear_updated_at_ms();
  def.clear_updated_by();
  return def;
}

duet::v1::NotificationDef with_defaults(duet::v1::NotificationDef def) {
  if (def.after() == 0) def.set_after(1);
  if (def.repeat().empty()) def.set_repeat("always");
  def.clear_updated_at_ms();
  def.clear_updated_by();
  return def;
}

Status check_channel(const duet::v1::ChannelDef& def) {
  if (def.name().empty()) return field_error("name", "must not be empty");
  if (def.name().find_first_of(" \t\x1f/") != std::string::npos) {
    return field_error("name", "'" + def.name() + "' has a space, a tab or a '/'");
  }
  auto kit = kinds().find(def.kind());
  if (kit == kinds().end()) {
    return field_error("kind", "'" + def.kind() + "' is not one of mail, webhook, command, syslog");
  }
  const KindSpec& spec = kit->second;
  for (const auto& [k, v] : sorted(def.params())) {
    if (std::find(spec.params.begin(), spec.params.end(), k) == spec.params.end()) {
      return field_error("params." + k, "not a " + def.kind() + " channel's param (expected " +
                                            names_text(spec.params) + ")");
    }
  }
  for (const auto& k : spec.required) {
    auto it = def.params().find(k);
    if (it == def.params().end() || it->second.empty()) {
      return field_error("params." + k, "a " + def.kind() + " channel needs it");
    }
  }
  for (const auto& k : spec.templates) {
    auto it = def.params().find(k);
    if (it == def.params().end()) continue;
    if (auto s = check_template(it->second); !s.ok()) {
      return field_error("params." + k, s.error().message);
    }
  }
  auto param = [&](const char* k) {
    auto it = def.params().find(k);
    return it == def.params().end() ? std::string() : it->second;
  };
  if (def.kind() == "mail") {
    const auto url = param("url");
    if (url.rfind("smtp://", 0) != 0 && url.rfind("smtps://", 0) != 0) {
      return field_error("params.url", "'" + url + "' is not smtp://HOST[:PORT] or smtps://...");
    }
    const auto tls = param("starttls");
    if (!tls.empty() && tls != "off" && tls != "try" && tls != "required") {
      return field_error("params.starttls", "'" + tls + "' is not off, try or required");
    }
    if (!param("user").empty() && param("password_file").empty()) {
      return field_error("params.password_file", "a user needs a password_file");
    }
  } else if (def.kind() == "webhook") {
    const auto url = param("url");
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0 &&
        (url.rfind("file:", 0) != 0 || url.size() == 5)) {
      return field_error("params.url",
                         "'" + url + "' is not http://, https:// or file:PATH (a secret URL)");
    }
    const auto m = param("method");
    if (!m.empty() && m != "POST" && m != "PUT") {
      return field_error("params.method", "'" + m + "' is not POST or PUT");
    }
    for (const auto& [k, v] : sorted(def.headers())) {
      if (k.empty() || k.find_first_of(" :\r\n") != std::string::npos ||
          v.find_first_of("\r\n") != std::string::npos) {
        return field_error("headers." + k, "not a header name and one-line value");
      }
    }
  } else if (def.kind() == "syslog") {
    if (!has_host_port(param("address"))) {
      return field_error("params.address", "'" + param("address") + "' is not HOST:PORT");
    }
    const auto t = param("transport");
    if (!t.empty() && t != "udp" && t != "tcp" && t != "tls") {
      return field_error("params.transport", "'" + t + "' is not udp, tcp or tls");
    }
    const auto f = param("facility");
    if (!f.empty() && std::find(kFacilities.begin(), kFacilities.end(), f) == kFacilities.end()) {
      return field_error("params.facility",
                         "'" + f + "' is not a syslog facility (user, local0 .. local7, ...)");
    }
  }
  if (def.kind() != "webhook" && !def.headers().empty()) {
    return field_error("headers", "only a webhook channel has headers");
  }
  if (def.timeout_ms() != 0 && (def.timeout_ms() < 100 || def.timeout_ms() > 600'000)) {
    return field_error("timeout", "outside 100ms .. 10m");
  }
  if (def.retry().max_backoff_ms() != 0 &&
      def.retry().max_backoff_ms() < def.retry().backoff_ms()) {
    return field_error("retry.max_backoff", "shorter than retry.backoff");
  }
  if (def.has_calendar()) {
    if (auto c = Calendar::make(def.calendar()); !c.ok()) return c.error();
  }
  return ok_status();
}

Status check_notification(const duet::v1::NotificationDef& def) {
  if (def.name().empty()) return field_error("name", "must not be empty");
  if (def.name().find_first_of(" \t\x1f/") != std::string::npos) {
    return field_error("name", "'" + def.name() + "' has a space, a tab or a '/'");
  }
  if (def.channels().empty()) return field_error("channels", "name at least one channel");
  for (const auto& p : def.priorities()) {
    if (!parse_priority(p)) {
      return field_error("priorities",
                         "'" + p + "' is not one of critical, warning, info, unknown");
    }
  }
  if (!def.repeat().empty() && !parse_repeat(def.repeat())) {
    return field_error("repeat", "'" + def.repeat() + "' is not always, period or never");
  }
  if (def.repeat() == "period" && def.period_s() == 0) {
    return field_error("period", "repeat: period needs a period (30m, 1h, ...)");
  }
  if (def.repeat() != "period" && def.period_s() != 0) {
    return field_error("period", "only for repeat: period");
  }
  if (!def.pattern().empty()) {
    try {
      std::regex re(def.pattern(), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return field_error("pattern", "'" + def.pattern() + "' is not a regex: " + e.what());
    }
  }
  return ok_status();
}

namespace {

// Field by field (maps compared as maps), named as the file names them.
template <typename Def>
std::vector<std::string> differing(const Def& want, const Def& have,
                                   const std::map<std::string, std::string>& yaml_names) {
  std::vector<std::string> out;
  const auto* desc = Def::descriptor();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->name() == "updated_at_ms" || f->name() == "updated_by") {
      continue;
    }
    google::protobuf::util::MessageDifferencer diff;
    for (int j = 0; j < desc->field_count(); ++j) {
      if (j != i) diff.IgnoreField(desc->field(j));
    }
    if (diff.Compare(want, have)) continue;
    auto it = yaml_names.find(f->name());
    out.push_back(it == yaml_names.end() ? f->name() : it->second);
  }
  return out;
}

}  // namespace

std::vector<std::string> changed_fields(const duet::v1::ChannelDef& want,
                                        const duet::v1::ChannelDef& have) {
  return differing(with_defaults(want), with_defaults(have), {{"timeout_ms", "timeout"}});
}

std::vector<std::string> changed_fields(const duet::v1::NotificationDef& want,
                                        const duet::v1::NotificationDef& have) {
  return differing(with_defaults(want), with_defaults(have), {{"period_s", "period"}});
}

std::string notify_section(std::vector<duet::v1::ChannelDef> channels,
                           std::vector<duet::v1::NotificationDef> notifications) {
  if (channels.empty() && notifications.empty()) return "";
  auto by_name = [](const auto& a, const auto& b) { return a.name() < b.name(); };
  std::sort(channels.begin(), channels.end(), by_name);
  std::sort(notifications.begin(), notifications.end(), by_name);
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::BeginMap;
  auto text_map = [&](const char* key, const auto& m) {
    if (m.empty()) return;
    out << YAML::Key << key << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : sorted(m))
      emit_text(emit_text(out << YAML::Key, k) << YAML::Value, v);
    out << YAML::EndMap;
  };
  auto text_list = [&](const char* key, const auto& list) {
    if (list.empty()) return;
    out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& s : list) emit_text(out, s);
    out << YAML::EndSeq;
  };
  if (!channels.empty()) {
    out << YAML::Key << "channels" << YAML::Value << YAML::BeginSeq;
    for (const auto& c : channels) {
      out << YAML::BeginMap;
      emit_key_text(out, "name", c.name());
      emit_key_text(out, "kind", c.kind());
      if (!c.description().empty()) emit_key_text(out, "description", c.description());
      text_map("params", c.params());
      text_map("headers", c.headers());
      if (c.timeout_ms() != 0) {
        out << YAML::Key << "timeout" << YAML::Value << millis_text(c.timeout_ms());
      }
      const auto& r = c.retry();
      if (r.attempts() != 0 || r.backoff_ms() != 0 || r.max_backoff_ms() != 0) {
        out << YAML::Key << "retry" << YAML::Value << YAML::BeginMap;
        if (r.attempts() != 0) out << YAML::Key << "attempts" << YAML::Value << r.attempts();
        if (r.backoff_ms() != 0) {
          out << YAML::Key << "backoff" << YAML::Value << millis_text(r.backoff_ms());
        }
        if (r.max_backoff_ms() != 0) {
          out << YAML::Key << "max_backoff" << YAML::Value << millis_text(r.max_backoff_ms());
        }
        out << YAML::EndMap;
      }
      if (c.has_calendar()) {
        const auto& cal = c.calendar();
        out << YAML::Key << "calendar" << YAML::Value << YAML::BeginMap;
        if (!cal.zone().empty()) emit_key_text(out, "zone", cal.zone());
        text_list("days", cal.days());
        if (!cal.from().empty()) emit_key_text(out, "from", cal.from());
        if (!cal.to().empty()) emit_key_text(out, "to", cal.to());
        text_list("except", cal.except());
        out << YAML::EndMap;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!notifications.empty()) {
    out << YAML::Key << "notifications" << YAML::Value << YAML::BeginSeq;
    for (const auto& n : notifications) {
      out << YAML::BeginMap;
      emit_key_text(out, "name", n.name());
      if (!n.description().empty()) emit_key_text(out, "description", n.description());
      out << YAML::Key << "enabled" << YAML::Value << n.enabled();
      text_list("monitors", n.monitors());
      text_list("nodes", n.nodes());
      text_list("scopes", n.scopes());
      text_list("priorities", n.priorities());
      if (!n.pattern().empty()) emit_key_text(out, "pattern", n.pattern());
      text_list("channels", n.channels());
      if (n.after() != 0) out << YAML::Key << "after" << YAML::Value << n.after();
      if (!n.repeat().empty()) emit_key_text(out, "repeat", n.repeat());
      if (n.period_s() != 0) {
        out << YAML::Key << "period" << YAML::Value << seconds_text(n.period_s());
      }
      if (n.by_message()) out << YAML::Key << "by_message" << YAML::Value << true;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

bool Compiled::matches(const Occurrence& o) const {
  if (!def.enabled()) return false;
  if (!monitors.empty() && monitors.count(o.monitor) == 0) return false;
  if (!nodes.empty() && nodes.count(o.node) == 0) return false;
  if (!scopes.empty() && std::none_of(o.scopes.begin(), o.scopes.end(),
                                      [&](const std::string& s) { return scopes.count(s) != 0; })) {
    return false;
  }
  if (pattern && !std::regex_search(o.message, *pattern)) return false;
  return true;
}

std::string Compiled::key_of(const Occurrence& o) const {
  std::string key = o.node + '\x1f' + o.monitor + '\x1f' + def.name() + '\x1f' + o.sub_key;
  if (def.by_message()) key += '\x1f' + o.message.substr(0, 512);
  return key;
}

Result<Compiled> compile(const duet::v1::NotificationDef& given) {
  DUET_TRY(check_notification(given));
  Compiled c;
  c.def = with_defaults(given);
  c.monitors = {c.def.monitors().begin(), c.def.monitors().end()};
  c.nodes = {c.def.nodes().begin(), c.def.nodes().end()};
  c.scopes = {c.def.scopes().begin(), c.def.scopes().end()};
  for (const auto& p : c.def.priorities()) c.priorities.insert(*parse_priority(p));
  if (!c.def.pattern().empty()) {
    c.pattern.emplace(c.def.pattern(), std::regex::ECMAScript | std::regex::optimize);
  }
  c.suppression.after = c.def.after();
  c.suppression.repeat = *parse_repeat(c.def.repeat());
  c.suppression.period_ms = std::int64_t{c.def.period_s()} * 1000;
  return c;
}

}  // namespace duet::notify
