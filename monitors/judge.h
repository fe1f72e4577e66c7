#pragma once

// Judgement: a monitor result → a priority (a pure core).
//
// Numeric: the judged metric's value inside the info range is info, else
// inside the warning range warning, else critical. A range is "LOW:HIGH",
// both ends included, either end open ("90:", ":10", "0:100"); a single
// number "N" is N:N. A metric measured with several labels (disk.used_pct per
// mount point) is judged by its worst label: the one whose priority is
// highest. A result that could not measure, or that lacks the metric, is
// unknown.
//
// Text: the first pattern whose regex matches the result's text (search, not
// whole-string) gives the priority; none gives `otherwise` (info by default).
//
// Neither: a result that measured is info, one that failed unknown.

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/priority.h"
#include "common/result.h"

namespace duet::monitors {

struct Range {
  std::optional<double> low, high;
  bool contains(double v) const { return (!low || v >= *low) && (!high || v <= *high); }
  std::string to_string() const;
};
// An error names what is wrong with `text`.
Result<Range> parse_range(std::string_view text);

struct JudgementSpec {
  std::string metric;  // "name" or "name@label"; empty: the result's first metric
  std::string info_range, warning_range;
  std::vector<std::pair<std::string, std::string>> patterns;  // (regex, priority)
  std::string otherwise;                                      // empty: info
};

struct Judgement {
  std::string metric, label;
  std::optional<Range> info, warning;
  struct Pattern {
    std::string text;
    std::regex re;
    Priority priority = Priority::kInfo;
  };
  std::vector<Pattern> patterns;
  Priority otherwise = Priority::kInfo;
};

// An error names the field ("judgement.info_range: ...").
Result<Judgement> compile_judgement(const JudgementSpec& spec);

struct Measurement {
  struct Metric {
    std::string name, label;
    double value = 0;
  };
  bool ok = true;
  std::string error;
  std::vector<Metric> metrics;
  std::string text;
};

struct Verdict {
  Priority priority = Priority::kUnknown;
  std::string message;  // "cpu.busy_pct 93.5 (info 0:80, warning 80:90)"
  std::optional<double> value;
};

Verdict judge(const Judgement& j, const Measurement& m);

}  // namespace duet::monitors
