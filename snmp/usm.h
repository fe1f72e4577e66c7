#pragma once

// User-based Security Model crypto (RFC 3414, RFC 3826, RFC 7860).
//
// - Keys: password_to_key (RFC 3414 A.2: 1 MiB of the repeated password
//   hashed), localize_key (H(Ku || engineID || Ku)). The hash is the auth
//   protocol's: MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512. The privacy
//   key is derived with the same hash from the privacy password.
// - Auth: HMAC of the whole message, truncated to mac_length() octets:
//   MD5-96 and SHA-96: 12; SHA-224: 16; SHA-256: 24; SHA-384: 32; SHA-512: 48.
//   verify_mac rejects a MAC of the wrong length and compares the full length
//   with CRYPTO_memcmp (constant time).
// - Priv: DES-CBC (RFC 3414 8; key = first 8 octets of the localized key,
//   pre-IV = the next 8; salt = boots || local integer) and AES-128-CFB
//   (RFC 3826; key = first 16 octets; IV = boots || time || 64-bit salt).
//   OpenSSL 3 keeps single DES in its "legacy" provider; it is loaded into a
//   private library context on first use, and DES fails with kCrypto and a
//   message saying so when the provider is not installed.
// Thread-safe: pure functions over their arguments.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "snmp/oid.h"

namespace duet::snmp {

enum class AuthProtocol {
  kNone,
  kHmacMd5,
  kHmacSha1,
  kHmacSha224,
  kHmacSha256,
  kHmacSha384,
  kHmacSha512
};
enum class PrivProtocol { kNone, kDes, kAes128 };

std::string to_string(AuthProtocol protocol);
std::string to_string(PrivProtocol protocol);
// Accepts net-snmp's names: MD5, SHA (= SHA-1), SHA-224, SHA-256, SHA-384, SHA-512, none.
Result<AuthProtocol> parse_auth_protocol(std::string_view name);
// DES, AES (= AES-128), none.
Result<PrivProtocol> parse_priv_protocol(std::string_view name);

size_t digest_length(AuthProtocol protocol);  // length of keys: 16, 20, 28, 32, 48, 64
size_t mac_length(AuthProtocol protocol);     // octets on the wire: 12, 12, 16, 24, 32, 48
inline constexpr size_t kPrivParamsLength = 8;

// Passwords shorter than 8 characters are refused, as net-snmp does.
Result<Bytes> password_to_key(AuthProtocol protocol, std::string_view password);
Result<Bytes> localize_key(AuthProtocol protocol, std::span<const uint8_t> key,
                           std::span<const uint8_t> engine_id);

// The truncated MAC of `message` (which holds zeros where the MAC goes).
Result<Bytes> compute_mac(AuthProtocol protocol, std::span<const uint8_t> key,
                          std::span<const uint8_t> message);
// `message` with zeros in the MAC field; `received` is the MAC that was there.
Status verify_mac(AuthProtocol protocol, std::span<const uint8_t> key,
                  std::span<const uint8_t> message, std::span<const uint8_t> received);

struct Encrypted {
  Bytes ciphertext;
  Bytes priv_params;  // msgPrivacyParameters (the salt)
};

// `salt` is the sender's local integer (DES uses its low 32 bits); it must not
// repeat for one key (random_salt() or a counter started at a random value).
Result<Encrypted> encrypt(PrivProtocol protocol, std::span<const uint8_t> priv_key,
                          uint32_t engine_boots, uint32_t engine_time, uint64_t salt,
                          std::span<const uint8_t> plaintext);
// Errors are kDecryptionError (bad salt length, ciphertext not a multiple of
// the DES block) or kCrypto.
Result<Bytes> decrypt(PrivProtocol protocol, std::span<const uint8_t> priv_key,
                      uint32_t engine_boots, uint32_t engine_time,
                      std::span<const uint8_t> priv_params, std::span<const uint8_t> ciphertext);

// 64 random bits from OpenSSL's CSPRNG.
uint64_t random_salt();

}  // namespace duet::snmp
