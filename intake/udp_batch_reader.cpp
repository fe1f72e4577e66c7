#include "intake/udp_batch_reader.h"

#include <cstring>

#include "common/errors.h"
#include "intake/receive_buffer.h"

namespace duet::intake {

namespace asio = boost::asio;
using asio::ip::udp;

UdpBatchReader::UdpBatchReader(asio::any_io_executor executor)
    : socket_(executor), pause_(executor) {}

UdpBatchReader::~UdpBatchReader() { stop(); }

Status UdpBatchReader::open(const udp::endpoint& endpoint, Options options) {
  options_ = std::move(options);
  boost::system::error_code ec;
  socket_.open(endpoint.protocol(), ec);
  if (!ec)
    set_receive_buffer(socket_.native_handle(), options_.receive_buffer_bytes, options_.what);
  if (!ec) socket_.bind(endpoint, ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) return make_error(CommonErrc::kIo, options_.what + ": cannot bind: " + ec.message());
  const int one = 1;
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  buffers_.assign(kBatch, std::string(options_.max_message_bytes, '\0'));
  addrs_.resize(kBatch);
  iov_.resize(kBatch);
  msgs_.resize(kBatch);
  control_.resize(kBatch);
  batch_.reserve(kBatch);
  return ok_status();
}

void UdpBatchReader::start(Handler handler) {
  handler_ = std::move(handler);
  arm();
}

void UdpBatchReader::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  pause_.cancel();
}

std::uint16_t UdpBatchReader::local_port() const {
  boost::system::error_code ec;
  const auto ep = socket_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void UdpBatchReader::arm() {
  socket_.async_wait(udp::socket::wait_read, [this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    // Datagrams left after the drain's last round: read on at once.
    if (drain() || options_.coalesce.count() <= 0) {
      if (!stopped_) arm();
      return;
    }
    pause_.expires_after(options_.coalesce);
    pause_.async_wait([this](const boost::system::error_code& e) {
      if (e || stopped_) return;
      arm();
    });
  });
}

bool UdpBatchReader::drain() {
  for (int round = 0; round < kRounds; ++round) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov_[i] = iovec{buffers_[i].data(), buffers_[i].size()};
      std::memset(&msgs_[i], 0, sizeof(mmsghdr));
      msgs_[i].msg_hdr.msg_name = &addrs_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
      msgs_[i].msg_hdr.msg_control = control_[i].data();
      msgs_[i].msg_hdr.msg_controllen = control_[i].size();
    }
    const int n = recvmmsg(socket_.native_handle(), msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return false;
    batch_.clear();
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      msghdr& h = msgs_[i].msg_hdr;
      for (cmsghdr* cm = CMSG_FIRSTHDR(&h); cm != nullptr; cm = CMSG_NXTHDR(&h, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
            options_.kernel_drops != nullptr) {
          std::uint32_t drops = 0;
          std::memcpy(&drops, CMSG_DATA(cm), sizeof drops);
          options_.kernel_drops->store(drops, std::memory_order_relaxed);
        }
      }
      batch_.push_back(Datagram{std::string_view(buffers_[i].data(), msgs_[i].msg_len),
                                (h.msg_flags & MSG_TRUNC) != 0, &addrs_[i], h.msg_namelen});
    }
    handler_(batch_);
    if (stopped_ || static_cast<std::size_t>(n) < kBatch) return false;
  }
  return true;
}

}  // namespace duet::intake
