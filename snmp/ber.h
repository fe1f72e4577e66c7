#pragma once

// BER (X.690) reader and writer for the subset SNMP uses.
//
// BerReader walks a byte span without copying. It is strict, because its input
// comes from the network:
// - definite lengths only; the indefinite form (0x80) is rejected;
// - long-form lengths of 1..4 length octets (BER allows non-minimal lengths and
//   common agents send them, so 0x82 0x00 0x05 is accepted); more is rejected;
// - a length past the end of the enclosing value is rejected;
// - a constructed value must be consumed exactly (expect_end());
// - high tag numbers (0x1F form) are rejected: SNMP never uses them;
// - integers longer than their type (INTEGER: 8 octets as int64; unsigned
//   32-bit types: 4 octets, or 5 with a leading zero; Counter64: 8, or 9 with a
//   leading zero) and negative values of unsigned types are rejected;
// - OIDs must be non-empty, use minimal subidentifiers, fit 32-bit arcs and at
//   most kMaxOidArcs arcs;
// - nesting deeper than kMaxDepth constructed values is rejected.
// Every failure is SnmpErrc::kMalformed with a message naming the offset.
//
// BerWriter appends definite, minimal encodings. Constructed values are
// bracketed with open()/close(). Invalid input (an invalid Oid) is recorded
// and reported by status(); the bytes are then unusable.
// Both are single-threaded value types.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "snmp/oid.h"

namespace duet::snmp {

// Tags (identifier octets) used by SNMP. The class is in the top two bits.
namespace tag {
inline constexpr uint8_t kInteger = 0x02;
inline constexpr uint8_t kOctetString = 0x04;
inline constexpr uint8_t kNull = 0x05;
inline constexpr uint8_t kOid = 0x06;
inline constexpr uint8_t kSequence = 0x30;
inline constexpr uint8_t kIpAddress = 0x40;
inline constexpr uint8_t kCounter32 = 0x41;
inline constexpr uint8_t kGauge32 = 0x42;
inline constexpr uint8_t kTimeTicks = 0x43;
inline constexpr uint8_t kOpaque = 0x44;
inline constexpr uint8_t kCounter64 = 0x46;
inline constexpr uint8_t kNoSuchObject = 0x80;
inline constexpr uint8_t kNoSuchInstance = 0x81;
inline constexpr uint8_t kEndOfMibView = 0x82;
}  // namespace tag

enum class TagClass : uint8_t { kUniversal = 0, kApplication = 1, kContext = 2, kPrivate = 3 };

inline TagClass tag_class(uint8_t tag) { return static_cast<TagClass>(tag >> 6); }
inline bool tag_constructed(uint8_t tag) { return (tag & 0x20) != 0; }

inline constexpr int kMaxBerDepth = 12;

struct Tlv {
  uint8_t tag = 0;
  std::span<const uint8_t> value;  // contents octets
  std::span<const uint8_t> whole;  // identifier + length + contents
};

class BerReader {
 public:
  explicit BerReader(std::span<const uint8_t> data, int depth = 0) : data_(data), depth_(depth) {}

  bool at_end() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }

  // The next value, whatever its tag.
  Result<Tlv> read_any();
  // The next value; its tag must be `expected`.
  Result<Tlv> read(uint8_t expected);
  // A reader over the contents of the next value, whose tag must be `expected`
  // (a constructed tag). Fails past kMaxBerDepth.
  Result<BerReader> enter(uint8_t expected);

  Result<int64_t> read_integer(uint8_t expected = tag::kInteger);
  // An INTEGER that must fit int32 (request-id, error-status, version, ...).
  Result<int32_t> read_int32(uint8_t expected = tag::kInteger);
  Result<uint32_t> read_uint32(uint8_t expected);
  Result<uint64_t> read_uint64(uint8_t expected);
  Result<Bytes> read_octets(uint8_t expected = tag::kOctetString);
  Status read_null(uint8_t expected = tag::kNull);
  Result<Oid> read_oid();

  // Fails when bytes remain: trailing data inside a constructed value.
  Status expect_end() const;

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// Contents-octet decoders (used by BerReader; exposed for tests).
Result<int64_t> decode_integer(std::span<const uint8_t> contents);
Result<uint64_t> decode_unsigned(std::span<const uint8_t> contents, unsigned bits);
Result<Oid> decode_oid(std::span<const uint8_t> contents);

class BerWriter {
 public:
  void integer(int64_t v, uint8_t t = tag::kInteger);
  void unsigned_integer(uint64_t v, uint8_t t);
  void octets(std::span<const uint8_t> v, uint8_t t = tag::kOctetString);
  void null(uint8_t t = tag::kNull);
  void oid(const Oid& oid);
  // Appends already-encoded BER.
  void raw(std::span<const uint8_t> encoded);

  // Starts a constructed value; returns the mark to give to close().
  size_t open(uint8_t t);
  void close(size_t mark);

  Status status() const;
  const Bytes& bytes() const { return out_; }
  Bytes take() { return std::move(out_); }

 private:
  void header(uint8_t t, size_t length);

  Bytes out_;
  std::string error_;
};

}  // namespace duet::snmp
