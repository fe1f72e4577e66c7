#include "intake/syslog_framer.h"

namespace duet::intake {

bool SyslogFramer::fail(std::string why) {
  error_ = std::move(why);
  return false;
}

void SyslogFramer::emit(std::vector<SyslogFrame>& out) {
  if (mode_ == Mode::kLineFeed) {
    while (!current_.empty() && (current_.back() == '\r' || current_.back() == '\0')) {
      current_.pop_back();
    }
    // NUL-terminated senders put a NUL before the LF, or use it alone as the
    // separator; an empty line between messages is no message.
    if (current_.empty() && !truncated_) return;
  }
  out.push_back(SyslogFrame{std::move(current_), truncated_});
  current_.clear();
  truncated_ = false;
}

bool SyslogFramer::feed(std::string_view bytes, std::vector<SyslogFrame>& out) {
  if (!error_.empty()) return false;
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (mode_ == Mode::kUnknown) {
      const char c = bytes[i];
      if (c >= '1' && c <= '9') {
        mode_ = Mode::kOctetCounting;
      } else if (c == '<') {
        mode_ = Mode::kLineFeed;
      } else {
        return fail("the stream starts neither with a message length nor with '<'");
      }
    }
    if (mode_ == Mode::kLineFeed) {
      const std::size_t lf = bytes.find('\n', i);
      const std::size_t end = lf == std::string_view::npos ? bytes.size() : lf;
      const std::size_t room = max_bytes_ - std::min(max_bytes_, current_.size());
      const std::size_t take = std::min(room, end - i);
      current_.append(bytes.substr(i, take));
      if (take < end - i) truncated_ = true;
      i = end;
      if (lf != std::string_view::npos) {
        emit(out);
        i = lf + 1;
      }
      continue;
    }
    // Octet counting.
    if (!in_body_) {
      const char c = bytes[i++];
      if (c == ' ') {
        if (length_text_.empty()) return fail("octet counting: a space where the length should be");
        remaining_ = std::stoul(length_text_);
        length_text_.clear();
        in_body_ = true;
        if (remaining_ == 0) {
          in_body_ = false;
          emit(out);
        }
      } else if (c >= '0' && c <= '9' && length_text_.size() < 9 &&
                 !(length_text_.empty() && c == '0')) {
        length_text_ += c;
      } else {
        return fail("octet counting: the message length is not a number");
      }
      continue;
    }
    const std::size_t take = std::min(remaining_, bytes.size() - i);
    const std::size_t room = max_bytes_ - std::min(max_bytes_, current_.size());
    current_.append(bytes.substr(i, std::min(take, room)));
    if (take > room) truncated_ = true;
    remaining_ -= take;
    i += take;
    if (remaining_ == 0) {
      in_body_ = false;
      emit(out);
    }
  }
  return true;
}

void SyslogFramer::finish(std::vector<SyslogFrame>& out) {
  if (error_.empty() && mode_ == Mode::kLineFeed && (!current_.empty() || truncated_)) emit(out);
}

}  // namespace duet::intake
