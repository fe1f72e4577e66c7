#include "notify/deliver.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include "common/clock.h"
#include "common/json_writer.h"
#include "monitors/command.h"
#include "notify/template.h"

namespace duet::notify {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

std::string param(const duet::v1::ChannelDef& ch, const char* key, std::string fallback = "") {
  auto it = ch.params().find(key);
  return it == ch.params().end() || it->second.empty() ? fallback : it->second;
}

// A secret from a file: its first line, without the line end. Never logged.
std::optional<std::string> read_secret(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',' || c == ';') {
      while (!cur.empty() && cur.front() == ' ') cur.erase(cur.begin());
      while (!cur.empty() && cur.back() == ' ') cur.pop_back();
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

std::string rfc3339_now() { return format_utc_ms(to_unix_ms(std::chrono::system_clock::now())); }

std::string rfc5322_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

struct Upload {
  const std::string* text;
  std::size_t at = 0;
};

std::size_t read_upload(char* buf, std::size_t size, std::size_t n, void* p) {
  auto* u = static_cast<Upload*>(p);
  const std::size_t left = u->text->size() - u->at;
  const std::size_t take = std::min(left, size * n);
  std::memcpy(buf, u->text->data() + u->at, take);
  u->at += take;
  return take;
}

std::string crlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

int severity_of(const std::string& priority) {
  if (priority == "critical") return 2;
  if (priority == "warning") return 4;
  if (priority == "info") return 6;
  return 5;  // unknown: notice
}

int facility_of(const std::string& name) {
  static const std::map<std::string, int> f{
      {"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
      {"syslog", 5},    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},
      {"authpriv", 10}, {"ftp", 11},    {"ntp", 12},    {"audit", 13},  {"alert", 14},
      {"clock", 15},    {"local0", 16}, {"local1", 17}, {"local2", 18}, {"local3", 19},
      {"local4", 20},   {"local5", 21}, {"local6", 22}, {"local7", 23}};
  auto it = f.find(name);
  return it == f.end() ? 1 : it->second;
}

std::string sd_escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

// A syslog receiver never writes: a kept connection that is readable was
// closed (EOF, a reset, or a TLS close_notify waiting). Checked before each
// use, so a message is not written into a connection the peer has dropped.
bool peer_gone(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

std::string get_var(const std::map<std::string, std::string>& vars, const char* k) {
  auto it = vars.find(k);
  return it == vars.end() ? std::string() : it->second;
}

}  // namespace

std::map<std::string, std::string> template_vars(const duet::v1::NotifyIntent& intent) {
  std::map<std::string, std::string> vars(intent.vars().begin(), intent.vars().end());
  vars["id"] = std::to_string(intent.id());
  vars["key"] = intent.key();
  vars["notification"] = intent.notification();
  vars["channel"] = intent.channel();
  vars["event_id"] = std::to_string(intent.event_id());
  vars["epoch"] = std::to_string(intent.epoch());
  return vars;
}

std::string default_json(const std::map<std::string, std::string>& vars) {
  JsonWriter w;
  for (const auto& [k, v] : vars) w.field(k, v);
  return std::move(w).finish();
}

struct Deliverer::Impl {
  std::string sender;
  std::map<std::string, CURL*> http;  // by channel: keep-alive between sends
  asio::io_context io;
  struct SyslogLink {
    std::string address, transport, ca_file;
    std::unique_ptr<udp::socket> udp_socket;
    udp::endpoint udp_to;
    std::unique_ptr<tcp::socket> tcp_socket;
    std::unique_ptr<asio::ssl::context> tls_context;
    std::unique_ptr<asio::ssl::stream<tcp::socket>> tls;
  };
  std::map<std::string, SyslogLink> syslog;  // by channel

  ~Impl() {
    for (auto& [name, h] : http) curl_easy_cleanup(h);
  }

  CURL* handle(const std::string& channel) {
    auto& h = http[channel];
    if (h == nullptr) {
      h = curl_easy_init();
    } else {
      curl_easy_reset(h);  // keeps the connection
    }
    return h;
  }

  Delivery webhook(const duet::v1::ChannelDef& ch, const duet::v1::NotifyIntent& intent,
                   const std::map<std::string, std::string>& vars) {
    CURL* h = handle(ch.name());
    if (h == nullptr) return {false, false, "cannot create an HTTP handle"};
    std::string url = param(ch, "url");
    if (url.rfind("file:", 0) == 0) {
      // A URL that is itself a secret (a chat tool's incoming webhook).
      auto secret = read_secret(url.substr(5));
      if (!secret) return {false, true, "url: cannot read " + url.substr(5)};
      url = std::move(*secret);
    }
    const std::string body = ch.params().count("body") != 0
                                 ? render(param(ch, "body"), vars, Escape::kJsonString)
                                 : default_json(vars);
    curl_slist* headers = nullptr;
    auto add = [&](const std::string& line) { headers = curl_slist_append(headers, line.c_str()); };
    add("Content-Type: " + param(ch, "content_type", "application/json"));
    add("Idempotency-Key: " + intent.key());
    add("X-Duet-Epoch: " + std::to_string(intent.epoch()));
    add("X-Duet-Notification: " +
        render("{{n}}", {{"n", intent.notification()}}, Escape::kHeaderLine));
    add("Expect:");
    for (const auto& [k, v] :
         std::map<std::string, std::string>(ch.headers().begin(), ch.headers().end())) {
      std::string value = v;
      if (value.rfind("file:", 0) == 0) {
        auto secret = read_secret(value.substr(5));
        if (!secret) {
          curl_slist_free_all(headers);
          return {false, true, "header " + k + ": cannot read " + value.substr(5)};
        }
        value = *secret;
      }
      add(k + ": " + value);
    }
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(ch.timeout_ms()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(ch.timeout_ms()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, param(ch, "method", "POST").c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "duet-notify/1");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    const std::string ca = param(ch, "ca_file");
    if (!ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
    const CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      return {false, false,
              std::string("HTTP: ") + (errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc))};
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return {true, false, ""};
    const bool retry = status == 408 || status == 429 || status >= 500;
    return {false, !retry, "HTTP status " + std::to_string(status)};
  }

  Delivery mail(const duet::v1::ChannelDef& ch, const duet::v1::NotifyIntent& intent,
                const std::map<std::string, std::string>& vars) {
    CURL* h = handle(ch.name());
    if (h == nullptr) return {false, false, "cannot create an SMTP handle"};
    const auto to = split_list(param(ch, "to"));
    const auto cc = split_list(param(ch, "cc"));
    const std::string from = param(ch, "from");
    const std::string subject =
        render(param(ch, "subject", "[duet {{priority}}] {{node}} {{monitor}}: {{message}}"), vars,
               Escape::kHeaderLine);
    const std::string body =
        render(param(ch, "body",
                     "{{message}}\n\npriority: {{priority}}\nnode: {{node}}\nmonitor: {{monitor}}\n"
                     "at: {{at}}\nevent: {{event_id}}\nnotification: {{notification}}\n"),
               vars, Escape::kNone);
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& a : v) s += (s.empty() ? "" : ", ") + a;
      return s;
    };
    std::string message =
        "Date: " + rfc5322_now() + "\r\nFrom: " + from + "\r\nTo: " + join(to) + "\r\n";
    if (!cc.empty()) message += "Cc: " + join(cc) + "\r\n";
    message += "Subject: " + subject + "\r\nMessage-ID: <" + intent.key() + "@" + sender +
               ".duet>\r\nX-Duet-Key: " + intent.key() +
               "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n" +
               crlf(body);
    if (message.size() < 2 || message.substr(message.size() - 2) != "\r\n") message += "\r\n";
    std::string password;
    const std::string user = param(ch, "user");
    if (!user.empty()) {
      auto secret = read_secret(param(ch, "password_file"));
      if (!secret) return {false, true, "cannot read password_file " + param(ch, "password_file")};
      password = std::move(*secret);
    }
    curl_slist* rcpt = nullptr;
    for (const auto& a : to) rcpt = curl_slist_append(rcpt, a.c_str());
    for (const auto& a : cc) rcpt = curl_slist_append(rcpt, a.c_str());
    Upload up{&message};
    char errbuf[CURL_ERROR_SIZE] = {0};
    const std::string url = param(ch, "url");
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(ch.timeout_ms()));
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    const std::string tls = param(ch, "starttls", "try");
    if (url.rfind("smtp://", 0) == 0) {
      curl_easy_setopt(h, CURLOPT_USE_SSL,
                       tls == "required" ? static_cast<long>(CURLUSESSL_ALL)
                       : tls == "try"    ? static_cast<long>(CURLUSESSL_TRY)
                                         : static_cast<long>(CURLUSESSL_NONE));
    }
    const std::string ca = param(ch, "ca_file");
    if (!ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
    if (!user.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, user.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, password.c_str());
    }
    const CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(rcpt);
    if (!password.empty()) {
      curl_easy_setopt(h, CURLOPT_PASSWORD, "");
      std::fill(password.begin(), password.end(), '\0');
    }
    if (rc == CURLE_OK) return {true, false, ""};
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    // 5xx replies (a refused recipient, failed auth) will not change by retrying.
    const bool permanent = code >= 500 && code < 600;
    return {false, permanent,
            std::string("SMTP: ") + (errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc)) +
                (code != 0 ? " (reply " + std::to_string(code) + ")" : "")};
  }

  Delivery command(const duet::v1::ChannelDef& ch, const std::map<std::string, std::string>& vars) {
    monitors::CommandSpec spec;
    spec.command = param(ch, "command");
    spec.working_directory = param(ch, "working_directory");
    spec.timeout = std::chrono::milliseconds(ch.timeout_ms());
    spec.max_output_bytes = 4096;
    for (const auto& [k, v] : vars) {
      std::string name = "DUET_";
      for (char c : k) {
        name += (c >= 'a' && c <= 'z')                               ? static_cast<char>(c - 32)
                : ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ? c
                                                                     : '_';
      }
      spec.environment[name] = v;
    }
    auto r = monitors::run_command(spec);
    if (!r.ok()) return {false, true, "command: " + r.error().message};
    if (r->timed_out) return {false, false, "command: timed out"};
    if (r->exit_code && *r->exit_code == 0) return {true, false, ""};
    std::string why = r->exit_code ? "exit " + std::to_string(*r->exit_code)
                                   : "signal " + std::to_string(r->signal.value_or(0));
    std::string tail = r->stderr_text.substr(0, 200);
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
    return {false, false, "command: " + why + (tail.empty() ? "" : ": " + tail)};
  }

  // Runs the io_context until `done` or the time limit; false on the limit.
  bool run_until(bool& done, std::chrono::milliseconds limit) {
    io.restart();
    io.run_for(limit);
    return done;
  }

  Delivery syslog_send(const duet::v1::ChannelDef& ch,
                       const std::map<std::string, std::string>& vars) {
    const std::string msg_text = render(param(ch, "message", "{{message}}"), vars, Escape::kNone);
    const int pri =
        facility_of(param(ch, "facility", "user")) * 8 + severity_of(get_var(vars, "priority"));
    std::string line = "<" + std::to_string(pri) + ">1 " + rfc3339_now() + " " + sender + " " +
                       param(ch, "app_name", "duet") + " - notify [duet@32473";
    for (const char* k : {"key", "priority", "node", "monitor", "notification", "event_id"}) {
      line += std::string(" ") + k + "=\"" + sd_escape(get_var(vars, k)) + "\"";
    }
    line += "] " + msg_text;
    const std::string transport = param(ch, "transport", "udp");
    const std::string address = param(ch, "address");
    const std::string ca = param(ch, "ca_file");
    auto& link = syslog[ch.name()];
    if (link.address != address || link.transport != transport || link.ca_file != ca) {
      link = SyslogLink{address, transport, ca, {}, {}, {}, {}, {}};
    }
    const auto colon = address.rfind(':');
    const std::string host = address.substr(0, colon);
    const std::string port = address.substr(colon + 1);
    const auto limit = std::chrono::milliseconds(ch.timeout_ms());
    boost::system::error_code ec;
    if (transport == "udp") {
      if (!link.udp_socket) {
        udp::resolver resolver(io);
        auto eps = resolver.resolve(host, port, ec);
        if (ec || eps.empty()) return {false, false, "syslog: cannot resolve " + address};
        link.udp_to = *eps.begin();
        link.udp_socket = std::make_unique<udp::socket>(io);
        link.udp_socket->open(link.udp_to.protocol(), ec);
        if (ec) {
          link.udp_socket.reset();
          return {false, false, "syslog: " + ec.message()};
        }
      }
      if (line.size() > 8192) line.resize(8192);
      link.udp_socket->send_to(asio::buffer(line), link.udp_to, 0, ec);
      if (ec) {
        link.udp_socket.reset();
        return {false, false, "syslog: " + ec.message()};
      }
      return {true, false, ""};
    }
    const std::string framed = std::to_string(line.size()) + " " + line;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (link.tls && peer_gone(link.tls->next_layer().native_handle())) link.tls.reset();
      if (link.tcp_socket && peer_gone(link.tcp_socket->native_handle())) link.tcp_socket.reset();
      const bool fresh = transport == "tls" ? !link.tls : !link.tcp_socket;
      if (fresh) {
        if (auto d = syslog_connect(link, host, port, limit); !d.ok) return d;
      }
      bool done = false;
      boost::system::error_code wec;
      auto on_write = [&](const boost::system::error_code& e, std::size_t) {
        wec = e;
        done = true;
      };
      if (transport == "tls") {
        asio::async_write(*link.tls, asio::buffer(framed), on_write);
      } else {
        asio::async_write(*link.tcp_socket, asio::buffer(framed), on_write);
      }
      if (run_until(done, limit) && !wec) return {true, false, ""};
      link.tls.reset();
      link.tcp_socket.reset();
      if (!fresh) continue;  // a kept connection the peer had closed: once more on a new one
      return {false, false, "syslog: " + (done ? wec.message() : std::string("write timed out"))};
    }
    return {false, false, "syslog: the connection failed twice"};
  }

  Delivery syslog_connect(SyslogLink& link, const std::string& host, const std::string& port,
                          std::chrono::milliseconds limit) {
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    auto eps = resolver.resolve(host, port, ec);
    if (ec || eps.empty()) return {false, false, "syslog: cannot resolve " + host};
    if (link.transport == "tls") {
      if (!link.tls_context) {
        link.tls_context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        if (link.ca_file.empty()) {
          link.tls_context->set_default_verify_paths(ec);
        } else {
          link.tls_context->load_verify_file(link.ca_file, ec);
        }
        if (ec) return {false, true, "syslog: ca_file: " + ec.message()};
        link.tls_context->set_verify_mode(asio::ssl::verify_peer);
      }
      link.tls = std::make_unique<asio::ssl::stream<tcp::socket>>(io, *link.tls_context);
      link.tls->set_verify_callback(asio::ssl::host_name_verification(host));
      SSL_set_tlsext_host_name(link.tls->native_handle(), host.c_str());
    } else {
      link.tcp_socket = std::make_unique<tcp::socket>(io);
    }
    tcp::socket& sock = link.transport == "tls" ? link.tls->next_layer() : *link.tcp_socket;
    bool done = false;
    boost::system::error_code cec;
    asio::async_connect(sock, eps, [&](const boost::system::error_code& e, const tcp::endpoint&) {
      cec = e;
      done = true;
    });
    if (!run_until(done, limit) || cec) {
      link.tls.reset();
      link.tcp_socket.reset();
      return {false, false,
              "syslog: connect: " + (done ? cec.message() : std::string("timed out"))};
    }
    if (link.transport == "tls") {
      done = false;
      link.tls->async_handshake(asio::ssl::stream_base::client,
                                [&](const boost::system::error_code& e) {
                                  cec = e;
                                  done = true;
                                });
      if (!run_until(done, limit) || cec) {
        link.tls.reset();
        return {false, false,
                "syslog: TLS handshake: " + (done ? cec.message() : std::string("timed out"))};
      }
    }
    return {true, false, ""};
  }
};

Deliverer::Deliverer(std::string sender) : impl_(std::make_unique<Impl>()) {
  curl_init_once();
  impl_->sender = sender.empty() ? "duet" : std::move(sender);
}

Deliverer::~Deliverer() = default;

Delivery Deliverer::deliver(const duet::v1::ChannelDef& channel,
                            const duet::v1::NotifyIntent& intent) {
  const auto vars = template_vars(intent);
  if (channel.kind() == "webhook") return impl_->webhook(channel, intent, vars);
  if (channel.kind() == "mail") return impl_->mail(channel, intent, vars);
  if (channel.kind() == "command") return impl_->command(channel, vars);
  if (channel.kind() == "syslog") return impl_->syslog_send(channel, vars);
  return {false, true, "unknown channel kind '" + channel.kind() + "'"};
}

}  // namespace duet::notify
