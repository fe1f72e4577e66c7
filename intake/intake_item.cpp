#include "intake/intake_item.h"

#include <algorithm>

#include "common/json_writer.h"
#include "intake/syslog_parser.h"

namespace duet::intake {
namespace {

// syslog_item, with the identity key given when it is known already.
IntakeItem make_syslog_item(Receipt receipt, Detail detail,
                            const std::vector<std::string>* only_fields, const DedupKey* key) {
  const bool detailed = detail != Detail::kKey;
  const bool json = detail == Detail::kFull;
  const bool every_field = json || only_fields == nullptr;
  auto wanted = [&](std::string_view name) {
    return every_field || std::binary_search(only_fields->begin(), only_fields->end(), name);
  };
  IntakeItem item;
  SyslogMessage m = parse_syslog(receipt.raw, receipt.received_ms);
  item.key = key != nullptr ? *key : dedup_key(receipt.source, receipt.raw);
  item.protocol = transport_name(receipt.transport);
  item.parsed = m.format != SyslogFormat::kRaw;
  item.detailed = detailed;
  if (!detailed) {
    item.receipt = std::move(receipt);
    return item;
  }

  // Written straight to JSON (this runs for every message on both nodes).
  JsonWriter f;
  auto put = [&](const char* k, std::string_view v) {
    if (v.empty()) return;
    if (json) f.field(k, v);
    if (wanted(k)) item.fields.emplace(k, v);
  };
  put("format", syslog_format_name(m.format));
  if (m.facility) put("facility", facility_name(*m.facility));
  if (m.severity) put("severity", severity_name(*m.severity));
  put("timestamp", m.timestamp_text);
  if (json && m.timestamp_ms) f.field("timestamp_ms", *m.timestamp_ms);
  put("hostname", m.hostname);
  put("app_name", m.app_name);
  put("procid", m.procid);
  put("msgid", m.msgid);
  if (m.sequence_id) {
    if (json) f.field("sequence_id", static_cast<std::int64_t>(*m.sequence_id));
    if (wanted("sequence_id")) item.fields["sequence_id"] = std::to_string(*m.sequence_id);
  }
  if (every_field || !only_fields->empty()) {
    for (const auto& e : m.structured_data) {
      for (const auto& [k, v] : e.params) {
        std::string name = e.id + "." + k;
        if (wanted(name)) item.fields[std::move(name)] = v;
      }
    }
  }
  if (json && !m.structured_data.empty()) {
    // An SD-ID or a parameter name given twice keeps its first place and its
    // last value (a device may repeat a parameter; RFC 5424 allows it).
    using Params = std::vector<std::pair<std::string_view, std::string_view>>;
    std::vector<std::pair<std::string_view, Params>> sd;
    for (const auto& e : m.structured_data) {
      Params params;
      for (const auto& param : e.params) {
        const std::string& k = param.first;  // named, not bound: lambdas capture it
        auto at =
            std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == k; });
        if (at != params.end()) {
          at->second = param.second;
        } else {
          params.emplace_back(k, param.second);
        }
      }
      auto at = std::find_if(sd.begin(), sd.end(), [&](const auto& x) { return x.first == e.id; });
      if (at != sd.end()) {
        at->second = std::move(params);
      } else {
        sd.emplace_back(e.id, std::move(params));
      }
    }
    f.begin_object("structured_data");
    for (const auto& [id, params] : sd) {
      f.begin_object(id);
      for (const auto& [k, v] : params) f.field(k, v);
      f.end_object();
    }
    f.end_object();
  }
  if (json) {
    if (receipt.truncated) f.field("truncated", true);
    item.fields_json = std::move(f).finish();
  }
  item.message = std::move(m.message);
  item.receipt = std::move(receipt);
  return item;
}

}  // namespace

IntakeItem syslog_item(Receipt receipt, Detail detail,
                       const std::vector<std::string>* only_fields) {
  return make_syslog_item(std::move(receipt), detail, only_fields, nullptr);
}

void detail(IntakeItem& item, const std::vector<std::string>* only_fields) {
  if (item.detailed) return;
  // Only syslog items are made undetailed; the transport is in the protocol name.
  // The key is the same (the source and the raw bytes): not computed again.
  const std::string protocol = item.protocol;
  IntakeItem full =
      make_syslog_item(std::move(item.receipt), Detail::kRules, only_fields, &item.key);
  full.protocol = protocol;
  item = std::move(full);
}

std::string key_hex(const DedupKey& key) {
  static const char* digits = "0123456789abcdef";
  std::string s(key.size() * 2, '0');
  for (std::size_t i = 0; i < key.size(); ++i) {
    s[2 * i] = digits[key[i] >> 4];
    s[2 * i + 1] = digits[key[i] & 15];
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
