#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/yaml/yaml_input.h"
#include "controlplane/fleet/demo_mesh.h"

namespace meshdeck::cp::fleet::detail {

// Reads YAML nodes into typed values, collecting errors with their position and field path.
// The nodes come from common::loadYaml(), so their size, depth and aliases are already bounded.
class Reader {
 public:
  Reader(std::string file, std::vector<common::LocatedError>* errors)
      : file_(std::move(file)), errors_(errors) {}

  void error(const YAML::Node& node, const std::string& field, const std::string& message) {
    errors_->push_back(common::yamlErrorAt(file_, node, field, message));
  }

  // Reports keys of `map` not in `allowed`.
  void onlyKeys(const YAML::Node& map, const std::string& path, std::set<std::string> allowed) {
    if (!map.IsMap()) return;
    for (const auto& kv : map) {
      const auto key = kv.first.as<std::string>("");
      if (!allowed.count(key)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        error(kv.first, join(path, key), "unknown field (expected one of: " + list + ")");
      }
    }
  }

  // `n` may be the result of a lookup of a missing key on a const node: yaml-cpp's "zombie",
  // on which everything but IsDefined() throws YAML::InvalidNode.
  bool isMap(const YAML::Node& n, const std::string& path) {
    if (!n.IsDefined()) {
      error(n, path, "is required");
      return false;
    }
    if (n.IsMap()) return true;
    error(n, path, "must be a mapping");
    return false;
  }

  std::string str(const YAML::Node& parent, const std::string& key, const std::string& path,
                  std::optional<std::string> fallback = std::nullopt) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined()) {
      if (!fallback) error(parent, join(path, key), "is required");
      return fallback.value_or("");
    }
    if (!n.IsScalar()) {
      error(n, join(path, key), "must be a string");
      return "";
    }
    return n.Scalar();
  }

  double number(const YAML::Node& parent, const std::string& key, const std::string& path,
                double fallback, double min, double max) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined()) return fallback;
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) {
      error(n, join(path, key), "must be a number");
      return fallback;
    }
    if (v < min || v > max) {
      std::ostringstream os;
      os << "must be between " << min << " and " << max << " (got " << n.Scalar() << ")";
      error(n, join(path, key), os.str());
      return fallback;
    }
    return v;
  }

  std::chrono::nanoseconds duration(const YAML::Node& parent, const std::string& key,
                                    const std::string& path, std::chrono::nanoseconds fallback) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined()) return fallback;
    const auto d = n.IsScalar() ? common::parseDuration(n.Scalar()) : std::nullopt;
    if (!d) {
      error(n, join(path, key), "must be a duration like 250ms, 1.5s or 2m");
      return fallback;
    }
    return *d;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

 private:
  std::string file_;
  std::vector<common::LocatedError>* errors_;
};

inline bool validName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(
             s.begin(), s.end(),
             [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }) &&
         s.front() != '-' && s.back() != '-';
}

inline Behaviour readBehaviour(Reader& r, const YAML::Node& v, const std::string& path) {
  Behaviour b;
  if (const YAML::Node lat = v["latency"]; lat.IsDefined()) {
    const std::string lp = Reader::join(path, "latency");
    if (r.isMap(lat, lp)) {
      r.onlyKeys(lat, lp, {"p50", "p99"});
      b.latency_p50 = r.duration(lat, "p50", lp, b.latency_p50);
      b.latency_p99 = r.duration(lat, "p99", lp, b.latency_p99);
      if (b.latency_p99 < b.latency_p50) r.error(lat, lp + ".p99", "must not be below p50");
    }
  }
  b.error_rate = r.number(v, "errorRate", path, 0, 0, 1);
  b.error_status = static_cast<uint32_t>(r.number(v, "errorStatus", path, 503, 400, 599));
  b.response_size = static_cast<uint32_t>(r.number(v, "responseSize", path, 256, 0, 16 << 20));
  return b;
}

// A yaml-cpp exception escaping a reader (a node used in a way its kind does not allow) as a
// located error, so that a malformed file is refused instead of ending the process.
inline void addYamlError(const YAML::Exception& e, const std::string& file,
                         std::vector<common::LocatedError>* errors) {
  errors->push_back(common::yamlErrorAt(file, e.mark, "", "malformed document: " + e.msg));
}

// Checks the first document of `loaded` as one of `kind` (apiVersion meshdeck.io/v1alpha1): the
// loader's refusal (limits, encoding, syntax), the top-level keys, apiVersion and kind. Returns
// the root mapping, or nullopt when it is not one.
inline std::optional<YAML::Node> loadDocument(Reader& r, const common::YamlDocuments& loaded,
                                              const std::string& kind,
                                              std::vector<common::LocatedError>* errors) {
  if (!loaded.ok()) {
    errors->push_back(*loaded.error);
    return std::nullopt;
  }
  const YAML::Node root = loaded.first();
  if (!r.isMap(root, "")) return std::nullopt;
  r.onlyKeys(root, "", {"apiVersion", "kind", "metadata", "spec"});
  if (r.str(root, "apiVersion", "") != "meshdeck.io/v1alpha1")
    r.error(root["apiVersion"], "apiVersion", "must be meshdeck.io/v1alpha1");
  if (r.str(root, "kind", "") != kind) r.error(root["kind"], "kind", "must be " + kind);
  return root;
}

}  // namespace meshdeck::cp::fleet::detail
