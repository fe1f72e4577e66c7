#include "monitors/check.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/errors.h"
#include "monitors/command.h"
#include "monitors/dns.h"
#include "monitors/http.h"
#include "monitors/log_file.h"
#include "monitors/ntp.h"
#include "monitors/ping.h"
#include "monitors/port.h"
#include "monitors/process.h"
#include "monitors/resource.h"
#include "monitors/snmp_get.h"
#include "snmp/usm.h"

namespace duet::monitors {
namespace {

using Params = google::protobuf::Map<std::string, std::string>;
using Clock = std::chrono::steady_clock;

Error bad(const std::string& field, const std::string& why) {
  return make_error(CommonErrc::kInvalidArgument, field + ": " + why);
}

// Reads the kind's params; remembers which keys were read so that an
// unknown one (a typo) is refused.
class ParamReader {
 public:
  explicit ParamReader(const Params& p) : p_(p) {}
  std::string text(const std::string& key, const std::string& fallback = "") {
    seen_.insert(key);
    auto it = p_.find(key);
    return it == p_.end() ? fallback : it->second;
  }
  Result<std::string> required(const std::string& key) {
    auto v = text(key);
    if (v.empty()) return bad("params." + key, "required");
    return v;
  }
  Result<long long> integer(const std::string& key, long long fallback, long long lo,
                            long long hi) {
    auto v = text(key);
    if (v.empty()) return fallback;
    try {
      std::size_t used = 0;
      long long n = std::stoll(v, &used);
      if (used != v.size()) throw std::invalid_argument("trailing");
      if (n < lo || n > hi) {
        return bad("params." + key,
                   "'" + v + "' is outside " + std::to_string(lo) + ".." + std::to_string(hi));
      }
      return n;
    } catch (const std::exception&) {
      return bad("params." + key, "'" + v + "' is not a whole number");
    }
  }
  Result<bool> boolean(const std::string& key, bool fallback) {
    auto v = text(key);
    if (v.empty()) return fallback;
    if (v == "true" || v == "yes" || v == "1") return true;
    if (v == "false" || v == "no" || v == "0") return false;
    return bad("params." + key, "'" + v + "' is not true or false");
  }
  Status no_others() const {
    for (const auto& [k, v] : p_) {
      if (seen_.count(k) == 0) return bad("params." + k, "not a setting of this kind");
    }
    return ok_status();
  }

 private:
  const Params& p_;
  std::set<std::string> seen_;
};

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Measurement failed(std::string why) {
  Measurement m;
  m.ok = false;
  m.error = std::move(why);
  return m;
}

void add(Measurement& m, std::string name, double value, std::string label = "") {
  m.metrics.push_back({std::move(name), std::move(label), value});
}

std::vector<CheckOutput> one(Measurement m) {
  std::vector<CheckOutput> out(1);
  out[0].measurement = std::move(m);
  return out;
}

std::chrono::milliseconds timeout_of(const duet::v1::MonitorDef& def) {
  return std::chrono::seconds(def.timeout_s() == 0 ? 10 : def.timeout_s());
}

class PingKind final : public Check {
 public:
  explicit PingKind(PingCheck c) : c_(std::move(c)) {}
  std::vector<CheckOutput> run() override {
    auto r = ping(c_);
    if (!r.ran()) return one(failed(r.error));
    Measurement m;
    add(m, "loss_percent", r.loss_percent);
    if (r.received > 0) {
      add(m, "rtt_avg_ms", r.rtt_avg_ms);
      add(m, "rtt_max_ms", r.rtt_max_ms);
    }
    m.text = std::to_string(r.received) + "/" + std::to_string(r.sent) + " replies";
    return one(std::move(m));
  }

 private:
  PingCheck c_;
};

class PortKind final : public Check {
 public:
  explicit PortKind(PortCheck c) : c_(std::move(c)) {}
  std::vector<CheckOutput> run() override {
    auto r = check_port(c_);
    if (!r.ok()) return one(failed(r.error.empty() ? "not connected" : r.error));
    Measurement m;
    add(m, "connect_ms", static_cast<double>(r.connect_time.count()) / 1000.0);
    m.text = r.greeting;
    return one(std::move(m));
  }

 private:
  PortCheck c_;
};

class HttpKind final : public Check {
 public:
  explicit HttpKind(HttpCheck c) : c_(std::move(c)) {}
  std::vector<CheckOutput> run() override {
    auto r = check_http(c_);
    if (!r.ok()) return one(failed(r.error()));
    Measurement m;
    add(m, "response_ms", static_cast<double>(r.total_time.count()) / 1000.0);
    if (!r.steps.empty()) add(m, "status", r.steps.back().status);
    if (r.cert_days_left) add(m, "cert_days_left", *r.cert_days_left);
    m.text = r.steps.empty() ? std::string() : "HTTP " + std::to_string(r.steps.back().status);
    return one(std::move(m));
  }

 private:
  HttpCheck c_;
};

class DnsKind final : public Check {
 public:
  explicit DnsKind(DnsCheck c) : c_(std::move(c)) {}
  std::vector<CheckOutput> run() override {
    auto r = check_dns(c_);
    if (!r.ok()) return one(failed(r.error().message));
    if (!r->ok()) return one(failed(r->error));
    Measurement m;
    add(m, "response_ms", static_cast<double>(r->response_time.count()) / 1000.0);
    add(m, "answers", static_cast<double>(r->answers.size()));
    for (const auto& a : r->answers) m.text += (m.text.empty() ? "" : " ") + a;
    return one(std::move(m));
  }

 private:
  DnsCheck c_;
};

class NtpKind final : public Check {
 public:
  explicit NtpKind(NtpCheck c) : c_(std::move(c)) {}
  std::vector<CheckOutput> run() override {
    auto r = check_ntp(c_);
    if (!r.ok()) return one(failed(r.error().message));
    if (!r->ok()) return one(failed(r->error));
    Measurement m;
    add(m, "offset_ms", r->offset_ms);
    add(m, "abs_offset_ms", r->offset_ms < 0 ? -r->offset_ms : r->offset_ms);
    add(m, "delay_ms", r->delay_ms);
    add(m, "stratum", r->stratum);
    m.text = "stratum " + std::to_string(r->stratum) + " ref " + r->reference_id;
    return one(std::move(m));
  }

 private:
  NtpCheck c_;
};

class SnmpGetKind final : public Check {
 public:
  explicit SnmpGetKind(SnmpGetCheck c) : c_(std::move(c)) {}
  std::vector<CheckOutput> run() override {
    auto r = snmp_get(c_);
    if (!r.ok()) return one(failed(r.error().message));
    if (!r->ok()) return one(failed(to_string(r->failure) + ": " + r->error));
    Measurement m;
    for (const auto& v : r->values) {
      if (!v.ok()) return one(failed(v.oid + ": " + v.error));
      if (v.number) add(m, "value", *v.number, v.oid);
      m.text += (m.text.empty() ? "" : " ") + v.text;
    }
    add(m, "response_ms", static_cast<double>(r->response_time.count()) / 1000.0);
    return one(std::move(m));
  }

 private:
  SnmpGetCheck c_;
};

Measurement from_metrics(const std::vector<Metric>& metrics) {
  Measurement m;
  for (const auto& x : metrics) add(m, x.name, x.value, x.label);
  return m;
}

class ProcessKind final : public Check {
 public:
  explicit ProcessKind(ProcessSampler s) : s_(std::move(s)) {}
  std::vector<CheckOutput> run() override {
    auto now = s_.sample();
    if (!now.ok()) return one(failed(now.error().message));
    const auto at = Clock::now();
    const double seconds = before_ ? std::chrono::duration<double>(at - before_at_).count() : 0.0;
    auto metrics = process_metrics(*now, before_ ? &*before_ : nullptr, seconds,
                                   static_cast<double>(sysconf(_SC_CLK_TCK)));
    before_ = std::move(*now);
    before_at_ = at;
    return one(from_metrics(metrics));
  }

 private:
  ProcessSampler s_;
  std::optional<ProcessSample> before_;
  Clock::time_point before_at_;
};

class ResourceKind final : public Check {
 public:
  std::vector<CheckOutput> run() override {
    auto now = s_.sample();
    if (!now.ok()) return one(failed(now.error().message));
    const auto at = Clock::now();
    const double seconds = before_ ? std::chrono::duration<double>(at - before_at_).count() : 0.0;
    auto metrics = resource_metrics(*now, before_ ? &*before_ : nullptr, seconds);
    before_ = std::move(*now);
    before_at_ = at;
    return one(from_metrics(metrics));
  }

 private:
  ResourceSampler s_;
  std::optional<ResourceSample> before_;
  Clock::time_point before_at_;
};

class CommandKind final : public Check {
 public:
  explicit CommandKind(CommandSpec s) : s_(std::move(s)) {}
  std::vector<CheckOutput> run() override {
    auto r = run_command(s_);
    if (!r.ok()) return one(failed(r.error().message));
    if (r->timed_out) {
      return one(failed("timed out after " + std::to_string(s_.timeout.count()) + " ms"));
    }
    Measurement m;
    if (r->value) add(m, "value", *r->value);
    if (r->exit_code) {
      add(m, "exit_code", *r->exit_code);
    } else if (r->signal) {
      return one(failed("killed by signal " + std::to_string(*r->signal)));
    }
    auto first_line = r->stdout_text.substr(0, r->stdout_text.find('\n'));
    m.text = first_line.substr(0, 1024);
    return one(std::move(m));
  }

 private:
  CommandSpec s_;
};

class LogFileKind final : public Check {
 public:
  LogFileKind(std::string monitor, std::string path, std::optional<LogPosition> from,
              std::vector<LogRule> rules)
      : key_("log:" + monitor), follower_(std::move(path), from), rules_(std::move(rules)) {}
  std::vector<CheckOutput> run() override {
    std::vector<CheckOutput> out;
    auto lines = follower_.poll();
    if (!lines.ok()) return one(failed(lines.error().message));
    for (auto& line : *lines) {
      last_ = line.end;
      if (!rules_.empty() && !classify_line(rules_, line.text)) continue;
      CheckOutput o;
      o.measurement.text = std::move(line.text);
      if (line.cut) o.measurement.text += " [cut]";
      o.position = std::make_pair(key_, line.end.to_text());
      out.push_back(std::move(o));
    }
    return out;
  }
  std::optional<std::pair<std::string, std::string>> idle_position() const override {
    if (!last_) return std::nullopt;
    return std::make_pair(key_, last_->to_text());
  }

 private:
  std::string key_;
  LogFollower follower_;
  std::vector<LogRule> rules_;
  std::optional<LogPosition> last_;
};

Result<std::string> target_host(ParamReader& p, const CheckContext& ctx) {
  auto host = p.text("host");
  if (host.empty()) host = ctx.node_address;
  if (host.empty()) {
    return bad("params.host", "required: the node '" + ctx.node + "' has no address");
  }
  return host;
}

Result<std::unique_ptr<Check>> build(const duet::v1::MonitorDef& def, const CheckContext& ctx) {
  ParamReader p(def.params());
  const auto timeout = timeout_of(def);
  std::unique_ptr<Check> check;
  const std::string& kind = def.kind();
  if (kind == "ping") {
    PingCheck c;
    DUET_ASSIGN_OR_RETURN(c.address, target_host(p, ctx));
    DUET_ASSIGN_OR_RETURN(auto count, p.integer("count", 3, 1, 100));
    DUET_ASSIGN_OR_RETURN(auto interval, p.integer("interval_ms", 1000, 10, 60000));
    c.count = static_cast<int>(count);
    c.interval = std::chrono::milliseconds(interval);
    c.timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(2000));
    check = std::make_unique<PingKind>(std::move(c));
  } else if (kind == "port") {
    PortCheck c;
    DUET_ASSIGN_OR_RETURN(c.host, target_host(p, ctx));
    DUET_ASSIGN_OR_RETURN(auto port, p.integer("port", 0, 1, 65535));
    if (port == 0) return bad("params.port", "required");
    c.port = static_cast<std::uint16_t>(port);
    const auto proto = p.text("protocol", "tcp");
    static const std::map<std::string, Greeting> kGreetings{{"tcp", Greeting::kNone},
                                                            {"smtp", Greeting::kSmtp},
                                                            {"ftp", Greeting::kFtp},
                                                            {"pop3", Greeting::kPop3},
                                                            {"imap", Greeting::kImap}};
    auto it = kGreetings.find(proto);
    if (it == kGreetings.end()) {
      return bad("params.protocol", "'" + proto + "' is not one of tcp, smtp, ftp, pop3, imap");
    }
    c.greeting = it->second;
    c.timeout = timeout;
    check = std::make_unique<PortKind>(std::move(c));
  } else if (kind == "http") {
    HttpCheck c;
    HttpStep step;
    DUET_ASSIGN_OR_RETURN(step.url, p.required("url"));
    step.method = p.text("method", "GET");
    step.body = p.text("body");
    step.body_regex = p.text("body_regex");
    if (!step.body_regex.empty()) {
      try {
        std::regex test(step.body_regex);
      } catch (const std::regex_error& e) {
        return bad("params.body_regex", std::string("not a valid regex: ") + e.what());
      }
    }
    for (const auto& s : {p.text("expect_status")}) {
      std::size_t start = 0;
      while (start < s.size()) {
        auto comma = s.find(',', start);
        auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        try {
          step.expect_status.push_back(std::stoi(item));
        } catch (const std::exception&) {
          return bad("params.expect_status", "'" + item + "' is not a status code");
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    DUET_ASSIGN_OR_RETURN(c.verify_tls, p.boolean("verify_tls", true));
    DUET_ASSIGN_OR_RETURN(c.follow_redirects, p.boolean("follow_redirects", false));
    c.ca_file = p.text("ca_file");
    c.timeout = timeout;
    c.steps.push_back(std::move(step));
    check = std::make_unique<HttpKind>(std::move(c));
  } else if (kind == "process") {
    ProcessMatch m;
    m.name = p.text("name");
    m.args = p.text("args");
    DUET_ASSIGN_OR_RETURN(m.include_zombies, p.boolean("include_zombies", false));
    if (m.name.empty() && m.args.empty()) return bad("params.name", "give name or args");
    auto sampler = ProcessSampler::create(std::move(m));
    if (!sampler.ok()) return bad("params", sampler.error().message);
    check = std::make_unique<ProcessKind>(std::move(*sampler));
  } else if (kind == "resource") {
    check = std::make_unique<ResourceKind>();
  } else if (kind == "command") {
    CommandSpec s;
    DUET_ASSIGN_OR_RETURN(s.command, p.required("command"));
    s.working_directory = p.text("working_directory");
    s.timeout = timeout;
    check = std::make_unique<CommandKind>(std::move(s));
  } else if (kind == "log_file") {
    DUET_ASSIGN_OR_RETURN(auto path, p.required("path"));
    if (auto poll = p.integer("poll_ms", 1000, 100, 60000); !poll.ok()) return poll.error();
    std::vector<LogRule> rules;
    for (const auto& pat : def.judgement().patterns()) {
      try {
        rules.push_back(LogRule{std::regex(pat.regex()), pat.priority()});
      } catch (const std::regex_error& e) {
        return bad("judgement.patterns", std::string("not a valid regex: ") + e.what());
      }
    }
    std::optional<LogPosition> from;
    if (ctx.load_position) {
      if (auto text = ctx.load_position("log:" + def.name())) from = LogPosition::from_text(*text);
    }
    check = std::make_unique<LogFileKind>(def.name(), std::move(path), from, std::move(rules));
  } else if (kind == "dns") {
    DnsCheck c;
    DUET_ASSIGN_OR_RETURN(c.server, target_host(p, ctx));
    DUET_ASSIGN_OR_RETURN(auto port, p.integer("port", 53, 1, 65535));
    c.port = static_cast<std::uint16_t>(port);
    DUET_ASSIGN_OR_RETURN(c.name, p.required("name"));
    c.type = p.text("type", "A");
    if (!dns_type_from_name(c.type))
      return bad("params.type", "'" + c.type + "' is not a record type");
    if (auto e = p.text("expect"); !e.empty()) c.expect = e;
    DUET_ASSIGN_OR_RETURN(c.expect_regex, p.boolean("expect_regex", false));
    c.timeout = timeout;
    check = std::make_unique<DnsKind>(std::move(c));
  } else if (kind == "ntp") {
    NtpCheck c;
    DUET_ASSIGN_OR_RETURN(c.server, target_host(p, ctx));
    DUET_ASSIGN_OR_RETURN(auto port, p.integer("port", 123, 1, 65535));
    c.port = static_cast<std::uint16_t>(port);
    c.timeout = timeout;
    check = std::make_unique<NtpKind>(std::move(c));
  } else if (kind == "snmp_get") {
    SnmpGetCheck c;
    DUET_ASSIGN_OR_RETURN(c.host, target_host(p, ctx));
    DUET_ASSIGN_OR_RETURN(auto port, p.integer("port", 161, 1, 65535));
    c.port = static_cast<std::uint16_t>(port);
    DUET_ASSIGN_OR_RETURN(auto oids, p.required("oids"));
    std::size_t start = 0;
    while (start <= oids.size()) {
      const auto comma = oids.find(',', start);
      auto oid = oids.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!oid.empty()) c.oids.push_back(oid);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    const auto version = p.text("version", "v2c");
    if (version == "v1") {
      c.version = snmp::Version::kV1;
    } else if (version == "v2c") {
      c.version = snmp::Version::kV2c;
    } else if (version == "v3") {
      c.version = snmp::Version::kV3;
    } else {
      return bad("params.version", "'" + version + "' is not v1, v2c or v3");
    }
    c.community = p.text("community", "public");
    c.user = p.text("user");
    if (auto a = p.text("auth"); !a.empty()) {
      auto proto = snmp::parse_auth_protocol(a);
      if (!proto.ok()) return bad("params.auth", proto.error().message);
      c.auth = *proto;
    }
    c.auth_password = p.text("auth_password");
    if (auto a = p.text("priv"); !a.empty()) {
      auto proto = snmp::parse_priv_protocol(a);
      if (!proto.ok()) return bad("params.priv", proto.error().message);
      c.priv = *proto;
    }
    c.priv_password = p.text("priv_password");
    c.context = p.text("context");
    DUET_ASSIGN_OR_RETURN(auto retries, p.integer("retries", 1, 0, 10));
    c.retries = static_cast<int>(retries);
    c.timeout = std::max(std::chrono::milliseconds(100), timeout / (c.retries + 1));
    check = std::make_unique<SnmpGetKind>(std::move(c));
  } else {
    std::string kinds;
    for (const auto& k : check_kinds()) kinds += (kinds.empty() ? "" : ", ") + k;
    return bad("kind", "'" + kind + "' is not one of " + kinds);
  }
  DUET_TRY(p.no_others());
  return check;
}

}  // namespace

const std::vector<std::string>& check_kinds() {
  static const std::vector<std::string> kinds{"command", "dns",  "http",    "log_file", "ntp",
                                              "ping",    "port", "process", "resource", "snmp_get"};
  return kinds;
}

std::chrono::milliseconds run_every(const duet::v1::MonitorDef& def) {
  if (def.kind() == "log_file") {
    auto it = def.params().find("poll_ms");
    long long ms = 1000;
    if (it != def.params().end()) {
      try {
        ms = std::clamp(std::stoll(it->second), 100LL, 60000LL);
      } catch (const std::exception&) {
      }
    }
    return std::chrono::milliseconds(ms);
  }
  return std::chrono::seconds(
      def.interval_s() == 0 ? 60 : std::max<std::uint32_t>(10, def.interval_s()));
}

bool event_per_result(const std::string& kind) { return kind == "log_file"; }

Result<Judgement> judgement_of(const duet::v1::MonitorDef& def) {
  JudgementSpec spec;
  const auto& j = def.judgement();
  spec.metric = j.metric();
  spec.info_range = j.info_range();
  spec.warning_range = j.warning_range();
  for (const auto& p : j.patterns()) spec.patterns.emplace_back(p.regex(), p.priority());
  spec.otherwise = j.otherwise();
  return compile_judgement(spec);
}

Status validate_monitor(const duet::v1::MonitorDef& def) {
  if (def.name().empty()) return bad("name", "required");
  for (char c : def.name()) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return bad("name", "control characters are not allowed");
    }
  }
  if (def.node().empty() == def.scope().empty()) {
    return bad("target", "give a node or a scope (one of them)");
  }
  if (!def.runs_on().empty() && def.runs_on() != "agent" && def.runs_on() != "manager") {
    return bad("runs_on", "'" + def.runs_on() + "' is not agent or manager");
  }
  if (def.interval_s() != 0 && (def.interval_s() < 10 || def.interval_s() > 86400)) {
    return bad("interval", std::to_string(def.interval_s()) + " s is outside 10 s .. 24 h");
  }
  if (def.timeout_s() > 3600) return bad("timeout", "at most 1 h");
  if (def.interval_s() != 0 && def.timeout_s() > def.interval_s()) {
    return bad("timeout", "longer than the interval");
  }
  if (def.kind() == "log_file" && def.runs_on() == "manager") {
    return bad("runs_on", "a log file is read by the agent on its node");
  }
  auto j = judgement_of(def);
  if (!j.ok()) return j.error();
  // The params, with a stand-in address so that a scope target validates too.
  CheckContext ctx{"(validation)", "127.0.0.1", {}};
  auto c = build(def, ctx);
  if (!c.ok()) return c.error();
  return ok_status();
}

Result<std::unique_ptr<Check>> make_check(const duet::v1::MonitorDef& def,
                                          const CheckContext& context) {
  return build(def, context);
}

std::string canonical_bytes(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

duet::v1::MonitorResult to_result(const Measurement& m, const std::string& monitor,
                                  const std::string& node, std::int64_t started_at_ms,
                                  std::uint32_t duration_ms) {
  duet::v1::MonitorResult r;
  r.set_monitor(monitor);
  r.set_node(node);
  r.set_started_at_ms(started_at_ms != 0 ? started_at_ms : unix_ms_now());
  r.set_duration_ms(duration_ms);
  r.set_ok(m.ok);
  r.set_error(m.error);
  r.set_text(m.text);
  for (const auto& x : m.metrics) {
    auto* v = r.add_metrics();
    v->set_name(x.name);
    v->set_label(x.label);
    v->set_value(x.value);
  }
  return r;
}

Measurement to_measurement(const duet::v1::MonitorResult& r) {
  Measurement m;
  m.ok = r.ok();
  m.error = r.error();
  m.text = r.text();
  for (const auto& v : r.metrics()) m.metrics.push_back({v.name(), v.label(), v.value()});
  return m;
}

}  // namespace duet::monitors
