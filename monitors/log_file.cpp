#include "monitors/log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/errors.h"

namespace duet::monitors {

std::string LogPosition::to_text() const {
  return std::to_string(dev) + ":" + std::to_string(inode) + ":" + std::to_string(offset);
}

std::optional<LogPosition> LogPosition::from_text(const std::string& text) {
  LogPosition p;
  char c1 = 0, c2 = 0;
  std::istringstream in(text);
  if (!(in >> p.dev >> c1 >> p.inode >> c2 >> p.offset) || c1 != ':' || c2 != ':') {
    return std::nullopt;
  }
  std::string rest;
  if (in >> rest) return std::nullopt;
  return p;
}

LogFollower::LogFollower(std::string path, std::optional<LogPosition> from,
                         std::size_t max_line_bytes)
    : path_(std::move(path)), start_(from), max_line_bytes_(max_line_bytes) {}

LogFollower::~LogFollower() {
  if (fd_ >= 0) ::close(fd_);
}

Status LogFollower::open_current(bool from_start) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(CommonErrc::kIo, "log file " + path_ + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return make_error(CommonErrc::kIo, "log file " + path_ + ": " + std::strerror(e));
  }
  LogPosition p{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino), 0};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (!from_start) {
    if (!start_) {
      p.offset = size;  // a new monitor: from now on
    } else if (start_->dev == p.dev && start_->inode == p.inode && start_->offset <= size) {
      p.offset = start_->offset;  // where the last run stopped
    }
    // Else the file was replaced or truncated meanwhile: from its start.
  }
  start_.reset();
  if (::lseek(fd, static_cast<off_t>(p.offset), SEEK_SET) < 0) {
    const int e = errno;
    ::close(fd);
    return make_error(CommonErrc::kIo, "log file " + path_ + ": " + std::strerror(e));
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  pos_ = p;
  line_start_ = p.offset;
  partial_.clear();
  cutting_ = false;
  return ok_status();
}

void LogFollower::read_into(std::vector<LogLine>& out, std::size_t& budget, bool flush_partial) {
  char buf[65536];
  while (budget > 0) {
    const ssize_t n = ::read(fd_, buf, std::min(sizeof buf, budget));
    if (n <= 0) break;
    budget -= std::min(budget, static_cast<std::size_t>(n));
    for (ssize_t i = 0; i < n; ++i) {
      ++pos_.offset;
      if (buf[i] == '\n') {
        out.push_back(LogLine{std::move(partial_), cutting_, pos_});
        partial_.clear();
        cutting_ = false;
        line_start_ = pos_.offset;
      } else if (partial_.size() < max_line_bytes_) {
        partial_.push_back(buf[i]);
      } else {
        cutting_ = true;  // the rest of an over-long line is dropped, the line kept
      }
    }
  }
  if (flush_partial && (!partial_.empty() || cutting_)) {
    out.push_back(LogLine{std::move(partial_), cutting_, pos_});
    partial_.clear();
    cutting_ = false;
    line_start_ = pos_.offset;
  }
}

Result<std::vector<LogLine>> LogFollower::poll(std::size_t max_bytes) {
  std::vector<LogLine> out;
  std::size_t budget = max_bytes;
  if (fd_ < 0) {
    if (::access(path_.c_str(), F_OK) != 0) {
      // Not there yet: waited for. When it appears it is all new: from its start.
      if (!start_) start_ = LogPosition{};
      return out;
    }
    DUET_TRY(open_current(false));
  }
  read_into(out, budget, false);
  if (budget == 0) return out;  // more to read: the next poll goes on
  struct stat now {};
  if (::stat(path_.c_str(), &now) != 0) return out;  // renamed away, not recreated yet
  const bool replaced = static_cast<std::uint64_t>(now.st_dev) != pos_.dev ||
                        static_cast<std::uint64_t>(now.st_ino) != pos_.inode;
  if (replaced) {
    // Rotated: the old file was read to its end above; its last line counts
    // even without a newline. Then the new file, from its start.
    read_into(out, budget, true);
    if (auto s = open_current(true); !s.ok()) return out;  // gone again: next poll
    read_into(out, budget, false);
    return out;
  }
  struct stat open_st {};
  if (::fstat(fd_, &open_st) == 0 && static_cast<std::uint64_t>(open_st.st_size) < pos_.offset) {
    // Truncated in place: from the start (a partial line before it is gone).
    ::lseek(fd_, 0, SEEK_SET);
    pos_.offset = 0;
    line_start_ = 0;
    partial_.clear();
    cutting_ = false;
    read_into(out, budget, false);
  }
  return out;
}

std::optional<LogPosition> LogFollower::position() const {
  if (fd_ < 0) return std::nullopt;
  return LogPosition{pos_.dev, pos_.inode, line_start_};
}

std::optional<std::string> classify_line(const std::vector<LogRule>& rules,
                                         const std::string& line) {
  for (const auto& r : rules) {
    if (std::regex_search(line, r.pattern)) return r.priority;
  }
  return std::nullopt;
}

}  // namespace duet::monitors
