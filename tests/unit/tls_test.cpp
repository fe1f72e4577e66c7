#include "common/tls.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "common/enrolment.h"
#include "tests/support/temp_dir.h"

namespace {

// Runs scripts/gen-certs into `dir`.
void gen_certs(const std::string& dir) {
  const std::string cmd =
      std::string(DUET_SOURCE_DIR) + "/scripts/gen-certs " + dir + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

duet::TlsConfig tls(const std::string& dir, const std::string& name) {
  duet::TlsConfig t;
  t.ca_file = dir + "/ca.pem";
  t.cert_file = dir + "/" + name + ".pem";
  t.key_file = dir + "/" + name + ".key";
  return t;
}

}  // namespace

TEST_CASE("TLS material that belongs together loads and yields credentials", "[tls]") {
  duet::testing::TempDir dir;
  gen_certs(dir.path().string());
  auto m = duet::load_tls_material(tls(dir.path().string(), "manager"));
  REQUIRE(m.ok());
  CHECK(m->subject.find("duet-manager") != std::string::npos);
  CHECK(m->not_after_unix > 0);
  CHECK(duet::make_server_credentials(tls(dir.path().string(), "manager")).ok());
  CHECK(duet::make_channel_credentials(tls(dir.path().string(), "admin")).ok());
}

TEST_CASE("TLS material that does not belong together is refused with the reason", "[tls]") {
  duet::testing::TempDir dir;
  duet::testing::TempDir other;
  gen_certs(dir.path().string());
  gen_certs(other.path().string());
  const std::string d = dir.path().string();

  SECTION("key of another certificate") {
    auto t = tls(d, "manager");
    t.key_file = d + "/admin.key";
    auto m = duet::load_tls_material(t);
    REQUIRE_FALSE(m.ok());
    CHECK_THAT(m.error().message, Catch::Contains("does not match the certificate"));
  }
  SECTION("certificate signed by another CA") {
    auto t = tls(d, "manager");
    t.ca_file = other.path().string() + "/ca.pem";
    auto m = duet::load_tls_material(t);
    REQUIRE_FALSE(m.ok());
    CHECK_THAT(m.error().message, Catch::Contains("does not verify against the CA"));
  }
  SECTION("a file that is not PEM") {
    std::ofstream(d + "/junk.pem") << "not a certificate";
    auto t = tls(d, "manager");
    t.cert_file = d + "/junk.pem";
    auto m = duet::load_tls_material(t);
    REQUIRE_FALSE(m.ok());
    CHECK_THAT(m.error().message, Catch::Contains("holds no PEM certificate"));
  }
  SECTION("a missing file") {
    auto t = tls(d, "manager");
    t.key_file = d + "/missing.key";
    auto m = duet::load_tls_material(t);
    REQUIRE_FALSE(m.ok());
    CHECK_THAT(m.error().message, Catch::Contains("cannot read TLS key"));
  }
  SECTION("an error message never quotes key material") {
    auto t = tls(d, "manager");
    t.key_file = d + "/manager.pem";  // a certificate where the key should be
    auto m = duet::load_tls_material(t);
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().message.find("BEGIN") == std::string::npos);
  }
}

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("enrolment: a CSR made on the agent is signed into a client certificate", "[tls]") {
  duet::testing::TempDir dir;
  gen_certs(dir.path().string());
  const std::string d = dir.path().string();
  auto made = duet::make_key_and_csr("web01");
  REQUIRE(made.ok());
  CHECK(made->key_pem.find("PRIVATE KEY") != std::string::npos);
  duet::CertificateIssuer issuer{slurp(d + "/ca.pem"), slurp(d + "/ca.key"), 30};
  auto cert = duet::sign_agent_csr(made->csr_pem, "web01", issuer);
  REQUIRE(cert.ok());
  // The issued pair loads as TLS material: chain to the CA, key matches, names.
  {
    std::ofstream(d + "/web01.pem") << *cert;
    std::ofstream(d + "/web01.key") << made->key_pem;
  }
  auto m = duet::load_tls_material(tls(d, "web01"));
  REQUIRE(m.ok());
  CHECK(m->names == std::vector<std::string>{"web01"});
  CHECK(duet::make_channel_credentials(tls(d, "web01")).ok());

  SECTION("a CSR for another node is refused") {
    auto other = duet::sign_agent_csr(made->csr_pem, "web02", issuer);
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().message.find("does not name node 'web02'") != std::string::npos);
  }
  SECTION("a tampered CSR is refused") {
    std::string bad = made->csr_pem;
    bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
    CHECK_FALSE(duet::sign_agent_csr(bad, "web01", issuer).ok());
  }
  SECTION("a CA key that is not the CA's is refused") {
    auto stranger = duet::make_key_and_csr("x");
    REQUIRE(stranger.ok());
    duet::CertificateIssuer wrong{issuer.ca_cert_pem, stranger->key_pem, 30};
    auto r = duet::sign_agent_csr(made->csr_pem, "web01", wrong);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("does not match") != std::string::npos);
  }
}
