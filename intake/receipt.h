#pragma once

// Receipt: one message as a receiver took it off the wire, before parsing.

#include <cstdint>
#include <string>

namespace duet::intake {

enum class Transport : std::uint8_t { kSyslogUdp, kSyslogTcp, kSyslogTls, kSnmpUdp };
// "syslog/udp", "syslog/tcp", "syslog/tls", "snmp".
const char* transport_name(Transport t);

struct Receipt {
  Transport transport = Transport::kSyslogUdp;
  std::string source;  // sender's address, without port
  std::uint16_t source_port = 0;
  std::int64_t received_ms = 0;  // unix ms, this node's clock
  std::string raw;               // the message (at most the configured maximum)
  bool truncated = false;        // it was longer, and cut
};

}  // namespace duet::intake
