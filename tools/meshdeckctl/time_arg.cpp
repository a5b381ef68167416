#include "tools/meshdeckctl/time_arg.h"

#include <cctype>
#include <cstdio>
#include <ctime>

#include "common/duration.h"

namespace meshdeck::tools {

namespace {

using Clock = std::chrono::system_clock;

bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::optional<Clock::time_point> parseRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  int year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, &month) ||
      s[7] != '-' || !digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, &hour) || s[13] != ':' || !digits(s, 14, 2, &minute) || s[16] != ':' ||
      !digits(s, 17, 2, &second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  size_t pos = 19;
  std::chrono::nanoseconds fraction{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t scale = 100'000'000, ns = 0;
    const size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
    fraction = std::chrono::nanoseconds(ns);
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, &om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_minutes = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t t = timegm(&tm);
  // timegm normalizes 31 February into March: refuse days the month does not have.
  std::tm check{};
  gmtime_r(&t, &check);
  if (check.tm_mday != day && second != 60) return std::nullopt;
  return Clock::from_time_t(t) - std::chrono::minutes(offset_minutes) +
         std::chrono::duration_cast<Clock::duration>(fraction);
}

}  // namespace

std::optional<Clock::time_point> parseTimeArg(std::string_view text, Clock::time_point now,
                                              std::string* error) {
  if (text == "now") return now;
  if (text.empty()) {
    *error = "an empty time; give a duration before now (15m, -1h, 2d) or an RFC 3339 time";
    return std::nullopt;
  }
  if (text.size() >= 10 && std::isdigit(static_cast<unsigned char>(text[0])) && text[4] == '-') {
    if (auto t = parseRfc3339(text)) return t;
    *error = "\"" + std::string(text) +
             "\" is not an RFC 3339 time like 2026-12-06T14:05:00Z or "
             "2026-12-06T15:05:00+01:00 (the offset is required)";
    return std::nullopt;
  }
  std::string_view d = text;
  if (d.front() == '-' || d.front() == '+') {
    if (d.front() == '+') {
      *error = "\"" + std::string(text) + "\" is in the future; give a duration before now (-15m)";
      return std::nullopt;
    }
    d.remove_prefix(1);
  }
  std::optional<std::chrono::nanoseconds> ago;
  if (!d.empty() && d.back() == 'd') {
    if (auto hours = common::parseDuration(std::string(d.substr(0, d.size() - 1)) + "h"))
      ago = *hours * 24;
  } else {
    ago = common::parseDuration(d);
  }
  if (!ago) {
    *error = "\"" + std::string(text) +
             "\" is neither a duration before now (15m, -1h, 1.5h, 2d) nor an RFC 3339 time "
             "(2026-12-06T14:05:00Z)";
    return std::nullopt;
  }
  return now - std::chrono::duration_cast<Clock::duration>(*ago);
}

std::optional<TimeRange> parseTimeRange(std::string_view since_text, std::string_view until_text,
                                        bool until_defaults_to_now, Clock::time_point now,
                                        std::string* error) {
  std::string why;
  TimeRange range;
  const auto since = parseTimeArg(since_text, now, &why);
  if (!since) {
    *error = "--since: " + why;
    return std::nullopt;
  }
  range.since = *since;
  if (!until_text.empty()) {
    range.until = parseTimeArg(until_text, now, &why);
    if (!range.until) {
      *error = "--until: " + why;
      return std::nullopt;
    }
  } else if (until_defaults_to_now) {
    range.until = now;
  }
  if (range.until && *range.until <= range.since) {
    *error = "--until must be after --since";
    return std::nullopt;
  }
  return range;
}

std::string formatRfc3339(Clock::time_point t) {
  const std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace meshdeck::tools
