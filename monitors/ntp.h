#pragma once

// The NTP monitor: an SNTP client (RFC 4330; RFC 5905 client mode 3,
// version 4) that asks one server (IPv4, UDP) for the time and reports our
// clock's offset from it, the round-trip delay and the server's stratum.
//
// The request carries only the transmit timestamp: our clock's seconds and,
// in the fraction, 32 random bits that serve as a nonce. A reply counts only
// when it comes from the queried address and port (a connected socket) and
// its originate timestamp is exactly that nonce; anything else is ignored
// and counted, and the wait goes on until the time limit. T1 and T4 are our
// clock's precise times of sending and receiving.
//
// A reply to our request is rejected, with the reason as the result's error,
// when it is not mode 4 (server), when it is a kiss-o'-death (stratum 0: the
// kiss code, e.g. RATE or DENY, is reported), when the server says it is not
// synchronized (leap indicator 3, or stratum 16 and above), or when its
// receive or transmit timestamp is zero.
//
// Timestamps come from the given Clock's wall time; the time limit is real
// time. Blocking for at most `timeout`: run it on a worker thread.

#include <chrono>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace duet::monitors {

struct NtpCheck {
  std::string server;  // IPv4, dotted
  std::uint16_t port = 123;
  std::chrono::milliseconds timeout{5000};
};

struct NtpResult {
  bool answered = false;  // a reply to our request arrived (valid or not)
  double offset_ms = 0;   // the server's clock minus ours: ((T2 - T1) + (T3 - T4)) / 2
  double delay_ms = 0;    // the round trip less the server's time: (T4 - T1) - (T3 - T2)
  int stratum = 0;
  int leap = 0;     // the leap indicator: 0 none, 1 and 2 a leap second today, 3 unsynchronized
  int version = 0;  // the reply's
  std::string reference_id;  // stratum 1: the source ("GPS", "PPS"); above: an IPv4 address
  double root_delay_ms = 0;
  double root_dispersion_ms = 0;
  std::string kiss_code;  // a kiss-o'-death's code: RATE, DENY, RSTR, ...
  int ignored = 0;        // datagrams from the server that were not a reply to our request
  std::string error;  // why the check failed: timed out, refused, a rejected reply; empty: passed
  bool ok() const { return answered && error.empty(); }
};

// An error (kInvalidArgument) only for an invalid check: a server that is not
// an IPv4 address, port 0, a timeout that is not positive. A check that fails
// is a result that says why.
Result<NtpResult> check_ntp(const NtpCheck& check, const Clock& clock);
Result<NtpResult> check_ntp(const NtpCheck& check);  // the system clock

// An NTP timestamp (seconds since 1900 in the high 32 bits, modulo 2^32 - the
// era is not kept - and the fraction in the low 32 bits).
std::uint64_t to_ntp_timestamp(WallTime t);

struct NtpSample {
  double offset_ms = 0;
  double delay_ms = 0;
};
// Offset and delay from the four timestamps. The differences are taken
// modulo 2^64 (RFC 5905), so they are right across an era boundary (2036)
// as long as the clocks are within 68 years of each other.
NtpSample ntp_sample(std::uint64_t t1, std::uint64_t t2, std::uint64_t t3, std::uint64_t t4);

}  // namespace duet::monitors
