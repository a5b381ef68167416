#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

// Hostile YAML inputs shared by the reader tests. The small ones are also checked in under
// tests/data/yaml/ (a seed corpus for fuzzing); the tests assert both copies agree.
namespace meshdeck::testing {

// "Billion laughs": ten anchors, each a list of ten aliases of the one before; 500 bytes that a
// walker visiting aliases as written would expand to 10^10 nodes.
inline std::string billionLaughs() {
  std::string text;
  for (char anchor = 'a'; anchor <= 'j'; ++anchor) {
    text += std::string(1, anchor) + ": &" + anchor + " [";
    for (int i = 0; i < 10; ++i) {
      if (i) text += ", ";
      text += anchor == 'a' ? std::string("\"lol\"") : std::string("*") + char(anchor - 1);
    }
    text += "]\n";
  }
  return text;
}

// Where the bomb is refused: line 4 ("d: &d [...]"), the eighth alias of *c, which takes the
// alias expansions from 8 997 to 10 108, past 10 000.
inline constexpr const char* kBillionLaughsRefusal =
    ":4:36: too many alias expansions (limit 10000)";

inline std::filesystem::path hostileYamlFile(const std::string& name) {
  const char* root = std::getenv("MESHDECK_SOURCE_DIR");
  return std::filesystem::path(root ? root : ".") / "tests" / "data" / "yaml" / name;
}

}  // namespace meshdeck::testing
