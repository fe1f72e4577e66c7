#include "common/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/errors.h"

namespace duet {
namespace {

Result<std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(CommonErrc::kTls, std::string("cannot read TLS ") + what + " '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no detail";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

// Subject CN, then the DNS names of subjectAltName, without duplicates.
std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  auto add = [&names](const unsigned char* data, int len) {
    if (data == nullptr || len <= 0) return;
    std::string n(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
  };
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    add(ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type == GEN_DNS)
        add(ASN1_STRING_get0_data(g->d.dNSName), ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
  }
  return names;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

std::unique_ptr<BIO, BioDeleter> mem_bio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

Result<TlsMaterial> load_tls_material(const TlsConfig& config) {
  TlsMaterial m;
  DUET_ASSIGN_OR_RETURN(m.ca_pem, read_file(config.ca_file, "CA"));
  DUET_ASSIGN_OR_RETURN(m.cert_pem, read_file(config.cert_file, "certificate"));
  DUET_ASSIGN_OR_RETURN(m.key_pem, read_file(config.key_file, "key"));

  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  {
    auto bio = mem_bio(m.ca_pem);
    int count = 0;
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store.get(), ca);
      X509_free(ca);
      ++count;
    }
    ERR_clear_error();
    if (count == 0) {
      return make_error(CommonErrc::kTls, "'" + config.ca_file + "' holds no PEM certificate");
    }
  }
  auto cert_bio = mem_bio(m.cert_pem);
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return make_error(CommonErrc::kTls,
                      "'" + config.cert_file + "' holds no PEM certificate: " + openssl_reason());
  }
  auto key_bio = mem_bio(m.key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    // Deliberately no OpenSSL detail here: it can quote key material.
    ERR_clear_error();
    return make_error(CommonErrc::kTls,
                      "'" + config.key_file + "' holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return make_error(CommonErrc::kTls, "the key in '" + config.key_file +
                                            "' does not match the certificate in '" +
                                            config.cert_file + "'");
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    return make_error(CommonErrc::kTls, "the certificate in '" + config.cert_file +
                                            "' does not verify against the CA in '" +
                                            config.ca_file +
                                            "': " + X509_verify_cert_error_string(err));
  }
  char name[512];
  X509_NAME_oneline(X509_get_subject_name(cert.get()), name, sizeof name);
  m.subject = name;
  m.names = certificate_names(cert.get());
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) == 1) m.not_after_unix = timegm(&tm);
  return m;
}

Result<std::shared_ptr<grpc::ServerCredentials>> make_server_credentials(const TlsConfig& config) {
  if (config.insecure) return grpc::InsecureServerCredentials();
  DUET_ASSIGN_OR_RETURN(TlsMaterial m, load_tls_material(config));
  grpc::SslServerCredentialsOptions options(
      config.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_root_certs = m.ca_pem;
  options.pem_key_cert_pairs.push_back({m.key_pem, m.cert_pem});
  return grpc::SslServerCredentials(options);
}

Result<std::shared_ptr<grpc::ChannelCredentials>> make_channel_credentials(
    const TlsConfig& config) {
  if (config.insecure) return grpc::InsecureChannelCredentials();
  DUET_ASSIGN_OR_RETURN(TlsMaterial m, load_tls_material(config));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = m.ca_pem;
  options.pem_private_key = m.key_pem;
  options.pem_cert_chain = m.cert_pem;
  return grpc::SslCredentials(options);
}

grpc::ChannelArguments make_channel_arguments(const TlsConfig& config) {
  grpc::ChannelArguments args;
  // A journal batch of events with 8 KiB messages (raw, text and fields) can
  // pass gRPC's 4 MB default; the pair's own streams need more room.
  args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  if (!config.insecure && !config.server_name.empty()) {
    args.SetSslTargetNameOverride(config.server_name);
  }
  return args;
}

}  // namespace duet
