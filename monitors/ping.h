#pragma once

// The ping monitor: ICMP echo to an IPv4 address, `count` requests
// `interval` apart, each given `timeout` to be answered. It reports how many
// came back (loss in percent) and their round-trip times.
//
// The socket: an unprivileged ICMP datagram socket where the kernel allows it
// (net.ipv4.ping_group_range), else a raw socket (root or CAP_NET_RAW). The
// identifier and sequence of each request, and a payload with a random
// token, tell our replies from anyone else's.
//
// Blocking for about (count - 1) * interval + timeout: run it on a worker thread.

#include <chrono>
#include <cstdint>
#include <string>

namespace duet::monitors {

struct PingCheck {
  std::string address;  // IPv4, dotted
  int count = 3;        // 1..100
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{2000};  // per request, from its sending
  int payload_bytes = 32;                   // 16..1400
};

struct PingResult {
  int sent = 0;
  int received = 0;
  double loss_percent = 100.0;
  double rtt_min_ms = 0, rtt_avg_ms = 0, rtt_max_ms = 0;  // of the replies received
  std::string error;  // the check could not run (bad address, no socket); nothing sent
  bool ran() const { return error.empty(); }
};

// Never throws: a check that cannot run says why in `error`.
PingResult ping(const PingCheck& check);

}  // namespace duet::monitors
