// pg_throwaway: a throwaway PostgreSQL server for shell integration tests.
// Prints one line "conninfo: ..." once the server accepts connections, runs
// until SIGTERM or SIGINT, then stops the server and removes its files.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>

#include "tests/support/pg_server.h"

int main(int argc, char** argv) {
  CLI::App app{"Runs a throwaway PostgreSQL server until SIGTERM or SIGINT."};
  int port = 0;
  bool fsync = false;
  app.add_option("--port", port, "TCP port on 127.0.0.1 (default: a free one)")
      ->check(CLI::Range(0, 65535));
  app.add_flag("--fsync", fsync, "Make commits durable (fsync=on), for benchmarks");
  CLI11_PARSE(app, argc, argv);

  // Blocked before the server starts, so a signal that arrives during
  // start-up is not lost: sigwait() returns at once and the server stops.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  duet::testing::PgServer::Options options;
  options.port = static_cast<std::uint16_t>(port);
  options.fsync = fsync;
  auto server = duet::testing::PgServer::start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "pg_throwaway: %s\n", server.error().to_string().c_str());
    return 1;
  }
  std::printf("conninfo: %s\n", (*server)->conninfo("postgres").c_str());
  std::fflush(stdout);

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  (*server)->stop();
  return 0;
}
