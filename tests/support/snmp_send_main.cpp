// snmp_send: sends SNMP traps or informs over UDP, for integration tests and
// benchmarks of the trap receiver.
//
//   snmp_send --target 127.0.0.11:1162 -v 2c -c public --count 100
//   snmp_send --target 127.0.0.11:1162 -v 3 -u ops -a SHA-256 -A authpass
//             -x AES -X privpass --inform --timeout-ms 2000
//
// Traps are sent --count times, --interval-ms apart. Each gets sysUpTime
// --uptime + i (distinct events) unless --same (identical repeats). Informs
// wait for their Response (--timeout-ms, --retries). v3 traps use the
// sender's own engine id (-e); v3 informs first discover the manager's
// engine id, boots and time with a probe. Prints one summary line
// "sent=N acknowledged=M failed=K"; exit 0 when every inform was
// acknowledged (or traps were sent), 1 otherwise, 2 on a usage error.

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>

#include "snmp/notification.h"
#include "tests/support/snmp_udp.h"

namespace {

using namespace duet::snmp;
using duet::snmp::testing::UdpPeer;
using duet::snmp::testing::UdpSocket;

struct Options {
  std::string target;
  std::string version = "2c";
  std::string community = "public";
  bool inform = false;
  int count = 1;
  int interval_ms = 0;
  int timeout_ms = 1000;
  int retries = 2;
  bool same = false;
  uint32_t uptime = 100;
  std::string trap_oid = "1.3.6.1.6.3.1.1.5.1";
  std::vector<std::string> varbinds;
  std::string enterprise = "1.3.6.1.4.1.8072.3.2.10";
  std::string agent_addr = "127.0.0.1";
  int generic = 6;
  int specific = 1;
  std::string user;
  std::string auth = "none";
  std::string auth_pass;
  std::string priv = "none";
  std::string priv_pass;
  std::string engine_id = "0x80001f88046475657473656e64";  // "duetsend"
  uint32_t boots = 1;
  uint32_t time = 0;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "snmp_send: " << what << "\n";
  std::exit(2);
}

template <typename T>
T must(duet::Result<T> r, const std::string& what) {
  if (!r.ok()) usage_error(what + ": " + r.error().message);
  return std::move(r).value();
}

class Sender {
 public:
  Sender(const Options& o, UdpPeer target) : o_(o), target_(target) {
    request_id_ = static_cast<int32_t>(random_salt() & 0x3FFFFFFF);
    for (const std::string& vb : o.varbinds) {
      const size_t eq = vb.find('=');
      if (eq == std::string::npos) usage_error("--varbind '" + vb + "' must be OID=TYPE:VALUE");
      extra_.push_back({must(Oid::parse(vb.substr(0, eq)), "--varbind"),
                        must(parse_value(vb.substr(eq + 1)), "--varbind")});
    }
    trap_oid_ = must(Oid::parse(o.trap_oid), "--trap-oid");
    if (o.version == "3") {
      UsmUserConfig user;
      user.name = o.user;
      user.auth = must(parse_auth_protocol(o.auth), "-a");
      user.auth_password = o.auth_pass;
      user.priv = must(parse_priv_protocol(o.priv), "-x");
      user.priv_password = o.priv_pass;
      user_ = user;
      own_engine_ = must(parse_hex(o.engine_id), "-e");
    }
  }

  // Returns true when the notification went out (and, for informs, was acknowledged).
  bool send_one(int i) {
    const uint32_t uptime = o_.same ? o_.uptime : o_.uptime + static_cast<uint32_t>(i);
    const int32_t rid = request_id_++;
    if (o_.version == "1") {
      TrapV1Pdu trap;
      trap.enterprise = must(Oid::parse(o_.enterprise), "--enterprise");
      auto addr = must(parse_value("a:" + o_.agent_addr), "--agent-addr");
      trap.agent_addr = std::get<IpAddress>(addr).octets;
      trap.generic_trap = o_.generic;
      trap.specific_trap = o_.specific;
      trap.time_stamp = uptime;
      trap.varbinds = extra_;
      return socket_.send_to(target_, must(build_v1_trap(o_.community, trap), "v1 trap"));
    }
    const PduType type = o_.inform ? PduType::kInformRequest : PduType::kTrapV2;
    auto varbinds = notification_varbinds(uptime, trap_oid_, extra_);
    if (o_.version == "2c") {
      Bytes msg = must(build_v2c_notification(o_.community, type, rid, varbinds), "v2c");
      return o_.inform ? exchange(msg, rid, nullptr) : socket_.send_to(target_, msg);
    }
    if (!o_.inform) {
      // Localizing costs a megabyte of hashing per password: once per run.
      if (!own_keys_) own_keys_ = must(localize_user(user_, own_engine_), "user");
      SealParams p = params(*own_keys_, own_engine_, o_.boots, o_.time);
      return socket_.send_to(target_,
                             must(build_v3_notification(p, *own_keys_, type, rid, varbinds), "v3"));
    }
    if (!discovered_ && !discover()) return false;
    for (int attempt = 0; attempt < 2; ++attempt) {
      SealParams p = params(*manager_keys_, manager_engine_, boots_, current_time());
      Bytes msg = must(build_v3_notification(p, *manager_keys_, type, rid, varbinds), "v3");
      std::optional<V3Reply> report;
      if (exchange(msg, rid, &report)) return true;
      if (!report) return false;
      // usmStatsNotInTimeWindows: take the manager's clock and try once more.
      boots_ = report->usm.engine_boots;
      set_time(report->usm.engine_time);
    }
    return false;
  }

 private:
  SealParams params(const UsmKeys& keys, const Bytes& engine, uint32_t boots, uint32_t time) {
    SealParams p;
    p.msg_id = static_cast<int32_t>(random_salt() & 0x3FFFFFFF);
    p.level = keys.level();
    p.engine_id = engine;
    p.engine_boots = boots;
    p.engine_time = time;
    p.salt = random_salt();
    return p;
  }

  void set_time(uint32_t t) {
    time_base_ = t;
    time_at_ = std::chrono::steady_clock::now();
  }
  uint32_t current_time() const {
    return time_base_ + static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                  std::chrono::steady_clock::now() - time_at_)
                                                  .count());
  }

  bool discover() {
    const int32_t rid = request_id_++;
    Bytes probe = must(build_discovery_probe(rid, rid), "probe");
    for (int attempt = 0; attempt <= o_.retries; ++attempt) {
      if (!socket_.send_to(target_, probe)) return false;
      auto reply = socket_.receive(o_.timeout_ms, nullptr);
      if (!reply) continue;
      auto opened = open_v3_reply(*reply, nullptr);
      if (!opened.ok() || opened->scoped.pdu.type != PduType::kReport) {
        std::cerr << "snmp_send: unexpected discovery reply\n";
        return false;
      }
      manager_engine_ = opened->usm.engine_id;
      boots_ = opened->usm.engine_boots;
      set_time(opened->usm.engine_time);
      manager_keys_ = must(localize_user(user_, manager_engine_), "user");
      discovered_ = true;
      return true;
    }
    std::cerr << "snmp_send: no discovery reply\n";
    return false;
  }

  // Sends `msg` until a Response with `rid` arrives. A v3 Report is returned
  // in `report` (when given) and ends the exchange.
  bool exchange(const Bytes& msg, int32_t rid, std::optional<V3Reply>* report) {
    for (int attempt = 0; attempt <= o_.retries; ++attempt) {
      if (!socket_.send_to(target_, msg)) return false;
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.timeout_ms);
      while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) break;
        auto reply = socket_.receive(static_cast<int>(left), nullptr);
        if (!reply) break;
        if (o_.version == "2c") {
          auto m = decode_community_message(*reply);
          if (m.ok() && pdu_type(m->pdu) == PduType::kResponse &&
              std::get<Pdu>(m->pdu).request_id == rid) {
            return true;
          }
          continue;
        }
        auto opened = open_v3_reply(*reply, manager_keys_ ? &*manager_keys_ : nullptr);
        if (!opened.ok()) {
          std::cerr << "snmp_send: bad reply: " << opened.error().message << "\n";
          continue;
        }
        if (opened->scoped.pdu.type == PduType::kReport && report != nullptr) {
          const auto& vbs = opened->scoped.pdu.varbinds;
          std::cerr << "snmp_send: report " << (vbs.empty() ? "" : to_string(vbs[0])) << "\n";
          *report = *opened;
          return false;
        }
        if (opened->scoped.pdu.type == PduType::kResponse && opened->scoped.pdu.request_id == rid) {
          return true;
        }
      }
    }
    return false;
  }

  const Options& o_;
  UdpPeer target_;
  UdpSocket socket_;
  int32_t request_id_ = 1;
  std::vector<Varbind> extra_;
  Oid trap_oid_;
  UsmUserConfig user_;
  Bytes own_engine_;
  std::optional<UsmKeys> own_keys_;
  bool discovered_ = false;
  Bytes manager_engine_;
  std::optional<UsmKeys> manager_keys_;
  uint32_t boots_ = 0;
  uint32_t time_base_ = 0;
  std::chrono::steady_clock::time_point time_at_{};
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"snmp_send: send SNMP traps or informs over UDP"};
  app.add_option("--target", o.target, "HOST:PORT of the receiver (IPv4)")->required();
  app.add_option("-v,--version", o.version, "1, 2c or 3")->check(CLI::IsMember({"1", "2c", "3"}));
  app.add_option("-c,--community", o.community, "v1/v2c community");
  app.add_flag("--inform", o.inform, "send InformRequests and wait for each Response (v2c, v3)");
  app.add_option("--count", o.count, "how many to send");
  app.add_option("--interval-ms", o.interval_ms, "pause between sends");
  app.add_option("--timeout-ms", o.timeout_ms, "inform: wait per attempt");
  app.add_option("--retries", o.retries, "inform: retransmissions");
  app.add_flag("--same", o.same, "identical repeats (same sysUpTime) instead of distinct events");
  app.add_option("--uptime", o.uptime, "sysUpTime (v1: time-stamp) of the first notification");
  app.add_option("--trap-oid", o.trap_oid, "snmpTrapOID (v2c/v3)");
  app.add_option("--varbind", o.varbinds, "OID=TYPE:VALUE, TYPE one of i u c C t s x o a n");
  app.add_option("--enterprise", o.enterprise, "v1 enterprise OID");
  app.add_option("--agent-addr", o.agent_addr, "v1 agent-addr");
  app.add_option("--generic", o.generic, "v1 generic-trap");
  app.add_option("--specific", o.specific, "v1 specific-trap");
  app.add_option("-u,--user", o.user, "v3 user name");
  app.add_option("-a,--auth", o.auth, "none, MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512");
  app.add_option("-A,--auth-pass", o.auth_pass, "auth password");
  app.add_option("-x,--priv", o.priv, "none, DES, AES");
  app.add_option("-X,--priv-pass", o.priv_pass, "privacy password");
  app.add_option("-e,--engine-id", o.engine_id, "v3 traps: this sender's engine id (hex)");
  app.add_option("--boots", o.boots, "v3 traps: this sender's engine boots");
  app.add_option("--time", o.time, "v3 traps: this sender's engine time");
  CLI11_PARSE(app, argc, argv);
  if (o.inform && o.version == "1") usage_error("v1 has no informs");
  if (o.version == "3" && o.user.empty()) usage_error("v3 needs -u USER");
  auto target = duet::snmp::testing::parse_peer(o.target);
  if (!target) usage_error("--target '" + o.target + "' is not IPv4 HOST:PORT");

  Sender sender(o, *target);
  int acknowledged = 0;
  int failed = 0;
  for (int i = 0; i < o.count; ++i) {
    if (sender.send_one(i)) {
      ++acknowledged;
    } else {
      ++failed;
    }
    if (o.interval_ms > 0) ::usleep(static_cast<useconds_t>(o.interval_ms) * 1000);
  }
  std::cout << "sent=" << o.count << " acknowledged=" << (o.inform ? acknowledged : 0)
            << " failed=" << failed << std::endl;
  return failed == 0 ? 0 : 1;
}
