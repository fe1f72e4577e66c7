// JobExecutor's transfer runs (see job_executor.h, "Transfers").

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "agent/job_executor.h"
#include "common/clock.h"

namespace duet::agent {
namespace {

constexpr auto kAnswerWait = std::chrono::seconds(15);  // a piece asked for and not come
constexpr auto kRetryWait = std::chrono::seconds(1);    // no session, or the sender away

std::int64_t wall_ms() { return to_unix_ms(std::chrono::system_clock::now()); }

// Beside the destination (the rename stays on one file system), hidden.
std::string part_of(const duet::v1::JobStart& s) {
  const std::filesystem::path to(s.to_path());
  return (to.parent_path() / ("." + to.filename().string() + ".duet-" + s.run_id() + ".part"))
      .string();
}

void sync_directory(const std::string& file) {
  const auto dir = std::filesystem::path(file).parent_path();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

void JobExecutor::start_transfer(const duet::v1::JobStart& s) {
  const auto now = wall_ms();
  auto fail = [&](std::int64_t value, std::string why) {
    duet::v1::JobRunResult r;
    r.set_run_id(s.run_id());
    r.set_at_ms(now);
    r.set_end_value(value);
    r.set_error(std::move(why));
    report(r, "ended " + std::to_string(now));
  };
  if (s.from_node().empty() || s.from_path().empty() || s.to_path().empty() ||
      s.to_path().front() != '/') {
    fail(kEndFailedToStart, "a transfer needs from_node, from_path and an absolute to_path");
    return;
  }
  std::error_code ec;
  if (!s.overwrite() && std::filesystem::exists(s.to_path(), ec)) {
    fail(kEndTargetUnwritable, s.to_path() + " exists (overwrite is off)");
    return;
  }
  // The JobStart, for an agent restart to resume from.
  const std::string keep = path_of(s.run_id(), ".transfer"), tmp = keep + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !s.SerializeToOstream(&out) || !out.flush()) {
      fail(kEndFailedToStart, "cannot write " + tmp);
      return;
    }
  }
  if (const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::filesystem::rename(tmp, keep, ec);
  if (ec) {
    fail(kEndFailedToStart, "cannot write " + keep + ": " + ec.message());
    return;
  }
  auto run = std::make_shared<Run>();
  run->run_id = s.run_id();
  run->started_ms = now;
  run->deadline_ms = s.time_limit_s() > 0 ? now + s.time_limit_s() * 1000LL : 0;
  duet::v1::JobRunResult started;
  started.set_run_id(s.run_id());
  started.set_started(true);
  started.set_at_ms(now);
  report(started, "transfer " + std::to_string(now) + " " + std::to_string(run->deadline_ms));
  spawn_transfer(std::move(run), s);
}

void JobExecutor::resume_transfer(const std::string& run_id, const std::string& state,
                                  std::int64_t started, std::int64_t deadline) {
  duet::v1::JobStart s;
  {
    std::ifstream in(path_of(run_id, ".transfer"), std::ios::binary);
    if (!in || !s.ParseFromIstream(&in)) {
      duet::v1::JobRunResult r;
      r.set_run_id(run_id);
      r.set_at_ms(wall_ms());
      r.set_end_value(kEndFailedToStart);
      r.set_error("the agent restarted and lost what this transfer was");
      report(r, "ended " + std::to_string(r.at_ms()));
      return;
    }
  }
  if (state == "renaming") {
    // Whole and synced before the agent went: rename it, unless that happened already.
    const auto part = part_of(s);
    std::error_code ec;
    if (std::filesystem::exists(part, ec)) {
      rename_into_place(s, part, std::filesystem::file_size(part, ec));
    } else if (std::filesystem::exists(s.to_path(), ec)) {
      end_transfer(s, 0, "", "copied to " + s.to_path() + " (renamed as the agent stopped)");
    } else {
      end_transfer(s, kEndTargetUnwritable, "the copy was gone after the agent restarted", "");
    }
    return;
  }
  spdlog::info("jobs: transfer {} resumed from the start", run_id);
  auto run = std::make_shared<Run>();
  run->run_id = run_id;
  run->started_ms = started;
  run->deadline_ms = deadline;
  spawn_transfer(std::move(run), std::move(s));
}

void JobExecutor::spawn_transfer(std::shared_ptr<Run> run, duet::v1::JobStart s) {
  std::lock_guard lock(mu_);
  runs_[run->run_id] = run;
  threads_[run->run_id] = std::thread([this, run, s = std::move(s)] {
    (void)copy(*run, s);
    std::lock_guard done(mu_);
    runs_.erase(run->run_id);
    pieces_.erase(run->run_id);
    threads_[run->run_id].detach();
    threads_.erase(run->run_id);
    cv_.notify_all();
  });
}

void JobExecutor::on_chunk(duet::v1::FileChunk chunk) {
  {
    std::lock_guard lock(mu_);
    if (runs_.count(chunk.run_id()) == 0) return;
    std::string id = chunk.run_id();
    pieces_[std::move(id)] = std::move(chunk);
  }
  cv_.notify_all();
}

void JobExecutor::on_connected() {
  {
    std::lock_guard lock(mu_);
    ++sessions_;
  }
  cv_.notify_all();
}

void JobExecutor::end_transfer(const duet::v1::JobStart& s, std::int64_t value, std::string error,
                               std::string out) {
  duet::v1::JobRunResult r;
  r.set_run_id(s.run_id());
  r.set_at_ms(wall_ms());
  r.set_end_value(value);
  r.set_error(std::move(error));
  r.set_stdout_tail(std::move(out));
  report(r, "ended " + std::to_string(r.at_ms()));
  std::error_code ec;
  std::filesystem::remove(path_of(s.run_id(), ".transfer"), ec);
  if (value == 0) {
    spdlog::info("jobs: transfer {}: {}", s.run_id(), r.stdout_tail());
  } else {
    spdlog::warn("jobs: transfer {} ended {}: {}", s.run_id(), value, r.error());
  }
}

bool JobExecutor::copy(Run& run, const duet::v1::JobStart& s) {
  const std::string part = part_of(s);
  const std::string from = s.from_node() + ":" + s.from_path();
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    end_transfer(s, kEndTargetUnwritable, errno_text("cannot write " + part), "");
    return true;
  }
  auto give_up = [&](std::int64_t value, std::string why) {
    ::close(fd);
    ::unlink(part.c_str());
    end_transfer(s, value, std::move(why), "");
    return true;
  };
  std::uint64_t offset = 0;
  std::optional<duet::v1::FileChunk> first;  // size, time and mode as the copy began
  for (;;) {
    if (run.deadline_ms > 0 && wall_ms() >= run.deadline_ms && run.kill_reason == 0) {
      run.kill_reason = 2;
    }
    if (run.kill_reason == 2)
      return give_up(kEndTimeLimit, "killed: the run-time limit was reached");
    if (run.kill_reason == 1) return give_up(kEndKilled, "killed by an operator");
    if (stopping_) {
      ::close(fd);  // the record stays "transfer": a restarted agent copies again
      return false;
    }
    duet::v1::AgentMessage m;
    m.mutable_fetch()->set_run_id(run.run_id);
    m.mutable_fetch()->set_offset(offset);
    m.mutable_fetch()->set_length(kTransferPiece);
    std::uint64_t session = 0;
    {
      std::lock_guard lock(mu_);
      session = sessions_;
      pieces_.erase(run.run_id);
    }
    const bool sent = hooks_.send && hooks_.send(std::move(m));
    std::optional<duet::v1::FileChunk> piece;
    {
      std::unique_lock lock(mu_);
      auto come = [&] {
        auto it = pieces_.find(run.run_id);
        return it != pieces_.end() && it->second.offset() == offset;
      };
      std::chrono::milliseconds wait = sent ? kAnswerWait : kRetryWait;
      if (run.deadline_ms > 0) {  // the time limit is kept while waiting too
        wait = std::min(wait, std::chrono::milliseconds(
                                  std::max<std::int64_t>(run.deadline_ms - wall_ms(), 0) + 1));
      }
      cv_.wait_for(lock, wait, [&] {
        return come() || run.kill_reason != 0 || stopping_ || sessions_ != session;
      });
      if (come()) {
        piece = std::move(pieces_[run.run_id]);
        pieces_.erase(run.run_id);
      }
    }
    if (!piece) continue;  // not answered: ask again
    if (!piece->error().empty()) {
      if (!piece->retry())
        return give_up(kEndSourceUnreadable, s.from_node() + ": " + piece->error());
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kRetryWait, [&] { return run.kill_reason != 0 || stopping_; });
      continue;
    }
    if (!first) {
      first = *piece;
      first->clear_data();
    } else if (piece->size() != first->size() || piece->mtime_ns() != first->mtime_ns()) {
      return give_up(kEndSourceUnreadable, from + " changed while it was copied");
    }
    const std::string& data = piece->data();
    if (data.empty() && offset < first->size()) {
      return give_up(kEndSourceUnreadable, from + " changed while it was copied");
    }
    std::size_t written = 0;
    while (written < data.size()) {
      const ssize_t n = ::pwrite(fd, data.data() + written, data.size() - written,
                                 static_cast<off_t>(offset + written));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return give_up(kEndTargetUnwritable, errno_text("cannot write " + part));
      written += static_cast<std::size_t>(n);
    }
    offset += data.size();
    if (offset >= first->size()) break;
  }
  if (::fsync(fd) != 0) return give_up(kEndTargetUnwritable, errno_text("cannot sync " + part));
  (void)::fchmod(fd, static_cast<mode_t>(first->mode() & 07777));
  ::close(fd);
  bool recorded = false;
  hooks_.with_outbox([&](Outbox& o) {
    recorded =
        o.set_position({kRunPrefix + run.run_id, "renaming " + std::to_string(run.started_ms) +
                                                     " " + std::to_string(run.deadline_ms)})
            .ok();
  });
  if (!recorded) {
    ::unlink(part.c_str());
    end_transfer(s, kEndTargetUnwritable, "the agent could not record the copy's progress", "");
    return true;
  }
  rename_into_place(s, part, offset);
  return true;
}

void JobExecutor::rename_into_place(const duet::v1::JobStart& s, const std::string& part,
                                    std::uint64_t bytes) {
  int rc = 0;
  if (s.overwrite()) {
    rc = ::rename(part.c_str(), s.to_path().c_str());
  } else {
    rc = ::renameat2(AT_FDCWD, part.c_str(), AT_FDCWD, s.to_path().c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == EINVAL) {  // a file system without it: link fails on an existing name
      rc = ::link(part.c_str(), s.to_path().c_str());
      if (rc == 0) ::unlink(part.c_str());
    }
  }
  if (rc != 0) {
    const std::string why = errno == EEXIST
                                ? s.to_path() + " exists (overwrite is off)"
                                : errno_text("cannot rename " + part + " to " + s.to_path());
    ::unlink(part.c_str());
    end_transfer(s, kEndTargetUnwritable, why, "");
    return;
  }
  sync_directory(s.to_path());
  end_transfer(s, 0, "",
               "copied " + std::to_string(bytes) + " bytes from " + s.from_node() + ":" +
                   s.from_path() + " to " + s.to_path());
}

}  // namespace duet::agent
