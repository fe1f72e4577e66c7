#include "snmp/errors.h"

#include <string>

namespace duet::snmp {
namespace {

class SnmpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "snmp"; }
  std::string message(int ev) const override {
    switch (static_cast<SnmpErrc>(ev)) {
      case SnmpErrc::kMalformed:
        return "malformed message";
      case SnmpErrc::kUnsupported:
        return "unsupported message";
      case SnmpErrc::kUnknownCommunity:
        return "unknown community";
      case SnmpErrc::kUnknownUser:
        return "unknown user name";
      case SnmpErrc::kUnknownEngineId:
        return "unknown engine id";
      case SnmpErrc::kWrongDigest:
        return "wrong digest";
      case SnmpErrc::kDecryptionError:
        return "decryption error";
      case SnmpErrc::kNotInTimeWindow:
        return "not in time window";
      case SnmpErrc::kUnsupportedSecurityLevel:
        return "unsupported security level";
      case SnmpErrc::kCrypto:
        return "crypto library error";
      case SnmpErrc::kInvalidArgument:
        return "invalid argument";
    }
    return "unknown snmp error";
  }
};

}  // namespace

const std::error_category& snmp_category() {
  static const SnmpCategory category;
  return category;
}

}  // namespace duet::snmp
