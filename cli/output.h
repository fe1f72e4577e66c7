#pragma once

// What duetctl's commands print alike: times, tables.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace duet::cli {

// "2026-11-21T04:00:00.123Z"; "" for 0.
std::string iso_time(std::int64_t unix_ms);
std::int64_t now_unix_ms();

// Columns padded to their widest cell; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows, std::ostream& out);

}  // namespace duet::cli
