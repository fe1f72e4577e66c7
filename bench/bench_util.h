#pragma once

// Small helpers shared by the benchmark tools.

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace duet::bench {

// The p-th quantile (0..1) of `v` by nearest rank below; 0 when empty.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[idx];
}

// The CPU model named in /proc/cpuinfo, for the "machine" part of the JSON.
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace duet::bench
