#include "snmp/usm_message.h"

#include <algorithm>

#include "snmp/errors.h"

namespace duet::snmp {

Result<Bytes> seal_v3(const SealParams& params, const UsmKeys& keys, const ScopedPdu& scoped) {
  if (static_cast<int>(params.level) > static_cast<int>(keys.level())) {
    return make_error(SnmpErrc::kInvalidArgument,
                      "user '" + keys.user_name + "' has no keys for " + to_string(params.level));
  }
  V3Message m;
  m.header.msg_id = params.msg_id;
  m.header.max_size = params.max_size;
  m.header.flags = flags_for(params.level) | (params.reportable ? msg_flags::kReportable : 0);
  m.usm.engine_id = params.engine_id;
  m.usm.engine_boots = params.engine_boots;
  m.usm.engine_time = params.engine_time;
  m.usm.user_name = keys.user_name;
  if (params.level != SecurityLevel::kNoAuthNoPriv) {
    m.usm.auth_params.assign(mac_length(keys.auth), 0);
  }
  if (params.level == SecurityLevel::kAuthPriv) {
    DUET_ASSIGN_OR_RETURN(Bytes plain, encode_scoped_pdu(scoped));
    DUET_ASSIGN_OR_RETURN(Encrypted enc, encrypt(keys.priv, keys.priv_key, params.engine_boots,
                                                 params.engine_time, params.salt, plain));
    m.usm.priv_params = std::move(enc.priv_params);
    m.data = std::move(enc.ciphertext);
  } else {
    m.data = scoped;
  }
  size_t offset = 0;
  DUET_ASSIGN_OR_RETURN(Bytes out, encode_v3_message(m, &offset));
  if (params.level != SecurityLevel::kNoAuthNoPriv) {
    DUET_ASSIGN_OR_RETURN(Bytes mac, compute_mac(keys.auth, keys.auth_key, out));
    std::copy(mac.begin(), mac.end(), out.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  return out;
}

Status check_v3_mac(std::span<const uint8_t> datagram, const V3Message& message,
                    const UsmKeys& keys) {
  const Bytes& received = message.usm.auth_params;
  if (received.size() != mac_length(keys.auth)) {
    return make_error(SnmpErrc::kWrongDigest,
                      "MAC of " + std::to_string(received.size()) + " octets where " +
                          to_string(keys.auth) + " needs " + std::to_string(mac_length(keys.auth)));
  }
  if (message.auth_params_offset + received.size() > datagram.size()) {
    return make_error(SnmpErrc::kMalformed, "MAC offset outside the datagram");
  }
  Bytes zeroed(datagram.begin(), datagram.end());
  std::fill_n(zeroed.begin() + static_cast<std::ptrdiff_t>(message.auth_params_offset),
              received.size(), 0);
  return verify_mac(keys.auth, keys.auth_key, zeroed, received);
}

Result<ScopedPdu> open_v3_scoped(const V3Message& message, const UsmKeys& keys) {
  if (const auto* scoped = std::get_if<ScopedPdu>(&message.data)) return *scoped;
  if (keys.priv == PrivProtocol::kNone) {
    return make_error(SnmpErrc::kUnsupportedSecurityLevel,
                      "user '" + keys.user_name + "' has no privacy key");
  }
  auto plain = decrypt(keys.priv, keys.priv_key, message.usm.engine_boots, message.usm.engine_time,
                       message.usm.priv_params, std::get<Bytes>(message.data));
  if (!plain.ok()) {
    if (plain.error().code == SnmpErrc::kCrypto) return std::move(plain).take_error();
    return make_error(SnmpErrc::kDecryptionError, plain.error().message);
  }
  auto scoped = decode_scoped_pdu(*plain, keys.priv == PrivProtocol::kDes);
  if (!scoped.ok()) {
    // A wrong privacy key gives garbage: count it as a decryption error.
    return make_error(SnmpErrc::kDecryptionError,
                      "decrypted data is not a scopedPDU (" + scoped.error().message + ")");
  }
  return scoped;
}

}  // namespace duet::snmp
