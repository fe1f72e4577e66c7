#include "snmp/ber.h"

#include <string>

#include "snmp/errors.h"

namespace duet::snmp {
namespace {

Error malformed(std::string what) { return make_error(SnmpErrc::kMalformed, std::move(what)); }

std::string hex_tag(uint8_t t) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[t >> 4] + kDigits[t & 0xF];
}

void append_length(Bytes& out, size_t length) {
  if (length < 0x80) {
    out.push_back(static_cast<uint8_t>(length));
    return;
  }
  uint8_t tmp[sizeof(size_t)];
  int n = 0;
  for (size_t v = length; v != 0; v >>= 8) tmp[n++] = static_cast<uint8_t>(v & 0xFF);
  out.push_back(static_cast<uint8_t>(0x80 | n));
  while (n > 0) out.push_back(tmp[--n]);
}

}  // namespace

Result<Tlv> BerReader::read_any() {
  const size_t start = pos_;
  const auto at = [&] { return " at offset " + std::to_string(start); };
  if (pos_ >= data_.size()) return malformed("value expected but data ended" + at());
  const uint8_t t = data_[pos_++];
  if ((t & 0x1F) == 0x1F) return malformed("high tag number form is not used by SNMP" + at());
  if (pos_ >= data_.size()) return malformed("length missing" + at());
  const uint8_t first = data_[pos_++];
  size_t length = 0;
  if (first < 0x80) {
    length = first;
  } else if (first == 0x80) {
    return malformed("indefinite length is not allowed" + at());
  } else {
    const size_t n = first & 0x7F;
    if (n > 4) return malformed("length of " + std::to_string(n) + " octets is too long" + at());
    if (data_.size() - pos_ < n) return malformed("length octets truncated" + at());
    for (size_t i = 0; i < n; ++i) length = length << 8 | data_[pos_++];
  }
  if (length > data_.size() - pos_) {
    return malformed("length " + std::to_string(length) + " runs past the end of the data" + at());
  }
  Tlv tlv;
  tlv.tag = t;
  tlv.value = data_.subspan(pos_, length);
  pos_ += length;
  tlv.whole = data_.subspan(start, pos_ - start);
  return tlv;
}

Result<Tlv> BerReader::read(uint8_t expected) {
  const size_t start = pos_;
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read_any());
  if (tlv.tag != expected) {
    return malformed("tag " + hex_tag(tlv.tag) + " where " + hex_tag(expected) +
                     " was expected at offset " + std::to_string(start));
  }
  return tlv;
}

Result<BerReader> BerReader::enter(uint8_t expected) {
  if (depth_ + 1 > kMaxBerDepth) {
    return malformed("nesting deeper than " + std::to_string(kMaxBerDepth) + " levels");
  }
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read(expected));
  return BerReader(tlv.value, depth_ + 1);
}

Result<int64_t> BerReader::read_integer(uint8_t expected) {
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read(expected));
  return decode_integer(tlv.value);
}

Result<int32_t> BerReader::read_int32(uint8_t expected) {
  DUET_ASSIGN_OR_RETURN(int64_t v, read_integer(expected));
  if (v < INT32_MIN || v > INT32_MAX) {
    return malformed("integer " + std::to_string(v) + " does not fit 32 bits");
  }
  return static_cast<int32_t>(v);
}

Result<uint32_t> BerReader::read_uint32(uint8_t expected) {
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read(expected));
  DUET_ASSIGN_OR_RETURN(uint64_t v, decode_unsigned(tlv.value, 32));
  return static_cast<uint32_t>(v);
}

Result<uint64_t> BerReader::read_uint64(uint8_t expected) {
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read(expected));
  return decode_unsigned(tlv.value, 64);
}

Result<Bytes> BerReader::read_octets(uint8_t expected) {
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read(expected));
  return Bytes(tlv.value.begin(), tlv.value.end());
}

Status BerReader::read_null(uint8_t expected) {
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read(expected));
  if (!tlv.value.empty()) return malformed("NULL with contents");
  return ok_status();
}

Result<Oid> BerReader::read_oid() {
  DUET_ASSIGN_OR_RETURN(Tlv tlv, read(tag::kOid));
  return decode_oid(tlv.value);
}

Status BerReader::expect_end() const {
  if (!at_end()) {
    return malformed(std::to_string(remaining()) + " trailing bytes inside a constructed value");
  }
  return ok_status();
}

Result<int64_t> decode_integer(std::span<const uint8_t> contents) {
  if (contents.empty()) return malformed("integer without contents");
  if (contents.size() > 8) {
    return malformed("integer of " + std::to_string(contents.size()) + " octets is too long");
  }
  uint64_t v = (contents[0] & 0x80) ? ~uint64_t{0} : 0;  // sign extension
  for (uint8_t b : contents) v = v << 8 | b;
  return static_cast<int64_t>(v);
}

Result<uint64_t> decode_unsigned(std::span<const uint8_t> contents, unsigned bits) {
  const size_t max_octets = bits / 8;
  if (contents.empty()) return malformed("integer without contents");
  if (contents[0] & 0x80) return malformed("negative value for an unsigned type");
  if (contents.size() > max_octets + 1 || (contents.size() == max_octets + 1 && contents[0] != 0)) {
    return malformed("unsigned integer of " + std::to_string(contents.size()) +
                     " octets does not fit " + std::to_string(bits) + " bits");
  }
  uint64_t v = 0;
  for (uint8_t b : contents) v = v << 8 | b;
  return v;
}

Result<Oid> decode_oid(std::span<const uint8_t> contents) {
  if (contents.empty()) return malformed("empty OID");
  Oid oid;
  uint64_t sub = 0;
  bool in_sub = false;
  for (uint8_t b : contents) {
    if (!in_sub && b == 0x80) return malformed("OID subidentifier with a leading zero octet");
    sub = sub << 7 | (b & 0x7F);
    if (sub > 0xFFFFFFFFu) return malformed("OID arc larger than 32 bits");
    in_sub = (b & 0x80) != 0;
    if (in_sub) continue;
    if (oid.arcs.empty()) {
      const uint32_t first = sub < 40 ? 0 : (sub < 80 ? 1 : 2);
      oid.arcs.push_back(first);
      oid.arcs.push_back(static_cast<uint32_t>(sub - 40u * first));
    } else {
      oid.arcs.push_back(static_cast<uint32_t>(sub));
    }
    if (oid.arcs.size() > kMaxOidArcs) {
      return malformed("OID longer than " + std::to_string(kMaxOidArcs) + " arcs");
    }
    sub = 0;
  }
  if (in_sub) return malformed("OID ends inside a subidentifier");
  return oid;
}

void BerWriter::header(uint8_t t, size_t length) {
  out_.push_back(t);
  append_length(out_, length);
}

void BerWriter::integer(int64_t v, uint8_t t) {
  uint8_t tmp[8];
  int n = 8;
  for (int i = 7; i >= 0; --i)
    tmp[i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * (7 - i)));
  int start = 0;
  // Drop redundant leading octets (all zero or all one bits with the sign kept).
  while (start < 7 && ((tmp[start] == 0x00 && !(tmp[start + 1] & 0x80)) ||
                       (tmp[start] == 0xFF && (tmp[start + 1] & 0x80)))) {
    ++start;
  }
  header(t, n - start);
  out_.insert(out_.end(), tmp + start, tmp + n);
}

void BerWriter::unsigned_integer(uint64_t v, uint8_t t) {
  uint8_t tmp[9];
  tmp[0] = 0;
  for (int i = 1; i <= 8; ++i) tmp[i] = static_cast<uint8_t>(v >> (8 * (8 - i)));
  int start = 0;
  while (start < 8 && tmp[start] == 0 && !(tmp[start + 1] & 0x80)) ++start;
  header(t, 9 - start);
  out_.insert(out_.end(), tmp + start, tmp + 9);
}

void BerWriter::octets(std::span<const uint8_t> v, uint8_t t) {
  header(t, v.size());
  out_.insert(out_.end(), v.begin(), v.end());
}

void BerWriter::null(uint8_t t) { header(t, 0); }

void BerWriter::oid(const Oid& oid) {
  if (!oid.valid()) {
    if (error_.empty()) error_ = "cannot encode invalid OID '" + oid.to_string() + "'";
    header(tag::kOid, 0);
    return;
  }
  Bytes body;
  auto put = [&body](uint32_t sub) {
    uint8_t tmp[5];
    int n = 0;
    do {
      tmp[n++] = static_cast<uint8_t>(sub & 0x7F);
      sub >>= 7;
    } while (sub != 0);
    while (n > 1) body.push_back(static_cast<uint8_t>(tmp[--n] | 0x80));
    body.push_back(tmp[0]);
  };
  put(oid.arcs[0] * 40 + oid.arcs[1]);
  for (size_t i = 2; i < oid.arcs.size(); ++i) put(oid.arcs[i]);
  octets(body, tag::kOid);
}

void BerWriter::raw(std::span<const uint8_t> encoded) {
  out_.insert(out_.end(), encoded.begin(), encoded.end());
}

size_t BerWriter::open(uint8_t t) {
  out_.push_back(t);
  return out_.size();
}

void BerWriter::close(size_t mark) {
  Bytes len;
  append_length(len, out_.size() - mark);
  out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(mark), len.begin(), len.end());
}

Status BerWriter::status() const {
  if (!error_.empty()) return make_error(SnmpErrc::kInvalidArgument, error_);
  return ok_status();
}

}  // namespace duet::snmp
