#pragma once

// The SNMP trap/inform receiver: one UDP listener on this node's own address.
// Each datagram goes through the codec (snmp::process_inbound); accepted
// notifications become IntakeItems (intake/snmp_item.h) handed to `sink` in
// batches; parsing beyond that and deduplication across the pair happen
// downstream.
//
// - Reads up to 64 datagrams per system call (recvmmsg) and reports the
//   datagrams the kernel dropped on a full receive buffer (SO_RXQ_OVFL) as
//   kernel_drops. A datagram longer than max_message_bytes is counted as
//   truncated and dropped (a cut SNMP message cannot be decoded).
// - Replies go back to the datagram's source from the same socket: the
//   Report the codec builds (v3 discovery, unknown user, wrong digest, not in
//   time window, ... for reportable messages) and the Response to every
//   accepted inform.
// - An inform retransmitted because its Response was lost is answered again
//   but delivered once (intake/snmp_inform_cache.h) and counted as a
//   retransmission.
// - Every refused datagram is counted by class and dropped; a warning per
//   class is logged at most every 10 s, with the source and the codec's
//   reason (never a key, a password or a community).
// - This manager's engine: the configured engine id, snmpEngineBoots = 1 and
//   snmpEngineTime counted from construction. Boots is not persisted yet;
//   docs/snmp.md says what v3 inform senders see after a restart.
//
// Threads: everything runs on `executor` (the intake thread); `sink` is
// called there. start(), stop() and the destructor run on that thread too (or
// after it has stopped). Counters may be read from any thread.
// Ownership: the receiver owns its socket and the credentials; `clock`
// outlives it.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/result.h"
#include "intake/intake_item.h"
#include "intake/udp_batch_reader.h"
#include "snmp/inbound.h"
#include "snmp/mib_names.h"

namespace duet::intake {

struct SnmpReceiverOptions {
  HostPort udp;
  std::size_t max_message_bytes = 8192;
  int udp_receive_buffer_bytes = 8 << 20;
  // The wait after a drain of the socket, as SyslogReceiverOptions::udp_coalesce.
  std::chrono::microseconds udp_coalesce = kDefaultUdpCoalesce;
  // Retransmitted informs are recognized for this long after the first copy.
  std::chrono::seconds inform_window{60};
  std::size_t max_informs_remembered = 10000;
  std::uint32_t engine_boots = 1;  // snmpEngineBoots (next_engine_boots, intake/snmp_setup.h)
  std::shared_ptr<const snmp::MibNames> mib_names;  // null: OIDs shown in numbers
};

// Read with relaxed atomics from any thread (status). Every received
// datagram ends in exactly one of: truncated, delivered, retransmissions,
// not_notification, or one error class (malformed ... crypto).
struct SnmpReceiverCounters {
  std::atomic<std::uint64_t> received{0};          // datagrams read
  std::atomic<std::uint64_t> truncated{0};         // over max_message_bytes, dropped
  std::atomic<std::uint64_t> kernel_drops{0};      // dropped by the kernel (SO_RXQ_OVFL)
  std::atomic<std::uint64_t> delivered{0};         // notifications handed to the sink
  std::atomic<std::uint64_t> informs{0};           // of those, informs (first copies)
  std::atomic<std::uint64_t> retransmissions{0};   // inform copies answered, not delivered
  std::atomic<std::uint64_t> not_notification{0};  // accepted, but not a trap or inform
  // Refused by the codec (snmp::SnmpErrc):
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> unsupported{0};  // version, security model
  std::atomic<std::uint64_t> unknown_community{0};
  std::atomic<std::uint64_t> unknown_user{0};
  std::atomic<std::uint64_t> unknown_engine_id{0};  // discovery probes not included
  std::atomic<std::uint64_t> discovery{0};          // v3 probes with an empty engine id
  std::atomic<std::uint64_t> wrong_digest{0};
  std::atomic<std::uint64_t> decryption_error{0};
  std::atomic<std::uint64_t> not_in_time_window{0};
  std::atomic<std::uint64_t> unsupported_security_level{0};
  std::atomic<std::uint64_t> crypto{0};  // the crypto library failed (e.g. DES unavailable)
  // Replies:
  std::atomic<std::uint64_t> responses_sent{0};  // to informs, retransmissions included
  std::atomic<std::uint64_t> reports_sent{0};
  std::atomic<std::uint64_t> send_errors{0};
};

class SnmpReceiver {
 public:
  using Sink = std::function<void(std::vector<IntakeItem>&&)>;

  // `credentials.users` holds this manager's engine id (snmp_receiver_setup()).
  SnmpReceiver(boost::asio::any_io_executor executor, const Clock& clock,
               SnmpReceiverOptions options, snmp::Credentials credentials, Sink sink);
  ~SnmpReceiver();
  SnmpReceiver(const SnmpReceiver&) = delete;
  SnmpReceiver& operator=(const SnmpReceiver&) = delete;

  // Binds the listener; an error names the address and why.
  Status start();
  void stop();

  const SnmpReceiverCounters& counters() const;
  // The port the listener is bound to (useful when configured as port 0); 0 if none.
  std::uint16_t bound_port() const;
  // This manager's engine as the codec sees it now (engine id, boots, time).
  // Any thread: the engine id is immutable and the clock thread-safe.
  snmp::LocalEngine engine() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace duet::intake
