// USM crypto: RFC 3414 A.3 key vectors, RFC 7860 SHA-2 keys, MACs, privacy.

#include <catch2/catch.hpp>

#include "snmp/errors.h"
#include "snmp/usm.h"
#include "snmp/usm_user.h"

namespace duet::snmp {
namespace {

const Bytes kRfcEngine{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

Bytes hex(std::string_view text) { return parse_hex(text).value(); }

void check_key(AuthProtocol p, std::string_view ku, std::string_view kul) {
  auto master = password_to_key(p, "maplesyrup");
  REQUIRE(master.ok());
  CHECK(to_hex(*master) == "0x" + std::string(ku));
  auto local = localize_key(p, *master, kRfcEngine);
  REQUIRE(local.ok());
  CHECK(to_hex(*local) == "0x" + std::string(kul));
}

}  // namespace

TEST_CASE("RFC 3414 A.3.1 and A.3.2: MD5 and SHA-1 password to localized key", "[snmp]") {
  check_key(AuthProtocol::kHmacMd5, "9faf3283884e92834ebc9847d8edd963",
            "526f5eed9fcce26f8964c2930787d82b");
  check_key(AuthProtocol::kHmacSha1, "9fb5cc0381497b3793528939ff788d5d79145211",
            "6695febc9288e36282235fc7151f128497b38f3f");
}

TEST_CASE("RFC 7860 SHA-2 keys follow the A.2 algorithm with the SHA-2 hash", "[snmp]") {
  // Expected values computed independently (Python hashlib, same algorithm).
  check_key(AuthProtocol::kHmacSha224, "282a5867ee9aac639ad59df9572c7d3ac0fbc13a905b6df07dbbf00b",
            "0bd8827c6e29f8065e08e09237f177e410f69b90e1782be682075674");
  check_key(AuthProtocol::kHmacSha256,
            "ab51014d1e077f6017df2b12bee5f5aa72993177e9bb569c4dff5a4ca0b4afac",
            "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b");
  check_key(AuthProtocol::kHmacSha384,
            "e06eccdf2c68a06ed034723c9c26e0db3b669e1e2efed49150b55377a2e98f383c86fb836857444654b2"
            "87c93f51ff64",
            "3b298f16164a11184279d5432bf169e2d2a48307de02b3d3f7e2b4f36eb6f0455a53689a3937eea07319"
            "a633d2ccba78");
  check_key(AuthProtocol::kHmacSha512,
            "7e4396de5aadc77be853819b98c9406265b3a9c37cc3176569847a4e4f6fba63dd3a73d04924d31a63f9"
            "5a601f9385af6be4ed1b37f87d040f7c6ed6f8d38a91",
            "22a5a36cedfcc085807a128d7bc6c2382167ad6c0dbc5fdff856740f3d84c099ad1ea87a8db096714d97"
            "88bd544047c9021e4229ce27e4c0a69250adfcffbb0b");
}

TEST_CASE("USM MAC lengths per RFC 3414 and RFC 7860", "[snmp]") {
  CHECK(mac_length(AuthProtocol::kHmacMd5) == 12);
  CHECK(mac_length(AuthProtocol::kHmacSha1) == 12);
  CHECK(mac_length(AuthProtocol::kHmacSha224) == 16);
  CHECK(mac_length(AuthProtocol::kHmacSha256) == 24);
  CHECK(mac_length(AuthProtocol::kHmacSha384) == 32);
  CHECK(mac_length(AuthProtocol::kHmacSha512) == 48);
}

TEST_CASE("USM MAC verification is full length and rejects truncation", "[snmp]") {
  const Bytes message{1, 2, 3, 4, 5, 6, 7, 8};
  for (AuthProtocol p :
       {AuthProtocol::kHmacMd5, AuthProtocol::kHmacSha1, AuthProtocol::kHmacSha224,
        AuthProtocol::kHmacSha256, AuthProtocol::kHmacSha384, AuthProtocol::kHmacSha512}) {
    INFO(to_string(p));
    const Bytes key = localize_key(p, password_to_key(p, "password1").value(), kRfcEngine).value();
    auto mac = compute_mac(p, key, message);
    REQUIRE(mac.ok());
    REQUIRE(mac->size() == mac_length(p));
    CHECK(verify_mac(p, key, message, *mac).ok());
    Bytes truncated(mac->begin(), mac->end() - 1);
    auto short_mac = verify_mac(p, key, message, truncated);
    REQUIRE_FALSE(short_mac.ok());
    CHECK(short_mac.error().code == SnmpErrc::kWrongDigest);
    Bytes flipped = *mac;
    flipped.back() ^= 0x01;
    CHECK_FALSE(verify_mac(p, key, message, flipped).ok());
    Bytes wrong_key = key;
    wrong_key[0] ^= 0x80;
    CHECK_FALSE(verify_mac(p, wrong_key, message, *mac).ok());
    CHECK_FALSE(verify_mac(p, key, message, Bytes{}).ok());
  }
}

TEST_CASE("USM privacy: DES and AES-128 round-trip; wrong key gives other data", "[snmp]") {
  const Bytes key =
      localize_key(AuthProtocol::kHmacSha1,
                   password_to_key(AuthProtocol::kHmacSha1, "privpassword").value(), kRfcEngine)
          .value();
  const Bytes plain{0x30, 0x03, 0x02, 0x01, 0x05, 'x', 'y', 'z', 'w', 'v', 'u'};
  for (PrivProtocol p : {PrivProtocol::kDes, PrivProtocol::kAes128}) {
    INFO(to_string(p));
    auto enc = encrypt(p, key, 7, 1234, 0x0102030405060708ull, plain);
    REQUIRE(enc.ok());
    CHECK(enc->priv_params.size() == 8);
    CHECK(enc->ciphertext.size() == (p == PrivProtocol::kDes ? 16u : plain.size()));
    auto dec = decrypt(p, key, 7, 1234, enc->priv_params, enc->ciphertext);
    REQUIRE(dec.ok());
    CHECK(Bytes(dec->begin(), dec->begin() + static_cast<long>(plain.size())) == plain);
    Bytes other = key;
    other[1] ^= 0x55;
    auto wrong = decrypt(p, other, 7, 1234, enc->priv_params, enc->ciphertext);
    if (wrong.ok())
      CHECK(Bytes(wrong->begin(), wrong->begin() + static_cast<long>(plain.size())) != plain);
    CHECK(decrypt(p, key, 7, 1234, Bytes{1, 2, 3}, enc->ciphertext).error().code ==
          SnmpErrc::kDecryptionError);
  }
  // DES salt: boots then the low 32 bits of the local integer (RFC 3414 8.1.1.1).
  auto des = encrypt(PrivProtocol::kDes, key, 7, 0, 0xAABBCCDD11223344ull, plain);
  REQUIRE(des.ok());
  CHECK(des->priv_params == Bytes{0, 0, 0, 7, 0x11, 0x22, 0x33, 0x44});
  auto bad_len = decrypt(PrivProtocol::kDes, key, 7, 0, des->priv_params,
                         Bytes(des->ciphertext.begin(), des->ciphertext.end() - 1));
  REQUIRE_FALSE(bad_len.ok());
  CHECK(bad_len.error().code == SnmpErrc::kDecryptionError);
  // AES IV depends on boots and time: other values decrypt to other data.
  auto aes = encrypt(PrivProtocol::kAes128, key, 7, 1234, 42, plain);
  REQUIRE(aes.ok());
  CHECK(*decrypt(PrivProtocol::kAes128, key, 7, 1235, aes->priv_params, aes->ciphertext) != plain);
}

TEST_CASE("USM key inputs are validated", "[snmp]") {
  CHECK_FALSE(password_to_key(AuthProtocol::kHmacSha1, "short").ok());
  CHECK_FALSE(password_to_key(AuthProtocol::kNone, "long enough").ok());
  UsmUserConfig priv_without_auth;
  priv_without_auth.name = "x";
  priv_without_auth.priv = PrivProtocol::kAes128;
  priv_without_auth.priv_password = "password";
  CHECK_FALSE(localize_user(priv_without_auth, kRfcEngine).ok());
  UsmUserConfig master_key;
  master_key.name = "m";
  master_key.auth = AuthProtocol::kHmacMd5;
  master_key.auth_key = hex("9faf3283884e92834ebc9847d8edd963");
  auto keys = localize_user(master_key, kRfcEngine);
  REQUIRE(keys.ok());
  CHECK(to_hex(keys->auth_key) == "0x526f5eed9fcce26f8964c2930787d82b");
  CHECK(*parse_auth_protocol("SHA") == AuthProtocol::kHmacSha1);
  CHECK(*parse_auth_protocol("SHA-512") == AuthProtocol::kHmacSha512);
  CHECK(*parse_priv_protocol("AES") == PrivProtocol::kAes128);
  CHECK_FALSE(parse_priv_protocol("3DES").ok());
  // Same user and engine twice is a configuration error.
  UsmUserConfig dup;
  dup.name = "dup";
  CHECK_FALSE(UsmUserTable::build({dup, dup}, kRfcEngine).ok());
}

}  // namespace duet::snmp
