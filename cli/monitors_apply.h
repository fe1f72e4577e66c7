#pragma once

// The monitors of `duetctl apply -f FILE` and `duetctl export`, through the
// Monitoring service (docs/repository.md, "Monitors in the file"). The file
// is split by split_apply_file() (cli/monitors_yaml.h); run_apply() then:
//
//   1. check(): reads the target manager's monitors, nodes and scopes. Every
//      problem of the monitors part (the file's own, and a node or scope that
//      is neither in the file nor in the repository) is refused together with
//      the repository part's problems (from a dry-run Apply), each as
//      FILE:LINE, before anything is written.
//   2. sends the repository part to Repository.Apply (one transaction).
//   3. plan() (--dry-run: compared with the monitors read in step 1; nothing
//      is written) or put(): PutMonitor (create_only false) for each monitor
//      that differs from the stored one, one transaction each. Each adds a
//      "monitor" ObjectChange to the apply's ChangeResponse.
//
// Not one transaction: the manager checks a kind's params only in PutMonitor,
// so a monitor it refuses there (named by its FILE:LINE) is refused after
// step 2 committed; the other monitors still go, and applying the fixed file
// again gives "unchanged" for all that went. Unchanged monitors are not sent.
//
// One object per command, used from one thread; check() comes first (it
// picks the manager that the other calls use).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/connection.h"
#include "cli/monitors_yaml.h"
#include "duet/v1/monitoring.pb.h"
#include "duet/v1/repository.pb.h"

namespace duet::cli {

// What put() wrote.
struct MonitorWrites {
  std::vector<std::uint64_t> lsns;  // one per monitor written
  bool replicated = true;           // each write reached the standby
  // Why monitors were not applied, for stderr after the changes are printed
  // ("duetctl: apply: ADDRESS: monitors refused ...:\nFILE:LINE: ..."); empty: none was.
  std::string refused;
};

class MonitorsApply {
 public:
  // `file`: the name FILE:LINE problems give.
  MonitorsApply(const ConnectionOptions& options, std::string file, ApplyFile parsed);

  // The text to send to Repository.Apply.
  const std::string& repository_yaml() const { return parsed_.repository_yaml; }

  // 0 when the file may be applied; else the exit status, after writing why
  // (every problem, "refused, nothing changed:") to `err`.
  [[nodiscard]] int check(std::ostream& err);

  // --dry-run: what put() would do, added to `changes`.
  void plan(duet::v1::ChangeResponse& changes) const;

  // Sends the monitors that differ; adds each monitor's outcome to `changes`.
  [[nodiscard]] MonitorWrites put(duet::v1::ChangeResponse& changes);

 private:
  // "created", "updated" (with the fields) or "unchanged", against the monitors read.
  duet::v1::ObjectChange planned(const FileMonitor& m) const;

  const ConnectionOptions& options_;
  std::string file_;
  ApplyFile parsed_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::map<std::string, duet::v1::MonitorDef> stored_;  // by name
};

// The `monitors:` section of an export from the target manager ("" when it
// has none); nullopt after writing why to `err`.
std::optional<std::string> export_monitors(const ConnectionOptions& options, std::ostream& err);

}  // namespace duet::cli
