// Transfer runs of the agent's job executor (agent/job_transfer.cpp): the
// receiving side against a fake master that answers each FetchRequest with
// a piece read by the sending side's FileServer::read_piece.

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "agent/file_server.h"
#include "tests/support/job_executor_harness.h"

using duet::agent::FileServer;
using duet::agent::JobExecutor;
using duet::agent::kEndFailedToStart;
using duet::agent::kEndKilled;
using duet::agent::kEndSourceUnreadable;
using duet::agent::kEndTargetUnwritable;
using duet::agent::kEndTimeLimit;
using duet::testing::JobHarness;
using duet::v1::AgentMessage;
using duet::v1::JobStart;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string random_bytes(std::size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void write(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

JobStart transfer_job(const std::string& run_id, const std::string& from, const std::string& to,
                      bool overwrite = false) {
  JobStart s;
  s.set_run_id(run_id);
  s.set_session(1);
  s.set_unit("net/copy");
  s.set_kind("transfer");
  s.set_from_node("source-node");
  s.set_from_path(from);
  s.set_to_path(to);
  s.set_overwrite(overwrite);
  return s;
}

// The master and the sending agent in one: answers each fetch at once from
// the local file the run's JobStart names (the real relay takes the path from
// the job's definition). `before` may change the answer or drop it.
class FakeMaster {
 public:
  // Return false to leave the fetch unanswered.
  using Before = std::function<bool(const duet::v1::FetchRequest&, duet::v1::FileChunk&)>;

  FakeMaster(JobHarness& h, std::string from_path) : from_(std::move(from_path)) {
    h.on_send([this](AgentMessage m) {
      if (!m.has_fetch()) return false;
      ++asked_;
      if (exec_ == nullptr) return false;  // no session
      ++fetches_;
      duet::v1::FileRead read;
      read.set_path(from_);
      read.set_offset(m.fetch().offset());
      read.set_length(m.fetch().length());
      auto chunk = FileServer::read_piece(read);
      chunk.set_run_id(m.fetch().run_id());
      if (before_ && !before_(m.fetch(), chunk)) return true;
      exec_.load()->on_chunk(std::move(chunk));
      return true;
    });
  }
  void serve(JobExecutor* exec) { exec_ = exec; }
  void before(Before fn) { before_ = std::move(fn); }
  int fetches() const { return fetches_; }
  int asked() const { return asked_; }  // with a session or not
  // Waits (at most kJobWait) until `n` fetches were asked; false if they were not.
  bool wait_asked(int n) const {
    const auto deadline = std::chrono::steady_clock::now() + duet::testing::kJobWait;
    while (asked_ < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

 private:
  std::string from_;
  std::atomic<JobExecutor*> exec_{nullptr};
  Before before_;
  std::atomic<int> fetches_{0};
  std::atomic<int> asked_{0};
};

bool no_part_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".part") != std::string::npos) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("transfer: a file comes in 1 MiB pieces with its mode and is renamed into place",
          "[job_transfer]") {
  JobHarness h;
  const auto data = random_bytes((5u << 20) / 2);  // 2.5 MiB: three pieces
  const auto from = h.file("source.bin"), to = h.file("copy.bin");
  write(from, data);
  fs::permissions(from, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  FakeMaster master(h, from);
  JobExecutor exec(h.runs_dir(), h.hooks());
  master.serve(&exec);
  REQUIRE(exec.start().ok());
  exec.on_start(transfer_job("t1", from, to));
  auto end = h.wait_end("t1");
  REQUIRE(end);
  CHECK(h.started("t1"));
  CHECK(end->result.end_value() == 0);
  CHECK(end->result.stdout_tail() == "copied 2621440 bytes from source-node:" + from + " to " + to);
  CHECK(read(to) == data);
  CHECK((fs::status(to).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  CHECK(master.fetches() == 3);
  exec.stop();
  CHECK(no_part_files(h.path()));
  CHECK(!fs::exists(h.runs_dir() + "/t1.transfer"));
  // The same JobStart again (a new master resending it): nothing is copied again.
  JobExecutor again(h.runs_dir(), h.hooks());
  master.serve(&again);
  REQUIRE(again.start().ok());
  again.on_start(transfer_job("t1", from, to));
  again.stop();
  CHECK(master.fetches() == 3);
  CHECK(h.ends("t1").size() == 1);
}

TEST_CASE("transfer: an empty file is copied too", "[job_transfer]") {
  JobHarness h;
  const auto from = h.file("empty"), to = h.file("empty.copy");
  write(from, "");
  FakeMaster master(h, from);
  JobExecutor exec(h.runs_dir(), h.hooks());
  master.serve(&exec);
  REQUIRE(exec.start().ok());
  exec.on_start(transfer_job("t0", from, to));
  auto end = h.wait_end("t0");
  REQUIRE(end);
  CHECK(end->result.end_value() == 0);
  CHECK(fs::exists(to));
  CHECK(fs::file_size(to) == 0);
}

TEST_CASE("transfer: what cannot be read or written ends 2 or 3 and says why", "[job_transfer]") {
  JobHarness h;
  const auto from = h.file("source.txt");
  write(from, "payload\n");
  FakeMaster master(h, from);
  JobExecutor exec(h.runs_dir(), h.hooks());
  master.serve(&exec);
  REQUIRE(exec.start().ok());

  SECTION("a missing source") {
    FakeMaster missing(h, h.file("nothing-here"));
    missing.serve(&exec);
    exec.on_start(transfer_job("m", h.file("nothing-here"), h.file("out")));
    auto end = h.wait_end("m");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndSourceUnreadable);
    CHECK_THAT(end->result.error(), Catch::Contains("source-node") &&
                                        Catch::Contains("cannot open " + h.file("nothing-here")));
    CHECK(!fs::exists(h.file("out")));
  }
  SECTION("a source that is a directory") {
    FakeMaster dir(h, h.path().string());
    dir.serve(&exec);
    exec.on_start(transfer_job("d", h.path().string(), h.file("out")));
    auto end = h.wait_end("d");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndSourceUnreadable);
    CHECK_THAT(end->result.error(), Catch::Contains("not a regular file"));
  }
  SECTION("a destination that exists, overwrite off: untouched; on: replaced") {
    write(h.file("exists"), "old");
    exec.on_start(transfer_job("e", from, h.file("exists")));
    auto end = h.wait_end("e");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndTargetUnwritable);
    CHECK_THAT(end->result.error(), Catch::Contains("exists (overwrite is off)"));
    CHECK(read(h.file("exists")) == "old");
    exec.on_start(transfer_job("e2", from, h.file("exists"), true));
    auto end2 = h.wait_end("e2");
    REQUIRE(end2);
    CHECK(end2->result.end_value() == 0);
    CHECK(read(h.file("exists")) == "payload\n");
  }
  SECTION("a destination directory that does not exist") {
    exec.on_start(transfer_job("n", from, h.file("no/such/dir/out")));
    auto end = h.wait_end("n");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndTargetUnwritable);
    CHECK_THAT(end->result.error(), Catch::Contains("cannot write"));
  }
  SECTION("a relative destination does not start") {
    exec.on_start(transfer_job("r", from, "relative/out"));
    auto end = h.wait_end("r");
    REQUIRE(end);
    CHECK(end->result.end_value() == kEndFailedToStart);
    CHECK(master.fetches() == 0);
  }
  exec.stop();
  CHECK(no_part_files(h.path()));
}

TEST_CASE("transfer: a source that changes while it is copied ends 2", "[job_transfer]") {
  JobHarness h;
  const auto from = h.file("growing.log"), to = h.file("copy.log");
  write(from, random_bytes(3u << 20));
  FakeMaster master(h, from);
  master.before([&](const duet::v1::FetchRequest& f, duet::v1::FileChunk&) {
    if (f.offset() == 0) std::ofstream(from, std::ios::app) << "one more line\n";
    return true;
  });
  JobExecutor exec(h.runs_dir(), h.hooks());
  master.serve(&exec);
  REQUIRE(exec.start().ok());
  exec.on_start(transfer_job("c", from, to));
  auto end = h.wait_end("c");
  REQUIRE(end);
  CHECK(end->result.end_value() == kEndSourceUnreadable);
  CHECK_THAT(end->result.error(), Catch::Contains("changed while it was copied"));
  CHECK(!fs::exists(to));
  exec.stop();
  CHECK(no_part_files(h.path()));
}

TEST_CASE("transfer: no session, or the sender away, is waited out", "[job_transfer]") {
  JobHarness h;
  const auto from = h.file("src"), to = h.file("dst");
  write(from, "data");
  FakeMaster master(h, from);
  std::atomic<int> refused{0};
  master.before([&](const duet::v1::FetchRequest&, duet::v1::FileChunk& c) {
    if (refused++ < 2) {  // the relay's answer while the sending agent is away
      c.clear_data();
      c.set_error("the agent of source-node is not connected");
      c.set_retry(true);
    }
    return true;
  });
  JobExecutor exec(h.runs_dir(), h.hooks());
  REQUIRE(exec.start().ok());
  exec.on_start(transfer_job("w", from, to));  // no session yet: send fails
  REQUIRE(master.wait_asked(2));               // it asks again, and keeps waiting
  CHECK(h.ends("w").empty());
  master.serve(&exec);
  exec.on_connected();
  auto end = h.wait_end("w");
  REQUIRE(end);
  CHECK(end->result.end_value() == 0);
  CHECK(refused == 3);
  CHECK(read(to) == "data");
}

TEST_CASE("transfer: a kill or the time limit ends it and leaves nothing behind",
          "[job_transfer]") {
  JobHarness h;
  const auto from = h.file("src");
  write(from, "data");
  FakeMaster master(h, from);
  master.before([](const duet::v1::FetchRequest&, duet::v1::FileChunk&) { return false; });
  JobExecutor exec(h.runs_dir(), h.hooks());
  master.serve(&exec);
  REQUIRE(exec.start().ok());
  exec.on_start(transfer_job("k", from, h.file("k.out")));
  REQUIRE(h.started("k"));
  duet::v1::JobKill kill;
  kill.set_run_id("k");
  kill.set_reason("operator");
  exec.on_kill(kill);
  auto killed = h.wait_end("k");
  REQUIRE(killed);
  CHECK(killed->result.end_value() == kEndKilled);

  auto limited = transfer_job("l", from, h.file("l.out"));
  limited.set_time_limit_s(1);
  exec.on_start(limited);
  auto end = h.wait_end("l");
  REQUIRE(end);
  CHECK(end->result.end_value() == kEndTimeLimit);
  exec.stop();
  CHECK(no_part_files(h.path()));
  CHECK(!fs::exists(h.file("k.out")));
  CHECK(!fs::exists(h.file("l.out")));
}

TEST_CASE("transfer: an agent restart resumes the copy, or finishes the rename, once",
          "[job_transfer]") {
  JobHarness h;
  const auto data = random_bytes(3u << 19);  // 1.5 MiB
  const auto from = h.file("src"), to = h.file("dst");
  write(from, data);
  FakeMaster master(h, from);

  SECTION("stopped while copying") {
    master.before([](const duet::v1::FetchRequest& f, duet::v1::FileChunk&) {
      return f.offset() == 0;  // the second piece never comes
    });
    auto first = std::make_unique<JobExecutor>(h.runs_dir(), h.hooks());
    master.serve(first.get());
    REQUIRE(first->start().ok());
    first->on_start(transfer_job("s", from, to));
    REQUIRE(master.wait_asked(2));  // the second piece asked for, and never answered
    master.serve(nullptr);
    first->stop();
    first.reset();
    CHECK(h.ends("s").empty());
    CHECK_THAT(*h.record("s"), Catch::StartsWith("transfer "));

    master.before(nullptr);
    JobExecutor second(h.runs_dir(), h.hooks());
    master.serve(&second);
    REQUIRE(second.start().ok());
    auto end = h.wait_end("s");
    REQUIRE(end);
    CHECK(end->result.end_value() == 0);
    CHECK(read(to) == data);
  }
  SECTION("stopped between the sync and the rename") {
    auto start = transfer_job("s", from, to);
    fs::create_directories(h.runs_dir());
    std::ofstream(h.runs_dir() + "/s.transfer", std::ios::binary) << start.SerializeAsString();
    const auto part = h.file(".dst.duet-s.part");
    write(part, data);
    h.set_record("s", "renaming 1 0");
    JobExecutor second(h.runs_dir(), h.hooks());
    REQUIRE(second.start().ok());
    auto end = h.wait_end("s");
    REQUIRE(end);
    CHECK(end->result.end_value() == 0);
    CHECK(read(to) == data);
    CHECK(!fs::exists(part));
    CHECK(master.fetches() == 0);
    second.stop();
  }
  CHECK(h.ends("s").size() == 1);
  JobExecutor third(h.runs_dir(), h.hooks());  // and again: nothing more
  REQUIRE(third.start().ok());
  third.stop();
  CHECK(h.ends("s").size() == 1);
}
