#pragma once

// Message templates of the channels: text with {{name}} placeholders, filled
// from an intent's variables (docs/notifications.md lists them). A name no
// variable has renders empty. Pure.
//
// Escaping is the channel's: a webhook body escapes each value for a JSON
// string (the template writes the quotes: "text": "{{message}}"); a mail
// subject and headers lose CR and LF, so a value cannot add a header.

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace duet::notify {

enum class Escape { kNone, kJsonString, kHeaderLine };

// Every {{ is closed by }}, and names are letters, digits, '_', '.' and '-'
// (spaces around the name are allowed). An error says where: "at offset 12:
// '{{' is not closed".
Status check_template(std::string_view tmpl);

std::string render(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                   Escape escape);

}  // namespace duet::notify
