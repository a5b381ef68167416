#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/yaml/yaml_error.h"

namespace meshdeck::common {

// What one YAML input may cost. Every limit is checked by a pass over the parser's events before
// any node is built, so no input makes a reader do more than (its size x a small constant) of
// work: an alias adds the expanded size of its anchor (counted once per anchor, memoized), and
// the input is refused as soon as a total passes its limit, naming the limit and the position.
//
// The defaults are 500 to 2 000 times what the largest files shipped in resources/ need, 8 times
// for depth (measured: resources/demo/storefront.yaml is the largest, 3186 bytes, 374 nodes; the
// deepest, policies and scenarios, have depth 8; the longest scalar is 462 bytes, a policy block
// in resources/scenarios/canary-goes-bad.yaml; at most 2 documents a file; no anchors, no aliases;
// common_yaml_test loads every resources/ file with each limit a hundredth of its default).
struct YamlLimits {
  static constexpr size_t kMaxBytes = size_t{4} << 20;  // 4 MiB of text
  static constexpr size_t kMaxNodes = 200'000;          // scalars, collections, aliases as written
  // Nodes added by aliases: each alias counts the whole subtree of its anchor, aliases inside it
  // included. 10 000 lets a file reuse a block many times, and stops "billion laughs" (ten
  // anchors of ten aliases each, 10^10 nodes for a walker) at its fourth anchor.
  static constexpr size_t kMaxAliasExpansions = 10'000;
  static constexpr size_t kMaxDepth = 64;                     // nested collections, through aliases
  static constexpr size_t kMaxScalarBytes = size_t{1} << 20;  // one value, 1 MiB
  static constexpr size_t kMaxDocuments = 1'000;              // "---" separated documents

  size_t max_bytes = kMaxBytes;
  size_t max_nodes = kMaxNodes;
  size_t max_alias_expansions = kMaxAliasExpansions;
  size_t max_depth = kMaxDepth;
  size_t max_scalar_bytes = kMaxScalarBytes;
  size_t max_documents = kMaxDocuments;
};

// What an accepted input cost, for tests and for sizing the limits.
struct YamlStats {
  size_t bytes = 0;
  size_t nodes = 0;
  size_t alias_expansions = 0;
  size_t depth = 0;
  size_t longest_scalar = 0;
  size_t documents = 0;
};

// The documents of one input, or the one reason it was refused.
struct YamlDocuments {
  std::vector<YAML::Node> documents;  // in order; an empty document is a Null node
  std::optional<LocatedError> error;  // set when refused; `documents` is then empty
  YamlStats stats;                    // what was counted (up to the refusal)

  bool ok() const { return !error.has_value(); }
  // The first document, or a Null node when there is none (what YAML::Load returns).
  YAML::Node first() const;
};

// Checks `text` against `limits` (size, UTF-8, YAML syntax, then the event pass), then builds the
// nodes with yaml-cpp, marks (line, column) kept. `source_name` names the input in errors.
// Refusals, by message:
//   "text too large (N bytes, limit M)"            no position
//   "not UTF-8 text (...)"                         at the first bad byte
//   "invalid YAML: <yaml-cpp's message>"           at yaml-cpp's position
//   "too many documents (limit N)"                 at the start of the document over the limit
//   "too many nodes (limit N)"                     at the node over the limit
//   "too many alias expansions (limit N)"          at the alias that passes the limit
//   "nesting too deep (limit N)"                   at the collection (or alias) over the limit
//   "scalar too long (N bytes, limit M)"           at the scalar
//   "alias refers to a node that contains it"      a cycle, which yaml-cpp would build
// Thread-safe; never throws (but std::bad_alloc).
YamlDocuments loadYaml(std::string_view text, const std::string& source_name,
                       const YamlLimits& limits = {});

// Reads at most limits.max_bytes of the file at `path` (its name is the source in errors), then
// loadYaml(). Adds "cannot open file (<reason>)" and "file too large (N bytes, limit M)".
YamlDocuments loadYamlFile(const std::filesystem::path& path, const YamlLimits& limits = {});

}  // namespace meshdeck::common
