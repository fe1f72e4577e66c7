// The SNMP receiver over a real UDP socket on 127.0.0.1 (port chosen by the
// kernel). The io_context runs on the test thread until what is expected
// happened or a deadline passed; replies are then already in the client's
// socket buffer.

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>

#include "common/clock.h"
#include "intake/snmp_receiver.h"
#include "intake/snmp_setup.h"
#include "snmp/notification.h"
#include "tests/support/snmp_fixtures.h"
#include "tests/support/snmp_udp.h"
#include "tests/support/temp_dir.h"

namespace {

namespace asio = boost::asio;
namespace snmp = duet::snmp;
using duet::intake::IntakeItem;
using duet::intake::SnmpReceiver;
using duet::intake::SnmpReceiverOptions;
using snmp::testing::kManagerEngine;
using snmp::testing::kSenderEngine;
using snmp::testing::UdpPeer;
using snmp::testing::UdpSocket;

const snmp::testing::Combo kShaAes{snmp::AuthProtocol::kHmacSha1, snmp::PrivProtocol::kAes128};

struct Fixture {
  asio::io_context io;
  duet::SystemClock clock{io.get_executor()};
  std::vector<IntakeItem> got;
  std::unique_ptr<SnmpReceiver> receiver;
  UdpSocket client;
  UdpPeer to;

  Fixture() {
    // One authPriv user: a trap sender from kSenderEngine, and (localized to
    // the manager's engine too) an inform sender.
    auto table = snmp::UsmUserTable::build({snmp::testing::user_config(kShaAes, kSenderEngine)},
                                           kManagerEngine);
    REQUIRE(table.ok());
    SnmpReceiverOptions o;
    o.udp = duet::HostPort{"127.0.0.1", 0};
    receiver = std::make_unique<SnmpReceiver>(
        io.get_executor(), clock, o, snmp::Credentials{{"public"}, std::move(table).value()},
        [this](std::vector<IntakeItem>&& batch) {
          for (auto& x : batch) got.push_back(std::move(x));
        });
    auto s = receiver->start();
    INFO((s.ok() ? "" : s.error().to_string()));
    REQUIRE(s.ok());
    to = *snmp::testing::parse_peer("127.0.0.1:" + std::to_string(receiver->bound_port()));
  }

  void send(const snmp::Bytes& datagram) { REQUIRE(client.send_to(to, datagram)); }

  // Runs the io_context until `done` (at most 10 s).
  void run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.run_one_for(std::chrono::milliseconds(50));
    }
    REQUIRE(done());
  }

  // The reply the receiver sent (it is already there once run_until returned).
  snmp::Bytes reply() {
    auto r = client.receive(2000, nullptr);
    REQUIRE(r.has_value());
    return *r;
  }
  bool no_reply() { return !client.receive(50, nullptr).has_value(); }

  const duet::intake::SnmpReceiverCounters& counters() const { return receiver->counters(); }
};

snmp::UsmKeys keys(const snmp::Bytes& engine) {
  return snmp::localize_user(snmp::testing::user_config(kShaAes), engine).value();
}

}  // namespace

TEST_CASE("snmp receiver: a v2c trap becomes an item", "[intake]") {
  Fixture f;
  f.send(*snmp::build_v2c_notification("public", snmp::PduType::kTrapV2, 11,
                                       snmp::testing::sample_varbinds()));
  f.run_until([&] { return f.got.size() == 1; });
  const IntakeItem& item = f.got[0];
  CHECK(item.protocol == "snmp/v2c");
  CHECK(item.receipt.transport == duet::intake::Transport::kSnmpUdp);
  CHECK(item.receipt.source == "127.0.0.1");
  CHECK(item.receipt.source_port != 0);
  CHECK(item.receipt.received_ms > 0);
  CHECK(item.fields.at("trap_oid") == "1.3.6.1.6.3.1.1.5.3");
  CHECK(item.fields.at("community") == "public");
  CHECK(f.counters().received == 1);
  CHECK(f.counters().delivered == 1);
  CHECK(f.counters().kernel_drops == 0);
  CHECK(f.no_reply());  // a trap is not answered
}

TEST_CASE("snmp receiver: a v2c inform is answered; its retransmission too, delivered once",
          "[intake]") {
  Fixture f;
  const auto inform = *snmp::build_v2c_notification("public", snmp::PduType::kInformRequest, 4711,
                                                    snmp::testing::sample_varbinds());
  f.send(inform);
  f.run_until([&] { return f.got.size() == 1; });
  auto response = snmp::decode_community_message(f.reply());
  REQUIRE(response.ok());
  const auto& pdu = std::get<snmp::Pdu>(response->pdu);
  CHECK(pdu.type == snmp::PduType::kResponse);
  CHECK(pdu.request_id == 4711);
  CHECK(f.got[0].message.starts_with("inform 1.3.6.1.6.3.1.1.5.3 from 127.0.0.1"));

  // The Response was "lost": the sender sends the same inform again.
  f.send(inform);
  f.run_until([&] { return f.counters().retransmissions == 1; });
  auto again = snmp::decode_community_message(f.reply());
  REQUIRE(again.ok());
  CHECK(std::get<snmp::Pdu>(again->pdu).request_id == 4711);
  CHECK(f.got.size() == 1);
  CHECK(f.counters().informs == 1);
  CHECK(f.counters().delivered == 1);
  CHECK(f.counters().responses_sent == 2);

  // A new inform (another request-id) is delivered.
  f.send(*snmp::build_v2c_notification("public", snmp::PduType::kInformRequest, 4712,
                                       snmp::testing::sample_varbinds()));
  f.run_until([&] { return f.got.size() == 2; });
  CHECK(f.counters().informs == 2);
}

TEST_CASE("snmp receiver: a v3 authPriv trap from a configured sender engine", "[intake]") {
  Fixture f;
  snmp::SealParams p;
  p.msg_id = 900;
  p.level = snmp::SecurityLevel::kAuthPriv;
  p.engine_id = kSenderEngine;
  p.engine_boots = 3;
  p.engine_time = 123456;  // the sender's clock: not checked for traps
  p.salt = snmp::random_salt();
  f.send(*snmp::build_v3_notification(p, keys(kSenderEngine), snmp::PduType::kTrapV2, 5,
                                      snmp::testing::sample_varbinds()));
  f.run_until([&] { return f.got.size() == 1; });
  CHECK(f.got[0].protocol == "snmp/v3");
  CHECK(f.got[0].fields.at("user") == snmp::testing::user_name(kShaAes));
  CHECK(f.got[0].fields.at("security_level") == "authPriv");
  CHECK(f.got[0].fields.at("varbind.1.3.6.1.2.1.2.2.1.2.7") == "eth7");
  CHECK(f.no_reply());
}

TEST_CASE("snmp receiver: v3 inform after discovery gets an authenticated Response", "[intake]") {
  Fixture f;
  f.send(*snmp::build_discovery_probe(1, 2));
  f.run_until([&] { return f.counters().discovery == 1; });
  auto report = snmp::open_v3_reply(f.reply(), nullptr);
  REQUIRE(report.ok());
  CHECK(report->scoped.pdu.type == snmp::PduType::kReport);
  CHECK(report->usm.engine_id == kManagerEngine);
  CHECK(report->usm.engine_boots == 1);  // not persisted yet: always 1
  CHECK(f.counters().reports_sent == 1);
  CHECK(f.counters().unknown_engine_id == 0);  // a probe is not an error

  snmp::SealParams p;
  p.msg_id = 2;
  p.level = snmp::SecurityLevel::kAuthPriv;
  p.engine_id = report->usm.engine_id;
  p.engine_boots = report->usm.engine_boots;
  p.engine_time = report->usm.engine_time;
  p.salt = snmp::random_salt();
  const snmp::UsmKeys k = keys(kManagerEngine);
  const auto inform = *snmp::build_v3_notification(p, k, snmp::PduType::kInformRequest, 77,
                                                   snmp::testing::sample_varbinds());
  f.send(inform);
  f.run_until([&] { return f.got.size() == 1; });
  auto response = snmp::open_v3_reply(f.reply(), &k);
  REQUIRE(response.ok());
  CHECK(response->scoped.pdu.type == snmp::PduType::kResponse);
  CHECK(response->scoped.pdu.request_id == 77);
  CHECK(f.got[0].protocol == "snmp/v3");
  CHECK(f.got[0].fields.at("pdu") == snmp::to_string(snmp::PduType::kInformRequest));

  // A retransmission with a new msgID (as RFC 3412 asks) is answered, not delivered.
  p.msg_id = 3;
  f.send(*snmp::build_v3_notification(p, k, snmp::PduType::kInformRequest, 77,
                                      snmp::testing::sample_varbinds()));
  f.run_until([&] { return f.counters().retransmissions == 1; });
  CHECK(snmp::open_v3_reply(f.reply(), &k).ok());
  CHECK(f.got.size() == 1);
}

TEST_CASE("snmp receiver: a wrong community and a wrong digest are counted and dropped",
          "[intake]") {
  Fixture f;
  f.send(*snmp::build_v2c_notification("private", snmp::PduType::kTrapV2, 1,
                                       snmp::testing::sample_varbinds()));
  f.run_until([&] { return f.counters().unknown_community == 1; });

  // The right user name, the wrong password: the MAC does not match.
  auto wrong = snmp::testing::user_config(kShaAes);
  wrong.auth_password = "not-the-password";
  snmp::SealParams p;
  p.level = snmp::SecurityLevel::kAuthPriv;
  p.engine_id = kSenderEngine;
  p.salt = 1;
  f.send(*snmp::build_v3_notification(p, snmp::localize_user(wrong, kSenderEngine).value(),
                                      snmp::PduType::kTrapV2, 2, snmp::testing::sample_varbinds()));
  f.run_until([&] { return f.counters().wrong_digest == 1; });

  // Garbage and an unknown user.
  f.send(snmp::Bytes{0x30, 0x03, 0x02, 0x01});
  f.run_until([&] { return f.counters().malformed == 1; });
  auto stranger = snmp::testing::user_config(kShaAes);
  stranger.name = "stranger";
  f.send(*snmp::build_v3_notification(p, snmp::localize_user(stranger, kSenderEngine).value(),
                                      snmp::PduType::kTrapV2, 3, snmp::testing::sample_varbinds()));
  f.run_until([&] { return f.counters().unknown_user == 1; });

  CHECK(f.got.empty());
  CHECK(f.counters().received == 4);
  CHECK(f.counters().delivered == 0);
  CHECK(f.no_reply());  // traps are never answered, not even with a Report
}

TEST_CASE("snmp receiver setup: from the config to options and localized users", "[intake]") {
  duet::SnmpReceiverConfig c;
  c.udp = "127.0.0.1:10162";
  c.communities = {"public"};
  c.max_message_bytes = 2048;
  c.users.push_back({"sw01", "sha", "auth-secret-1", "aes", "priv-secret-1", kSenderEngine});
  c.users.push_back({"poller", "md5", "auth-secret-2", "none", "", {}});
  auto setup = duet::intake::snmp_receiver_setup(c, "mgr-a");
  REQUIRE(setup.ok());
  CHECK(setup->options.udp.port == 10162);
  CHECK(setup->options.max_message_bytes == 2048);
  CHECK(setup->credentials.communities == std::vector<std::string>{"public"});
  const auto& users = setup->credentials.users;
  CHECK(users.local_engine_id() == duet::default_snmp_engine_id("mgr-a"));
  REQUIRE(users.find(kSenderEngine, "sw01") != nullptr);  // its traps
  CHECK(users.find(kSenderEngine, "sw01")->level() == snmp::SecurityLevel::kAuthPriv);
  CHECK(users.find(users.local_engine_id(), "sw01") != nullptr);  // its informs
  CHECK(users.find(users.local_engine_id(), "poller")->level() == snmp::SecurityLevel::kAuthNoPriv);
  CHECK(users.find(kSenderEngine, "poller") == nullptr);

  c.engine_id = kManagerEngine;
  setup = duet::intake::snmp_receiver_setup(c, "mgr-a");
  REQUIRE(setup.ok());
  CHECK(setup->credentials.users.local_engine_id() == kManagerEngine);
}

TEST_CASE("snmpEngineBoots grows by one at every start and survives in its file",
          "[intake][snmp]") {
  duet::testing::TempDir dir;
  const std::string path = dir.file("snmp-engine-boots");
  for (std::uint32_t expected = 1; expected <= 3; ++expected) {
    auto boots = duet::intake::next_engine_boots(path);
    REQUIRE(boots.ok());
    CHECK(*boots == expected);
  }
  {
    std::ofstream out(path);
    out << "2147483647\n";  // the RFC 3414 ceiling: it stays there
  }
  CHECK(*duet::intake::next_engine_boots(path) == 2147483647u);
  {
    std::ofstream out(path);
    out << "twelve\n";
  }
  auto bad = duet::intake::next_engine_boots(path);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains(path) && Catch::Contains("twelve"));
}
