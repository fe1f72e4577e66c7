#pragma once

// The command monitor: runs a custom command with a time limit and reports
// its exit status and the number it printed.
//
// The command runs through /bin/sh -c in its own process group, with the
// given environment added and working directory; stdin is /dev/null. Its
// output is read as it comes (so a chatty command never blocks on a full
// pipe) and kept up to `max_output_bytes` per stream. When the time limit
// passes, the whole process group gets SIGTERM, then SIGKILL after
// `kill_grace`, and the result says it timed out.
//
// The value is the first number on the first non-empty line of stdout
// ("42", "0.93 load", "-7e3"); none there is not an error, just no value.
//
// Blocking: run it on a worker thread, not on a strand.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"

namespace duet::monitors {

struct CommandSpec {
  std::string command;                             // given to /bin/sh -c
  std::map<std::string, std::string> environment;  // added to the agent's own
  std::string working_directory;                   // empty: the agent's
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds kill_grace{1000};
  std::size_t max_output_bytes = 64 * 1024;
};

struct CommandResult {
  std::optional<int> exit_code;  // none when killed by a signal
  std::optional<int> signal;     // the signal that ended it
  bool timed_out = false;
  std::optional<double> value;  // the first number of stdout's first non-empty line
  std::string stdout_text;      // at most max_output_bytes (the first ones)
  std::string stderr_text;      // at most max_output_bytes (the last ones)
  bool output_truncated = false;
  std::chrono::milliseconds elapsed{0};
};

// An error only when the command could not be started at all (no /bin/sh,
// no such working directory); a command that fails is a result.
Result<CommandResult> run_command(const CommandSpec& spec);

// The number `run_command` reports as the value.
std::optional<double> first_number(const std::string& text);

}  // namespace duet::monitors
