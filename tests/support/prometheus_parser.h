// A strict reader of the Prometheus text exposition format (0.0.4) for tests: every line must be
// a HELP, a TYPE or a sample of a declared family; label values may hold only the three escapes
// the format defines; histograms must have cumulative buckets ending in le="+Inf" equal to
// _count. Header only (no Qt), so unit and integration tests share it.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace meshdeck::test {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct PromDocument {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  // The value of the sample with exactly these labels, or nullopt.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return std::nullopt;
  }
};

namespace prom_detail {
inline bool nameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}
inline bool readName(const std::string& line, size_t* i, std::string* out) {
  const size_t start = *i;
  while (*i < line.size() && nameChar(line[*i], *i == start)) ++*i;
  *out = line.substr(start, *i - start);
  return !out->empty();
}
inline bool parseValue(const std::string& text, double* out) {
  if (text == "+Inf") {
    *out = INFINITY;
    return true;
  }
  if (text == "-Inf") {
    *out = -INFINITY;
    return true;
  }
  if (text == "NaN") {
    *out = NAN;
    return true;
  }
  if (text.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}
// The family a sample belongs to: its name, or the histogram/summary it is part of.
inline std::string familyOf(const std::string& name, const std::map<std::string, std::string>& t) {
  if (t.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      if (auto it = t.find(base);
          it != t.end() && (it->second == "histogram" || it->second == "summary"))
        return base;
    }
  }
  return "";
}
}  // namespace prom_detail

// Parses `text`; on the first violation returns nullopt with the line and the reason in `error`.
inline std::optional<PromDocument> parsePrometheus(const std::string& text, std::string* error) {
  using namespace prom_detail;
  PromDocument doc;
  std::set<std::string> seen_series;
  size_t pos = 0;
  int line_no = 0;
  auto fail = [&](const std::string& line, const std::string& why) {
    *error = "line " + std::to_string(line_no) + " \"" + line + "\": " + why;
    return std::nullopt;
  };
  if (!text.empty() && text.back() != '\n') {
    *error = "the text does not end with a newline";
    return std::nullopt;
  }
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0) {
        size_t i = 7;
        std::string name;
        if (!readName(line, &i, &name) || (i < line.size() && line[i] != ' '))
          return fail(line, "bad HELP");
      } else if (line.rfind("# TYPE ", 0) == 0) {
        size_t i = 7;
        std::string name;
        if (!readName(line, &i, &name) || i >= line.size() || line[i] != ' ')
          return fail(line, "bad TYPE");
        const std::string type = line.substr(i + 1);
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped")
          return fail(line, "unknown type");
        if (doc.types.count(name)) return fail(line, "TYPE given twice");
        doc.types[name] = type;
      }
      continue;
    }
    PromSample s;
    size_t i = 0;
    if (!readName(line, &i, &s.name)) return fail(line, "no metric name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string label;
        if (!readName(line, &i, &label) || i + 1 >= line.size() || line[i] != '=' ||
            line[i + 1] != '"')
          return fail(line, "bad label");
        i += 2;
        std::string value;
        for (;;) {
          if (i >= line.size()) return fail(line, "unterminated label value");
          const char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) return fail(line, "dangling escape");
            const char e = line[i++];
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              return fail(line, "unknown escape");
          } else {
            value += c;
          }
        }
        if (s.labels.count(label)) return fail(line, "label given twice");
        s.labels[label] = value;
        if (i < line.size() && line[i] == ',') {
          ++i;
          if (i < line.size() && line[i] == '}') return fail(line, "trailing comma");
        } else if (i >= line.size() || line[i] != '}') {
          return fail(line, "expected , or }");
        }
      }
      if (i >= line.size()) return fail(line, "unterminated labels");
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return fail(line, "expected a space before the value");
    ++i;
    const size_t space = line.find(' ', i);
    const std::string value_text = line.substr(i, space == std::string::npos ? space : space - i);
    if (!parseValue(value_text, &s.value)) return fail(line, "bad value");
    if (space != std::string::npos) {
      const std::string ts = line.substr(space + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos)
        return fail(line, "bad timestamp");
    }
    const std::string family = familyOf(s.name, doc.types);
    if (family.empty()) return fail(line, "sample of a family without TYPE");
    const auto& type = doc.types[family];
    if ((type == "counter" || (type == "histogram" && s.name != family + "_bucket")) &&
        (s.value < 0 || std::isnan(s.value)))
      return fail(line, "negative or NaN counter");
    if (type == "histogram" && s.name == family) return fail(line, "histogram sample w/o suffix");
    if (type == "histogram" && (s.name == family + "_bucket") != (s.labels.count("le") == 1))
      return fail(line, "le only and always on _bucket");
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    if (!seen_series.insert(key).second) return fail(line, "series given twice");
    doc.samples.push_back(std::move(s));
  }
  // Histograms: per label set, buckets in increasing le with non-decreasing counts, the last
  // le="+Inf" and equal to _count, and a _sum.
  for (const auto& [family, type] : doc.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    for (const auto& s : doc.samples) {
      if (s.name != family + "_bucket") continue;
      auto labels = s.labels;
      double le = 0;
      if (!parseValue(labels["le"], &le)) {
        *error = family + ": bad le \"" + labels["le"] + "\"";
        return std::nullopt;
      }
      labels.erase("le");
      buckets[labels].emplace_back(le, s.value);
    }
    for (const auto& [labels, list] : buckets) {
      for (size_t k = 1; k < list.size(); ++k) {
        if (!(list[k].first > list[k - 1].first) || list[k].second < list[k - 1].second) {
          *error = family + ": buckets not in increasing le or not cumulative";
          return std::nullopt;
        }
      }
      const auto count = doc.value(family + "_count", labels);
      if (list.empty() || !std::isinf(list.back().first) || !count ||
          *count != list.back().second || !doc.value(family + "_sum", labels)) {
        *error = family + ": no le=\"+Inf\" bucket equal to _count, or no _sum";
        return std::nullopt;
      }
    }
  }
  return doc;
}

}  // namespace meshdeck::test
