#include "common/icmp_echo.h"

#include <netinet/in.h>

#include <algorithm>

namespace duet {

namespace icmp_echo {

std::uint16_t checksum(std::span<const std::uint8_t> bytes) {
  std::uint32_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += (std::uint32_t{bytes[i]} << 8) | bytes[i + 1];
  if (i < bytes.size()) sum += std::uint32_t{bytes[i]} << 8;
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::vector<std::uint8_t> make_request(std::uint16_t identifier, std::uint16_t sequence,
                                       std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> out(kHeaderSize + payload.size(), 0);
  out[0] = kEchoRequest;
  out[1] = 0;  // code
  out[4] = static_cast<std::uint8_t>(identifier >> 8);
  out[5] = static_cast<std::uint8_t>(identifier & 0xff);
  out[6] = static_cast<std::uint8_t>(sequence >> 8);
  out[7] = static_cast<std::uint8_t>(sequence & 0xff);
  std::copy(payload.begin(), payload.end(), out.begin() + kHeaderSize);
  const std::uint16_t sum = checksum(out);
  out[2] = static_cast<std::uint8_t>(sum >> 8);
  out[3] = static_cast<std::uint8_t>(sum & 0xff);
  return out;
}

Match match_reply(std::span<const std::uint8_t> datagram, bool with_ip_header,
                  const Expected& expected) {
  std::span<const std::uint8_t> message = datagram;
  if (with_ip_header) {
    if (datagram.size() < 20) return Match::kMalformed;
    if ((datagram[0] >> 4) != 4) return Match::kMalformed;
    const std::size_t header_length = std::size_t{datagram[0] & 0x0FU} * 4;
    if (header_length < 20 || header_length > datagram.size()) return Match::kMalformed;
    if (datagram[9] != IPPROTO_ICMP) return Match::kNotOurs;
    message = datagram.subspan(header_length);
  }
  if (message.size() < kHeaderSize) return Match::kMalformed;
  if (checksum(message) != 0) return Match::kMalformed;
  if (message[0] != kEchoReply || message[1] != 0) return Match::kNotOurs;
  const auto identifier = static_cast<std::uint16_t>((message[4] << 8) | message[5]);
  const auto sequence = static_cast<std::uint16_t>((message[6] << 8) | message[7]);
  if (expected.check_identifier && identifier != expected.identifier) return Match::kNotOurs;
  if (sequence != expected.sequence) return Match::kNotOurs;
  const auto payload = message.subspan(kHeaderSize);
  if (!std::equal(payload.begin(), payload.end(), expected.payload.begin(),
                  expected.payload.end())) {
    return Match::kNotOurs;
  }
  return Match::kOurs;
}

}  // namespace icmp_echo

}  // namespace duet
