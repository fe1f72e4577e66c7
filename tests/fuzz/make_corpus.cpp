// Writes the SNMP seed files of the fuzz corpora from the codec's encoders,
// for the configuration in snmp_fuzz_config.h. The output is committed under
// tests/fuzz/corpus/; run this again after changing that configuration:
//   build/fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
// The seeds are deterministic (fixed salts, ids and times).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "snmp/notification.h"
#include "tests/fuzz/snmp_fuzz_config.h"

namespace {

namespace snmp = duet::snmp;
using snmp::Bytes;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fuzz_make_corpus: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T must(duet::Result<T> r, const std::string& what) {
  if (!r.ok()) die(what + ": " + r.error().to_string());
  return std::move(r).value();
}

void write(const std::filesystem::path& dir, const std::string& name, const Bytes& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) die("cannot write " + (dir / name).string());
}

snmp::UsmKeys keys_for(const std::string& user, const Bytes& engine) {
  for (const snmp::UsmUserConfig& u : duet::fuzz::fuzz_users()) {
    if (u.name == user) return must(snmp::localize_user(u, engine), "localize " + user);
  }
  die("no user " + user);
}

std::vector<snmp::Varbind> varbinds() {
  return snmp::notification_varbinds(
      4242, snmp::Oid{1, 3, 6, 1, 6, 3, 1, 1, 5, 3},
      {{snmp::Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7}, snmp::Integer32{7}},
       {snmp::Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 7}, snmp::OctetString::from("eth7")},
       {snmp::Oid{1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 7}, snmp::Counter64{0x1122334455667788ULL}},
       {snmp::Oid{1, 3, 6, 1, 2, 1, 4, 20, 1, 1}, snmp::IpAddress{{192, 0, 2, 1}}}});
}

// A v3 notification from `user`: a trap with the sender's engine, an inform
// to the manager's (in its time window).
Bytes v3(const std::string& user, snmp::PduType type, uint64_t salt) {
  const bool inform = type == snmp::PduType::kInformRequest;
  const Bytes& engine = inform ? duet::fuzz::kManagerEngine : duet::fuzz::kSenderEngine;
  const snmp::UsmKeys keys = keys_for(user, engine);
  snmp::SealParams p;
  p.msg_id = 77;
  p.level = keys.level();
  p.engine_id = engine;
  p.engine_boots = inform ? duet::fuzz::kManagerBoots : 3;
  p.engine_time = inform ? duet::fuzz::kManagerTime + 5 : 123456;
  p.salt = salt;
  return must(snmp::build_v3_notification(p, keys, type, 1001, varbinds()), "v3 " + user);
}

// `datagram` (a v3 message) with its MAC field replaced by `mac`.
Bytes with_mac(const Bytes& datagram, Bytes mac) {
  snmp::V3Message m = must(snmp::decode_v3_message(datagram), "decode for MAC");
  m.usm.auth_params = std::move(mac);
  return must(snmp::encode_v3_message(m), "encode with MAC");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) die("usage: fuzz_make_corpus CORPUS_DIR");
  const std::filesystem::path root(argv[1]);
  std::vector<std::pair<std::string, Bytes>> seeds;

  snmp::TrapV1Pdu trap;
  trap.enterprise = snmp::Oid{1, 3, 6, 1, 4, 1, 8072, 3, 2, 10};
  trap.agent_addr = {192, 0, 2, 10};
  trap.generic_trap = 6;
  trap.specific_trap = 17;
  trap.time_stamp = 4242;
  trap.varbinds = {{snmp::Oid{1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7}, snmp::Integer32{7}}};
  seeds.emplace_back("v1_trap", must(snmp::build_v1_trap("public", trap), "v1"));
  seeds.emplace_back("v2c_trap", must(snmp::build_v2c_notification("public", snmp::PduType::kTrapV2,
                                                                   11, varbinds()),
                                      "v2c trap"));
  seeds.emplace_back("v2c_inform", must(snmp::build_v2c_notification(
                                            "ops", snmp::PduType::kInformRequest, 12, varbinds()),
                                        "v2c inform"));
  seeds.emplace_back(
      "v2c_unknown_community",
      must(snmp::build_v2c_notification("private", snmp::PduType::kTrapV2, 13, varbinds()),
           "v2c unknown community"));
  seeds.emplace_back("v3_probe", must(snmp::build_discovery_probe(5, 6), "probe"));
  uint64_t salt = 0x5eed000000000001ULL;
  for (const char* user : {"noauth", "md5", "sha256", "md5des", "shaaes"}) {
    seeds.emplace_back(std::string("v3_trap_") + user, v3(user, snmp::PduType::kTrapV2, salt++));
    seeds.emplace_back(std::string("v3_inform_") + user,
                       v3(user, snmp::PduType::kInformRequest, salt++));
  }
  // The MAC field 1 byte long (and empty) for an authenticated user.
  seeds.emplace_back("v3_mac_1_byte", with_mac(v3("md5", snmp::PduType::kTrapV2, 1), {0xAB}));
  seeds.emplace_back("v3_mac_empty", with_mac(v3("shaaes", snmp::PduType::kTrapV2, 2), {}));

  for (const auto& [name, bytes] : seeds) {
    write(root / "fuzz_snmp_inbound", name, bytes);
    write(root / "fuzz_ber", name, bytes);
  }
  std::printf("fuzz_make_corpus: %zu seeds written to %s/{fuzz_snmp_inbound,fuzz_ber}\n",
              seeds.size(), root.c_str());
  return 0;
}
