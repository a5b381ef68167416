#pragma once

#include <string>

namespace meshdeck::cp {

// Unified diff (as `diff -u`, 3 lines of context) between two texts; empty when they are equal.
std::string unifiedDiff(const std::string& from, const std::string& to,
                        const std::string& from_label, const std::string& to_label);

}  // namespace meshdeck::cp
