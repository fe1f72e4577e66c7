// Fuzzes SyslogFramer (RFC 6587 octet counting and LF framing) fed in chunks.
//
// Input layout: byte 0 picks max_bytes (< 0x80: 1 + the low 6 bits, so
// truncation is frequent; otherwise 2048); byte 1 is the number of chunk
// lengths that follow (0..7, modulo 8); those bytes are chunk lengths used in
// turn (0 feeds an empty chunk); the rest is the stream. Without chunk
// lengths the stream is fed in one piece.
//
// Invariants:
// - no frame is longer than max_bytes;
// - the frames, the error and the mode do not depend on where the stream was
//   cut into chunks (compared with feeding it in one piece);
// - LF framing: no frame contains a LF; a non-truncated frame is not empty;
// - octet counting: a truncated frame is exactly max_bytes long; frames never
//   add up to more bytes than the stream has;
// - once feed() returned false it keeps returning false and adds no frames;
//   finish() after an error adds nothing.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "intake/syslog_framer.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using duet::intake::SyslogFrame;
using duet::intake::SyslogFramer;

struct Outcome {
  std::vector<SyslogFrame> frames;
  bool ok = true;
  SyslogFramer::Mode mode = SyslogFramer::Mode::kUnknown;
  std::string error;
};

Outcome run(std::string_view stream, std::size_t max_bytes, const std::vector<uint8_t>& chunks) {
  SyslogFramer framer(max_bytes);
  Outcome out;
  std::size_t pos = 0;
  std::size_t turn = 0;
  bool all_zero = true;
  for (uint8_t c : chunks) all_zero = all_zero && c == 0;
  while (pos < stream.size() || (turn == 0 && !chunks.empty())) {
    std::size_t len = stream.size() - pos;
    if (!chunks.empty() && !(all_zero && turn > 0)) len = chunks[turn % chunks.size()];
    len = std::min(len, stream.size() - pos);
    ++turn;
    const std::size_t before = out.frames.size();
    const bool ok = framer.feed(stream.substr(pos, len), out.frames);
    if (!out.ok) {
      FUZZ_CHECK(!ok);
      FUZZ_CHECK(out.frames.size() == before);
    }
    out.ok = out.ok && ok;
    FUZZ_CHECK(ok == framer.error().empty());
    pos += len;
  }
  const std::size_t before = out.frames.size();
  framer.finish(out.frames);
  if (!out.ok) FUZZ_CHECK(out.frames.size() == before);
  out.mode = framer.mode();
  out.error = framer.error();
  return out;
}

void check_frames(const Outcome& o, std::string_view stream, std::size_t max_bytes) {
  std::size_t total = 0;
  for (const SyslogFrame& f : o.frames) {
    FUZZ_CHECK(f.data.size() <= max_bytes);
    total += f.data.size();
    if (o.mode == SyslogFramer::Mode::kLineFeed) {
      FUZZ_CHECK(f.data.find('\n') == std::string::npos);
      FUZZ_CHECK(f.truncated || !f.data.empty());
    } else {
      FUZZ_CHECK(o.mode == SyslogFramer::Mode::kOctetCounting);
      if (f.truncated) FUZZ_CHECK(f.data.size() == max_bytes);
    }
  }
  FUZZ_CHECK(total <= stream.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::size_t max_bytes = data[0] < 0x80 ? 1 + (data[0] & 0x3F) : 2048;
  const std::size_t n = data[1] % 8;
  if (size < 2 + n) return 0;
  const std::vector<uint8_t> chunks(data + 2, data + 2 + n);
  const std::string_view stream(reinterpret_cast<const char*>(data + 2 + n), size - 2 - n);

  const Outcome chunked = run(stream, max_bytes, chunks);
  check_frames(chunked, stream, max_bytes);
  const Outcome whole = run(stream, max_bytes, {});
  FUZZ_CHECK(whole.ok == chunked.ok);
  FUZZ_CHECK(whole.mode == chunked.mode);
  FUZZ_CHECK(whole.error == chunked.error);
  FUZZ_CHECK(whole.frames.size() == chunked.frames.size());
  for (std::size_t i = 0; i < whole.frames.size(); ++i) {
    FUZZ_CHECK(whole.frames[i].data == chunked.frames[i].data);
    FUZZ_CHECK(whole.frames[i].truncated == chunked.frames[i].truncated);
  }
  return 0;
}
