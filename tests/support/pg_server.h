#pragma once

// A throwaway PostgreSQL server for tests and benchmarks: initdb into a fresh
// temporary directory, postgres on a free port of 127.0.0.1, stopped and
// removed on destruction. When the process runs as root, the server runs as
// the unprivileged "postgres" user (initdb refuses root).
//
// If the server cannot start, start() returns an error that says why; tests
// fail with it, they never skip.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

namespace duet::testing {

class PgServer {
 public:
  struct Options {
    std::uint16_t port = 0;  // 0: pick a free port
    bool fsync = false;      // on for benchmarks that measure durable commits
  };

  static Result<std::unique_ptr<PgServer>> start(const Options& options);
  ~PgServer();

  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "host=127.0.0.1 port=N user=duet dbname=DB connect_timeout=5"
  std::string conninfo(const std::string& dbname) const;
  // Creates an empty database with a fresh name; returns its conninfo.
  Result<std::string> create_database();
  // Fast shutdown; idempotent.
  void stop();

 private:
  PgServer() = default;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int next_db_ = 0;
};

// One server per test process, started on first use and stopped at exit.
// Returns an error (with the reason) if it could not be started.
Result<PgServer*> shared_pg_server();

}  // namespace duet::testing
