#pragma once

// The declarative document of `duetctl apply -f FILE`: scopes and nodes in
// YAML, each object described whole (a key left out means empty: no os, no
// attributes, in no scope, a top scope).
//
//   scopes:
//     - name: prod
//       description: Production
//     - name: web
//       parent: prod
//   nodes:
//     - name: web01
//       addresses: [10.0.0.11, web01.example.net]
//       os: debian-12
//       attributes: {rack: r12, owner: team-a}
//       scopes: [web]
//
// Parsing reports every problem it finds, each as "FILE:LINE: what and why",
// and checks each object on its own (names, addresses, limits, duplicates in
// the document); references between objects and to the stored repository
// are checked by plan_apply() (plan.h), which reports all of them together.
// Pure: the text comes in, values go out.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "repository/model.h"

namespace duet::repository {

// Where an object and its keys were written (1-based lines; 0: not from a file).
struct Lines {
  int object = 0;
  std::map<std::string, int> at;  // "parent", "addresses", "addresses[1]", "scopes[0]", ...

  // The line of `key`, else of the key before its '[', else of the object.
  int of(const std::string& key) const;
};

struct DocScope {
  Scope scope;
  Lines lines;
};

struct DocNode {
  Node node;
  std::vector<std::string> scopes;  // as written; checked unique
  Lines lines;
};

struct Document {
  std::string file;  // as the operator named it; empty for objects given as command-line flags
  std::vector<DocScope> scopes;
  std::vector<DocNode> nodes;
};

struct Problem {
  int line = 0;
  std::string what;
};

// One problem per line, sorted by line: "FILE:LINE: what" (just "what"
// without a file or a line).
std::string format_problems(const std::string& file, std::vector<Problem> problems);

// Checks each object on its own and puts addresses in canonical form. Returns
// the problems found (none: the document may be planned).
[[nodiscard]] std::vector<Problem> normalize(Document& doc);

// Adds the scopes and nodes of YAML `text` to `doc`; returns the problems of
// its syntax and structure (not normalize()'s). plan_apply() takes both.
[[nodiscard]] std::vector<Problem> parse_into(std::string_view text, Document& doc);

// parse_into() a document named `file`, then normalize() it. Errors are
// kInvalid with every problem, formatted by format_problems().
Result<Document> parse_document(std::string_view text, const std::string& file);

}  // namespace duet::repository
