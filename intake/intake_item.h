#pragma once

// IntakeItem: a receipt parsed into what an event needs. Built on the intake
// thread (parsing is pure), then handed to the master's pipeline or the
// standby's holding list.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "intake/pair_dedup.h"
#include "intake/receipt.h"

namespace duet::intake {

struct IntakeItem {
  Receipt receipt;
  DedupKey key{};
  std::string protocol;                       // "syslog/udp", ..., "snmp/v2c"
  std::string message;                        // display text
  std::string fields_json;                    // parsed fields, a JSON object
  bool parsed = false;                        // understood (not kept raw)
  std::map<std::string, std::string> fields;  // flat view for rules
  // False: message, fields_json and fields are not filled in yet (a standby
  // holds receipts it will most likely never record); detail() does it.
  bool detailed = true;
};

// How much of a syslog item to fill in: the key, protocol and `parsed` (a
// standby's held receipt); also message and fields (what the rules match and
// an event needs: a syslog event stores neither, its raw bytes give them);
// also fields_json (a query showing the event).
enum class Detail { kKey, kRules, kFull };

// A syslog receipt: the identity key is the source address and the raw message.
// `only_fields` (sorted; RuleSet::field_names) limits `fields` to those names
// with Detail::kRules: the master judges every message, and a field no rule
// reads would be built and dropped for nothing. Null: every field.
IntakeItem syslog_item(Receipt receipt, Detail detail = Detail::kFull,
                       const std::vector<std::string>* only_fields = nullptr);

// Fills in message and fields of an item made with Detail::kKey (`only_fields`
// as above).
void detail(IntakeItem& item, const std::vector<std::string>* only_fields = nullptr);

std::string key_hex(const DedupKey& key);
std::optional<DedupKey> key_from_hex(std::string_view hex);

}  // namespace duet::intake
