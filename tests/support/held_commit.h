#pragma once

// A commit hook for the master's components (Notifier, AgentHub, JobRunner)
// in unit tests: each batch is committed to a real store at once, and its
// "replicated" answer is held back until the test calls replicate(), so a
// test can check what happens between commit and replication. With `fail`
// set, every commit fails (a full disk) and nothing is written.

#include <deque>
#include <functional>

#include "common/errors.h"
#include "ha/runner.h"
#include "store/store.h"

namespace duet::testing {

class HeldCommit {
 public:
  using Done = std::function<void(Result<ha::Runner::Committed>)>;

  explicit HeldCommit(store::Store& store) : store_(store) {}

  void operator()(const store::WriteBatch& batch, Done done) {
    if (fail) {
      done(make_error(CommonErrc::kIo, "disk full"));
      return;
    }
    auto lsn = store_.commit(batch);
    if (!lsn.ok()) {
      done(lsn.error());
      return;
    }
    held_.push_back([done = std::move(done), lsn = *lsn, epoch = store_.current_epoch()] {
      done(ha::Runner::Committed{lsn, epoch, true});
    });
  }
  // A hook that calls this one (for a Hooks::commit field).
  std::function<void(const store::WriteBatch&, Done)> hook() {
    return [this](const store::WriteBatch& b, Done d) { (*this)(b, std::move(d)); };
  }

  // Answers every held commit, oldest first (answers may commit more).
  void replicate() {
    while (!held_.empty()) {
      auto f = std::move(held_.front());
      held_.pop_front();
      f();
    }
  }
  std::size_t held() const { return held_.size(); }

  bool fail = false;

 private:
  store::Store& store_;
  std::deque<std::function<void()>> held_;
};

}  // namespace duet::testing
