#include "monitors/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <random>
#include <regex>

#include "common/errors.h"

namespace duet::monitors {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<unsigned char>;

constexpr std::size_t kMaxMessage = 65535;

struct TypeName {
  const char* name;
  std::uint16_t type;
};
constexpr std::array<TypeName, 9> kTypes{{{"A", ns_t_a},
                                          {"NS", ns_t_ns},
                                          {"CNAME", ns_t_cname},
                                          {"SOA", ns_t_soa},
                                          {"PTR", ns_t_ptr},
                                          {"MX", ns_t_mx},
                                          {"TXT", ns_t_txt},
                                          {"AAAA", ns_t_aaaa},
                                          {"SRV", ns_t_srv}}};

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int ms_left(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

Error invalid(const std::string& what) {
  return make_error(CommonErrc::kInvalidArgument, "dns: " + what);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "192.0.2.1" -> "1.2.0.192.in-addr.arpa"; an IPv6 address -> its ip6.arpa
// nibbles; anything else is left as it is.
std::string reverse_name(const std::string& name) {
  in_addr v4{};
  if (::inet_pton(AF_INET, name.c_str(), &v4) == 1) {
    const auto* b = reinterpret_cast<const unsigned char*>(&v4);
    return std::to_string(b[3]) + "." + std::to_string(b[2]) + "." + std::to_string(b[1]) + "." +
           std::to_string(b[0]) + ".in-addr.arpa";
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, name.c_str(), &v6) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 15; i >= 0; --i) {
      out += kHex[v6.s6_addr[i] & 0xf];
      out += '.';
      out += kHex[v6.s6_addr[i] >> 4];
      out += '.';
    }
    return out + "ip6.arpa";
  }
  return name;
}

// The query, built by libresolv with our own random id.
Result<Bytes> make_query(const std::string& name, std::uint16_t type, bool recursion_desired,
                         std::uint16_t id) {
  struct __res_state state {};
  if (::res_ninit(&state) != 0) {
    return make_error(CommonErrc::kIo, "dns: cannot initialise the resolver state");
  }
  if (recursion_desired) {
    state.options |= RES_RECURSE;
  } else {
    state.options &= ~static_cast<decltype(state.options)>(RES_RECURSE);
  }
  Bytes query(NS_PACKETSZ);
  const int n = ::res_nmkquery(&state, ns_o_query, name.c_str(), ns_c_in, type, nullptr, 0, nullptr,
                               query.data(), static_cast<int>(query.size()));
  ::res_nclose(&state);
  if (n < NS_HFIXEDSZ) return invalid("cannot make a query for the name '" + name + "'");
  query.resize(static_cast<std::size_t>(n));
  ::ns_put16(id, query.data());
  return query;
}

struct Question {
  std::uint16_t id = 0;
  std::string name;  // as libresolv expands it (escaped, no final dot): compared without case
  std::uint16_t type = 0;
};

// Whether `reply` answers `q`; if not, why, for the ignored count's message.
bool is_reply_to(const Bytes& reply, const Question& q, ns_msg& msg, std::string& why) {
  if (::ns_initparse(reply.data(), static_cast<int>(reply.size()), &msg) != 0) {
    why = "not a DNS message";
    return false;
  }
  if (ns_msg_id(msg) != q.id) {
    why = "wrong id";
    return false;
  }
  if (::ns_msg_getflag(msg, ns_f_qr) != 1 || ::ns_msg_getflag(msg, ns_f_opcode) != ns_o_query) {
    why = "not a response to a query";
    return false;
  }
  const int rcode = ::ns_msg_getflag(msg, ns_f_rcode);
  if (ns_msg_count(msg, ns_s_qd) == 0 && rcode != ns_r_noerror) {
    return true;  // some servers leave the question out of an error (FORMERR, NOTIMP)
  }
  ns_rr rr{};
  if (ns_msg_count(msg, ns_s_qd) != 1 || ::ns_parserr(&msg, ns_s_qd, 0, &rr) != 0 ||
      ns_rr_type(rr) != q.type || ns_rr_class(rr) != ns_c_in ||
      lower(ns_rr_name(rr)) != lower(q.name)) {
    why = "another question";
    return false;
  }
  return true;
}

std::string name_at(const ns_msg& msg, const unsigned char* at, const unsigned char* end,
                    int& used) {
  std::array<char, NS_MAXDNAME> buf{};
  used = ::ns_name_uncompress(ns_msg_base(msg), std::min(end, ns_msg_end(msg)), at, buf.data(),
                              buf.size());
  if (used < 0) return {};
  std::string name(buf.data());
  if (name != ".") name += '.';
  return name;
}

// One answer's data as text, or none when the record is malformed.
std::optional<std::string> rdata_text(const ns_msg& msg, const ns_rr& rr) {
  const unsigned char* p = ns_rr_rdata(rr);
  const unsigned char* end = p + ns_rr_rdlen(rr);
  const auto len = static_cast<std::size_t>(ns_rr_rdlen(rr));
  int used = 0;
  switch (ns_rr_type(rr)) {
    case ns_t_a:
    case ns_t_aaaa: {
      const int family = ns_rr_type(rr) == ns_t_a ? AF_INET : AF_INET6;
      if (len != (family == AF_INET ? 4u : 16u)) return std::nullopt;
      std::array<char, INET6_ADDRSTRLEN> buf{};
      if (::inet_ntop(family, p, buf.data(), buf.size()) == nullptr) return std::nullopt;
      return std::string(buf.data());
    }
    case ns_t_cname:
    case ns_t_ns:
    case ns_t_ptr: {
      std::string name = name_at(msg, p, end, used);
      if (used < 0 || static_cast<std::size_t>(used) != len) return std::nullopt;
      return name;
    }
    case ns_t_mx: {
      if (len < 3) return std::nullopt;
      std::string name = name_at(msg, p + 2, end, used);
      if (used < 0 || static_cast<std::size_t>(used) + 2 != len) return std::nullopt;
      return std::to_string(::ns_get16(p)) + " " + name;
    }
    case ns_t_srv: {
      if (len < 7) return std::nullopt;
      std::string name = name_at(msg, p + 6, end, used);
      if (used < 0 || static_cast<std::size_t>(used) + 6 != len) return std::nullopt;
      return std::to_string(::ns_get16(p)) + " " + std::to_string(::ns_get16(p + 2)) + " " +
             std::to_string(::ns_get16(p + 4)) + " " + name;
    }
    case ns_t_soa: {
      int used2 = 0;
      std::string mname = name_at(msg, p, end, used);
      if (used < 0) return std::nullopt;
      std::string rname = name_at(msg, p + used, end, used2);
      if (used2 < 0 || static_cast<std::size_t>(used + used2) + 20 != len) return std::nullopt;
      std::string out = mname + " " + rname;
      for (const unsigned char* n = p + used + used2; n < end; n += 4) {
        out += " " + std::to_string(::ns_get32(n));
      }
      return out;
    }
    case ns_t_txt: {
      // The character-strings joined, as SPF and DKIM read them; a byte
      // that is not printable as \DDD.
      std::string out;
      while (p < end) {
        const std::size_t n = *p++;
        if (n > static_cast<std::size_t>(end - p)) return std::nullopt;
        for (std::size_t i = 0; i < n; ++i, ++p) {
          if (*p >= 0x20 && *p < 0x7f) {
            out += static_cast<char>(*p);
          } else {
            char esc[5];
            std::snprintf(esc, sizeof esc, "\\%03u", static_cast<unsigned>(*p));
            out += esc;
          }
        }
      }
      return out;
    }
    default: {
      // RFC 3597's generic form: "\# <length> <hex>".
      static constexpr char kHex[] = "0123456789abcdef";
      std::string out = "\\# " + std::to_string(len);
      if (len > 0) out += ' ';
      for (std::size_t i = 0; i < len; ++i) {
        out += kHex[p[i] >> 4];
        out += kHex[p[i] & 0xf];
      }
      return out;
    }
  }
}

// `s` as compared with an exact expectation.
std::string comparable(std::uint16_t type, const std::string& s) {
  if (type == ns_t_txt) return s;
  if (type == ns_t_a || type == ns_t_aaaa) {
    const int family = type == ns_t_a ? AF_INET : AF_INET6;
    std::array<unsigned char, 16> addr{};
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (::inet_pton(family, s.c_str(), addr.data()) == 1 &&
        ::inet_ntop(family, addr.data(), buf.data(), buf.size()) != nullptr) {
      return buf.data();
    }
  }
  std::string out = lower(s);
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

enum class Transport { kUdp, kTcp };

std::string error_text(Transport t, const char* what, int err) {
  switch (err) {
    case ECONNREFUSED:
      return std::string(what) + (t == Transport::kUdp
                                      ? ": refused (ICMP port unreachable: nothing listening)"
                                      : ": refused (nothing listening)");
    case EHOSTUNREACH:
    case ENETUNREACH:
      return std::string(what) + ": unreachable (" + std::strerror(err) + ")";
    default:
      return std::string(what) + ": " + std::strerror(err);
  }
}

// Sends the query over UDP and waits for the reply. Returns the reply, or
// none with `error` set.
std::optional<Bytes> exchange_udp(const sockaddr_in& to, const Bytes& query, const Question& q,
                                  std::chrono::milliseconds limit, Clock::time_point deadline,
                                  DnsResult& r) {
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.fd < 0) {
    r.error = error_text(Transport::kUdp, "udp socket", errno);
    return std::nullopt;
  }
  // Connected: the kernel passes on only the server's datagrams, and its
  // ICMP errors (port unreachable) as recv errors.
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    r.error = error_text(Transport::kUdp, "udp connect", errno);
    return std::nullopt;
  }
  if (::send(s.fd, query.data(), query.size(), 0) != static_cast<ssize_t>(query.size())) {
    r.error = error_text(Transport::kUdp, "udp send", errno);
    return std::nullopt;
  }
  Bytes buf(kMaxMessage);
  std::string last_ignored;
  while (true) {
    pollfd p{s.fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      r.error = "no reply within " + std::to_string(limit.count()) + " ms";
      if (r.ignored > 0) {
        r.error += " (ignored " + std::to_string(r.ignored) +
                   " datagram(s); the last: " + last_ignored + ")";
      }
      return std::nullopt;
    }
    const ssize_t n = ::recv(s.fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      r.error = error_text(Transport::kUdp, "udp", errno);
      return std::nullopt;
    }
    Bytes reply(buf.begin(), buf.begin() + n);
    ns_msg msg{};
    if (is_reply_to(reply, q, msg, last_ignored)) return reply;
    ++r.ignored;
  }
}

bool wait_for(int fd, short events, Clock::time_point deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0;
  }
}

// The same query over TCP (RFC 7766: a two-byte length before each message).
std::optional<Bytes> exchange_tcp(const sockaddr_in& to, const Bytes& query, const Question& q,
                                  std::chrono::milliseconds limit, Clock::time_point deadline,
                                  DnsResult& r) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.fd < 0) {
    r.error = error_text(Transport::kTcp, "tcp socket", errno);
    return std::nullopt;
  }
  const std::string timed_out =
      "truncated over UDP, and no reply over TCP within " + std::to_string(limit.count()) + " ms";
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    if (errno != EINPROGRESS) {
      r.error = error_text(Transport::kTcp, "truncated over UDP; tcp connect", errno);
      return std::nullopt;
    }
    if (!wait_for(s.fd, POLLOUT, deadline)) {
      r.error = timed_out;
      return std::nullopt;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      r.error = error_text(Transport::kTcp, "truncated over UDP; tcp connect", so_error);
      return std::nullopt;
    }
  }
  Bytes out(2 + query.size());
  ::ns_put16(static_cast<unsigned>(query.size()), out.data());
  std::copy(query.begin(), query.end(), out.begin() + 2);
  for (std::size_t sent = 0; sent < out.size();) {
    const ssize_t n = ::send(s.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!wait_for(s.fd, POLLOUT, deadline)) {
        r.error = timed_out;
        return std::nullopt;
      }
    } else {
      r.error = error_text(Transport::kTcp, "truncated over UDP; tcp send", errno);
      return std::nullopt;
    }
  }
  // Read exactly `want` bytes into `into`.
  auto read_all = [&](Bytes& into, std::size_t want) {
    into.resize(want);
    for (std::size_t got = 0; got < want;) {
      const ssize_t n = ::recv(s.fd, into.data() + got, want - got, 0);
      if (n > 0) {
        got += static_cast<std::size_t>(n);
      } else if (n == 0) {
        r.error = "truncated over UDP, and the server closed the TCP connection without a reply";
        return false;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (!wait_for(s.fd, POLLIN, deadline)) {
          r.error = timed_out;
          return false;
        }
      } else {
        r.error = error_text(Transport::kTcp, "truncated over UDP; tcp", errno);
        return false;
      }
    }
    return true;
  };
  Bytes length;
  if (!read_all(length, 2)) return std::nullopt;
  Bytes reply;
  if (!read_all(reply, ::ns_get16(length.data()))) return std::nullopt;
  ns_msg msg{};
  std::string why;
  if (!is_reply_to(reply, q, msg, why)) {
    r.error = "bad reply over TCP: " + why;
    return std::nullopt;
  }
  return reply;
}

}  // namespace

std::optional<std::uint16_t> dns_type_from_name(std::string_view name) {
  std::string upper(name);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& t : kTypes) {
    if (upper == t.name) return t.type;
  }
  if (upper.rfind("TYPE", 0) == 0 && upper.size() > 4) {
    unsigned value = 0;
    const char* first = upper.data() + 4;
    const char* last = upper.data() + upper.size();
    auto [p, ec] = std::from_chars(first, last, value);
    if (ec == std::errc() && p == last && value > 0 && value <= 65535) {
      return static_cast<std::uint16_t>(value);
    }
  }
  return std::nullopt;
}

std::string dns_rcode_name(int rcode) {
  static constexpr std::array<const char*, 11> kNames{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                      "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                      "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode >= 0 && rcode < static_cast<int>(kNames.size())) return kNames[rcode];
  return "RCODE" + std::to_string(rcode);
}

Result<DnsResult> check_dns(const DnsCheck& check) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(check.port);
  if (::inet_pton(AF_INET, check.server.c_str(), &to.sin_addr) != 1) {
    return invalid("server is not an IPv4 address: '" + check.server + "'");
  }
  if (check.port == 0) return invalid("port 0");
  if (check.timeout.count() <= 0) return invalid("the timeout must be positive");
  if (check.name.empty()) return invalid("no name to query");
  const auto type = dns_type_from_name(check.type);
  if (!type) return invalid("unknown record type '" + check.type + "'");
  std::string type_name = check.type;
  for (auto& c : type_name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::optional<std::regex> expect_re;
  if (check.expect && check.expect_regex) {
    try {
      expect_re.emplace(*check.expect, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return invalid("expect regex '" + *check.expect + "': " + e.what());
    }
  }

  std::random_device rd;
  Question q;
  q.id = static_cast<std::uint16_t>(rd());
  q.type = *type;
  const std::string name = *type == ns_t_ptr ? reverse_name(check.name) : check.name;
  DUET_ASSIGN_OR_RETURN(const Bytes query, make_query(name, *type, check.recursion_desired, q.id));
  {
    // The question as libresolv reads it back, to compare with the reply's.
    ns_msg msg{};
    ns_rr rr{};
    if (::ns_initparse(query.data(), static_cast<int>(query.size()), &msg) != 0 ||
        ::ns_parserr(&msg, ns_s_qd, 0, &rr) != 0) {
      return invalid("cannot make a query for the name '" + name + "'");
    }
    q.name = ns_rr_name(rr);
  }

  DnsResult r;
  const auto started = Clock::now();
  const auto deadline = started + check.timeout;
  auto reply = exchange_udp(to, query, q, check.timeout, deadline, r);
  if (!reply) return r;
  ns_msg msg{};
  (void)::ns_initparse(reply->data(), static_cast<int>(reply->size()), &msg);  // checked above
  if (::ns_msg_getflag(msg, ns_f_tc) == 1) {
    r.over_tcp = true;
    reply = exchange_tcp(to, query, q, check.timeout, deadline, r);
    if (!reply) return r;
    (void)::ns_initparse(reply->data(), static_cast<int>(reply->size()), &msg);
  }
  r.response_time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  r.answered = true;
  const int rcode = ::ns_msg_getflag(msg, ns_f_rcode);
  r.rcode = dns_rcode_name(rcode);
  r.authoritative = ::ns_msg_getflag(msg, ns_f_aa) == 1;

  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr{};
    if (::ns_parserr(&msg, ns_s_an, i, &rr) != 0) {
      r.error = "bad reply: answer record " + std::to_string(i + 1) + " is malformed";
      return r;
    }
    if (ns_rr_class(rr) != ns_c_in || ns_rr_type(rr) != q.type) continue;  // a CNAME on the way
    auto text = rdata_text(msg, rr);
    if (!text) {
      r.error = "bad reply: the data of answer record " + std::to_string(i + 1) + " is malformed";
      return r;
    }
    r.answers.push_back(std::move(*text));
  }

  if (check.expect) {
    const std::string want = comparable(q.type, *check.expect);
    r.expect_matched = std::any_of(r.answers.begin(), r.answers.end(), [&](const std::string& a) {
      return expect_re ? std::regex_search(a, *expect_re) : comparable(q.type, a) == want;
    });
  }
  if (rcode != ns_r_noerror) {
    r.error = "rcode " + r.rcode;
  } else if (r.answers.empty()) {
    r.error = "no " + type_name + " record for " + name + " (empty answer)";
  } else if (r.expect_matched == false) {
    std::string got;
    for (const auto& a : r.answers) {
      if (got.size() > 200) {
        got += ", ...";
        break;
      }
      got += (got.empty() ? "" : ", ") + a;
    }
    r.error = std::string(check.expect_regex ? "no answer matches '" : "expected answer '") +
              *check.expect + (check.expect_regex ? "'" : "' not among") + ": " + got;
  }
  return r;
}

}  // namespace duet::monitors
