#include "common/errors.h"

#include <string>

#include "common/result.h"

namespace duet {
namespace {

class CommonCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "common"; }
  std::string message(int ev) const override {
    switch (static_cast<CommonErrc>(ev)) {
      case CommonErrc::kInvalidConfig:
        return "invalid configuration";
      case CommonErrc::kIo:
        return "i/o error";
      case CommonErrc::kTls:
        return "TLS material unusable";
      case CommonErrc::kInvalidArgument:
        return "invalid argument";
      case CommonErrc::kNotFound:
        return "not found";
      case CommonErrc::kUnavailable:
        return "unavailable";
    }
    return "unknown common error";
  }
};

}  // namespace

const std::error_category& common_category() {
  static const CommonCategory category;
  return category;
}

std::string Error::to_string() const {
  if (message.empty()) return code.message();
  return message;
}

}  // namespace duet
