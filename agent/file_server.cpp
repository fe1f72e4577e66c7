#include "agent/file_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace duet::agent {

namespace {
constexpr std::uint32_t kMaxPiece = 1u << 20;
}

FileServer::FileServer(Send send) : send_(std::move(send)) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      auto read = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      duet::v1::AgentMessage m;
      *m.mutable_chunk() = read_piece(read);
      (void)send_(std::move(m));
      lock.lock();
    }
  });
}

FileServer::~FileServer() { stop(); }

void FileServer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FileServer::on_read(duet::v1::FileRead read) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() < kMaxQueued) {
      queue_.push_back(std::move(read));
      cv_.notify_all();
      return;
    }
  }
  duet::v1::AgentMessage m;
  m.mutable_chunk()->set_request(read.request());
  m.mutable_chunk()->set_offset(read.offset());
  m.mutable_chunk()->set_error("the sending agent is busy");
  m.mutable_chunk()->set_retry(true);
  (void)send_(std::move(m));
}

duet::v1::FileChunk FileServer::read_piece(const duet::v1::FileRead& read) {
  duet::v1::FileChunk c;
  c.set_request(read.request());
  c.set_offset(read.offset());
  auto fail = [&](const std::string& what) {
    c.set_error(what + " " + read.path() + ": " + std::strerror(errno));
    return c;
  };
  const int fd = ::open(read.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return fail("cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return fail("cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    c.set_error(read.path() + " is not a regular file");
    return c;
  }
  c.set_size(static_cast<std::uint64_t>(st.st_size));
  c.set_mtime_ns(static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
  c.set_mode(st.st_mode & 07777);
  const std::uint64_t size = c.size();
  const std::uint64_t want =
      read.offset() >= size
          ? 0
          : std::min<std::uint64_t>({size - read.offset(), read.length(), kMaxPiece});
  std::string data(want, '\0');
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n =
        ::pread(fd, data.data() + got, want - got, static_cast<off_t>(read.offset() + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      errno = e;
      return fail("cannot read");
    }
    if (n == 0) break;  // shorter than it said: the receiver sees the change
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  c.set_data(std::move(data));
  return c;
}

}  // namespace duet::agent
