#pragma once

// The syslog receivers: UDP, TCP and TLS listeners on this node's own
// address. They frame (intake/syslog_framer.h) and time-stamp each message
// and hand batches of Receipts to `sink`; parsing and deduplication happen
// downstream.
//
// - UDP reads up to 64 datagrams per system call (recvmmsg) and asks the
//   kernel for the count of datagrams it dropped on a full receive buffer
//   (SO_RXQ_OVFL), which is reported as kernel_drops. A datagram longer than
//   max_message_bytes is cut and marked truncated (MSG_TRUNC).
// - TCP and TLS detect the framing per connection; a connection that breaks
//   it is counted and closed. TLS (RFC 5425) verifies client certificates
//   against the CA when client_auth is `optional` or `require`.
// - Connections beyond max_connections are refused, and idle ones are closed
//   after idle_timeout.
//
// Threads: everything runs on `executor` (the intake thread); `sink` is
// called there. start(), stop() and the destructor run on that thread too (or
// after it has stopped). Counters may be read from any thread.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/result.h"
#include "intake/receipt.h"
#include "intake/udp_batch_reader.h"

namespace duet::intake {

struct SyslogReceiverOptions {
  std::optional<HostPort> udp;
  std::optional<HostPort> tcp;
  std::optional<HostPort> tls;
  std::size_t max_message_bytes = 8192;
  int udp_receive_buffer_bytes = 8 << 20;
  // After a drain of the UDP socket, the receiver waits this long before it
  // waits for the next datagram, so that datagrams arriving close together
  // are read in one recvmmsg batch and handed on in one piece, instead of
  // one wake-up (two thread switches) for every few. Adds at most this much
  // latency; 0 reads each datagram as it comes.
  std::chrono::microseconds udp_coalesce = kDefaultUdpCoalesce;
  std::size_t max_connections = 1000;
  std::chrono::seconds idle_timeout{600};
  // TLS listener: server certificate, and client certificate checks.
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  enum class ClientAuth { kNone, kOptional, kRequire };
  ClientAuth tls_client_auth = ClientAuth::kNone;
};

// Per transport; read with relaxed atomics from any thread (status).
struct ReceiverCounters {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> truncated{0};
  std::atomic<std::uint64_t> malformed{0};  // framing errors (connections closed)
  std::atomic<std::uint64_t> kernel_drops{0};
  std::atomic<std::uint64_t> connections{0};  // open now (TCP/TLS)
  std::atomic<std::uint64_t> refused{0};      // connections over the limit, failed handshakes
};

class SyslogReceivers {
 public:
  using Sink = std::function<void(std::vector<Receipt>&&)>;

  SyslogReceivers(boost::asio::any_io_executor executor, const Clock& clock,
                  SyslogReceiverOptions options, Sink sink);
  ~SyslogReceivers();
  SyslogReceivers(const SyslogReceivers&) = delete;
  SyslogReceivers& operator=(const SyslogReceivers&) = delete;

  // Binds every configured listener; an error names the address and why.
  Status start();
  void stop();

  const ReceiverCounters& counters(Transport t) const;
  // The port a listener is bound to (useful when configured as port 0); 0 if none.
  std::uint16_t bound_port(Transport t) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace duet::intake
