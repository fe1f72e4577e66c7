// JsonWriter (common/json_writer.h): what it writes parses back as the same
// values, escapes what JSON requires, and turns invalid UTF-8 into U+FFFD.

#include "common/json_writer.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

using duet::JsonWriter;

TEST_CASE("json writer: fields and nested objects parse back", "[json]") {
  JsonWriter w;
  w.field("text", "a \"quoted\" \\ line\nwith\ttabs and \x01 control");
  w.field("n", std::int64_t{-42});
  w.field("flag", true);
  w.begin_object("sd");
  w.begin_object("origin@1");
  w.field("ip", "10.0.0.1");
  w.end_object();
  w.begin_object("empty");
  w.end_object();
  w.end_object();
  w.field("after", "x");
  const auto j = nlohmann::json::parse(std::move(w).finish());
  CHECK(j["text"] == "a \"quoted\" \\ line\nwith\ttabs and \x01 control");
  CHECK(j["n"] == -42);
  CHECK(j["flag"] == true);
  CHECK(j["sd"]["origin@1"]["ip"] == "10.0.0.1");
  CHECK(j["sd"]["empty"].empty());
  CHECK(j["after"] == "x");
}

TEST_CASE("json writer: valid UTF-8 is kept, invalid bytes become U+FFFD", "[json]") {
  std::string out;
  duet::json_append_string(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(out == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  out.clear();
  // A lone continuation byte, an overlong '/', a surrogate, a cut sequence.
  duet::json_append_string(out,
                           "a\x80"
                           "b\xC0\xAF"
                           "c\xED\xA0\x80"
                           "d\xE2\x82");
  CHECK(nlohmann::json::parse(out).get<std::string>().find('\x80') == std::string::npos);
  CHECK(out.find("\xEF\xBF\xBD") != std::string::npos);
  CHECK(out.rfind("\"a\xEF\xBF\xBD"
                  "b",
                  0) == 0);
}

TEST_CASE("json writer: any bytes give valid JSON", "[json]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    JsonWriter w;
    w.field(s, s);
    const std::string text = std::move(w).finish();
    INFO(i);
    const auto j = nlohmann::json::parse(text);  // throws on invalid JSON or UTF-8
    REQUIRE(j.size() == 1);
  }
}

TEST_CASE("json writer: arrays of objects and unsigned numbers", "[json]") {
  JsonWriter w;
  w.begin_array("list");
  for (int i = 0; i < 3; ++i) {
    w.element();
    w.field("i", std::int64_t{i});
    w.field("big", std::uint64_t{18446744073709551615ull});
    w.end_object();
  }
  w.end_array();
  w.begin_array("empty");
  w.end_array();
  w.field("after", true);
  const auto j = nlohmann::json::parse(std::move(w).finish());
  REQUIRE(j["list"].size() == 3);
  CHECK(j["list"][2]["i"] == 2);
  CHECK(j["list"][0]["big"].get<std::uint64_t>() == 18446744073709551615ull);
  CHECK(j["empty"].empty());
  CHECK(j["after"] == true);
}
