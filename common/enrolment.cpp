#include "common/enrolment.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/errors.h"

namespace duet {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

Error tls_error(const std::string& what) { return make_error(CommonErrc::kTls, what); }

Bio read_bio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string common_name(X509_NAME* name) {
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return {};
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

bool add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace

Result<KeyAndCsr> make_key_and_csr(const std::string& node) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return tls_error("cannot make a P-256 key");
  Req req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!req ||
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(node.c_str()), -1, -1,
                                 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return tls_error("cannot make a certificate signing request for '" + node + "'");
  }
  KeyAndCsr out;
  Bio kb(BIO_new(BIO_s_mem())), rb(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509_REQ(rb.get(), req.get()) != 1) {
    return tls_error("cannot write the key or the request as PEM");
  }
  out.key_pem = bio_text(kb.get());
  out.csr_pem = bio_text(rb.get());
  return out;
}

Result<std::string> sign_agent_csr(const std::string& csr_pem, const std::string& node,
                                   const CertificateIssuer& issuer) {
  Bio rb = read_bio(csr_pem);
  Req req(PEM_read_bio_X509_REQ(rb.get(), nullptr, nullptr, nullptr));
  if (!req) return tls_error("the certificate signing request is not PEM");
  Pkey pub(X509_REQ_get_pubkey(req.get()));
  if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1) {
    return tls_error("the certificate signing request is not signed by its own key");
  }
  if (common_name(X509_REQ_get_subject_name(req.get())) != node) {
    return tls_error("the certificate signing request does not name node '" + node + "'");
  }
  Bio cb = read_bio(issuer.ca_cert_pem);
  Cert ca(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  Bio kb = read_bio(issuer.ca_key_pem);
  Pkey ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca || !ca_key) return tls_error("the CA certificate or key is not usable");
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    return tls_error("the CA key does not match the CA certificate");
  }
  Cert cert(X509_new());
  Bn serial(BN_new());
  if (!cert || !serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return tls_error("cannot make a serial number");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const bool ok =
      X509_set_version(cert.get(), 2) == 1 &&
      X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(node.c_str()), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get())) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * issuer.days) != nullptr &&
      X509_set_pubkey(cert.get(), pub.get()) == 1 &&
      add_extension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") &&
      add_extension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature") &&
      add_extension(cert.get(), ca.get(), NID_ext_key_usage, "clientAuth") &&
      add_extension(cert.get(), ca.get(), NID_subject_alt_name, "DNS:" + node) &&
      add_extension(cert.get(), ca.get(), NID_subject_key_identifier, "hash") &&
      add_extension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid") &&
      X509_sign(cert.get(), ca_key.get(), EVP_sha256()) > 0;
  if (!ok) return tls_error("cannot issue the certificate for '" + node + "'");
  Bio out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(out.get(), cert.get()) != 1)
    return tls_error("cannot write the certificate");
  return bio_text(out.get());
}

}  // namespace duet
