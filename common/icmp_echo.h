#pragma once

// ICMP echo (RFC 792) requests and replies, as bytes: the reference guard
// (ha/) and the ping monitor (monitors/) build requests and recognise their
// replies with it. Pure functions; nothing here touches a socket.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace duet {

// ICMP echo encoding and matching, exposed for tests.
namespace icmp_echo {

inline constexpr std::uint8_t kEchoReply = 0;
inline constexpr std::uint8_t kEchoRequest = 8;
inline constexpr std::size_t kHeaderSize = 8;

// The Internet checksum (RFC 1071) of `bytes`.
std::uint16_t checksum(std::span<const std::uint8_t> bytes);

// An echo request: header (checksum filled in) followed by `payload`.
std::vector<std::uint8_t> make_request(std::uint16_t identifier, std::uint16_t sequence,
                                       std::span<const std::uint8_t> payload);

struct Expected {
  std::uint16_t identifier = 0;
  bool check_identifier = true;  // false on datagram sockets: the kernel matched it already
  std::uint16_t sequence = 0;
  std::vector<std::uint8_t> payload;
};

enum class Match {
  kOurs,       // the echo reply we wait for
  kNotOurs,    // well-formed, but another type, identifier, sequence or payload
  kMalformed,  // truncated, not IPv4, bad header length or bad checksum
};

// `datagram` as read from the socket: with the IPv4 header in front (raw
// sockets) or without it (datagram sockets). Never reads out of bounds.
Match match_reply(std::span<const std::uint8_t> datagram, bool with_ip_header,
                  const Expected& expected);

}  // namespace icmp_echo

}  // namespace duet
