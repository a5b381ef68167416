#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace meshdeck::common {

// A problem in a configuration input, located as precisely as is known: the one error type of
// every configuration reader (policies, demo meshes, scenarios, the proxy's YAML, the YAML
// loader's own refusals) and of the management API (`ApplyResult::errors`, the proto message
// meshdeck.v1.ValidationError carries the same five fields).
struct LocatedError {
  std::string file;               // file name, or where the text came from ("editor"); may be empty
  uint32_t line = 0, column = 0;  // 1-based; 0 when unknown (a size limit, a cross-file check)
  std::string field;              // "spec.http[0].route[1].weight"; empty when not about a field
  std::string message;            // "must be an integer from 0 to 100"; never empty

  // The one text form, "file:line:column: field: message", each unknown part left out with its
  // separator: ":line:column" when the line is unknown, "field: " when there is no field,
  // "<input>" stands for an empty file name when the position is known, and the location is
  // left out entirely when neither file nor position is known ("field: message").
  //   "bomb.yaml:7:9: too many alias expansions (limit 10000)"
  //   "f.yaml: spec.rate: must be a number", "<input>:1:2: bad", "no policy x/y exists"
  std::string toString() const;

  bool operator==(const LocatedError&) const = default;
};

// Each error's toString(), one per line (no trailing newline).
std::string toString(const std::vector<LocatedError>& errors);

}  // namespace meshdeck::common
