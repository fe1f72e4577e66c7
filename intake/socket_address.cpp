#include "intake/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

#include "common/errors.h"

namespace duet::intake {

Result<boost::asio::ip::address> listen_address(const HostPort& hp, const std::string& what) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(hp.host == "localhost" ? "127.0.0.1" : hp.host, ec);
  if (ec) {
    return make_error(CommonErrc::kInvalidArgument,
                      what + ": give an IP address to listen on (" + ec.message() + ")");
  }
  return a;
}
namespace {

// The last address each receiving thread named: a burst comes from few
// senders, and inet_ntop was a few percent of a datagram's cost.
struct LastName {
  int family = AF_UNSPEC;
  std::array<unsigned char, 16> bytes{};
  std::string text;
};
thread_local LastName last;

const std::string& name_of(int family, const void* addr, std::size_t len) {
  if (last.family == family && std::memcmp(last.bytes.data(), addr, len) == 0) return last.text;
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr, buf, sizeof buf);
  last.family = family;
  std::memcpy(last.bytes.data(), addr, len);
  last.text = buf;
  return last.text;
}

}  // namespace

std::string socket_address_text(const sockaddr_storage& ss, std::uint16_t* port) {
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    *port = ntohs(in->sin_port);
    return name_of(AF_INET, &in->sin_addr, 4);
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    *port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      return name_of(AF_INET, &in6->sin6_addr.s6_addr[12], 4);
    }
    return name_of(AF_INET6, &in6->sin6_addr, 16);
  }
  *port = 0;
  return "?";
}

}  // namespace duet::intake
