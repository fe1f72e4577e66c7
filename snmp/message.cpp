#include "snmp/message.h"

#include "snmp/errors.h"

namespace duet::snmp {
namespace {

Error malformed(std::string what) { return make_error(SnmpErrc::kMalformed, std::move(what)); }

bool allowed_in(Version version, PduType type) {
  switch (type) {
    case PduType::kGetRequest:
    case PduType::kGetNextRequest:
    case PduType::kResponse:
    case PduType::kSetRequest:
      return true;
    case PduType::kTrapV1:
      return version == Version::kV1;
    default:
      return version != Version::kV1;
  }
}

void write_scoped(BerWriter& w, const ScopedPdu& scoped) {
  const size_t mark = w.open(tag::kSequence);
  w.octets(scoped.context_engine_id);
  w.octets(scoped.context_name);
  encode_pdu(w, scoped.pdu);
  w.close(mark);
}

}  // namespace

std::string to_string(Version version) {
  switch (version) {
    case Version::kV1:
      return "v1";
    case Version::kV2c:
      return "v2c";
    case Version::kV3:
      return "v3";
  }
  return "unknown";
}

Result<Version> peek_version(std::span<const uint8_t> datagram) {
  BerReader outer(datagram);
  DUET_ASSIGN_OR_RETURN(BerReader msg, outer.enter(tag::kSequence));
  DUET_ASSIGN_OR_RETURN(int64_t v, msg.read_integer());
  if (v != 0 && v != 1 && v != 3) {
    return make_error(SnmpErrc::kUnsupported, "SNMP version field " + std::to_string(v));
  }
  return static_cast<Version>(v);
}

Result<Bytes> encode_community_message(const CommunityMessage& message) {
  if (message.version == Version::kV3) {
    return make_error(SnmpErrc::kInvalidArgument, "a community message must be v1 or v2c");
  }
  if (!allowed_in(message.version, pdu_type(message.pdu))) {
    return make_error(
        SnmpErrc::kInvalidArgument,
        to_string(pdu_type(message.pdu)) + " cannot be sent in " + to_string(message.version));
  }
  BerWriter w;
  const size_t mark = w.open(tag::kSequence);
  w.integer(static_cast<int32_t>(message.version));
  w.octets(std::span(reinterpret_cast<const uint8_t*>(message.community.data()),
                     message.community.size()));
  encode_pdu(w, message.pdu);
  w.close(mark);
  DUET_TRY(w.status());
  return w.take();
}

Result<CommunityMessage> decode_community_message(std::span<const uint8_t> datagram) {
  BerReader outer(datagram);
  DUET_ASSIGN_OR_RETURN(BerReader msg, outer.enter(tag::kSequence));
  DUET_TRY(outer.expect_end());
  DUET_ASSIGN_OR_RETURN(int64_t v, msg.read_integer());
  if (v != 0 && v != 1) {
    return make_error(SnmpErrc::kUnsupported,
                      "not a v1/v2c message (version " + std::to_string(v) + ")");
  }
  CommunityMessage out;
  out.version = static_cast<Version>(v);
  DUET_ASSIGN_OR_RETURN(Bytes community, msg.read_octets());
  out.community.assign(community.begin(), community.end());
  DUET_ASSIGN_OR_RETURN(out.pdu, decode_pdu(msg));
  DUET_TRY(msg.expect_end());
  if (!allowed_in(out.version, pdu_type(out.pdu))) {
    return malformed(to_string(pdu_type(out.pdu)) + " PDU in a " + to_string(out.version) +
                     " message");
  }
  return out;
}

Result<Bytes> encode_scoped_pdu(const ScopedPdu& scoped) {
  BerWriter w;
  write_scoped(w, scoped);
  DUET_TRY(w.status());
  return w.take();
}

Result<ScopedPdu> decode_scoped_pdu(std::span<const uint8_t> bytes, bool allow_padding) {
  BerReader outer(bytes, 2);
  DUET_ASSIGN_OR_RETURN(BerReader r, outer.enter(tag::kSequence));
  if (!allow_padding) DUET_TRY(outer.expect_end());
  ScopedPdu out;
  DUET_ASSIGN_OR_RETURN(out.context_engine_id, r.read_octets());
  DUET_ASSIGN_OR_RETURN(out.context_name, r.read_octets());
  DUET_ASSIGN_OR_RETURN(AnyPdu any, decode_pdu(r));
  DUET_TRY(r.expect_end());
  if (!std::holds_alternative<Pdu>(any)) return malformed("Trap-v1 PDU in a v3 message");
  out.pdu = std::move(std::get<Pdu>(any));
  return out;
}

Result<Bytes> encode_v3_message(const V3Message& m, size_t* auth_offset) {
  BerWriter w;
  const size_t msg = w.open(tag::kSequence);
  w.integer(3);
  const size_t global = w.open(tag::kSequence);
  w.integer(m.header.msg_id);
  w.integer(m.header.max_size);
  const uint8_t flags[1] = {m.header.flags};
  w.octets(flags);
  w.integer(m.header.security_model);
  w.close(global);
  // msgSecurityParameters: an OCTET STRING holding the BER of UsmSecurityParameters.
  BerWriter sec;
  const size_t usm = sec.open(tag::kSequence);
  sec.octets(m.usm.engine_id);
  sec.integer(m.usm.engine_boots);
  sec.integer(m.usm.engine_time);
  sec.octets(
      std::span(reinterpret_cast<const uint8_t*>(m.usm.user_name.data()), m.usm.user_name.size()));
  sec.octets(m.usm.auth_params);
  sec.octets(m.usm.priv_params);
  sec.close(usm);
  w.octets(sec.bytes());
  if (const auto* scoped = std::get_if<ScopedPdu>(&m.data)) {
    write_scoped(w, *scoped);
  } else {
    w.octets(std::get<Bytes>(m.data));
  }
  w.close(msg);
  DUET_TRY(w.status());
  Bytes out = w.take();
  if (auth_offset != nullptr) {
    DUET_ASSIGN_OR_RETURN(V3Message again, decode_v3_message(out));
    *auth_offset = again.auth_params_offset;
  }
  return out;
}

Result<V3Message> decode_v3_message(std::span<const uint8_t> datagram) {
  BerReader outer(datagram);
  DUET_ASSIGN_OR_RETURN(BerReader msg, outer.enter(tag::kSequence));
  DUET_TRY(outer.expect_end());
  DUET_ASSIGN_OR_RETURN(int64_t version, msg.read_integer());
  if (version != 3) return make_error(SnmpErrc::kUnsupported, "not a v3 message");
  V3Message out;
  DUET_ASSIGN_OR_RETURN(BerReader global, msg.enter(tag::kSequence));
  DUET_ASSIGN_OR_RETURN(out.header.msg_id, global.read_int32());
  DUET_ASSIGN_OR_RETURN(out.header.max_size, global.read_int32());
  DUET_ASSIGN_OR_RETURN(Bytes flags, global.read_octets());
  DUET_ASSIGN_OR_RETURN(out.header.security_model, global.read_int32());
  DUET_TRY(global.expect_end());
  if (out.header.msg_id < 0) return malformed("negative msgID");
  if (out.header.max_size < kMinMaxSize) {
    return malformed("msgMaxSize " + std::to_string(out.header.max_size) + " below 484");
  }
  if (flags.size() != 1) return malformed("msgFlags is not one octet");
  out.header.flags = flags[0];
  if ((out.header.flags & msg_flags::kPriv) && !(out.header.flags & msg_flags::kAuth)) {
    return malformed("msgFlags ask for privacy without authentication");
  }
  if (out.header.security_model != kUsmSecurityModel) {
    return make_error(
        SnmpErrc::kUnsupported,
        "security model " + std::to_string(out.header.security_model) + " (only USM, 3)");
  }
  DUET_ASSIGN_OR_RETURN(Tlv sec_tlv, msg.read(tag::kOctetString));
  BerReader sec_outer(sec_tlv.value, 2);
  DUET_ASSIGN_OR_RETURN(BerReader sec, sec_outer.enter(tag::kSequence));
  DUET_TRY(sec_outer.expect_end());
  DUET_ASSIGN_OR_RETURN(out.usm.engine_id, sec.read_octets());
  if (out.usm.engine_id.size() > 32) return malformed("engine id longer than 32 octets");
  DUET_ASSIGN_OR_RETURN(int64_t boots, sec.read_integer());
  DUET_ASSIGN_OR_RETURN(int64_t time, sec.read_integer());
  if (boots < 0 || boots > INT32_MAX || time < 0 || time > INT32_MAX) {
    return malformed("engine boots/time out of range");
  }
  out.usm.engine_boots = static_cast<uint32_t>(boots);
  out.usm.engine_time = static_cast<uint32_t>(time);
  DUET_ASSIGN_OR_RETURN(Bytes user, sec.read_octets());
  if (user.size() > 32) return malformed("user name longer than 32 octets");
  out.usm.user_name.assign(user.begin(), user.end());
  DUET_ASSIGN_OR_RETURN(Tlv auth, sec.read(tag::kOctetString));
  out.usm.auth_params.assign(auth.value.begin(), auth.value.end());
  out.auth_params_offset = static_cast<size_t>(auth.value.data() - datagram.data());
  DUET_ASSIGN_OR_RETURN(out.usm.priv_params, sec.read_octets());
  DUET_TRY(sec.expect_end());
  if (out.header.flags & msg_flags::kPriv) {
    DUET_ASSIGN_OR_RETURN(Bytes encrypted, msg.read_octets());
    out.data = std::move(encrypted);
  } else {
    DUET_ASSIGN_OR_RETURN(Tlv scoped_tlv, msg.read(tag::kSequence));
    DUET_ASSIGN_OR_RETURN(ScopedPdu scoped, decode_scoped_pdu(scoped_tlv.whole, false));
    out.data = std::move(scoped);
  }
  DUET_TRY(msg.expect_end());
  return out;
}

}  // namespace duet::snmp
