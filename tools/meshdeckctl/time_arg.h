#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace meshdeck::tools {

// Reads a point in time given on meshdeckctl's command line (`--at`, `--since`, `--until`):
//  - "now";
//  - a duration before `now`: "-15m", "15m", "1.5h", "2d" (the sign is optional: "--since 1h"
//    means an hour ago; units us, ms, s, m, h, d);
//  - an RFC 3339 time: "2026-12-06T14:05:00Z", "2026-12-06T15:05:00.250+01:00" (a space may
//    stand for the T; the offset is required).
// Nothing with a clear reason in `error` for anything else (a time in the future is allowed).
std::optional<std::chrono::system_clock::time_point> parseTimeArg(
    std::string_view text, std::chrono::system_clock::time_point now, std::string* error);

// A range of time given as `--since` and `--until`, each read by parseTimeArg().
struct TimeRange {
  std::chrono::system_clock::time_point since;
  // Unset when `--until` was not given and does not default to now.
  std::optional<std::chrono::system_clock::time_point> until;
};

// Reads `since_text` and `until_text` ("" when `--until` was not given: then `now` with
// `until_defaults_to_now`, else unset). A given (or defaulted) until must be after since.
// Nothing with the reason meshdeckctl prints after "meshdeckctl: " in `error` otherwise:
// "--since: <why>", "--until: <why>" or "--until must be after --since".
std::optional<TimeRange> parseTimeRange(std::string_view since_text, std::string_view until_text,
                                        bool until_defaults_to_now,
                                        std::chrono::system_clock::time_point now,
                                        std::string* error);

// "2026-12-06T14:05:00Z" (UTC, whole seconds).
std::string formatRfc3339(std::chrono::system_clock::time_point t);

}  // namespace meshdeck::tools
