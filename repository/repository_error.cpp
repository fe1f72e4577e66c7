#include "repository/repository_error.h"

#include <string>

namespace duet::repository {
namespace {

class RepositoryCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "repository"; }
  std::string message(int ev) const override {
    switch (static_cast<RepoErrc>(ev)) {
      case RepoErrc::kInvalid:
        return "invalid repository object";
      case RepoErrc::kNotFound:
        return "no such repository object";
      case RepoErrc::kExists:
        return "repository object exists";
      case RepoErrc::kHasChildren:
        return "scope has child scopes";
      case RepoErrc::kBadRow:
        return "unreadable repository row";
    }
    return "unknown repository error";
  }
};

}  // namespace

const std::error_category& repository_category() {
  static const RepositoryCategory category;
  return category;
}

}  // namespace duet::repository
