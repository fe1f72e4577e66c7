#pragma once

// What the Runner's source files (runner.cpp, runner_operations.cpp,
// runner_status.cpp) share. Not for use outside ha/runner*.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "ha/runner.h"

namespace duet::ha {

inline std::string ms_text(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

struct Runner::Life {
  std::mutex mu;
  bool alive = true;
  boost::asio::any_io_executor executor;

  // Runs `fn` on the executor unless the runner has stopped.
  template <typename Fn>
  void post(Fn&& fn) {
    std::lock_guard lock(mu);
    if (alive) boost::asio::post(executor, std::forward<Fn>(fn));
  }
};

}  // namespace duet::ha
