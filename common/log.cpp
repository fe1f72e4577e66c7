#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/errors.h"

namespace duet {
namespace {

std::string iso8601_utc(spdlog::log_clock::time_point tp) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms.count() % 1000));
  return buf;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = format_json_log_line(msg);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::string format_json_log_line(const spdlog::details::log_msg& msg) {
  nlohmann::ordered_json j;
  j["ts"] = iso8601_utc(msg.time);
  const auto level = spdlog::level::to_string_view(msg.level);
  j["level"] = std::string(level.data(), level.size());
  j["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
  j["msg"] = std::string(msg.payload.data(), msg.payload.size());
  // Invalid UTF-8 in a message (bytes from the network) is replaced, never fatal.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status setup_logging(const LogConfig& config, const std::string& process) {
  spdlog::sink_ptr sink;
  if (config.file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.file);
    } catch (const spdlog::spdlog_ex& e) {
      return make_error(CommonErrc::kIo, "cannot open log file '" + config.file + "': " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>(process, sink);
  if (config.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %n: %v");
  }
  logger->set_level(spdlog::level::from_str(config.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return ok_status();
}

}  // namespace duet
