#include "agent/file_watcher.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <sstream>

namespace duet::agent {
namespace {

constexpr const char* kPrefix = "watch:";

// "-" when absent; else "INODE SIZE MTIME_NS".
std::string look(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "-";
  std::ostringstream out;
  out << st.st_ino << " " << st.st_size << " "
      << (static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec);
  return out.str();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

FileWatcher::FileWatcher(Hooks hooks) : hooks_(std::move(hooks)) {}

FileWatcher::~FileWatcher() { stop(); }

void FileWatcher::start() {
  thread_ = std::thread([this] { loop(); });
}

void FileWatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FileWatcher::set(const google::protobuf::RepeatedPtrField<duet::v1::FileWatch>& watches) {
  std::lock_guard lock(mu_);
  std::map<std::string, Entry> next;
  for (const auto& w : watches) {
    auto it = watches_.find(w.id());
    next[w.id()] =
        Entry{w, it != watches_.end() ? it->second.due : std::chrono::steady_clock::now()};
  }
  if (next.size() != watches_.size()) spdlog::info("file triggers: {} watched", next.size());
  watches_ = std::move(next);
  cv_.notify_all();
}

void FileWatcher::check_all() {
  std::vector<duet::v1::FileWatch> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : watches_) all.push_back(e.watch);
  }
  for (const auto& w : all) check(w);
}

void FileWatcher::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    auto wake = now + std::chrono::seconds(1);
    std::vector<duet::v1::FileWatch> due;
    for (auto& [id, e] : watches_) {
      if (e.due <= now) {
        due.push_back(e.watch);
        e.due = now + std::chrono::seconds(std::max<std::uint32_t>(1, e.watch.interval_s()));
      }
      wake = std::min(wake, e.due);
    }
    if (!due.empty()) {
      lock.unlock();
      for (const auto& w : due) check(w);
      lock.lock();
      continue;
    }
    cv_.wait_until(lock, wake);
  }
}

void FileWatcher::check(const duet::v1::FileWatch& w) {
  const std::string key = kPrefix + w.id();
  const std::string now_look = look(w.path());
  bool appended = false;
  hooks_.with_outbox([&](Outbox& o) {
    auto before = o.position(key);
    if (!before.ok()) return;
    if (!before->has_value()) {  // the first look: nothing to report
      (void)o.set_position({key, now_look});
      return;
    }
    const std::string& was = **before;
    if (was == now_look) return;
    std::string what;
    if (was == "-") {
      what = "created";
    } else if (now_look == "-") {
      what = "deleted";
    } else {
      what = "modified";
    }
    if (what != (w.on().empty() ? "created" : w.on())) {
      (void)o.set_position({key, now_look});
      return;
    }
    duet::v1::FileEvent ev;
    ev.set_id(w.id());
    ev.set_path(w.path());
    ev.set_what(what);
    ev.set_at_ms(now_ms());
    std::string payload;
    ev.SerializeToString(&payload);
    auto a = o.append("file", payload, ev.at_ms(), Outbox::Position{key, now_look});
    appended = a.ok();
    if (!a.ok()) spdlog::error("file trigger {}: not kept: {}", w.path(), a.error().to_string());
  });
  if (appended) {
    spdlog::info("file trigger: {} {}", w.path(), w.on().empty() ? "created" : w.on());
    if (hooks_.notify) hooks_.notify();
  }
}

}  // namespace duet::agent
