#include "common/log.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

TEST_CASE("a JSON log line is one valid object with ts, level, logger and msg", "[log]") {
  const std::string payload = "quote \" backslash \\ newline \n tab \t bad utf8 \xff end";
  spdlog::details::log_msg msg("duet-manager", spdlog::level::warn, payload);
  const std::string line = duet::format_json_log_line(msg);
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["level"] == "warning");
  CHECK(j["logger"] == "duet-manager");
  CHECK(j["msg"].get<std::string>().rfind("quote \" backslash \\ newline \n tab", 0) == 0);
  const std::string ts = j["ts"];
  CHECK(ts.size() == 24);
  CHECK(ts.back() == 'Z');
  // Key order is stable for people reading raw lines.
  CHECK(line.rfind("{\"ts\":", 0) == 0);
}
