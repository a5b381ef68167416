#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace meshdeck::common {

// Parses a human duration as written in YAML and on command lines: a non-negative decimal
// number followed by a unit, "us", "ms", "s", "m" or "h" ("250ms", "1.5s", "2m"). A bare
// "0" is zero. Returns nullopt for anything else.
std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text);

// Formats a duration the way parseDuration reads it, choosing a readable unit ("1.5s").
std::string formatDuration(std::chrono::nanoseconds d);

}  // namespace meshdeck::common
