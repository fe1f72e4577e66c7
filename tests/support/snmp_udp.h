#pragma once

// A blocking IPv4 UDP socket for the SNMP test tools (snmp_send, snmp_recv):
// send a datagram, receive one with a timeout. Test code only; one thread.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace duet::snmp::testing {

struct UdpPeer {
  sockaddr_in addr{};
  std::string to_string() const {
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(addr.sin_port));
  }
};

// "HOST:PORT" with a numeric IPv4 host.
inline std::optional<UdpPeer> parse_peer(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  UdpPeer peer;
  peer.addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &peer.addr.sin_addr) != 1)
    return std::nullopt;
  try {
    const int port = std::stoi(text.substr(colon + 1));
    if (port < 0 || port > 65535) return std::nullopt;
    peer.addr.sin_port = htons(static_cast<uint16_t>(port));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return peer;
}

class UdpSocket {
 public:
  UdpSocket() : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {}
  ~UdpSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool bind(const UdpPeer& local) {
    return ::bind(fd_, reinterpret_cast<const sockaddr*>(&local.addr), sizeof(local.addr)) == 0;
  }
  bool send_to(const UdpPeer& peer, const std::vector<uint8_t>& data) {
    return ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&peer.addr),
                    sizeof(peer.addr)) == static_cast<ssize_t>(data.size());
  }
  // One datagram, or nullopt after `timeout_ms`.
  std::optional<std::vector<uint8_t>> receive(int timeout_ms, UdpPeer* from) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    std::vector<uint8_t> buf(65536);
    UdpPeer peer;
    socklen_t len = sizeof(peer.addr);
    const ssize_t n =
        ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&peer.addr), &len);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    if (from != nullptr) *from = peer;
    return buf;
  }

 private:
  int fd_;
};

}  // namespace duet::snmp::testing
