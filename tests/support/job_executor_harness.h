#pragma once

// A job executor's surroundings for tests (agent/job_executor.h): a real
// outbox under a mutex, as the agent holds it, the hooks over it, and a runs
// directory beside it.

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/job_executor.h"
#include "agent/outbox.h"
#include "tests/support/temp_dir.h"

namespace duet::testing {

using duet::agent::JobExecutor;
using duet::agent::Outbox;
using duet::v1::JobRunResult;
using namespace std::chrono_literals;

// Every command, however short, ends well before this; it only bounds a
// failing test.
inline constexpr auto kJobWait = 10s;

struct Reported {
  std::uint64_t seq = 0;
  JobRunResult result;
};

// An outbox under a mutex (as the agent holds it), the hooks over it, and a
// runs directory beside it.
class JobHarness {
 public:
  JobHarness() : runs_dir_(dir_.file("runs")) {
    auto box = Outbox::open(dir_.file("outbox.db"), {});
    REQUIRE(box.ok());
    box_ = std::move(*box);
  }

  JobExecutor::Hooks hooks() {
    JobExecutor::Hooks h;
    h.with_outbox = [this](const std::function<void(Outbox&)>& fn) {
      std::lock_guard lock(mu_);
      fn(*box_);
    };
    h.notify = [this] { ++notified_; };
    h.check_context = [] { return duet::monitors::CheckContext{}; };
    h.send = [this](duet::v1::AgentMessage m) { return send_ && send_(std::move(m)); };
    return h;
  }

  // The job results in the outbox, oldest first; only `run_id`'s if given.
  std::vector<Reported> results(const std::string& run_id = {}) {
    std::lock_guard lock(mu_);
    auto pending = box_->pending(0, 100'000);
    if (!pending.ok()) FAIL("the outbox cannot be read: " << pending.error().message);
    std::vector<Reported> out;
    for (const auto& e : *pending) {
      Reported r;
      r.seq = e.seq;
      if (e.kind != "job" || !r.result.ParseFromString(e.payload)) {
        FAIL("result " << e.seq << " (kind '" << e.kind << "') is not a JobRunResult");
      }
      if (run_id.empty() || r.result.run_id() == run_id) out.push_back(std::move(r));
    }
    return out;
  }

  std::vector<Reported> ends(const std::string& run_id) {
    std::vector<Reported> out;
    for (auto& r : results(run_id)) {
      if (!r.result.started()) out.push_back(std::move(r));
    }
    return out;
  }

  std::optional<Reported> started(const std::string& run_id) {
    for (auto& r : results(run_id)) {
      if (r.result.started()) return r;
    }
    return std::nullopt;
  }

  // Polls the outbox until the run's end result is there (or kJobWait passed).
  std::optional<Reported> wait_end(const std::string& run_id) {
    const auto deadline = std::chrono::steady_clock::now() + kJobWait;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = ends(run_id);
      if (!e.empty()) return e.front();
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  std::optional<std::string> record(const std::string& run_id) {
    std::lock_guard lock(mu_);
    auto p = box_->position("run:" + run_id);
    REQUIRE(p.ok());
    return *p;
  }

  void set_record(const std::string& run_id, const std::string& value) {
    std::lock_guard lock(mu_);
    REQUIRE(box_->set_position({"run:" + run_id, value}).ok());
  }

  // What the executor sends on the session (transfers' fetches); none: no session.
  void on_send(std::function<bool(duet::v1::AgentMessage)> fn) { send_ = std::move(fn); }

  int notified() const { return notified_; }
  const std::string& runs_dir() const { return runs_dir_; }
  std::string file(const std::string& name) const { return dir_.file(name); }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_{"duet-jobexec-"};
  std::string runs_dir_;
  std::mutex mu_;
  std::unique_ptr<Outbox> box_;
  std::atomic<int> notified_{0};
  std::function<bool(duet::v1::AgentMessage)> send_;
};

}  // namespace duet::testing
