#include "intake/syslog_receivers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <list>

#include "common/errors.h"
#include "intake/socket_address.h"
#include "intake/syslog_framer.h"
#include "intake/udp_batch_reader.h"

namespace duet::intake {

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::kSyslogUdp:
      return "syslog/udp";
    case Transport::kSyslogTcp:
      return "syslog/tcp";
    case Transport::kSyslogTls:
      return "syslog/tls";
    case Transport::kSnmpUdp:
      break;
  }
  return "snmp";
}

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

// "10.0.0.1" for IPv4 and IPv4-mapped IPv6, "fd00::1" otherwise.
std::string address_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

}  // namespace

struct SyslogReceivers::Impl {
  asio::any_io_executor executor;
  const Clock& clock;
  SyslogReceiverOptions options;
  Sink sink;
  ReceiverCounters counters[4];
  bool stopped = false;

  std::unique_ptr<UdpBatchReader> udp_;

  struct Conn;
  struct Listener {
    Transport transport;
    std::unique_ptr<tcp::acceptor> acceptor;
  };
  std::vector<Listener> listeners_;
  std::unique_ptr<asio::ssl::context> ssl_;
  std::list<std::shared_ptr<Conn>> conns_;

  Impl(asio::any_io_executor ex, const Clock& c, SyslogReceiverOptions o, Sink s)
      : executor(std::move(ex)), clock(c), options(std::move(o)), sink(std::move(s)) {}

  ReceiverCounters& counter(Transport t) { return counters[static_cast<int>(t)]; }

  // ---- UDP ----
  Status start_udp(const HostPort& hp) {
    DUET_ASSIGN_OR_RETURN(auto addr, listen_address(hp, hp.to_string()));
    auto reader = std::make_unique<UdpBatchReader>(executor);
    UdpBatchReader::Options o;
    o.max_message_bytes = options.max_message_bytes;
    o.receive_buffer_bytes = options.udp_receive_buffer_bytes;
    o.coalesce = options.udp_coalesce;
    o.what = "syslog udp " + hp.to_string();
    o.kernel_drops = &counter(Transport::kSyslogUdp).kernel_drops;
    DUET_TRY(reader->open(udp::endpoint(addr, hp.port), std::move(o)));
    udp_ = std::move(reader);
    spdlog::info("syslog: listening on udp {}", hp.to_string());
    udp_->start(
        [this](std::span<const UdpBatchReader::Datagram> datagrams) { on_datagrams(datagrams); });
    return ok_status();
  }

  void on_datagrams(std::span<const UdpBatchReader::Datagram> datagrams) {
    auto& c = counter(Transport::kSyslogUdp);
    const std::int64_t now_ms = to_unix_ms(clock.wall_now());
    std::vector<Receipt> batch;
    batch.reserve(datagrams.size());
    for (const auto& d : datagrams) {
      Receipt r;
      r.transport = Transport::kSyslogUdp;
      r.source = socket_address_text(*d.from, &r.source_port);
      r.received_ms = now_ms;
      r.raw.assign(d.bytes);
      r.truncated = d.truncated;
      if (r.truncated) c.truncated.fetch_add(1, std::memory_order_relaxed);
      batch.push_back(std::move(r));
    }
    c.received.fetch_add(batch.size(), std::memory_order_relaxed);
    sink(std::move(batch));
  }

  // ---- TCP and TLS ----
  struct Conn : std::enable_shared_from_this<Conn> {
    Impl* impl;
    Transport transport;
    tcp::socket plain;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
    asio::steady_timer idle;
    SyslogFramer framer;
    std::array<char, 65536> buf;
    std::string source;
    std::uint16_t port = 0;
    bool closed = false;

    Conn(Impl* i, Transport t, tcp::socket s)
        : impl(i),
          transport(t),
          plain(std::move(s)),
          idle(plain.get_executor()),
          framer(i->options.max_message_bytes) {
      boost::system::error_code ec;
      const auto ep = plain.remote_endpoint(ec);
      if (!ec) {
        source = address_text(ep.address());
        port = ep.port();
      }
      if (t == Transport::kSyslogTls) {
        tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(plain, *i->ssl_);
      }
    }

    void start() {
      touch();
      if (tls) {
        tls->async_handshake(asio::ssl::stream_base::server,
                             [self = shared_from_this()](const boost::system::error_code& ec) {
                               if (ec) {
                                 self->impl->counter(self->transport)
                                     .refused.fetch_add(1, std::memory_order_relaxed);
                                 spdlog::warn("syslog: tls handshake with {} failed: {}",
                                              self->source, ec.message());
                                 self->close();
                                 return;
                               }
                               self->read();
                             });
      } else {
        read();
      }
    }

    void touch() {
      idle.expires_after(impl->options.idle_timeout);
      idle.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto self = w.lock()) self->close();
      });
    }

    void read() {
      auto handler = [self = shared_from_this()](const boost::system::error_code& ec,
                                                 std::size_t n) { self->on_read(ec, n); };
      if (tls) {
        tls->async_read_some(asio::buffer(buf), handler);
      } else {
        plain.async_read_some(asio::buffer(buf), handler);
      }
    }

    void on_read(const boost::system::error_code& ec, std::size_t n) {
      if (closed) return;
      std::vector<SyslogFrame> frames;
      bool ok = true;
      if (n > 0) ok = framer.feed(std::string_view(buf.data(), n), frames);
      if (ec) framer.finish(frames);
      deliver(frames);
      if (!ok) {
        impl->counter(transport).malformed.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("syslog: {} from {}: {}; closing the connection", transport_name(transport),
                     source, framer.error());
        close();
        return;
      }
      if (ec) {
        close();
        return;
      }
      touch();
      read();
    }

    void deliver(std::vector<SyslogFrame>& frames) {
      if (frames.empty()) return;
      auto& c = impl->counter(transport);
      const std::int64_t now_ms = to_unix_ms(impl->clock.wall_now());
      std::vector<Receipt> batch;
      batch.reserve(frames.size());
      for (auto& f : frames) {
        Receipt r;
        r.transport = transport;
        r.source = source;
        r.source_port = port;
        r.received_ms = now_ms;
        r.raw = std::move(f.data);
        r.truncated = f.truncated;
        if (r.truncated) c.truncated.fetch_add(1, std::memory_order_relaxed);
        batch.push_back(std::move(r));
      }
      c.received.fetch_add(batch.size(), std::memory_order_relaxed);
      impl->sink(std::move(batch));
    }

    void close() {
      if (closed) return;
      closed = true;
      idle.cancel();
      boost::system::error_code ignored;
      plain.shutdown(tcp::socket::shutdown_both, ignored);
      plain.close(ignored);
      impl->counter(transport).connections.fetch_sub(1, std::memory_order_relaxed);
      impl->conns_.remove(shared_from_this());
    }
  };

  Status start_stream(Transport t, const HostPort& hp) {
    DUET_ASSIGN_OR_RETURN(auto addr, listen_address(hp, hp.to_string()));
    Listener l{t, std::make_unique<tcp::acceptor>(executor)};
    boost::system::error_code ec;
    const tcp::endpoint ep(addr, hp.port);
    l.acceptor->open(ep.protocol(), ec);
    if (!ec) l.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l.acceptor->bind(ep, ec);
    if (!ec) l.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return make_error(CommonErrc::kIo, std::string("syslog ") + transport_name(t) + " " +
                                             hp.to_string() + ": cannot listen: " + ec.message());
    }
    spdlog::info("syslog: listening on {} {}", t == Transport::kSyslogTls ? "tls" : "tcp",
                 hp.to_string());
    listeners_.push_back(std::move(l));
    accept(listeners_.back());
    return ok_status();
  }

  void accept(Listener& l) {
    l.acceptor->async_accept([this, &l](const boost::system::error_code& ec, tcp::socket s) {
      if (stopped) return;
      if (!ec) {
        auto& c = counter(l.transport);
        if (conns_.size() >= options.max_connections) {
          c.refused.fetch_add(1, std::memory_order_relaxed);
          spdlog::warn("syslog: refusing a connection: {} already open (max_connections)",
                       conns_.size());
        } else {
          c.connections.fetch_add(1, std::memory_order_relaxed);
          auto conn = std::make_shared<Conn>(this, l.transport, std::move(s));
          conns_.push_back(conn);
          conn->start();
        }
      }
      accept(l);
    });
  }

  Status make_ssl() {
    ssl_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ssl_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    boost::system::error_code ec;
    ssl_->use_certificate_chain_file(options.tls_cert_file, ec);
    if (!ec) ssl_->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
    if (!ec && options.tls_client_auth != SyslogReceiverOptions::ClientAuth::kNone) {
      ssl_->load_verify_file(options.tls_ca_file, ec);
      if (!ec) {
        ssl_->set_verify_mode(
            asio::ssl::verify_peer |
                (options.tls_client_auth == SyslogReceiverOptions::ClientAuth::kRequire
                     ? asio::ssl::verify_fail_if_no_peer_cert
                     : 0),
            ec);
      }
    }
    if (ec) {
      // The key file's name only: never its content.
      return make_error(CommonErrc::kTls, "syslog tls: cannot use " + options.tls_cert_file +
                                              " / " + options.tls_key_file + ": " + ec.message());
    }
    return ok_status();
  }
};

SyslogReceivers::SyslogReceivers(asio::any_io_executor executor, const Clock& clock,
                                 SyslogReceiverOptions options, Sink sink)
    : impl_(std::make_unique<Impl>(std::move(executor), clock, std::move(options),
                                   std::move(sink))) {}

SyslogReceivers::~SyslogReceivers() { stop(); }

Status SyslogReceivers::start() {
  if (impl_->options.udp) DUET_TRY(impl_->start_udp(*impl_->options.udp));
  if (impl_->options.tcp) DUET_TRY(impl_->start_stream(Transport::kSyslogTcp, *impl_->options.tcp));
  if (impl_->options.tls) {
    DUET_TRY(impl_->make_ssl());
    DUET_TRY(impl_->start_stream(Transport::kSyslogTls, *impl_->options.tls));
  }
  return ok_status();
}

void SyslogReceivers::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  if (impl_->udp_) impl_->udp_->stop();
  for (auto& l : impl_->listeners_) l.acceptor->close(ignored);
  auto conns = impl_->conns_;  // close() removes from the list
  for (auto& c : conns) c->close();
}

std::uint16_t SyslogReceivers::bound_port(Transport t) const {
  boost::system::error_code ec;
  if (t == Transport::kSyslogUdp) {
    return impl_->udp_ ? impl_->udp_->local_port() : 0;
  }
  for (const auto& l : impl_->listeners_) {
    if (l.transport == t) return l.acceptor->local_endpoint(ec).port();
  }
  return 0;
}

const ReceiverCounters& SyslogReceivers::counters(Transport t) const {
  return impl_->counters[static_cast<int>(t)];
}

}  // namespace duet::intake
