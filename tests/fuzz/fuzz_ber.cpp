// Fuzzes the BER reader and the message decoders above it with arbitrary
// bytes.
//
// The BER walk reads every value with read_any(), descends into constructed
// values with enter() and tries the typed reader the tag calls for.
// Invariants:
// - a value lies inside the data it was read from: `value` is the tail of
//   `whole`, `whole` starts where the reader stood and the reader moves past
//   exactly `whole`;
// - enter() succeeds only below kMaxBerDepth, so the walk never goes deeper;
// - a decoded INTEGER, unsigned type or Counter64 written back with BerWriter
//   reads back as the same value; an OCTET STRING reads back as the contents;
//   a decoded OID is valid and re-encodes to exactly the same contents octets
//   (subidentifiers must be minimal, so the encoding is canonical);
// - a decoded v1/v2c message or plaintext v3 message encodes again, and that
//   encoding decodes to the same message and re-encodes to the same bytes;
// - every decoder failure is an snmp error with a message.

#include <cstddef>
#include <cstdint>
#include <span>

#include "snmp/ber.h"
#include "snmp/errors.h"
#include "snmp/identity.h"
#include "snmp/message.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

namespace snmp = duet::snmp;
using snmp::BerReader;
using snmp::BerWriter;
using snmp::Bytes;

template <typename T>
void check_error(const duet::Result<T>& r) {
  if (r.ok()) return;
  FUZZ_CHECK(r.error().code.category() == snmp::snmp_category());
  FUZZ_CHECK(!r.error().message.empty());
}

BerReader reader_of(const Bytes& bytes) { return BerReader(std::span<const uint8_t>(bytes)); }

// The typed read of the value at `at` (a copy of the walking reader).
void check_typed(BerReader at, const snmp::Tlv& tlv) {
  switch (tlv.tag) {
    case snmp::tag::kInteger: {
      BerReader again = at;
      auto v = at.read_integer();
      check_error(v);
      FUZZ_CHECK(v.ok() == (!tlv.value.empty() && tlv.value.size() <= 8));
      auto v32 = again.read_int32();
      check_error(v32);
      if (!v.ok()) break;
      if (v32.ok()) FUZZ_CHECK(*v32 == *v);
      BerWriter w;
      w.integer(*v);
      auto back = reader_of(w.bytes()).read_integer();
      FUZZ_CHECK(back.ok() && *back == *v);
      break;
    }
    case snmp::tag::kCounter32:
    case snmp::tag::kGauge32:
    case snmp::tag::kTimeTicks: {
      auto v = at.read_uint32(tlv.tag);
      check_error(v);
      if (!v.ok()) break;
      BerWriter w;
      w.unsigned_integer(*v, tlv.tag);
      auto back = reader_of(w.bytes()).read_uint32(tlv.tag);
      FUZZ_CHECK(back.ok() && *back == *v);
      break;
    }
    case snmp::tag::kCounter64: {
      auto v = at.read_uint64(tlv.tag);
      check_error(v);
      if (!v.ok()) break;
      BerWriter w;
      w.unsigned_integer(*v, tlv.tag);
      auto back = reader_of(w.bytes()).read_uint64(tlv.tag);
      FUZZ_CHECK(back.ok() && *back == *v);
      break;
    }
    case snmp::tag::kOctetString:
    case snmp::tag::kIpAddress:
    case snmp::tag::kOpaque: {
      auto v = at.read_octets(tlv.tag);
      FUZZ_CHECK(v.ok());
      FUZZ_CHECK(std::equal(v->begin(), v->end(), tlv.value.begin(), tlv.value.end()));
      break;
    }
    case snmp::tag::kNull: {
      auto v = at.read_null();
      check_error(v);
      FUZZ_CHECK(v.ok() == tlv.value.empty());
      break;
    }
    case snmp::tag::kOid: {
      auto v = at.read_oid();
      check_error(v);
      if (!v.ok()) break;
      FUZZ_CHECK(v->valid());
      BerWriter w;
      w.oid(*v);
      FUZZ_CHECK(w.status().ok());
      auto back = reader_of(w.bytes()).read(snmp::tag::kOid);
      FUZZ_CHECK(back.ok());
      FUZZ_CHECK(
          std::equal(back->value.begin(), back->value.end(), tlv.value.begin(), tlv.value.end()));
      break;
    }
    default:
      break;
  }
}

void walk(BerReader reader, int depth) {
  FUZZ_CHECK(depth <= snmp::kMaxBerDepth);
  while (!reader.at_end()) {
    const BerReader at = reader;
    const std::size_t before = reader.remaining();
    auto tlv = reader.read_any();
    check_error(tlv);
    if (!tlv.ok()) return;
    FUZZ_CHECK(tlv->whole.size() >= 2 + tlv->value.size());
    FUZZ_CHECK(tlv->whole.size() <= before);
    FUZZ_CHECK(reader.remaining() == before - tlv->whole.size());
    FUZZ_CHECK(tlv->value.data() + tlv->value.size() == tlv->whole.data() + tlv->whole.size());
    FUZZ_CHECK(tlv->whole[0] == tlv->tag);
    if (snmp::tag_constructed(tlv->tag)) {
      BerReader copy = at;
      auto inner = copy.enter(tlv->tag);
      check_error(inner);
      FUZZ_CHECK(inner.ok() == (depth + 1 <= snmp::kMaxBerDepth));
      if (inner.ok()) {
        FUZZ_CHECK(inner->remaining() == tlv->value.size());
        walk(*inner, depth + 1);
      }
    } else {
      check_typed(at, *tlv);
    }
  }
}

void check_community(std::span<const uint8_t> data) {
  auto decoded = snmp::decode_community_message(data);
  check_error(decoded);
  if (!decoded.ok()) return;
  (void)snmp::identity_key(decoded->pdu);
  auto encoded = snmp::encode_community_message(*decoded);
  FUZZ_CHECK(encoded.ok());
  auto again = snmp::decode_community_message(*encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->version == decoded->version);
  FUZZ_CHECK(again->community == decoded->community);
  FUZZ_CHECK(again->pdu == decoded->pdu);
  auto encoded_again = snmp::encode_community_message(*again);
  FUZZ_CHECK(encoded_again.ok() && *encoded_again == *encoded);
}

void check_v3(std::span<const uint8_t> data) {
  auto decoded = snmp::decode_v3_message(data);
  check_error(decoded);
  if (!decoded.ok()) return;
  const snmp::V3Message& m = *decoded;
  FUZZ_CHECK(m.auth_params_offset + m.usm.auth_params.size() <= data.size());
  FUZZ_CHECK(std::equal(m.usm.auth_params.begin(), m.usm.auth_params.end(),
                        data.begin() + static_cast<std::ptrdiff_t>(m.auth_params_offset)));
  std::size_t offset = 0;
  auto encoded = snmp::encode_v3_message(m, &offset);
  FUZZ_CHECK(encoded.ok());
  auto again = snmp::decode_v3_message(*encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->auth_params_offset == offset);
  FUZZ_CHECK(again->header.msg_id == m.header.msg_id);
  FUZZ_CHECK(again->header.max_size == m.header.max_size);
  FUZZ_CHECK(again->header.flags == m.header.flags);
  FUZZ_CHECK(again->usm.engine_id == m.usm.engine_id);
  FUZZ_CHECK(again->usm.engine_boots == m.usm.engine_boots);
  FUZZ_CHECK(again->usm.engine_time == m.usm.engine_time);
  FUZZ_CHECK(again->usm.user_name == m.usm.user_name);
  FUZZ_CHECK(again->usm.auth_params == m.usm.auth_params);
  FUZZ_CHECK(again->usm.priv_params == m.usm.priv_params);
  FUZZ_CHECK(again->data.index() == m.data.index());
  if (const auto* scoped = std::get_if<snmp::ScopedPdu>(&m.data)) {
    const auto& scoped_again = std::get<snmp::ScopedPdu>(again->data);
    FUZZ_CHECK(scoped_again.context_engine_id == scoped->context_engine_id);
    FUZZ_CHECK(scoped_again.context_name == scoped->context_name);
    FUZZ_CHECK(scoped_again.pdu == scoped->pdu);
    (void)snmp::identity_key(scoped->pdu);
  } else {
    FUZZ_CHECK(std::get<Bytes>(again->data) == std::get<Bytes>(m.data));
  }
  auto encoded_again = snmp::encode_v3_message(*again);
  FUZZ_CHECK(encoded_again.ok() && *encoded_again == *encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  walk(BerReader(bytes), 0);

  check_error(snmp::decode_integer(bytes));
  check_error(snmp::decode_unsigned(bytes, 32));
  check_error(snmp::decode_unsigned(bytes, 64));
  check_error(snmp::decode_oid(bytes));
  for (bool padding : {false, true}) check_error(snmp::decode_scoped_pdu(bytes, padding));
  BerReader pdu_reader(bytes);
  check_error(snmp::decode_pdu(pdu_reader));

  auto version = snmp::peek_version(bytes);
  check_error(version);
  check_community(bytes);
  check_v3(bytes);
  return 0;
}
