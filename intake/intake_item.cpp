#include "intake/intake_item.h"

#include <nlohmann/json.hpp>

#include "intake/syslog_parser.h"

namespace duet::intake {

IntakeItem syslog_item(Receipt receipt) {
  IntakeItem item;
  const SyslogMessage m = parse_syslog(receipt.raw, receipt.received_ms);
  item.key = dedup_key(receipt.source, receipt.raw);
  item.protocol = transport_name(receipt.transport);
  item.parsed = m.format != SyslogFormat::kRaw;
  item.message = m.message;

  nlohmann::ordered_json f = nlohmann::ordered_json::object();
  auto put = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    f[k] = v;
    item.fields[k] = v;
  };
  put("format", syslog_format_name(m.format));
  if (m.facility) put("facility", facility_name(*m.facility));
  if (m.severity) put("severity", severity_name(*m.severity));
  put("timestamp", m.timestamp_text);
  if (m.timestamp_ms) f["timestamp_ms"] = *m.timestamp_ms;
  put("hostname", m.hostname);
  put("app_name", m.app_name);
  put("procid", m.procid);
  put("msgid", m.msgid);
  if (m.sequence_id) {
    f["sequence_id"] = *m.sequence_id;
    item.fields["sequence_id"] = std::to_string(*m.sequence_id);
  }
  if (!m.structured_data.empty()) {
    nlohmann::ordered_json sd = nlohmann::ordered_json::object();
    for (const auto& e : m.structured_data) {
      nlohmann::ordered_json params = nlohmann::ordered_json::object();
      for (const auto& [k, v] : e.params) {
        params[k] = v;
        item.fields[e.id + "." + k] = v;
      }
      sd[e.id] = std::move(params);
    }
    f["structured_data"] = std::move(sd);
  }
  if (receipt.truncated) f["truncated"] = true;
  // Invalid UTF-8 from a device must not make the event unstorable.
  item.fields_json = f.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  item.receipt = std::move(receipt);
  return item;
}

std::string key_hex(const DedupKey& key) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(key.size() * 2);
  for (auto b : key) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

std::optional<DedupKey> key_from_hex(std::string_view hex) {
  DedupKey k{};
  if (hex.size() != k.size() * 2) return std::nullopt;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < k.size(); ++i) {
    const int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    k[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return k;
}

}  // namespace duet::intake
