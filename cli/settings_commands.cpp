#include "cli/settings_commands.h"

#include <grpcpp/create_channel.h>

#include <nlohmann/json.hpp>

#include "common/tls.h"

namespace duet::cli {
namespace {

std::unique_ptr<duet::v1::Admin::Stub> connect(const ConnectionOptions& options,
                                               const std::string& address, std::ostream& err) {
  auto channel = open_channel(options, address, err);
  return channel ? duet::v1::Admin::NewStub(channel) : nullptr;
}

nlohmann::ordered_json setting_json(const duet::v1::Setting& s) {
  return {{"key", s.key()},
          {"value", s.value()},
          {"updated_by", s.updated_by()},
          {"updated_at_ms", s.updated_at_ms()}};
}

}  // namespace

int run_settings_set(const ConnectionOptions& options, const std::string& key,
                     const std::string& value, bool json, std::ostream& out, std::ostream& err) {
  auto address = command_target(options, err);
  if (!address) return 1;
  auto stub = connect(options, *address, err);
  if (!stub) return 1;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  duet::v1::SetSettingRequest req;
  req.set_key(key);
  req.set_value(value);
  duet::v1::SetSettingResponse resp;
  auto s = stub->SetSetting(&ctx, req, &resp);
  if (!s.ok()) {
    err << "duetctl: settings set: " << *address << ": " << s.error_message() << "\n";
    return 1;
  }
  if (json) {
    out << nlohmann::ordered_json{{"node", resp.node()},
                                  {"key", key},
                                  {"lsn", resp.lsn()},
                                  {"epoch", resp.epoch()},
                                  {"replicated", resp.replicated()}}
               .dump(2)
        << "\n";
  } else {
    out << resp.node() << ": " << key << " set at LSN " << resp.lsn() << " (epoch " << resp.epoch()
        << ")"
        << (resp.replicated() ? ", replicated to the standby" : ", NOT replicated (master alone)")
        << "\n";
  }
  return 0;
}

int run_settings_get(const ConnectionOptions& options, const std::string& key, bool json,
                     std::ostream& out, std::ostream& err) {
  auto address = command_target(options, err);
  if (!address) return 1;
  auto stub = connect(options, *address, err);
  if (!stub) return 1;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  duet::v1::GetSettingRequest req;
  req.set_key(key);
  duet::v1::GetSettingResponse resp;
  auto s = stub->GetSetting(&ctx, req, &resp);
  if (!s.ok()) {
    err << "duetctl: settings get: " << *address << ": " << s.error_message() << "\n";
    return s.error_code() == grpc::StatusCode::NOT_FOUND ? 3 : 1;
  }
  if (json) {
    auto j = setting_json(resp.setting());
    j["node"] = resp.node();
    out << j.dump(2) << "\n";
  } else {
    out << resp.setting().value() << "\n";
  }
  return 0;
}

int run_settings_list(const ConnectionOptions& options, bool json, std::ostream& out,
                      std::ostream& err) {
  auto address = command_target(options, err);
  if (!address) return 1;
  auto stub = connect(options, *address, err);
  if (!stub) return 1;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  duet::v1::ListSettingsResponse resp;
  auto s = stub->ListSettings(&ctx, duet::v1::ListSettingsRequest(), &resp);
  if (!s.ok()) {
    err << "duetctl: settings list: " << *address << ": " << s.error_message() << "\n";
    return 1;
  }
  if (json) {
    nlohmann::ordered_json j;
    j["node"] = resp.node();
    j["applied_lsn"] = resp.applied_lsn();
    j["settings"] = nlohmann::ordered_json::array();
    for (const auto& st : resp.settings()) j["settings"].push_back(setting_json(st));
    out << j.dump(2) << "\n";
  } else {
    for (const auto& st : resp.settings()) out << st.key() << " = " << st.value() << "\n";
  }
  return 0;
}

}  // namespace duet::cli
