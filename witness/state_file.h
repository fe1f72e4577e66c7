#pragma once

// The witness's state file: the highest epoch granted per pair (see
// ha/lease_table.h for what it holds and its text form).
//
// Contract:
// - load(): a missing file is a first start (nullopt). A file that cannot be
//   read, or whose content is not exactly what save() writes (damaged,
//   truncated, edited), is an error that names the file and the line: the
//   witness must refuse to start rather than forget epochs.
// - save(): atomic and durable. Writes PATH.tmp, fsyncs it, renames it over
//   PATH, then fsyncs the directory. After it returns OK the new state
//   survives a crash or power loss; after an error the old file is intact.
// - Thread-compatible; one StateFile per path.

#include <optional>
#include <string>

#include "common/result.h"
#include "ha/lease_table.h"

namespace duet::witness {

class StateFile {
 public:
  explicit StateFile(std::string path) : path_(std::move(path)) {}

  [[nodiscard]] Result<std::optional<ha::EpochState>> load() const;
  [[nodiscard]] Status save(const ha::EpochState& state) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace duet::witness
