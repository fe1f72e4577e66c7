#include "intake/receive_buffer.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace duet::intake {
namespace {

int granted(int fd) {
  int size = 0;
  socklen_t len = sizeof size;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) != 0) return 0;
  return size;
}

}  // namespace

int set_receive_buffer(int fd, int wanted, const std::string& what) {
  // The kernel doubles what it is given (bookkeeping) and reports the double.
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &wanted, sizeof wanted);
  int size = granted(fd);
  if (size / 2 < wanted) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &wanted, sizeof wanted);
    size = granted(fd);
  }
  if (size / 2 < wanted) {
    spdlog::warn(
        "{}: the kernel granted a receive buffer of {} KiB, not the {} KiB asked for; raise "
        "net.core.rmem_max (sysctl) or give the manager CAP_NET_ADMIN, or bursts are dropped "
        "(counted as kernel_drops)",
        what, size / 2 / 1024, wanted / 1024);
  }
  return size;
}

}  // namespace duet::intake
