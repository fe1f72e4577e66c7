#pragma once

// The fixed SNMP configuration fuzz_snmp_inbound runs against and
// fuzz_make_corpus writes its seeds for: communities "public" and "ops", this
// manager's engine, one trap sender engine and a USM user per interesting
// level and protocol (noAuthNoPriv; MD5 authNoPriv; SHA-256 authNoPriv;
// MD5/DES and SHA/AES authPriv), each configured for the sender engine (so
// usable for traps from it and informs to the manager). Built once; the key
// localisation costs a megabyte of hashing per password.

#include <string>
#include <vector>

#include "snmp/inbound.h"

namespace duet::fuzz {

inline const snmp::Bytes kManagerEngine{0x80, 0x00, 0x1F, 0x88, 0x04, 'f', 'u', 'z', 'z', 'M'};
inline const snmp::Bytes kSenderEngine{0x80, 0x00, 0x1F, 0x88, 0x04, 'f', 'u', 'z', 'z', 'S'};
inline constexpr uint32_t kManagerBoots = 7;
inline constexpr uint32_t kManagerTime = 1000;

// The configured users, as a sender would configure them too.
const std::vector<snmp::UsmUserConfig>& fuzz_users();
const snmp::Credentials& fuzz_credentials();
const snmp::LocalEngine& fuzz_engine();

}  // namespace duet::fuzz
