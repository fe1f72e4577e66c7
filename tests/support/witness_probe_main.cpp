// witness_probe: one Acquire or Release call to a duet-witness, for shell
// tests. Prints the reply as one JSON object and exits 0; when the call
// fails (unreachable, TLS refused, deadline) prints {"error","code"} and
// exits 1.
//
// With --guard-ms N it instead runs the manager's WitnessGuard (the real
// gRPC link) for N ms wanting --epoch, prints each verdict as a JSON line
// {"ok","valid_for_ms","detail"}, then stops it (which releases the lease)
// and gives the release 500 ms to go out.

#include <grpc/support/time.h>
#include <grpcpp/create_channel.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/tls.h"
#include "duet/v1/witness.grpc.pb.h"
#include "ha/witness_guard.h"

namespace {

int run_guard(const std::string& address, const duet::TlsConfig& tls, const std::string& pair,
              const std::string& node, std::uint64_t epoch, std::int64_t lease_ms,
              std::int64_t interval_ms, std::int64_t run_ms) {
  std::string why;
  duet::WitnessClientConfig config;
  auto hp = duet::parse_host_port(address, &why);
  if (!hp) {
    std::cerr << "witness_probe: --witness: " << why << "\n";
    return 2;
  }
  config.address = *hp;
  config.lease_ms = lease_ms;
  boost::asio::io_context io;
  duet::SystemClock clock(io.get_executor());
  auto guard = std::make_unique<duet::ha::WitnessGuard>(
      io.get_executor(), clock, config, tls, node, pair, std::chrono::milliseconds(interval_ms));
  guard->want_lease(epoch);
  guard->start([&](const duet::ha::GuardVerdict& v) {
    const auto left =
        v.valid_until == duet::TimePoint{}
            ? 0
            : std::chrono::duration_cast<std::chrono::milliseconds>(v.valid_until - clock.now())
                  .count();
    std::cout << nlohmann::json{{"ok", v.ok}, {"valid_for_ms", left}, {"detail", v.detail}}.dump()
              << std::endl;
  });
  clock.call_after(std::chrono::milliseconds(run_ms), [&] {
    guard->stop();
    clock.call_after(std::chrono::milliseconds(500), [&] { io.stop(); });
  });
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Calls a duet-witness once (Acquire, or Release) and prints the reply as JSON."};
  std::string address;
  duet::v1::LeaseRequest request;
  std::string pair;
  std::string node;
  std::uint64_t epoch = 0;
  std::int64_t duration_ms = 6000;
  std::int64_t timeout_ms = 2000;
  bool release = false;
  std::int64_t guard_ms = 0;
  std::int64_t interval_ms = 200;
  duet::TlsConfig tls;
  app.add_option("--witness", address, "HOST:PORT of the witness")->required();
  app.add_option("--pair", pair, "pair id, e.g. a/b")->required();
  app.add_option("--node", node, "asking node")->required();
  app.add_option("--epoch", epoch, "epoch (0: probe)");
  app.add_option("--duration-ms", duration_ms, "lease length asked for");
  app.add_option("--timeout-ms", timeout_ms, "RPC deadline");
  app.add_flag("--release", release, "call Release instead of Acquire");
  app.add_option("--guard-ms", guard_ms, "run a WitnessGuard this long instead of one call");
  app.add_option("--interval-ms", interval_ms, "the guard's check interval");
  app.add_flag("--insecure", tls.insecure, "plaintext");
  app.add_option("--ca", tls.ca_file, "CA certificate");
  app.add_option("--cert", tls.cert_file, "client certificate");
  app.add_option("--key", tls.key_file, "client key");
  CLI11_PARSE(app, argc, argv);
  if (guard_ms > 0) {
    return run_guard(address, tls, pair, node, epoch, duration_ms, interval_ms, guard_ms);
  }

  auto creds = duet::make_channel_credentials(tls);
  if (!creds.ok()) {
    std::cout << nlohmann::json{{"error", creds.error().to_string()}, {"code", -1}}.dump() << "\n";
    return 1;
  }
  auto stub = duet::v1::Witness::NewStub(
      grpc::CreateCustomChannel(address, *creds, duet::make_channel_arguments(tls)));
  request.set_pair(pair);
  request.set_node(node);
  request.set_epoch(epoch);
  request.set_duration_ms(duration_ms);
  grpc::ClientContext ctx;
  ctx.set_deadline(gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  duet::v1::LeaseReply reply;
  const grpc::Status s =
      release ? stub->Release(&ctx, request, &reply) : stub->Acquire(&ctx, request, &reply);
  if (!s.ok()) {
    std::cout << nlohmann::json{{"error", s.error_message()},
                                {"code", static_cast<int>(s.error_code())}}
                     .dump()
              << "\n";
    return 1;
  }
  std::cout << nlohmann::json{{"granted", reply.granted()},
                              {"holder", reply.holder()},
                              {"holder_epoch", reply.holder_epoch()},
                              {"highest_epoch", reply.highest_epoch()},
                              {"granted_ms", reply.granted_ms()},
                              {"reason", reply.reason()}}
                   .dump()
            << "\n";
  return 0;
}
