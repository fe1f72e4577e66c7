#pragma once

// The DNS monitor: one query (A, AAAA, CNAME, MX, TXT, NS, PTR, SOA, SRV, or
// any type by number as "TYPE99") for a name, sent to one server over UDP
// (IPv4), with a TCP retry when the UDP reply is truncated (TC). It reports
// the response time, the rcode, the answers of the asked type as text, and
// whether an expected answer is among them.
//
// The messages are built and parsed by glibc's libresolv (res_nmkquery,
// ns_initparse, ns_parserr, ns_name_uncompress); the socket I/O is ours. Each
// query has a random id. A reply counts only when it comes from the queried
// address and port (a connected socket), has that id, is a response, and
// repeats our question; anything else is ignored and counted, and the wait
// goes on until the time limit.
//
// Blocking for at most `timeout` (the TCP retry included): run it on a worker
// thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duet::monitors {

struct DnsCheck {
  std::string server;  // IPv4, dotted
  std::uint16_t port = 53;
  std::string name;        // "www.example.com"; for PTR an IPv4/IPv6 address is turned into its
                           // in-addr.arpa / ip6.arpa name
  std::string type = "A";  // A, AAAA, CNAME, MX, TXT, NS, PTR, SOA, SRV, or TYPE<number>
  // An answer that must be among the answers: compared exactly (case and a
  // final dot ignored, except for TXT; addresses compared as addresses), or,
  // with expect_regex, an ECMAScript regex searched in each answer.
  std::optional<std::string> expect;
  bool expect_regex = false;
  bool recursion_desired = true;            // the RD bit
  std::chrono::milliseconds timeout{5000};  // the whole check, a TCP retry included
};

struct DnsResult {
  bool answered = false;                       // a reply to our query arrived (whatever its rcode)
  std::chrono::microseconds response_time{0};  // from sending to the reply (a TCP retry included)
  bool over_tcp = false;               // the UDP reply was truncated; the reply came over TCP
  std::string rcode;                   // "NOERROR", "NXDOMAIN", "SERVFAIL", ...; empty: no reply
  bool authoritative = false;          // the AA bit
  std::vector<std::string> answers;    // the answer section's records of the asked type, as text:
                                       // "192.0.2.1", "10 mail.example.com.", "v=spf1 -all"
  std::optional<bool> expect_matched;  // set when `expect` was given and a reply arrived
  int ignored = 0;    // datagrams from the server that were not a reply to our query
  std::string error;  // why the check failed: timed out, refused, bad reply, the rcode, no
                      // answer of the type, the expected answer missing; empty: it passed
  bool ok() const { return answered && error.empty(); }
};

// An error (kInvalidArgument) only for an invalid check: a server that is not
// an IPv4 address, port 0, an empty or malformed name, an unknown type, an
// invalid regex, a timeout that is not positive. A check that fails is a
// result that says why.
Result<DnsResult> check_dns(const DnsCheck& check);

// "MX" -> 15, "TYPE99" -> 99 (case-insensitive); none for an unknown name.
std::optional<std::uint16_t> dns_type_from_name(std::string_view name);

// 0 -> "NOERROR", 3 -> "NXDOMAIN"; an unnamed one as "RCODE<n>".
std::string dns_rcode_name(int rcode);

}  // namespace duet::monitors
