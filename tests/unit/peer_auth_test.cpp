// The pair's own links accept only the pair's certificates: a certificate
// from the same CA issued to duetctl or an agent passes the TLS handshake but
// is refused by the Peer service (it could otherwise fetch the whole store).

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/server_builder.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "common/caller_policy.h"
#include "common/tls.h"
#include "manager/peer_service.h"
#include "tests/support/temp_dir.h"

namespace {

duet::TlsConfig tls_of(const std::string& dir, const std::string& name) {
  duet::TlsConfig t;
  t.ca_file = dir + "/ca.pem";
  t.cert_file = dir + "/" + name + ".pem";
  t.key_file = dir + "/" + name + ".key";
  return t;
}

// A PeerService on 127.0.0.1 with the manager certificate and `policy`; its
// node has no store yet, so an admitted heartbeat is answered UNAVAILABLE.
class PeerServer {
 public:
  PeerServer(const std::string& dir, duet::CallerPolicy policy)
      : strand_(boost::asio::make_strand(io_)),
        work_(boost::asio::make_work_guard(io_)),
        service_(
            strand_, std::move(policy),
            [](const duet::v1::Beat&) -> std::optional<duet::v1::Beat> { return std::nullopt; },
            []() -> duet::ha::JournalShipper* { return nullptr; }) {
    auto creds = duet::make_server_credentials(tls_of(dir, "manager"));
    REQUIRE(creds.ok());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~PeerServer() {
    server_->Shutdown();
    work_.reset();
    thread_.join();
  }

  grpc::Status heartbeat_as(const std::string& dir, const std::string& cert) {
    auto stub = stub_as(dir, cert);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    duet::v1::HeartbeatRequest req;
    req.mutable_beat()->set_from("x");
    duet::v1::HeartbeatResponse resp;
    return stub->Heartbeat(&ctx, req, &resp);
  }

  grpc::Status snapshot_as(const std::string& dir, const std::string& cert) {
    auto stub = stub_as(dir, cert);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto reader = stub->FetchSnapshot(&ctx, duet::v1::SnapshotRequest());
    duet::v1::SnapshotChunk chunk;
    while (reader->Read(&chunk)) {
    }
    return reader->Finish();
  }

 private:
  std::unique_ptr<duet::v1::Peer::Stub> stub_as(const std::string& dir, const std::string& cert) {
    auto creds = duet::make_channel_credentials(tls_of(dir, cert));
    REQUIRE(creds.ok());
    return duet::v1::Peer::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), *creds));
  }

  boost::asio::io_context io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  duet::manager::PeerService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::thread thread_;
};

struct Certs {
  duet::testing::TempDir dir;
  Certs() {
    const std::string cmd =
        std::string(DUET_SOURCE_DIR) + "/scripts/gen-certs " + dir.path().string() + " > /dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  std::string path() const { return dir.path().string(); }
};

}  // namespace

TEST_CASE("A certificate's names are its CN and its DNS SANs", "[tls]") {
  Certs certs;
  auto m = duet::load_tls_material(tls_of(certs.path(), "manager"));
  REQUIRE(m.ok());
  CHECK(m->names == std::vector<std::string>{"duet-manager", "localhost"});
  auto admin = duet::load_tls_material(tls_of(certs.path(), "admin"));
  REQUIRE(admin.ok());
  CHECK(admin->names == std::vector<std::string>{"duet-admin", "duetctl"});
}

TEST_CASE("The pair policy defaults to the node's own certificate names", "[tls]") {
  Certs certs;
  auto p = duet::CallerPolicy::for_peers(tls_of(certs.path(), "manager"));
  REQUIRE(p.ok());
  CHECK(p->enforced());
  CHECK(p->allows({"duet-manager"}));
  CHECK(p->allows({"x", "localhost"}));
  CHECK_FALSE(p->allows({"duet-agent"}));
  CHECK_FALSE(p->allows({}));

  auto listed = tls_of(certs.path(), "manager");
  listed.peer_names = {"mgr-b.example"};
  auto q = duet::CallerPolicy::for_peers(listed);
  REQUIRE(q.ok());
  CHECK(q->allows({"mgr-b.example"}));
  CHECK_FALSE(q->allows({"duet-manager"}));

  duet::TlsConfig insecure;
  insecure.insecure = true;
  auto r = duet::CallerPolicy::for_peers(insecure);
  REQUIRE(r.ok());
  CHECK_FALSE(r->enforced());
  CHECK(r->allows({}));
}

TEST_CASE("The Peer service refuses certificates of the same CA that are not the pair's", "[tls]") {
  Certs certs;
  auto policy = duet::CallerPolicy::for_peers(tls_of(certs.path(), "manager"));
  REQUIRE(policy.ok());
  PeerServer server(certs.path(), std::move(*policy));

  // The other manager gets through (and hears that this node has no store yet).
  CHECK(server.heartbeat_as(certs.path(), "manager").error_code() == grpc::StatusCode::UNAVAILABLE);
  for (const char* outsider : {"admin", "agent"}) {
    INFO(outsider);
    const auto hb = server.heartbeat_as(certs.path(), outsider);
    CHECK(hb.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(hb.error_message().find("tls.peer_names") != std::string::npos);
    CHECK(server.snapshot_as(certs.path(), outsider).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_CASE("tls.peer_names lets a pair with per-host certificates name each other", "[tls]") {
  Certs certs;
  PeerServer server(certs.path(), duet::CallerPolicy::only({"duetctl"}));
  CHECK(server.heartbeat_as(certs.path(), "admin").error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(server.heartbeat_as(certs.path(), "manager").error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
}
