#pragma once

// How receivers name a sender: "10.0.0.1" for IPv4 and IPv4-mapped IPv6,
// "fd00::1" otherwise (the form rules and events use).

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace duet::intake {

// The address of `ss` as text, and its port in `*port` ("?" and 0 for other families).
std::string socket_address_text(const sockaddr_storage& ss, std::uint16_t* port);

}  // namespace duet::intake
