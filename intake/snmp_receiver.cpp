#include "intake/snmp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "common/errors.h"
#include "intake/snmp_inform_cache.h"
#include "intake/snmp_item.h"
#include "intake/socket_address.h"
#include "intake/udp_batch_reader.h"
#include "snmp/errors.h"
#include "snmp/usm.h"

namespace duet::intake {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

constexpr auto kLogEvery = std::chrono::seconds(10);

// An empty msgAuthoritativeEngineID: a v3 discovery probe, not an attack.
bool is_discovery(std::span<const std::uint8_t> datagram) {
  auto v3 = snmp::decode_v3_message(datagram);
  return v3.ok() && v3->usm.engine_id.empty();
}

}  // namespace

struct SnmpReceiver::Impl {
  asio::any_io_executor executor;
  const Clock& clock;
  SnmpReceiverOptions options;
  snmp::Credentials credentials;
  Sink sink;
  SnmpReceiverCounters counters;
  const TimePoint started;
  snmp::UsmStats usm_stats;
  InformCache informs;
  bool stopped = false;

  std::unique_ptr<UdpBatchReader> reader;

  // Rate-limited warnings, per error class.
  std::map<int, TimePoint> last_logged;
  std::map<int, std::uint64_t> suppressed;

  Impl(asio::any_io_executor ex, const Clock& c, SnmpReceiverOptions o, snmp::Credentials cr,
       Sink s)
      : executor(std::move(ex)),
        clock(c),
        options(std::move(o)),
        credentials(std::move(cr)),
        sink(std::move(s)),
        started(c.now()),
        informs(InformCache::Options{options.inform_window, options.max_informs_remembered}) {}

  snmp::LocalEngine engine() const {
    snmp::LocalEngine e;
    e.engine_id = credentials.users.local_engine_id();
    e.boots = options.engine_boots;
    e.time = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(clock.now() - started).count());
    return e;
  }

  Status start() {
    const HostPort& hp = options.udp;
    DUET_ASSIGN_OR_RETURN(auto addr, listen_address(hp, "snmp udp " + hp.to_string()));
    reader = std::make_unique<UdpBatchReader>(executor);
    UdpBatchReader::Options o;
    o.max_message_bytes = options.max_message_bytes;
    o.receive_buffer_bytes = options.udp_receive_buffer_bytes;
    o.coalesce = options.udp_coalesce;
    o.what = "snmp udp " + hp.to_string();
    o.kernel_drops = &counters.kernel_drops;
    DUET_TRY(reader->open(udp::endpoint(addr, hp.port), std::move(o)));
    spdlog::info("snmp: listening on udp {} (engine id {}, boots {})",
                 HostPort{hp.host, reader->local_port()}.to_string(),
                 snmp::to_hex(credentials.users.local_engine_id()), options.engine_boots);
    reader->start(
        [this](std::span<const UdpBatchReader::Datagram> datagrams) { on_datagrams(datagrams); });
    return ok_status();
  }

  void on_datagrams(std::span<const UdpBatchReader::Datagram> datagrams) {
    const std::int64_t now_ms = to_unix_ms(clock.wall_now());
    const snmp::LocalEngine local = engine();
    std::vector<IntakeItem> batch;
    for (const auto& d : datagrams) {
      counters.received.fetch_add(1, std::memory_order_relaxed);
      if (d.truncated) {
        counters.truncated.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      Receipt r;
      r.transport = Transport::kSnmpUdp;
      r.source = socket_address_text(*d.from, &r.source_port);
      r.received_ms = now_ms;
      r.raw.assign(d.bytes);
      handle(std::move(r), d, local, batch);
    }
    if (!batch.empty()) {
      counters.delivered.fetch_add(batch.size(), std::memory_order_relaxed);
      sink(std::move(batch));
    }
  }

  // One datagram: decode, reply, and add an accepted notification to `batch`.
  void handle(Receipt r, const UdpBatchReader::Datagram& from, const snmp::LocalEngine& local,
              std::vector<IntakeItem>& batch) {
    const std::span<const std::uint8_t> datagram(
        reinterpret_cast<const std::uint8_t*>(r.raw.data()), r.raw.size());
    snmp::InboundResult in = snmp::process_inbound(datagram, credentials, local, usm_stats);
    if (!in.report.empty() && send(from, in.report)) {
      counters.reports_sent.fetch_add(1, std::memory_order_relaxed);
    }
    if (!in.message.ok()) {
      refused(in.message.error(), datagram, r.source);
      return;
    }
    const snmp::InboundMessage& m = *in.message;
    const snmp::PduType type = snmp::pdu_type(m.pdu);
    if (type != snmp::PduType::kTrapV1 && type != snmp::PduType::kTrapV2 &&
        type != snmp::PduType::kInformRequest) {
      counters.not_notification.fetch_add(1, std::memory_order_relaxed);
      warn(0, r.source, snmp::to_string(type) + " is not a notification; dropped");
      return;
    }
    if (type == snmp::PduType::kInformRequest) {
      auto response = snmp::build_inform_response(m, credentials, local, snmp::random_salt());
      if (!response.ok()) {
        counters.send_errors.fetch_add(1, std::memory_order_relaxed);
        warn(-1, r.source, "cannot build the inform's Response: " + response.error().message);
      } else if (send(from, *response)) {
        counters.responses_sent.fetch_add(1, std::memory_order_relaxed);
      }
      if (informs.seen_before(inform_id(r.source, r.source_port, m), clock.now())) {
        counters.retransmissions.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      counters.informs.fetch_add(1, std::memory_order_relaxed);
    }
    batch.push_back(snmp_item(std::move(r), m, options.mib_names.get()));
  }

  // A reply to the datagram `to` came from.
  bool send(const UdpBatchReader::Datagram& to, const snmp::Bytes& bytes) {
    const ssize_t sent = ::sendto(reader->native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT,
                                  reinterpret_cast<const sockaddr*>(to.from), to.from_len);
    if (sent == static_cast<ssize_t>(bytes.size())) return true;
    counters.send_errors.fetch_add(1, std::memory_order_relaxed);
    const int err = errno;
    std::uint16_t port = 0;
    warn(-2, socket_address_text(*to.from, &port),
         std::string("cannot send a reply: ") + std::strerror(err));
    return false;
  }

  void refused(const Error& error, std::span<const std::uint8_t> datagram,
               const std::string& source) {
    using snmp::SnmpErrc;
    std::atomic<std::uint64_t>* c = &counters.malformed;
    const auto code = error.code.category() == snmp::snmp_category()
                          ? static_cast<SnmpErrc>(error.code.value())
                          : SnmpErrc::kMalformed;
    switch (code) {
      case SnmpErrc::kMalformed:
      case SnmpErrc::kInvalidArgument:
        break;
      case SnmpErrc::kUnsupported:
        c = &counters.unsupported;
        break;
      case SnmpErrc::kUnknownCommunity:
        c = &counters.unknown_community;
        break;
      case SnmpErrc::kUnknownUser:
        c = &counters.unknown_user;
        break;
      case SnmpErrc::kUnknownEngineId:
        if (is_discovery(datagram)) {
          counters.discovery.fetch_add(1, std::memory_order_relaxed);
          return;  // the normal first step of a v3 inform sender: not worth a warning
        }
        c = &counters.unknown_engine_id;
        break;
      case SnmpErrc::kWrongDigest:
        c = &counters.wrong_digest;
        break;
      case SnmpErrc::kDecryptionError:
        c = &counters.decryption_error;
        break;
      case SnmpErrc::kNotInTimeWindow:
        c = &counters.not_in_time_window;
        break;
      case SnmpErrc::kUnsupportedSecurityLevel:
        c = &counters.unsupported_security_level;
        break;
      case SnmpErrc::kCrypto:
        c = &counters.crypto;
        break;
    }
    c->fetch_add(1, std::memory_order_relaxed);
    warn(static_cast<int>(code), source, error.message);
  }

  // At most one warning per class every kLogEvery; the rest are counted.
  void warn(int kind, const std::string& source, const std::string& what) {
    const TimePoint now = clock.now();
    auto it = last_logged.find(kind);
    if (it != last_logged.end() && now - it->second < kLogEvery) {
      ++suppressed[kind];
      return;
    }
    last_logged[kind] = now;
    const std::uint64_t more = std::exchange(suppressed[kind], 0);
    if (more > 0) {
      spdlog::warn("snmp: from {}: {} ({} more like it not logged)", source, what, more);
    } else {
      spdlog::warn("snmp: from {}: {}", source, what);
    }
  }
};

SnmpReceiver::SnmpReceiver(asio::any_io_executor executor, const Clock& clock,
                           SnmpReceiverOptions options, snmp::Credentials credentials, Sink sink)
    : impl_(std::make_unique<Impl>(std::move(executor), clock, std::move(options),
                                   std::move(credentials), std::move(sink))) {}

SnmpReceiver::~SnmpReceiver() { stop(); }

Status SnmpReceiver::start() { return impl_->start(); }

void SnmpReceiver::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->reader) impl_->reader->stop();
}

const SnmpReceiverCounters& SnmpReceiver::counters() const { return impl_->counters; }

std::uint16_t SnmpReceiver::bound_port() const {
  return impl_->reader ? impl_->reader->local_port() : 0;
}

snmp::LocalEngine SnmpReceiver::engine() const { return impl_->engine(); }

}  // namespace duet::intake
