// What only one backend can show: a damaged SQLite file, an unreachable PostgreSQL.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "store/open_store.h"
#include "store/store_error.h"
#include "tests/support/store_fixtures.h"

using duet::store::StoreErrc;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A loopback port with nothing listening on it (bound, then closed).
std::uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

duet::Result<std::unique_ptr<duet::store::JournaledStore>> open_sqlite(const std::string& path,
                                                                       const duet::Clock& clock) {
  DUET_ASSIGN_OR_RETURN(auto backend, duet::store::open_sqlite_backend(path));
  return duet::store::JournaledStore::open(std::move(backend), duet::testing::test_schema(), clock);
}

}  // namespace

TEST_CASE("a file that is not a SQLite database is refused and left untouched", "[store][sqlite]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("duet.db");
  const std::string garbage = "this is not a database, but someone's important notes\n";
  std::ofstream(path, std::ios::binary) << garbage;
  duet::ManualClock clock;
  auto s = open_sqlite(path, clock);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == make_error_code(StoreErrc::kCorrupt));
  CHECK_THAT(s.error().message, Catch::Contains("left untouched"));
  CHECK(read_all(path) == garbage);
}

TEST_CASE("a SQLite database with damaged pages is refused and left untouched", "[store][sqlite]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("duet.db");
  duet::ManualClock clock;
  {
    auto s = open_sqlite(path, clock);
    REQUIRE(s.ok());
    REQUIRE((*s)->advance_epoch(1).ok());
  }  // closed: WAL checkpointed into the main file
  std::string bytes = read_all(path);
  REQUIRE(bytes.size() > 4096);
  // Keep the 100-byte header, smash the rest of page 1 (the schema b-tree).
  for (std::size_t i = 100; i < 4096; ++i) bytes[i] = static_cast<char>(0xA5);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

  auto s = open_sqlite(path, clock);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == make_error_code(StoreErrc::kCorrupt));
  CHECK(read_all(path) == bytes);
}

TEST_CASE("an unreachable PostgreSQL is reported as unavailable, without the password",
          "[store][postgres]") {
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(closed_port()) +
                               " user=duet password=hunter2 dbname=x connect_timeout=2";
  auto backend = duet::store::open_postgres_backend(conninfo);
  REQUIRE_FALSE(backend.ok());
  CHECK(backend.error().code == make_error_code(StoreErrc::kUnavailable));
  CHECK(backend.error().message.find("hunter2") == std::string::npos);
  CHECK_THAT(backend.error().message, Catch::Contains("password=***"));
}

TEST_CASE("a malformed PostgreSQL conninfo is a configuration error, not a retry",
          "[store][postgres]") {
  auto backend = duet::store::open_postgres_backend("host=127.0.0.1 password='unterminated");
  REQUIRE_FALSE(backend.ok());
  CHECK(backend.error().code == make_error_code(StoreErrc::kBadConfig));
  CHECK_FALSE(duet::store::is_transient(backend.error()));
  CHECK(backend.error().message.find("unterminated") == std::string::npos);
}
