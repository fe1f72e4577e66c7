#include "store/store_error.h"

#include <string>

namespace duet::store {
namespace {

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "store"; }
  std::string message(int ev) const override {
    switch (static_cast<StoreErrc>(ev)) {
      case StoreErrc::kUnavailable:
        return "database unavailable";
      case StoreErrc::kCorrupt:
        return "database corrupt";
      case StoreErrc::kSchemaTooNew:
        return "schema newer than this binary";
      case StoreErrc::kIo:
        return "write failed";
      case StoreErrc::kInvalidRow:
        return "invalid row";
      case StoreErrc::kUnknownTable:
        return "unknown table";
      case StoreErrc::kNoEpoch:
        return "no epoch";
      case StoreErrc::kStaleEpoch:
        return "stale epoch";
      case StoreErrc::kJournalGap:
        return "journal gap";
      case StoreErrc::kDiverged:
        return "journal diverged";
      case StoreErrc::kBadConfig:
        return "unusable store configuration";
      case StoreErrc::kInternal:
        return "internal store error";
    }
    return "unknown store error";
  }
};

}  // namespace

const std::error_category& store_category() {
  static const StoreCategory category;
  return category;
}

}  // namespace duet::store
