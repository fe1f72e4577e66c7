#pragma once

// The kernel receive buffer of a UDP listener: what a burst can wait in
// while the intake thread is busy. Linux caps SO_RCVBUF at
// net.core.rmem_max (208 KiB on a stock kernel: a few milliseconds of a busy
// sender); a process with CAP_NET_ADMIN may go past it with SO_RCVBUFFORCE.

#include <string>

namespace duet::intake {

// Asks for `wanted` bytes on `fd`; past the cap, tries SO_RCVBUFFORCE. Logs
// a warning naming net.core.rmem_max when the buffer stays smaller. Returns
// the size the kernel granted (as it reports it: twice the usable bytes).
int set_receive_buffer(int fd, int wanted, const std::string& what);

}  // namespace duet::intake
