#pragma once

// The port monitor: can a TCP connection be made, how long it took, and -
// for the text protocols that greet first (SMTP, FTP, POP3, IMAP) - whether
// the server's greeting is the expected one.
//
// Blocking with its own time limit: run it on a worker thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"

namespace duet::monitors {

enum class Greeting : std::uint8_t { kNone, kSmtp, kFtp, kPop3, kImap };

struct PortCheck {
  std::string host;  // an IP address or a host name
  std::uint16_t port = 0;
  Greeting greeting = Greeting::kNone;
  std::chrono::milliseconds timeout{5000};  // for the connection, and again for the greeting
};

struct PortResult {
  bool connected = false;
  std::chrono::microseconds connect_time{0};
  std::string error;         // why not connected, or why the greeting is wrong
  std::string greeting;      // the first line the server sent (greeting checks only)
  bool greeting_ok = false;  // the protocol's success code ("220", "+OK", "* OK")
  // ok(): connected, and the greeting right when one was asked for.
  bool ok() const { return connected && error.empty(); }
};

// Never an error: a check that fails is a result that says why. The host
// name is resolved within the time limit's budget (getaddrinfo).
PortResult check_port(const PortCheck& check);

// Whether `line` is the protocol's positive greeting.
bool greeting_ok(Greeting g, const std::string& line);

}  // namespace duet::monitors
