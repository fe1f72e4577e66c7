#include "witness/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/errors.h"

namespace duet::witness {
namespace {

Error io_error(const std::string& what, const std::string& path, int err) {
  return make_error(CommonErrc::kIo, "state file: cannot " + what + " '" + path +
                                         "': " + std::system_category().message(err));
}

// Writes all of `data` to `fd`, retrying short writes and EINTR.
bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

Result<std::optional<ha::EpochState>> StateFile::load() const {
  std::error_code ec;
  const auto status = std::filesystem::status(path_, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return make_error(CommonErrc::kIo, "state file: cannot read '" + path_ + "': " + ec.message());
  }
  if (!std::filesystem::exists(status)) return std::optional<ha::EpochState>();
  if (!std::filesystem::is_regular_file(status)) {
    return make_error(CommonErrc::kIo, "state file: '" + path_ + "' is not a regular file");
  }
  std::ifstream in(path_, std::ios::binary);
  if (!in) return io_error("read", path_, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error("read", path_, errno);
  auto parsed = ha::parse_epoch_state(text.str());
  if (!parsed.ok()) {
    return make_error(CommonErrc::kInvalidArgument,
                      "state file '" + path_ + "' is corrupt: " + parsed.error().to_string() +
                          ". It holds the highest epochs granted; the witness will not guess "
                          "them (see docs/witness.md, 'Recovery')");
  }
  return std::optional<ha::EpochState>(std::move(parsed).value());
}

Status StateFile::save(const ha::EpochState& state) const {
  const std::filesystem::path path(path_);
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(CommonErrc::kIo, "state file: cannot create directory '" + dir.string() +
                                           "': " + ec.message());
  }

  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", tmp, errno);
  const std::string text = ha::format_epoch_state(state);
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error("write", tmp, err);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("write", tmp, err);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("rename over", path_, err);
  }
  // The rename is durable only once the directory entry is.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return io_error("open directory", dir.string(), errno);
  if (::fsync(dfd) != 0) {
    const int err = errno;
    ::close(dfd);
    return io_error("sync directory", dir.string(), err);
  }
  ::close(dfd);
  return ok_status();
}

}  // namespace duet::witness
