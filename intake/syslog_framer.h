#pragma once

// Splits a syslog TCP (or TLS) byte stream into messages, RFC 6587.
//
// The framing is detected once per connection from its first byte: a digit
// means octet counting ("LEN SP MSG", as RFC 5425 requires over TLS), '<'
// means non-transparent framing (each message ends with LF; a CR before it
// and NUL terminators are dropped). A message longer than `max_bytes` is cut
// to `max_bytes` and marked truncated; the rest of it is skipped, so the
// stream stays in step. A stream that breaks the framing (a length that is
// not a number, or a first byte that is neither a digit nor '<') is an error:
// the caller counts it and closes the connection.
//
// Thread-compatible: one per connection.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace duet::intake {

struct SyslogFrame {
  std::string data;
  bool truncated = false;
};

class SyslogFramer {
 public:
  enum class Mode { kUnknown, kOctetCounting, kLineFeed };

  explicit SyslogFramer(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Appends complete messages from `bytes` to `out`. False once the stream
  // broke the framing (error() says how); later calls do nothing.
  bool feed(std::string_view bytes, std::vector<SyslogFrame>& out);
  // At the end of the stream: a last LF-framed message without its LF.
  void finish(std::vector<SyslogFrame>& out);

  Mode mode() const { return mode_; }
  const std::string& error() const { return error_; }

 private:
  bool fail(std::string why);
  void emit(std::vector<SyslogFrame>& out);

  std::size_t max_bytes_;
  Mode mode_ = Mode::kUnknown;
  std::string error_;
  // Octet counting: the length being read, then the bytes still due.
  std::string length_text_;
  bool in_body_ = false;
  std::size_t remaining_ = 0;
  // The message being assembled (at most max_bytes_) and whether bytes were cut.
  std::string current_;
  bool truncated_ = false;
};

}  // namespace duet::intake
