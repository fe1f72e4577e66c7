// Fuzzes process_inbound, the manager's receiving side (v1/v2c communities,
// v3 USM: engine and user lookup, security level, MAC check, time window,
// decryption), against the fixed configuration of snmp_fuzz_config.h.
//
// Each input is processed as it is and, when it is a v3 message for a
// configured user with authentication and a MAC field of the right length,
// a second time with the correct MAC written in: mutated messages then get
// past the MAC check to the time window, the decryption and the scopedPDU
// decoder, which random bytes would never reach.
//
// Invariants:
// - a refusal is an snmp error with a message; at most one usmStats counter
//   moves per datagram, and only for a refused v3 message;
// - a Report is produced only for a refused message and is itself a valid v3
//   message carrying a Report PDU;
// - an accepted v1/v2c message used a configured community; an accepted v3
//   message names a user configured for its engine at exactly that user's
//   level, its MAC verifies independently, and a confirmed PDU came to this
//   manager's own engine;
// - an accepted InformRequest gets a Response that opens with the user's keys
//   (v3) or decodes (v2c) and carries the same request-id.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "snmp/errors.h"
#include "snmp/identity.h"
#include "snmp/notification.h"
#include "snmp/usm_message.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/snmp_fuzz_config.h"

namespace {

namespace snmp = duet::snmp;
using snmp::Bytes;

uint32_t total(const snmp::UsmStats& s) {
  return s.unsupported_sec_levels + s.not_in_time_windows + s.unknown_user_names +
         s.unknown_engine_ids + s.wrong_digests + s.decryption_errors;
}

void check_accepted(std::span<const uint8_t> datagram, const snmp::InboundMessage& m) {
  const snmp::Credentials& credentials = duet::fuzz::fuzz_credentials();
  const snmp::LocalEngine& engine = duet::fuzz::fuzz_engine();
  auto version = snmp::peek_version(datagram);
  FUZZ_CHECK(version.ok() && *version == m.version);
  if (m.version != snmp::Version::kV3) {
    FUZZ_CHECK(m.community == "public" || m.community == "ops");
  } else {
    const snmp::UsmKeys* keys = credentials.users.find(m.security_engine_id, m.user_name);
    FUZZ_CHECK(keys != nullptr);
    FUZZ_CHECK(keys->level() == m.level);
    if (m.level != snmp::SecurityLevel::kNoAuthNoPriv) {
      auto decoded = snmp::decode_v3_message(datagram);
      FUZZ_CHECK(decoded.ok());
      FUZZ_CHECK(snmp::check_v3_mac(datagram, *decoded, *keys).ok());
    }
    if (snmp::is_confirmed(snmp::pdu_type(m.pdu))) {
      FUZZ_CHECK(m.security_engine_id == engine.engine_id);
    }
  }
  (void)snmp::identity_key(m.pdu);

  if (snmp::pdu_type(m.pdu) != snmp::PduType::kInformRequest) return;
  const int32_t request_id = std::get<snmp::Pdu>(m.pdu).request_id;
  auto response = snmp::build_inform_response(m, credentials, engine, 0x0123456789abcdefULL);
  FUZZ_CHECK(response.ok());
  if (m.version == snmp::Version::kV3) {
    const snmp::UsmKeys* keys = credentials.users.find(engine.engine_id, m.user_name);
    FUZZ_CHECK(keys != nullptr);
    auto reply = snmp::open_v3_reply(*response, keys);
    FUZZ_CHECK(reply.ok());
    FUZZ_CHECK(reply->scoped.pdu.type == snmp::PduType::kResponse);
    FUZZ_CHECK(reply->scoped.pdu.request_id == request_id);
  } else {
    auto reply = snmp::decode_community_message(*response);
    FUZZ_CHECK(reply.ok());
    FUZZ_CHECK(snmp::pdu_type(reply->pdu) == snmp::PduType::kResponse);
    FUZZ_CHECK(std::get<snmp::Pdu>(reply->pdu).request_id == request_id);
  }
}

void process(std::span<const uint8_t> datagram) {
  snmp::UsmStats stats;
  const snmp::InboundResult r = snmp::process_inbound(datagram, duet::fuzz::fuzz_credentials(),
                                                      duet::fuzz::fuzz_engine(), stats);
  const uint32_t counted = total(stats);
  FUZZ_CHECK(counted <= 1);
  if (r.message.ok()) {
    FUZZ_CHECK(counted == 0);
    FUZZ_CHECK(r.report.empty());
    check_accepted(datagram, *r.message);
    return;
  }
  FUZZ_CHECK(r.message.error().code.category() == snmp::snmp_category());
  FUZZ_CHECK(!r.message.error().message.empty());
  if (counted == 1) {
    auto version = snmp::peek_version(datagram);
    FUZZ_CHECK(version.ok() && *version == snmp::Version::kV3);
  }
  if (!r.report.empty()) {
    FUZZ_CHECK(counted == 1);
    auto report = snmp::decode_v3_message(r.report);
    FUZZ_CHECK(report.ok());
    const auto* scoped = std::get_if<snmp::ScopedPdu>(&report->data);
    FUZZ_CHECK(scoped != nullptr);
    FUZZ_CHECK(scoped->pdu.type == snmp::PduType::kReport);
  }
}

// The datagram with a correct MAC for its user, when it has the shape for one.
bool remac(std::span<const uint8_t> datagram, Bytes& out) {
  auto decoded = snmp::decode_v3_message(datagram);
  if (!decoded.ok()) return false;
  const snmp::UsmKeys* keys =
      duet::fuzz::fuzz_credentials().users.find(decoded->usm.engine_id, decoded->usm.user_name);
  if (keys == nullptr || keys->auth == snmp::AuthProtocol::kNone) return false;
  const std::size_t length = snmp::mac_length(keys->auth);
  if (decoded->usm.auth_params.size() != length) return false;
  out.assign(datagram.begin(), datagram.end());
  const auto at = out.begin() + static_cast<std::ptrdiff_t>(decoded->auth_params_offset);
  std::fill(at, at + static_cast<std::ptrdiff_t>(length), 0);
  auto mac = snmp::compute_mac(keys->auth, keys->auth_key, out);
  FUZZ_CHECK(mac.ok() && mac->size() == length);
  std::copy(mac->begin(), mac->end(), at);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)duet::fuzz::fuzz_credentials();  // localise the keys before the first run
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> datagram(data, size);
  process(datagram);
  Bytes signed_copy;
  if (remac(datagram, signed_copy)) process(signed_copy);
  return 0;
}
