#pragma once

// How receivers name a sender: "10.0.0.1" for IPv4 and IPv4-mapped IPv6,
// "fd00::1" otherwise (the form rules and events use); and the address they
// listen on.

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>

#include "common/config.h"
#include "common/result.h"

namespace duet::intake {

// The address a receiver listens on: an IP literal, or "localhost" for
// 127.0.0.1. An error reads "<what>: give an IP address to listen on (...)".
Result<boost::asio::ip::address> listen_address(const HostPort& hp, const std::string& what);

// The address of `ss` as text, and its port in `*port` ("?" and 0 for other families).
std::string socket_address_text(const sockaddr_storage& ss, std::uint16_t* port);

}  // namespace duet::intake
