#pragma once

// duetctl notify list | show | test | outbox, events show | confirm, board:
// notifications and the event console (docs/notifications.md).
//
// Channels and notifications are written with `duetctl apply -f FILE` (their
// sections `channels:` and `notifications:`) and read back with `export`.
// Writes (test, confirm) go to the master; reads to the master when there is
// one, else to the first manager that answers.
//
// Exit status: 0 done; 1 refused or no manager; 2 wrong usage; 3 no such
// channel, notification or event.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/connection.h"

namespace duet::cli {

class NotifyCommands {
 public:
  // Adds `notify` and `board` to `app`, and `show` and `confirm` to `events`.
  NotifyCommands(CLI::App& app, CLI::App& events);
  NotifyCommands(const NotifyCommands&) = delete;
  NotifyCommands& operator=(const NotifyCommands&) = delete;

  // After parsing: the exit status of the command given, or nullopt when the
  // command line named another one.
  std::optional<int> run(const ConnectionOptions& options, bool json, std::ostream& out,
                         std::ostream& err) const;

 private:
  int list(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err) const;
  int show(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err) const;
  int test(const ConnectionOptions& options, bool json, std::ostream& out, std::ostream& err) const;
  int outbox(const ConnectionOptions& options, bool json, std::ostream& out,
             std::ostream& err) const;
  int event_show(const ConnectionOptions& options, bool json, std::ostream& out,
                 std::ostream& err) const;
  int confirm(const ConnectionOptions& options, bool json, std::ostream& out,
              std::ostream& err) const;
  int board(const ConnectionOptions& options, bool json, std::ostream& out,
            std::ostream& err) const;

  std::string name_;
  std::string message_;
  std::string state_;
  std::string notification_;
  std::uint32_t limit_ = 20;
  std::uint64_t event_id_ = 0;
  std::vector<std::uint64_t> ids_;
  std::string by_;
  std::string comment_;
  std::string scope_;
  CLI::App* list_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* test_ = nullptr;
  CLI::App* outbox_ = nullptr;
  CLI::App* event_show_ = nullptr;
  CLI::App* confirm_ = nullptr;
  CLI::App* board_ = nullptr;
};

}  // namespace duet::cli
