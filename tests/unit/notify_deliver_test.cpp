// Sending through the channels (notify/deliver.h) to servers in the test, on
// loopback: a webhook's statuses and headers, syslog over TCP (a kept
// connection, and a new one when the receiver closed it) and over TLS, and a
// command's environment. Mail is sent to a real SMTP server in integration.notify.

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "notify/deliver.h"
#include "tests/support/temp_dir.h"

namespace asio = boost::asio;
using asio::ip::tcp;
namespace v1 = duet::v1;

namespace {

v1::NotifyIntent intent(const std::string& message) {
  v1::NotifyIntent i;
  i.set_id(7);
  i.set_key("duet-3-7");
  i.set_epoch(3);
  i.set_notification("n");
  i.set_channel("c");
  (*i.mutable_vars())["message"] = message;
  (*i.mutable_vars())["priority"] = "critical";
  (*i.mutable_vars())["node"] = "web01";
  return i;
}

v1::ChannelDef channel(const std::string& kind, std::map<std::string, std::string> params) {
  v1::ChannelDef c;
  c.set_name("c");
  c.set_kind(kind);
  c.set_timeout_ms(3000);
  for (auto& [k, v] : params) (*c.mutable_params())[k] = v;
  return c;
}

// One HTTP/1.1 connection at a time; answers each request with the next status.
struct HttpServer {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::vector<int> statuses;
  std::vector<std::string> requests;  // head and body of each
  std::thread thread;

  explicit HttpServer(std::vector<int> s) : statuses(std::move(s)) {
    thread = std::thread([this] {
      std::size_t n = 0;
      while (n < statuses.size()) {
        tcp::socket sock(io);
        boost::system::error_code ec;
        acceptor.accept(sock, ec);
        if (ec) return;
        asio::streambuf buf;
        while (n < statuses.size()) {
          const auto head_len = asio::read_until(sock, buf, "\r\n\r\n", ec);
          if (ec) break;
          std::string head(asio::buffers_begin(buf.data()),
                           asio::buffers_begin(buf.data()) + static_cast<long>(head_len));
          buf.consume(head_len);
          std::size_t length = 0;
          if (auto p = head.find("Content-Length: "); p != std::string::npos) {
            length = std::stoul(head.substr(p + 16));
          }
          if (buf.size() < length)
            asio::read(sock, buf, asio::transfer_exactly(length - buf.size()), ec);
          std::string body(asio::buffers_begin(buf.data()),
                           asio::buffers_begin(buf.data()) + static_cast<long>(length));
          buf.consume(length);
          requests.push_back(head + body);
          const std::string reply =
              "HTTP/1.1 " + std::to_string(statuses[n++]) + " X\r\nContent-Length: 0\r\n\r\n";
          asio::write(sock, asio::buffer(reply), ec);
        }
      }
    });
  }
  ~HttpServer() {
    ::shutdown(acceptor.native_handle(), SHUT_RDWR);
    thread.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/hook";
  }
};

std::string gen_certs(const std::string& dir) {
  const std::string cmd =
      std::string(DUET_SOURCE_DIR) + "/scripts/gen-certs " + dir + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return dir;
}

// Reads one octet-counted frame ("LEN MSG") from `s`.
template <typename Stream>
std::string read_frame(Stream& s, asio::streambuf& buf) {
  boost::system::error_code ec;
  asio::read_until(s, buf, ' ', ec);
  if (ec) return "";
  std::istream in(&buf);
  std::size_t len = 0;
  in >> len;
  in.get();
  if (buf.size() < len) asio::read(s, buf, asio::transfer_exactly(len - buf.size()), ec);
  std::string msg(len, '\0');
  in.read(msg.data(), static_cast<std::streamsize>(len));
  return msg;
}

}  // namespace

TEST_CASE("deliver: a webhook sends the key and headers, and classifies statuses", "[notify]") {
  duet::testing::TempDir dir;
  const std::string token = (dir.path() / "token").string();
  std::ofstream(token) << "s3cret\n";
  HttpServer server({200, 503, 404});
  auto c = channel("webhook", {{"url", server.url()}, {"body", R"({"text": "{{message}}"})"}});
  (*c.mutable_headers())["Authorization"] = "file:" + token;
  (*c.mutable_headers())["X-Team"] = "ops";
  duet::notify::Deliverer d("a");
  auto ok = d.deliver(c, intent("disk \"full\""));
  CHECK(ok.ok);
  auto busy = d.deliver(c, intent("x"));
  CHECK_FALSE(busy.ok);
  CHECK_FALSE(busy.permanent);
  CHECK(busy.error == "HTTP status 503");
  auto gone = d.deliver(c, intent("x"));
  CHECK_FALSE(gone.ok);
  CHECK(gone.permanent);
  REQUIRE(server.requests.size() == 3);
  const auto& r = server.requests[0];
  CHECK(r.find("POST /hook HTTP/1.1") == 0);
  CHECK(r.find("Idempotency-Key: duet-3-7\r\n") != std::string::npos);
  CHECK(r.find("X-Duet-Epoch: 3\r\n") != std::string::npos);
  CHECK(r.find("Authorization: s3cret\r\n") != std::string::npos);
  CHECK(r.find("X-Team: ops\r\n") != std::string::npos);
  CHECK(r.find(R"({"text": "disk \"full\""})") != std::string::npos);
  // A header whose secret file is missing fails at once, naming the file only.
  (*c.mutable_headers())["Authorization"] = "file:/nonexistent/token";
  auto missing = d.deliver(c, intent("x"));
  CHECK(missing.permanent);
  CHECK(missing.error == "header Authorization: cannot read /nonexistent/token");
}

TEST_CASE("deliver: a webhook URL can be a secret read from a file", "[notify]") {
  duet::testing::TempDir dir;
  HttpServer server({200});
  const std::string file = (dir.path() / "url").string();
  std::ofstream(file) << server.url() << "\n";
  duet::notify::Deliverer d("a");
  CHECK(d.deliver(channel("webhook", {{"url", "file:" + file}}), intent("x")).ok);
  REQUIRE(server.requests.size() == 1);
  auto gone = d.deliver(channel("webhook", {{"url", "file:/nonexistent"}}), intent("x"));
  CHECK(gone.permanent);
  CHECK(gone.error == "url: cannot read /nonexistent");
}

TEST_CASE("deliver: syslog over TCP keeps its connection and reconnects when it was closed",
          "[notify]") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  std::vector<std::string> frames;
  int connections = 0;
  std::thread server([&] {
    for (int round = 0; round < 2; ++round) {
      tcp::socket s(io);
      acceptor.accept(s);
      ++connections;
      asio::streambuf buf;
      frames.push_back(read_frame(s, buf));
      if (round == 0) frames.push_back(read_frame(s, buf));  // the kept connection
      s.close();                                             // then it goes away
    }
  });
  auto c = channel("syslog", {{"address", "127.0.0.1:" + std::to_string(port)},
                              {"transport", "tcp"},
                              {"facility", "local3"}});
  duet::notify::Deliverer d("a");
  CHECK(d.deliver(c, intent("one")).ok);
  CHECK(d.deliver(c, intent("two")).ok);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the receiver has closed
  // Not written into the dropped connection (where it would be lost): a new one.
  CHECK(d.deliver(c, intent("three")).ok);
  server.join();
  REQUIRE(frames.size() == 3);
  CHECK(connections == 2);
  CHECK(frames[0].rfind("<154>1 ", 0) == 0);
  CHECK(frames[0].find(" a duet - notify [duet@32473 key=\"duet-3-7\" priority=\"critical\" "
                       "node=\"web01\"") != std::string::npos);
  CHECK(frames[0].substr(frames[0].size() - 4) == " one");
  CHECK(frames[1].substr(frames[1].size() - 4) == " two");
  CHECK(frames[2].substr(frames[2].size() - 6) == " three");
}

TEST_CASE("deliver: syslog over TLS checks the receiver's certificate", "[notify]") {
  duet::testing::TempDir dir;
  const auto certs = gen_certs(dir.path().string());
  asio::io_context io;
  asio::ssl::context server_ctx(asio::ssl::context::tls_server);
  server_ctx.use_certificate_chain_file(certs + "/manager.pem");
  server_ctx.use_private_key_file(certs + "/manager.key", asio::ssl::context::pem);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  std::string frame;
  std::thread server([&] {
    for (int round = 0; round < 2; ++round) {
      asio::ssl::stream<tcp::socket> s(io, server_ctx);
      acceptor.accept(s.next_layer());
      boost::system::error_code ec;
      s.handshake(asio::ssl::stream_base::server, ec);
      if (ec) continue;  // the client that does not trust us
      asio::streambuf buf;
      frame = read_frame(s, buf);
    }
  });
  auto c = channel("syslog", {{"address", "127.0.0.1:" + std::to_string(port)},
                              {"transport", "tls"},
                              {"ca_file", certs + "/ca.pem"}});
  duet::testing::TempDir other;
  const auto other_certs = gen_certs(other.path().string());
  auto untrusting = c;
  (*untrusting.mutable_params())["ca_file"] = other_certs + "/ca.pem";
  duet::notify::Deliverer d("a");
  auto refused = d.deliver(untrusting, intent("nope"));
  CHECK_FALSE(refused.ok);
  CHECK(refused.error.find("TLS handshake") != std::string::npos);
  CHECK(d.deliver(c, intent("over tls")).ok);
  server.join();
  CHECK(frame.substr(frame.size() - 9) == " over tls");
}

TEST_CASE("deliver: a command gets the variables in its environment, never in its text",
          "[notify]") {
  duet::testing::TempDir dir;
  const std::string out = (dir.path() / "out").string();
  auto c =
      channel("command", {{"command", "printf '%s|%s' \"$DUET_MESSAGE\" \"$DUET_KEY\" > " + out}});
  duet::notify::Deliverer d("a");
  auto r = d.deliver(c, intent("$(touch " + out + ".pwned); `id`"));
  CHECK(r.ok);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "$(touch " + out + ".pwned); `id`|duet-3-7");
  CHECK_FALSE(std::ifstream(out + ".pwned").good());
  auto failing = channel("command", {{"command", "echo broken >&2; exit 3"}});
  auto f = d.deliver(failing, intent("x"));
  CHECK_FALSE(f.ok);
  CHECK(f.error == "command: exit 3: broken");
}
