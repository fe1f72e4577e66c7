#pragma once

// MultiPinger: many ping checks at once through one ICMP socket and one
// thread, for agentless monitoring from the manager (thousands of targets a
// minute; a blocking ping per worker thread would need hundreds of threads).
//
// Each submitted check is the same as monitors/ping.h's: `count` echo
// requests `interval` apart, each answered within `timeout`, a random token
// in the payload. Every request gets a sequence number unique among those in
// flight; a reply counts when its source address, sequence number and payload
// are those of a request in flight (a duplicate counts once). The callback
// runs on the pinger's thread when the check is over.
//
// Thread-safe: submit() from any thread. The destructor stops the thread;
// checks still running end without their callback.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "common/result.h"
#include "monitors/ping.h"

namespace duet::monitors {

class MultiPinger {
 public:
  using Done = std::function<void(PingResult)>;

  // Opens the socket (datagram, else raw); an error names both reasons.
  static Result<std::unique_ptr<MultiPinger>> create();
  ~MultiPinger();
  MultiPinger(const MultiPinger&) = delete;
  MultiPinger& operator=(const MultiPinger&) = delete;

  // Starts a check; `done` gets its result (an invalid address at once).
  void submit(const PingCheck& check, Done done);

  std::size_t in_flight() const { return in_flight_.load(); }

 private:
  struct Probe;
  explicit MultiPinger(int fd, bool raw);
  void loop();
  void start_probe(std::shared_ptr<Probe> p);
  void send_next(const std::shared_ptr<Probe>& p);
  void on_datagram(const std::uint8_t* data, std::size_t n, std::uint32_t from);
  void finish(const std::shared_ptr<Probe>& p);

  int fd_ = -1;
  bool raw_ = false;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> in_flight_{0};
  std::mutex mu_;
  std::vector<std::pair<PingCheck, Done>> submitted_;  // guarded by mu_
  // Loop state (the pinger's thread only).
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Event {
    TimePoint at;
    std::uint64_t order;
    std::shared_ptr<Probe> probe;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t order_ = 0;
  std::uint16_t next_seq_ = 0;
  std::map<std::uint16_t, std::pair<std::shared_ptr<Probe>, int>> by_seq_;  // in flight
};

}  // namespace duet::monitors
