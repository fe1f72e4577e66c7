#pragma once

// The log file monitor: follows a file across rotation and truncation and
// hands out its new complete lines, each with the position just after it.
//
// - Rotation (the path now names another file: logrotate's rename and
//   create): the old file, still open, is read to its end first (its last
//   line even without a newline), then the new one from its start.
// - Truncation (the same file got shorter: copytruncate, or "> file"): read
//   again from the start. Seen by the size: a file truncated and written
//   back past the old position between two polls is not seen as truncated.
// - A line is handed out only once it ends with a newline; a partial line
//   waits (at most `max_line_bytes`, then it is cut and marked).
//
// Positions are text ("dev:inode:offset"), for the caller to store in the
// same transaction as what it made of the lines (the agent keeps them in its
// outbox with the results: agent/outbox.h), so a restart from the stored
// position neither skips nor repeats a line. A stored position whose file is
// gone or was truncated below it starts from the current file's start; a
// missing file is waited for.
//
// Thread-compatible; poll() does blocking reads of a local file.

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/result.h"

namespace duet::monitors {

struct LogPosition {
  std::uint64_t dev = 0;
  std::uint64_t inode = 0;
  std::uint64_t offset = 0;
  std::string to_text() const;
  static std::optional<LogPosition> from_text(const std::string& text);
  bool operator==(const LogPosition&) const = default;
};

struct LogLine {
  std::string text;  // without the newline
  bool cut = false;  // longer than max_line_bytes
  LogPosition end;   // the position just after this line
};

class LogFollower {
 public:
  // `from`: a stored position, or none to start at the file's current end
  // (a new monitor does not report a file's history).
  LogFollower(std::string path, std::optional<LogPosition> from,
              std::size_t max_line_bytes = 16 * 1024);
  ~LogFollower();
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // New complete lines, at most about `max_bytes` read per call. An error
  // only for a file that exists but cannot be read (its path and why).
  Result<std::vector<LogLine>> poll(std::size_t max_bytes = 1 << 20);
  // After the last complete line handed out (store it even when poll gave
  // nothing: a new monitor's starting point, a file that just appeared).
  // None while the file was never opened.
  std::optional<LogPosition> position() const;
  const std::string& path() const { return path_; }

 private:
  Status open_current(bool from_start);
  void read_into(std::vector<LogLine>& out, std::size_t& budget, bool flush_partial);

  std::string path_;
  std::optional<LogPosition> start_;  // until the file is first opened
  std::size_t max_line_bytes_;
  int fd_ = -1;
  LogPosition pos_;               // of the byte after the last one read
  std::uint64_t line_start_ = 0;  // offset where the unfinished line starts
  std::string partial_;           // bytes of an unfinished line
  bool cutting_ = false;          // discarding the rest of an over-long line
};

// The first rule whose regex (ECMAScript) matches the line, else nullopt.
struct LogRule {
  std::regex pattern;
  std::string priority;  // critical, warning, info, unknown
};
std::optional<std::string> classify_line(const std::vector<LogRule>& rules,
                                         const std::string& line);

}  // namespace duet::monitors
