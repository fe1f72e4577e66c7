#include "snmp/usm.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <atomic>
#include <memory>

#include "snmp/errors.h"

namespace duet::snmp {
namespace {

Error crypto_error(std::string what) {
  const unsigned long code = ERR_get_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    what += ": ";
    what += buf;
  }
  ERR_clear_error();
  return make_error(SnmpErrc::kCrypto, std::move(what));
}

const EVP_MD* digest_of(AuthProtocol p) {
  switch (p) {
    case AuthProtocol::kHmacMd5:
      return EVP_md5();
    case AuthProtocol::kHmacSha1:
      return EVP_sha1();
    case AuthProtocol::kHmacSha224:
      return EVP_sha224();
    case AuthProtocol::kHmacSha256:
      return EVP_sha256();
    case AuthProtocol::kHmacSha384:
      return EVP_sha384();
    case AuthProtocol::kHmacSha512:
      return EVP_sha512();
    case AuthProtocol::kNone:
      break;
  }
  return nullptr;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Single DES from the legacy provider, in a library context of its own so the
// rest of the process (TLS) keeps OpenSSL's default configuration.
class DesCipher {
 public:
  DesCipher() {
    ctx_ = OSSL_LIB_CTX_new();
    if (ctx_ == nullptr) return;
    legacy_ = OSSL_PROVIDER_load(ctx_, "legacy");
    default_ = OSSL_PROVIDER_load(ctx_, "default");
    if (legacy_ != nullptr) cipher_ = EVP_CIPHER_fetch(ctx_, "DES-CBC", nullptr);
    if (cipher_ == nullptr) {
      const unsigned long code = ERR_get_error();
      if (code != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof(buf));
        why_ = buf;
      }
      ERR_clear_error();
    }
  }
  ~DesCipher() {
    EVP_CIPHER_free(cipher_);
    if (legacy_ != nullptr) OSSL_PROVIDER_unload(legacy_);
    if (default_ != nullptr) OSSL_PROVIDER_unload(default_);
    OSSL_LIB_CTX_free(ctx_);
  }
  DesCipher(const DesCipher&) = delete;
  DesCipher& operator=(const DesCipher&) = delete;

  Result<const EVP_CIPHER*> get() const {
    if (cipher_ != nullptr) return static_cast<const EVP_CIPHER*>(cipher_);
    return make_error(SnmpErrc::kCrypto,
                      "DES privacy needs OpenSSL's legacy provider (legacy.so in the OpenSSL "
                      "modules directory), which could not be loaded" +
                          (why_.empty() ? std::string() : ": " + why_));
  }

 private:
  OSSL_LIB_CTX* ctx_ = nullptr;
  OSSL_PROVIDER* legacy_ = nullptr;
  OSSL_PROVIDER* default_ = nullptr;
  EVP_CIPHER* cipher_ = nullptr;
  std::string why_;
};

Result<const EVP_CIPHER*> des_cipher() {
  static const DesCipher des;  // thread-safe initialization
  return des.get();
}

void put_u32(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

// One EVP cipher pass; `encrypting` picks the direction. No padding.
Result<Bytes> run_cipher(const EVP_CIPHER* cipher, std::span<const uint8_t> key, const uint8_t* iv,
                         bool encrypting, std::span<const uint8_t> in) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return crypto_error("EVP_CIPHER_CTX_new");
  if (EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.data(), iv, encrypting ? 1 : 0) != 1) {
    return crypto_error("cipher init");
  }
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  Bytes out(in.size() + 16);
  int n1 = 0;
  int n2 = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &n1, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + n1, &n2) != 1) {
    return crypto_error("cipher");
  }
  out.resize(static_cast<size_t>(n1 + n2));
  return out;
}

}  // namespace

std::string to_string(AuthProtocol p) {
  switch (p) {
    case AuthProtocol::kNone:
      return "none";
    case AuthProtocol::kHmacMd5:
      return "MD5";
    case AuthProtocol::kHmacSha1:
      return "SHA";
    case AuthProtocol::kHmacSha224:
      return "SHA-224";
    case AuthProtocol::kHmacSha256:
      return "SHA-256";
    case AuthProtocol::kHmacSha384:
      return "SHA-384";
    case AuthProtocol::kHmacSha512:
      return "SHA-512";
  }
  return "unknown";
}

std::string to_string(PrivProtocol p) {
  switch (p) {
    case PrivProtocol::kNone:
      return "none";
    case PrivProtocol::kDes:
      return "DES";
    case PrivProtocol::kAes128:
      return "AES";
  }
  return "unknown";
}

Result<AuthProtocol> parse_auth_protocol(std::string_view name) {
  for (AuthProtocol p : {AuthProtocol::kNone, AuthProtocol::kHmacMd5, AuthProtocol::kHmacSha1,
                         AuthProtocol::kHmacSha224, AuthProtocol::kHmacSha256,
                         AuthProtocol::kHmacSha384, AuthProtocol::kHmacSha512}) {
    if (name == to_string(p)) return p;
  }
  if (name == "SHA-1" || name == "SHA1") return AuthProtocol::kHmacSha1;
  return make_error(SnmpErrc::kInvalidArgument,
                    "auth protocol '" + std::string(name) +
                        "' (expected none, MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512)");
}

Result<PrivProtocol> parse_priv_protocol(std::string_view name) {
  if (name == "none") return PrivProtocol::kNone;
  if (name == "DES") return PrivProtocol::kDes;
  if (name == "AES" || name == "AES-128" || name == "AES128") return PrivProtocol::kAes128;
  return make_error(SnmpErrc::kInvalidArgument,
                    "privacy protocol '" + std::string(name) + "' (expected none, DES or AES)");
}

size_t digest_length(AuthProtocol p) {
  const EVP_MD* md = digest_of(p);
  return md == nullptr ? 0 : static_cast<size_t>(EVP_MD_get_size(md));
}

size_t mac_length(AuthProtocol p) {
  switch (p) {
    case AuthProtocol::kHmacMd5:
    case AuthProtocol::kHmacSha1:
      return 12;
    case AuthProtocol::kHmacSha224:
      return 16;
    case AuthProtocol::kHmacSha256:
      return 24;
    case AuthProtocol::kHmacSha384:
      return 32;
    case AuthProtocol::kHmacSha512:
      return 48;
    case AuthProtocol::kNone:
      break;
  }
  return 0;
}

Result<Bytes> password_to_key(AuthProtocol protocol, std::string_view password) {
  const EVP_MD* md = digest_of(protocol);
  if (md == nullptr) return make_error(SnmpErrc::kInvalidArgument, "no auth protocol for a key");
  if (password.size() < 8) {
    return make_error(SnmpErrc::kInvalidArgument, "USM passwords must have at least 8 characters");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return crypto_error("digest init");
  constexpr size_t kTotal = 1048576;  // RFC 3414 A.2: one megabyte of repeated password
  uint8_t block[64];
  size_t index = 0;
  for (size_t done = 0; done < kTotal; done += sizeof(block)) {
    for (uint8_t& b : block) b = static_cast<uint8_t>(password[index++ % password.size()]);
    if (EVP_DigestUpdate(ctx.get(), block, sizeof(block)) != 1) return crypto_error("digest");
  }
  Bytes key(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), key.data(), &len) != 1) return crypto_error("digest final");
  key.resize(len);
  return key;
}

Result<Bytes> localize_key(AuthProtocol protocol, std::span<const uint8_t> key,
                           std::span<const uint8_t> engine_id) {
  const EVP_MD* md = digest_of(protocol);
  if (md == nullptr) return make_error(SnmpErrc::kInvalidArgument, "no auth protocol for a key");
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), engine_id.data(), engine_id.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) {
    return crypto_error("key localization");
  }
  out.resize(len);
  return out;
}

Result<Bytes> compute_mac(AuthProtocol protocol, std::span<const uint8_t> key,
                          std::span<const uint8_t> message) {
  const EVP_MD* md = digest_of(protocol);
  if (md == nullptr) return make_error(SnmpErrc::kInvalidArgument, "no auth protocol for a MAC");
  uint8_t full[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(md, key.data(), static_cast<int>(key.size()), message.data(), message.size(), full,
           &len) == nullptr) {
    return crypto_error("HMAC");
  }
  return Bytes(full, full + mac_length(protocol));
}

Status verify_mac(AuthProtocol protocol, std::span<const uint8_t> key,
                  std::span<const uint8_t> message, std::span<const uint8_t> received) {
  if (received.size() != mac_length(protocol)) {
    return make_error(SnmpErrc::kWrongDigest, "MAC of " + std::to_string(received.size()) +
                                                  " octets where " + to_string(protocol) +
                                                  " needs " + std::to_string(mac_length(protocol)));
  }
  DUET_ASSIGN_OR_RETURN(Bytes expected, compute_mac(protocol, key, message));
  if (CRYPTO_memcmp(expected.data(), received.data(), expected.size()) != 0) {
    return make_error(SnmpErrc::kWrongDigest, "MAC does not match");
  }
  return ok_status();
}

Result<Encrypted> encrypt(PrivProtocol protocol, std::span<const uint8_t> priv_key,
                          uint32_t engine_boots, uint32_t engine_time, uint64_t salt,
                          std::span<const uint8_t> plaintext) {
  Encrypted out;
  out.priv_params.resize(kPrivParamsLength);
  if (protocol == PrivProtocol::kDes) {
    if (priv_key.size() < 16) return make_error(SnmpErrc::kInvalidArgument, "DES key too short");
    DUET_ASSIGN_OR_RETURN(const EVP_CIPHER* des, des_cipher());
    put_u32(out.priv_params.data(), engine_boots);
    put_u32(out.priv_params.data() + 4, static_cast<uint32_t>(salt));
    uint8_t iv[8];
    for (int i = 0; i < 8; ++i) iv[i] = priv_key[8 + i] ^ out.priv_params[i];
    Bytes padded(plaintext.begin(), plaintext.end());
    padded.resize((padded.size() + 7) / 8 * 8, 0);
    DUET_ASSIGN_OR_RETURN(out.ciphertext, run_cipher(des, priv_key.first(8), iv, true, padded));
    return out;
  }
  if (protocol == PrivProtocol::kAes128) {
    if (priv_key.size() < 16) return make_error(SnmpErrc::kInvalidArgument, "AES key too short");
    put_u32(out.priv_params.data(), static_cast<uint32_t>(salt >> 32));
    put_u32(out.priv_params.data() + 4, static_cast<uint32_t>(salt));
    uint8_t iv[16];
    put_u32(iv, engine_boots);
    put_u32(iv + 4, engine_time);
    std::copy(out.priv_params.begin(), out.priv_params.end(), iv + 8);
    DUET_ASSIGN_OR_RETURN(
        out.ciphertext, run_cipher(EVP_aes_128_cfb128(), priv_key.first(16), iv, true, plaintext));
    return out;
  }
  return make_error(SnmpErrc::kInvalidArgument, "no privacy protocol to encrypt with");
}

Result<Bytes> decrypt(PrivProtocol protocol, std::span<const uint8_t> priv_key,
                      uint32_t engine_boots, uint32_t engine_time,
                      std::span<const uint8_t> priv_params, std::span<const uint8_t> ciphertext) {
  if (priv_params.size() != kPrivParamsLength) {
    return make_error(
        SnmpErrc::kDecryptionError,
        "privacy parameters of " + std::to_string(priv_params.size()) + " octets (8 expected)");
  }
  if (protocol == PrivProtocol::kDes) {
    if (priv_key.size() < 16) return make_error(SnmpErrc::kInvalidArgument, "DES key too short");
    if (ciphertext.size() % 8 != 0) {
      return make_error(SnmpErrc::kDecryptionError, "DES data is not a multiple of 8 octets");
    }
    DUET_ASSIGN_OR_RETURN(const EVP_CIPHER* des, des_cipher());
    uint8_t iv[8];
    for (int i = 0; i < 8; ++i) iv[i] = priv_key[8 + i] ^ priv_params[i];
    return run_cipher(des, priv_key.first(8), iv, false, ciphertext);
  }
  if (protocol == PrivProtocol::kAes128) {
    if (priv_key.size() < 16) return make_error(SnmpErrc::kInvalidArgument, "AES key too short");
    uint8_t iv[16];
    put_u32(iv, engine_boots);
    put_u32(iv + 4, engine_time);
    std::copy(priv_params.begin(), priv_params.end(), iv + 8);
    return run_cipher(EVP_aes_128_cfb128(), priv_key.first(16), iv, false, ciphertext);
  }
  return make_error(SnmpErrc::kInvalidArgument, "no privacy protocol to decrypt with");
}

uint64_t random_salt() {
  uint64_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof(v)) != 1) {
    ERR_clear_error();
    // RAND_bytes fails only when the CSPRNG cannot be seeded; a salt needs
    // uniqueness rather than secrecy, so fall back to a per-process counter.
    static std::atomic<uint64_t> counter{0x5a17c0de00000000ULL};
    v = ++counter;
  }
  return v;
}

}  // namespace duet::snmp
