// snmp_recv: a minimal SNMP trap/inform receiver over the duet_snmp codec,
// for the net-snmp interop test. Listens on --listen, runs each datagram
// through process_inbound, answers informs with their Response and sends any
// Report the codec builds. Prints, per datagram:
//   ok VERSION PDU-TYPE community=C user=U level=L
//     vb OID = VALUE          (one line per varbind)
// or
//   error CODE: MESSAGE
// and exits after --count accepted messages (0) or --timeout-ms without one (1).
//
// --user NAME,AUTH,AUTHPASS,PRIV,PRIVPASS[,ENGINEID] (AUTH/PRIV may be none).

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <sstream>

#include "snmp/errors.h"
#include "snmp/inbound.h"
#include "tests/support/snmp_udp.h"

namespace {

using namespace duet::snmp;

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "snmp_recv: " << what << "\n";
  std::exit(2);
}

UsmUserConfig parse_user(const std::string& spec) {
  std::vector<std::string> parts;
  std::stringstream in(spec);
  std::string part;
  while (std::getline(in, part, ',')) parts.push_back(part);
  if (parts.size() != 5 && parts.size() != 6) {
    usage_error("--user '" + spec + "' must be NAME,AUTH,AUTHPASS,PRIV,PRIVPASS[,ENGINEID]");
  }
  UsmUserConfig u;
  u.name = parts[0];
  auto auth = parse_auth_protocol(parts[1]);
  auto priv = parse_priv_protocol(parts[3]);
  if (!auth.ok()) usage_error(auth.error().message);
  if (!priv.ok()) usage_error(priv.error().message);
  u.auth = *auth;
  u.auth_password = parts[2];
  u.priv = *priv;
  u.priv_password = parts[4];
  if (parts.size() == 6) {
    auto engine = parse_hex(parts[5]);
    if (!engine.ok()) usage_error(engine.error().message);
    u.engine_id = *engine;
  }
  return u;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen;
  std::vector<std::string> communities;
  std::vector<std::string> users;
  std::string engine_hex = "0x80001f8804647565742d74657374";  // "duet-test"
  int count = 1;
  int timeout_ms = 5000;
  CLI::App app{"snmp_recv: receive SNMP traps/informs and print them"};
  app.add_option("--listen", listen, "IPv4 HOST:PORT to bind")->required();
  app.add_option("--community", communities, "accepted v1/v2c community");
  app.add_option("--user", users, "NAME,AUTH,AUTHPASS,PRIV,PRIVPASS[,ENGINEID]");
  app.add_option("--engine-id", engine_hex, "this receiver's engine id (hex)");
  app.add_option("--count", count, "exit after this many accepted messages");
  app.add_option("--timeout-ms", timeout_ms, "exit 1 after this long without an accepted message");
  CLI11_PARSE(app, argc, argv);

  auto local = duet::snmp::testing::parse_peer(listen);
  if (!local) usage_error("--listen '" + listen + "' is not IPv4 HOST:PORT");
  auto engine_id = parse_hex(engine_hex);
  if (!engine_id.ok()) usage_error(engine_id.error().message);
  std::vector<UsmUserConfig> configs;
  for (const std::string& spec : users) configs.push_back(parse_user(spec));
  auto table = UsmUserTable::build(configs, *engine_id);
  if (!table.ok()) usage_error(table.error().message);
  const Credentials credentials{communities, std::move(table).value()};

  duet::snmp::testing::UdpSocket socket;
  if (!socket.ok() || !socket.bind(*local)) usage_error("cannot bind " + listen);
  std::cout << "listening " << listen << std::endl;

  const auto started = std::chrono::steady_clock::now();
  UsmStats stats;
  int accepted = 0;
  while (accepted < count) {
    duet::snmp::testing::UdpPeer from;
    auto datagram = socket.receive(timeout_ms, &from);
    if (!datagram) {
      std::cout << "timeout after " << accepted << " messages" << std::endl;
      return 1;
    }
    LocalEngine engine;
    engine.engine_id = *engine_id;
    engine.boots = 1;
    engine.time = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count());
    InboundResult r = process_inbound(*datagram, credentials, engine, stats);
    if (!r.report.empty()) socket.send_to(from, r.report);
    if (!r.message.ok()) {
      std::cout << "error " << r.message.error().code.message() << ": " << r.message.error().message
                << std::endl;
      continue;
    }
    const InboundMessage& m = *r.message;
    ++accepted;
    std::cout << "ok " << to_string(m.version) << " " << to_string(pdu_type(m.pdu))
              << " community=" << m.community << " user=" << m.user_name
              << " level=" << to_string(m.level) << std::endl;
    if (const auto* trap = std::get_if<TrapV1Pdu>(&m.pdu)) {
      std::cout << "  v1 enterprise=" << trap->enterprise.to_string()
                << " generic=" << trap->generic_trap << " specific=" << trap->specific_trap
                << std::endl;
    }
    for (const Varbind& vb : varbinds_of(m.pdu)) std::cout << "  vb " << to_string(vb) << std::endl;
    if (pdu_type(m.pdu) == PduType::kInformRequest) {
      auto response = build_inform_response(m, credentials, engine, random_salt());
      if (response.ok()) {
        socket.send_to(from, *response);
      } else {
        std::cout << "response failed: " << response.error().message << std::endl;
      }
    }
  }
  return 0;
}
