#pragma once

// A UDP listener read in batches, shared by the syslog and SNMP receivers:
// recvmmsg of up to kBatch datagrams per call, at most kRounds calls per
// wake-up (so the other listeners on the thread get their turn), the
// kernel's drop count (SO_RXQ_OVFL), and the pause after a drain
// (`coalesce`, docs/events.md): once the socket is read empty, the reader
// waits that long before it waits for the next datagram, so a busy sender's
// datagrams are read many at a time instead of a few per wake-up.

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duet::intake {

// The pause after a drain unless configured (receivers.*.udp_coalesce_us).
inline constexpr std::chrono::microseconds kDefaultUdpCoalesce{1000};

class UdpBatchReader {
 public:
  static constexpr std::size_t kBatch = 64;  // datagrams per recvmmsg
  static constexpr int kRounds = 16;         // recvmmsg calls per wake-up

  struct Options {
    std::size_t max_message_bytes = 8192;  // a longer datagram is cut and marked truncated
    int receive_buffer_bytes = 8 << 20;
    std::chrono::microseconds coalesce = kDefaultUdpCoalesce;
    std::string what;  // "syslog udp 10.0.0.11:514": for errors and warnings
    // Set to the kernel's count of datagrams dropped on this socket.
    std::atomic<std::uint64_t>* kernel_drops = nullptr;
  };

  // One datagram of the batch being handed on; valid until the handler returns.
  struct Datagram {
    std::string_view bytes;
    bool truncated = false;
    const sockaddr_storage* from = nullptr;
    socklen_t from_len = 0;
  };
  using Handler = std::function<void(std::span<const Datagram>)>;

  explicit UdpBatchReader(boost::asio::any_io_executor executor);
  ~UdpBatchReader();
  UdpBatchReader(const UdpBatchReader&) = delete;
  UdpBatchReader& operator=(const UdpBatchReader&) = delete;

  // Binds to `endpoint` (receive buffer, non-blocking, SO_RXQ_OVFL); an error
  // names options.what.
  Status open(const boost::asio::ip::udp::endpoint& endpoint, Options options);
  // Reads until stop(), calling `handler` once per recvmmsg that returned
  // datagrams, on the executor's thread.
  void start(Handler handler);
  // Closes the socket and ends the pause; no handler runs after it.
  void stop();

  int native_handle() { return socket_.native_handle(); }
  std::uint16_t local_port() const;

 private:
  void arm();
  bool drain();  // true if the last round was full: more may be waiting

  boost::asio::ip::udp::socket socket_;
  boost::asio::steady_timer pause_;
  Options options_;
  Handler handler_;
  bool stopped_ = false;
  std::vector<std::string> buffers_;
  std::vector<sockaddr_storage> addrs_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
  std::vector<std::array<char, CMSG_SPACE(sizeof(std::uint32_t))>> control_;
  std::vector<Datagram> batch_;
};

}  // namespace duet::intake
