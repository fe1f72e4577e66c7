#include "intake/snmp_item.h"

#include <optional>
#include <string_view>
#include <variant>

#include "common/json_writer.h"
#include "snmp/identity.h"

namespace duet::intake {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string hex(const snmp::Bytes& bytes) { return snmp::to_hex(bytes); }

std::string ip_text(const std::array<std::uint8_t, 4>& o) {
  return std::to_string(o[0]) + "." + std::to_string(o[1]) + "." + std::to_string(o[2]) + "." +
         std::to_string(o[3]);
}

// The value for fields_json: numbers stay numbers.
// A varbind's value in JSON: numbers as numbers, everything else as its text.
void put_json_value(JsonWriter& w, const snmp::Value& value) {
  std::visit(Overloaded{
                 [&](const snmp::Integer32& v) { w.field("value", std::int64_t{v.value}); },
                 [&](const snmp::Counter32& v) { w.field("value", std::uint64_t{v.value}); },
                 [&](const snmp::Gauge32& v) { w.field("value", std::uint64_t{v.value}); },
                 [&](const snmp::TimeTicks& v) { w.field("value", std::uint64_t{v.value}); },
                 [&](const snmp::Counter64& v) { w.field("value", std::uint64_t{v.value}); },
                 [&](const auto&) { w.field("value", snmp_value_text(value)); },
             },
             value);
}

// One line: control characters become spaces.
std::string one_line(std::string text) {
  for (char& ch : text) {
    if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
  }
  return text;
}

const char* version_name(snmp::Version v) {
  switch (v) {
    case snmp::Version::kV1:
      return "v1";
    case snmp::Version::kV2c:
      return "v2c";
    case snmp::Version::kV3:
      break;
  }
  return "v3";
}

}  // namespace

std::string snmp_value_text(const snmp::Value& value) { return snmp::value_text(value); }

std::string snmp_type_name(const snmp::Value& value) { return snmp::type_name(value); }

IntakeItem snmp_item(Receipt receipt, const snmp::InboundMessage& message,
                     const snmp::MibNames* names) {
  // The MIB name where one is known, else the numbers.
  auto display = [names](const snmp::Oid& oid, const std::string& numeric) {
    return names != nullptr ? names->name(oid) : numeric;
  };
  IntakeItem item;
  const snmp::Bytes identity = snmp::identity_key(message.pdu);
  item.key =
      dedup_key(receipt.source,
                std::string_view(reinterpret_cast<const char*>(identity.data()), identity.size()));
  item.protocol = std::string("snmp/") + version_name(message.version);
  item.parsed = true;

  const snmp::PduType type = snmp::pdu_type(message.pdu);
  // Written straight to JSON (every trap, on both nodes).
  JsonWriter f;
  auto put = [&](const char* k, const std::string& v) {
    f.field(k, v);
    item.fields[k] = v;
  };
  put("version", version_name(message.version));
  put("pdu", snmp::to_string(type));
  if (message.version == snmp::Version::kV3) {
    put("user", message.user_name);
    put("security_level", snmp::to_string(message.level));
    put("engine_id", hex(message.security_engine_id));
  } else {
    put("community", message.community);
  }

  std::string trap_oid;
  snmp::Oid trap;
  std::optional<std::uint32_t> uptime;
  const auto* v1 = std::get_if<snmp::TrapV1Pdu>(&message.pdu);
  if (v1 != nullptr) {
    trap = v1->generic_trap >= 0 && v1->generic_trap < 6
               ? snmp::oids::kSnmpTraps.child(static_cast<std::uint32_t>(v1->generic_trap) + 1)
               : v1->enterprise.child(0).child(static_cast<std::uint32_t>(v1->specific_trap));
    trap_oid = trap.to_string();
    uptime = v1->time_stamp;
  }
  const auto& varbinds = snmp::varbinds_of(message.pdu);
  for (const auto& vb : varbinds) {
    if (v1 != nullptr) break;
    if (vb.name == snmp::oids::kSnmpTrapOid0) {
      if (const auto* oid = std::get_if<snmp::Oid>(&vb.value)) {
        trap = *oid;
        trap_oid = oid->to_string();
      }
    } else if (vb.name == snmp::oids::kSysUpTime0) {
      if (const auto* t = std::get_if<snmp::TimeTicks>(&vb.value)) uptime = t->value;
    }
  }
  std::string trap_name;
  if (!trap_oid.empty()) {
    put("trap_oid", trap_oid);
    trap_name = display(trap, trap_oid);
    if (trap_name != trap_oid) put("trap_name", trap_name);
  }
  if (uptime) {
    f.field("sys_uptime", std::uint64_t{*uptime});
    item.fields["sys_uptime"] = std::to_string(*uptime);
  }
  if (v1 != nullptr) {
    put("enterprise", v1->enterprise.to_string());
    f.field("generic_trap", std::int64_t{v1->generic_trap});
    item.fields["generic_trap"] = std::to_string(v1->generic_trap);
    f.field("specific_trap", std::int64_t{v1->specific_trap});
    item.fields["specific_trap"] = std::to_string(v1->specific_trap);
    put("agent_addr", ip_text(v1->agent_addr));
  }

  std::string text = type == snmp::PduType::kInformRequest ? "inform " : "trap ";
  text += trap_oid.empty() ? "?" : trap_name;
  text += " from " + receipt.source;
  const char* separator = ": ";
  f.begin_array("varbinds");
  for (const auto& vb : varbinds) {
    const std::string oid = vb.name.to_string();
    std::string value = snmp_value_text(vb.value);
    const std::string name = display(vb.name, oid);
    f.element();
    f.field("oid", oid);
    if (name != oid) f.field("name", name);
    f.field("type", snmp_type_name(vb.value));
    put_json_value(f, vb.value);
    if (const auto* s = std::get_if<snmp::OctetString>(&vb.value);
        s != nullptr && !snmp::printable_utf8(s->bytes)) {
      f.field("encoding", "hex");
    }
    f.end_object();
    if (v1 == nullptr &&
        (vb.name == snmp::oids::kSnmpTrapOid0 || vb.name == snmp::oids::kSysUpTime0)) {
      item.fields["varbind." + oid] = std::move(value);
      continue;
    }
    text += separator + name + "=" + value;
    separator = " ";
    item.fields["varbind." + oid] = std::move(value);
  }
  f.end_array();
  if (receipt.truncated) f.field("truncated", true);

  item.message = one_line(std::move(text));
  // JsonWriter turns invalid UTF-8 (a community, a user name) into U+FFFD.
  item.fields_json = std::move(f).finish();
  item.receipt = std::move(receipt);
  return item;
}

}  // namespace duet::intake
