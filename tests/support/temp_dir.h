#pragma once

// A fresh directory under /tmp, removed with everything in it on destruction.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace duet::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "duet-test-") {
    std::string tmpl = "/tmp/" + prefix + "XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace duet::testing
