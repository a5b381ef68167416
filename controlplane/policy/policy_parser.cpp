#include "controlplane/policy/policy_parser.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cmath>
#include <map>
#include <regex>

#include "common/duration.h"
#include "common/telemetry/grpc_status.h"
#include "common/yaml/yaml_input.h"

namespace meshdeck::cp {
namespace {

constexpr const char* kApiVersion = "meshdeck.io/v1alpha1";

// Reader walks one YAML document and reports problems with their position and field path.
// Every accessor reports its own errors and returns nullopt, so parsing goes on and one apply
// shows every problem of a file at once.
class Reader {
 public:
  Reader(const std::string& file, std::vector<common::LocatedError>* errors)
      : file_(file), errors_(errors) {
    assert(errors != nullptr);
  }

  SourceLocation at(const YAML::Node& n) const {
    // yaml-cpp's marks are 0-based, -1 when unknown (an undefined node has none at all).
    const YAML::Mark m = n.IsDefined() ? n.Mark() : YAML::Mark::null_mark();
    if (m.line < 0 || m.column < 0) return SourceLocation{file_, 0, 0};
    return SourceLocation{file_, static_cast<uint32_t>(m.line + 1),
                          static_cast<uint32_t>(m.column + 1)};
  }

  void fail(common::LocatedError e) {
    assert(!e.message.empty());
    errors_->push_back(std::move(e));
  }
  void fail(const SourceLocation& loc, const std::string& path, std::string message) {
    fail(common::LocatedError{loc.file, loc.line, loc.column, path, std::move(message)});
  }
  void fail(const YAML::Node& n, const std::string& path, std::string message) {
    fail(common::yamlErrorAt(file_, n, path, std::move(message)));
  }

  // Checks that `n` is a mapping whose keys are all in `allowed` (and not repeated).
  bool mapping(const YAML::Node& n, const std::string& path,
               std::initializer_list<std::string_view> allowed) {
    if (!n.IsMap()) {
      fail(n, path, fmt::format("must be a mapping, found {}", describe(n)));
      return false;
    }
    std::vector<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) {
        fail(it->first, path, "keys must be plain strings");
        continue;
      }
      const std::string key = it->first.Scalar();
      const std::string child = join(path, key);
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        fail(it->first, child, "duplicate field");
      }
      seen.push_back(key);
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string names;
        for (auto a : allowed) names += fmt::format("{}{}", names.empty() ? "" : ", ", a);
        fail(it->first, child,
             fmt::format("unknown field \"{}\" (expected one of: {})", key, names));
      }
    }
    return true;
  }

  // The value of `key` in mapping `n`, or an undefined node. Reports a missing required key at
  // the mapping's position.
  YAML::Node child(const YAML::Node& n, const std::string& key, const std::string& path,
                   bool required) {
    if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
      }
    }
    if (required) fail(n, join(path, key), "required field is missing");
    return YAML::Node(YAML::NodeType::Undefined);
  }

  std::optional<std::string> string(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      fail(n, path, fmt::format("must be a string, found {}", describe(n)));
      return std::nullopt;
    }
    if (n.Scalar().empty()) {
      fail(n, path, "must not be empty");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<std::string> name(const YAML::Node& n, const std::string& path) {
    auto s = string(n, path);
    if (!s) return s;
    static const std::regex kDnsLabel("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    if (s->size() > 63 || !std::regex_match(*s, kDnsLabel)) {
      fail(n, path,
           fmt::format("\"{}\" is not a valid name (lower case letters, digits and '-', at most "
                       "63 characters, starting and ending with a letter or digit)",
                       *s));
      return std::nullopt;
    }
    return s;
  }

  std::optional<double> number(const YAML::Node& n, const std::string& path, double min,
                               double max) {
    if (!n.IsScalar()) {
      fail(n, path, fmt::format("must be a number, found {}", describe(n)));
      return std::nullopt;
    }
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(n.Scalar(), &used);
      if (used != n.Scalar().size() || !std::isfinite(v)) throw std::invalid_argument("x");
    } catch (const std::exception&) {
      fail(n, path, fmt::format("must be a number, found \"{}\"", n.Scalar()));
      return std::nullopt;
    }
    if (v < min || v > max) {
      fail(n, path, fmt::format("{} is out of range [{}, {}]", n.Scalar(), min, max));
      return std::nullopt;
    }
    return v;
  }

  std::optional<uint32_t> integer(const YAML::Node& n, const std::string& path, uint32_t min,
                                  uint32_t max) {
    if (!n.IsScalar()) {
      fail(n, path, fmt::format("must be an integer, found {}", describe(n)));
      return std::nullopt;
    }
    static const std::regex kInteger("-?[0-9]+");
    if (!std::regex_match(n.Scalar(), kInteger)) {
      fail(n, path, fmt::format("must be an integer, found \"{}\"", n.Scalar()));
      return std::nullopt;
    }
    long long v = 0;
    try {
      v = std::stoll(n.Scalar());
    } catch (const std::exception&) {
      v = -1;  // too large for long long: out of range below
    }
    if (v < static_cast<long long>(min) || v > static_cast<long long>(max) ||
        (v == -1 && n.Scalar() != "-1")) {
      fail(n, path, fmt::format("{} is out of range [{}, {}]", n.Scalar(), min, max));
      return std::nullopt;
    }
    return static_cast<uint32_t>(v);
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& path) {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
      fail(n, path, "must be true or false");
      return std::nullopt;
    }
    return b;
  }

  std::optional<Nanos> duration(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      fail(n, path, fmt::format("must be a duration, found {}", describe(n)));
      return std::nullopt;
    }
    auto d = common::parseDuration(n.Scalar());
    if (!d) {
      fail(n, path,
           fmt::format("\"{}\" is not a duration (a number and a unit: us, ms, s, m or h; "
                       "e.g. \"250ms\")",
                       n.Scalar()));
    }
    return d;
  }

  std::optional<std::vector<std::string>> stringList(const YAML::Node& n, const std::string& path) {
    if (!n.IsSequence()) {
      fail(n, path, fmt::format("must be a list, found {}", describe(n)));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (size_t i = 0; i < n.size(); ++i) {
      auto s = string(n[i], index(path, i));
      if (s) out.push_back(*s);
      ok = ok && s.has_value();
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::string> oneOf(const YAML::Node& n, const std::string& path,
                                   std::initializer_list<std::string_view> values) {
    auto s = string(n, path);
    if (!s) return s;
    if (std::find(values.begin(), values.end(), *s) == values.end()) {
      std::string names;
      for (auto v : values) names += fmt::format("{}{}", names.empty() ? "" : ", ", v);
      fail(n, path, fmt::format("\"{}\" is not one of: {}", *s, names));
      return std::nullopt;
    }
    return s;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
  }
  static std::string index(const std::string& path, size_t i) {
    return fmt::format("{}[{}]", path, i);
  }
  static std::string describe(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Scalar:
        return fmt::format("\"{}\"", n.Scalar());
      case YAML::NodeType::Null:
        return "nothing";
      default:
        return "nothing";
    }
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<common::LocatedError>* errors_;
};

bool present(const YAML::Node& n) { return n.IsDefined(); }

// fault.abort.grpcStatus: a status name (UNAVAILABLE; any case) or its code 1..16. OK is no
// abort.
std::optional<uint32_t> grpcAbortStatus(Reader& r, const YAML::Node& n, const std::string& path) {
  const auto text = r.string(n, path);
  if (!text) return std::nullopt;
  std::string upper = *text;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::optional<uint32_t> code = common::grpcStatusFromName(upper);
  if (!code && !text->empty() && text->size() <= 2 &&
      text->find_first_not_of("0123456789") == std::string::npos) {
    const auto n_code = static_cast<uint32_t>(std::stoul(*text));
    if (n_code < common::kGrpcStatusCount) code = n_code;
  }
  if (!code) {
    r.fail(n, path,
           fmt::format("\"{}\" is not a gRPC status (a name such as UNAVAILABLE, "
                       "DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED, or a code 1..16)",
                       text->substr(0, 64)));
    return std::nullopt;
  }
  if (*code == common::kGrpcOk) {
    r.fail(n, path, "OK is not an abort status (use a failure status such as UNAVAILABLE)");
    return std::nullopt;
  }
  return code;
}

std::optional<StringMatch> parseStringMatch(Reader& r, const YAML::Node& n,
                                            const std::string& path) {
  if (!r.mapping(n, path, {"exact", "prefix", "regex"})) return std::nullopt;
  if (n.size() != 1) {
    r.fail(n, path, "exactly one of exact, prefix or regex must be set");
    return std::nullopt;
  }
  const std::string key = n.begin()->first.Scalar();
  const YAML::Node v = n.begin()->second;
  auto value = r.string(v, Reader::join(path, key));
  if (!value) return std::nullopt;
  StringMatch m;
  m.value = *value;
  if (key == "exact") {
    m.type = StringMatch::Type::kExact;
  } else if (key == "prefix") {
    m.type = StringMatch::Type::kPrefix;
  } else if (key == "regex") {
    m.type = StringMatch::Type::kRegex;
    try {
      std::regex check(m.value, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      r.fail(v, Reader::join(path, key), fmt::format("invalid regular expression: {}", e.what()));
      return std::nullopt;
    }
  } else {
    return std::nullopt;  // reported by mapping()
  }
  return m;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool validHeaderName(const std::string& name) {
  static const std::regex kToken("[!#$%&'*+.^_`|~0-9A-Za-z-]+");
  return std::regex_match(name, kToken);
}

// headers: {name: {exact|prefix|regex: v}} ; an empty mapping tests presence.
void parseHeaderConditions(Reader& r, const YAML::Node& n, const std::string& path, bool invert,
                           std::vector<HeaderCondition>* out) {
  if (!n.IsMap()) {
    r.fail(n, path, "must be a mapping of header name to match");
    return;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string p = fmt::format("{}[{}]", path, name);
    if (!validHeaderName(name)) {
      r.fail(it->first, p, fmt::format("\"{}\" is not a valid header name", name));
      continue;
    }
    HeaderCondition h;
    h.name = lower(name);
    h.invert = invert;
    if (it->second.IsMap() && it->second.size() == 0) {
      out->push_back(h);
      continue;
    }
    auto m = parseStringMatch(r, it->second, p);
    if (!m) continue;
    h.value = *m;
    out->push_back(h);
  }
}

const std::vector<std::string>& httpMethods() {
  static const std::vector<std::string> k{"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                          "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  return k;
}

std::optional<HttpMatch> parseMatch(Reader& r, const YAML::Node& n, const std::string& path) {
  if (!r.mapping(n, path, {"uri", "methods", "headers", "withoutHeaders"})) return std::nullopt;
  HttpMatch m;
  m.where = r.at(n);
  bool ok = true;
  if (auto u = r.child(n, "uri", path, false); present(u)) {
    m.uri = parseStringMatch(r, u, Reader::join(path, "uri"));
    ok = ok && m.uri.has_value();
    if (m.uri && m.uri->type != StringMatch::Type::kRegex && m.uri->value.front() != '/') {
      r.fail(u, Reader::join(path, "uri"), "a path must start with '/'");
      ok = false;
    }
  }
  if (auto ms = r.child(n, "methods", path, false); present(ms)) {
    const std::string p = Reader::join(path, "methods");
    if (auto list = r.stringList(ms, p)) {
      for (size_t i = 0; i < list->size(); ++i) {
        const auto& meth = (*list)[i];
        if (std::find(httpMethods().begin(), httpMethods().end(), meth) == httpMethods().end()) {
          r.fail(ms[i], Reader::index(p, i),
                 fmt::format("\"{}\" is not an HTTP method (upper case, e.g. GET)", meth));
          ok = false;
        }
        m.methods.push_back(meth);
      }
      std::sort(m.methods.begin(), m.methods.end());
      m.methods.erase(std::unique(m.methods.begin(), m.methods.end()), m.methods.end());
    } else {
      ok = false;
    }
  }
  if (auto h = r.child(n, "headers", path, false); present(h))
    parseHeaderConditions(r, h, Reader::join(path, "headers"), false, &m.headers);
  if (auto h = r.child(n, "withoutHeaders", path, false); present(h))
    parseHeaderConditions(r, h, Reader::join(path, "withoutHeaders"), true, &m.headers);
  std::sort(m.headers.begin(), m.headers.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  if (!ok) return std::nullopt;
  return m;
}

// {host, subset}
bool parseDestinationRef(Reader& r, const YAML::Node& n, const std::string& path, std::string* host,
                         std::string* subset) {
  if (!r.mapping(n, path, {"host", "subset"})) return false;
  std::optional<std::string> h;
  if (auto hn = r.child(n, "host", path, true); present(hn))
    h = r.name(hn, Reader::join(path, "host"));
  std::optional<std::string> s;
  if (auto sn = r.child(n, "subset", path, false); present(sn)) {
    s = r.name(sn, Reader::join(path, "subset"));
    if (!s) return false;
  }
  if (!h) return false;
  *host = *h;
  *subset = s.value_or("");
  return true;
}

void parseHeaderEdits(Reader& r, const YAML::Node& n, const std::string& path,
                      HeaderEditSpec* out) {
  if (!r.mapping(n, path, {"set", "add", "remove"})) return;
  for (const char* which : {"set", "add"}) {
    auto m = r.child(n, which, path, false);
    if (!present(m)) continue;
    const std::string p = Reader::join(path, which);
    if (!m.IsMap()) {
      r.fail(m, p, "must be a mapping of header name to value");
      continue;
    }
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string name = it->first.Scalar();
      const std::string hp = fmt::format("{}[{}]", p, name);
      if (!validHeaderName(name)) {
        r.fail(it->first, hp, fmt::format("\"{}\" is not a valid header name", name));
        continue;
      }
      if (!it->second.IsScalar()) {
        r.fail(it->second, hp, "must be a string");
        continue;
      }
      (std::string(which) == "set" ? out->set : out->add)[lower(name)] = it->second.Scalar();
    }
  }
  if (auto rm = r.child(n, "remove", path, false); present(rm)) {
    const std::string p = Reader::join(path, "remove");
    if (auto list = r.stringList(rm, p)) {
      for (size_t i = 0; i < list->size(); ++i) {
        if (!validHeaderName((*list)[i])) {
          r.fail(rm[i], Reader::index(p, i),
                 fmt::format("\"{}\" is not a valid header name", (*list)[i]));
        }
        out->remove.push_back(lower((*list)[i]));
      }
    }
  }
}

std::optional<HttpRoute> parseHttpRoute(Reader& r, const YAML::Node& n, const std::string& path,
                                        const std::string& default_name) {
  if (!r.mapping(n, path,
                 {"name", "match", "route", "timeout", "retries", "fault", "mirror", "headers"}))
    return std::nullopt;
  HttpRoute route;
  route.where = r.at(n);
  route.name = default_name;
  if (auto nm = r.child(n, "name", path, false); present(nm)) {
    if (auto s = r.name(nm, Reader::join(path, "name"))) route.name = *s;
  }
  if (auto ms = r.child(n, "match", path, false); present(ms)) {
    const std::string p = Reader::join(path, "match");
    if (!ms.IsSequence()) {
      r.fail(ms, p, "must be a list of match conditions (any one of them selects a request)");
    } else {
      for (size_t i = 0; i < ms.size(); ++i) {
        auto m = parseMatch(r, ms[i], Reader::index(p, i));
        if (!m) {
          HttpMatch bad;
          bad.where = r.at(ms[i]);
          bad.invalid = true;
          route.matches.push_back(bad);
          continue;
        }
        for (const auto& earlier : route.matches) {
          if (earlier.key() == m->key()) {
            r.fail(ms[i], Reader::index(p, i),
                   fmt::format("same match as line {}", earlier.where.line));
          }
        }
        route.matches.push_back(*m);
      }
    }
  }
  const std::string rp = Reader::join(path, "route");
  YAML::Node dests = r.child(n, "route", path, true);
  if (present(dests)) {
    if (!dests.IsSequence() || dests.size() == 0) {
      r.fail(dests, rp, "must be a non-empty list of destinations");
    } else {
      uint64_t sum = 0;
      bool weights_ok = true;
      for (size_t i = 0; i < dests.size(); ++i) {
        const std::string p = Reader::index(rp, i);
        const YAML::Node d = dests[i];
        if (!r.mapping(d, p, {"destination", "weight"})) {
          weights_ok = false;
          continue;
        }
        RouteDestination rd;
        rd.where = r.at(d);
        YAML::Node dn = r.child(d, "destination", p, true);
        if (present(dn) &&
            !parseDestinationRef(r, dn, Reader::join(p, "destination"), &rd.host, &rd.subset)) {
          weights_ok = false;
        }
        if (auto w = r.child(d, "weight", p, false); present(w)) {
          auto v = r.integer(w, Reader::join(p, "weight"), 0, 100);
          if (v)
            rd.weight = *v;
          else
            weights_ok = false;
        } else if (dests.size() > 1) {
          r.fail(d, Reader::join(p, "weight"),
                 "required field is missing (a route with several destinations needs a weight "
                 "on each)");
          weights_ok = false;
        }
        sum += rd.weight;
        route.destinations.push_back(rd);
      }
      if (weights_ok && sum != 100) {
        r.fail(dests, rp, fmt::format("weights sum to {}, they must sum to 100", sum));
      }
    }
  }
  if (auto t = r.child(n, "timeout", path, false); present(t)) {
    route.timeout = r.duration(t, Reader::join(path, "timeout"));
  }
  if (auto rt = r.child(n, "retries", path, false); present(rt)) {
    const std::string p = Reader::join(path, "retries");
    if (r.mapping(rt, p, {"attempts", "perTryTimeout", "retryOn"})) {
      RetrySpec spec;
      if (auto a = r.child(rt, "attempts", p, true); present(a)) {
        spec.attempts = r.integer(a, Reader::join(p, "attempts"), 0, 10).value_or(0);
      }
      if (auto t = r.child(rt, "perTryTimeout", p, false); present(t)) {
        spec.per_try_timeout = r.duration(t, Reader::join(p, "perTryTimeout"));
      }
      if (auto on = r.child(rt, "retryOn", p, false); present(on)) {
        const std::string op = Reader::join(p, "retryOn");
        if (auto s = r.string(on, op)) {
          size_t start = 0;
          while (start <= s->size()) {
            size_t comma = s->find(',', start);
            if (comma == std::string::npos) comma = s->size();
            std::string cond = s->substr(start, comma - start);
            cond.erase(0, cond.find_first_not_of(' '));
            cond.erase(cond.find_last_not_of(' ') + 1);
            // HTTP conditions, then gRPC statuses (Envoy's names; docs/policies.md).
            static const std::vector<std::string> kConds{
                "5xx",      "gateway-error",      "connect-failure",
                "reset",    "cancelled",          "deadline-exceeded",
                "internal", "resource-exhausted", "unavailable"};
            if (std::find(kConds.begin(), kConds.end(), cond) == kConds.end()) {
              r.fail(on, op,
                     fmt::format("\"{}\" is not a retry condition (5xx, gateway-error, "
                                 "connect-failure, reset; for gRPC: cancelled, "
                                 "deadline-exceeded, internal, resource-exhausted, unavailable)",
                                 cond));
            } else {
              spec.retry_on.push_back(cond);
            }
            start = comma + 1;
          }
        }
      } else {
        spec.retry_on = {"5xx", "connect-failure", "reset"};
      }
      route.retries = spec;
    }
  }
  if (auto f = r.child(n, "fault", path, false); present(f)) {
    const std::string p = Reader::join(path, "fault");
    if (r.mapping(f, p, {"delay", "abort"})) {
      FaultSpec spec;
      if (auto d = r.child(f, "delay", p, false); present(d)) {
        const std::string dp = Reader::join(p, "delay");
        if (r.mapping(d, dp, {"percentage", "fixedDelay"})) {
          if (auto pc = r.child(d, "percentage", dp, true); present(pc))
            spec.delay_percent = r.number(pc, Reader::join(dp, "percentage"), 0, 100);
          if (auto fd = r.child(d, "fixedDelay", dp, true); present(fd))
            spec.delay = r.duration(fd, Reader::join(dp, "fixedDelay")).value_or(Nanos{0});
        }
      }
      if (auto a = r.child(f, "abort", p, false); present(a)) {
        const std::string ap = Reader::join(p, "abort");
        if (r.mapping(a, ap, {"percentage", "httpStatus", "grpcStatus"})) {
          if (auto pc = r.child(a, "percentage", ap, true); present(pc))
            spec.abort_percent = r.number(pc, Reader::join(ap, "percentage"), 0, 100);
          const auto st = r.child(a, "httpStatus", ap, false);
          const auto gs = r.child(a, "grpcStatus", ap, false);
          if (present(st) && present(gs)) {
            r.fail(gs, Reader::join(ap, "grpcStatus"),
                   "set httpStatus or grpcStatus, not both (a gRPC status abort answers callers "
                   "that are not gRPC with the HTTP status it stands for)");
          } else if (present(st)) {
            spec.abort_status = r.integer(st, Reader::join(ap, "httpStatus"), 200, 599).value_or(0);
          } else if (present(gs)) {
            spec.abort_grpc_status = grpcAbortStatus(r, gs, Reader::join(ap, "grpcStatus"));
          } else {
            r.fail(a, ap, "set httpStatus or grpcStatus");
          }
        }
      }
      if (!present(r.child(f, "delay", p, false)) && !present(r.child(f, "abort", p, false))) {
        r.fail(f, p, "set delay, abort or both");
      }
      route.fault = spec;
    }
  }
  if (auto m = r.child(n, "mirror", path, false); present(m)) {
    const std::string p = Reader::join(path, "mirror");
    if (r.mapping(m, p, {"host", "subset", "percentage"})) {
      MirrorSpec spec;
      spec.where = r.at(m);
      if (auto h = r.child(m, "host", p, true); present(h))
        spec.host = r.name(h, Reader::join(p, "host")).value_or("");
      if (auto s = r.child(m, "subset", p, false); present(s))
        spec.subset = r.name(s, Reader::join(p, "subset")).value_or("");
      if (auto pc = r.child(m, "percentage", p, false); present(pc))
        spec.percent = r.number(pc, Reader::join(p, "percentage"), 0, 100).value_or(0);
      route.mirror = spec;
    }
  }
  if (auto h = r.child(n, "headers", path, false); present(h)) {
    const std::string p = Reader::join(path, "headers");
    if (r.mapping(h, p, {"request", "response"})) {
      if (auto q = r.child(h, "request", p, false); present(q))
        parseHeaderEdits(r, q, Reader::join(p, "request"), &route.request_headers);
      if (auto s = r.child(h, "response", p, false); present(s))
        parseHeaderEdits(r, s, Reader::join(p, "response"), &route.response_headers);
    }
  }
  return route;
}

TrafficRouteSpec parseTrafficRoute(Reader& r, const YAML::Node& spec, const std::string& name) {
  TrafficRouteSpec out;
  if (!r.mapping(spec, "spec", {"host", "http"})) return out;
  if (auto h = r.child(spec, "host", "spec", true); present(h)) {
    out.host = r.name(h, "spec.host").value_or("");
    out.host_where = r.at(h);
  }
  YAML::Node http = r.child(spec, "http", "spec", true);
  if (!present(http)) return out;
  if (!http.IsSequence() || http.size() == 0) {
    r.fail(http, "spec.http", "must be a non-empty list of routes");
    return out;
  }
  for (size_t i = 0; i < http.size(); ++i) {
    const std::string def = http.size() == 1 ? name : fmt::format("{}-{}", name, i);
    auto route = parseHttpRoute(r, http[i], Reader::index("spec.http", i), def);
    if (!route) continue;
    // Within one TrafficRoute a later route whose match repeats an earlier one never runs.
    for (const auto& m : route->matches) {
      for (const auto& earlier : out.http) {
        for (const auto& em : earlier.matches) {
          if (em.key() == m.key()) {
            r.fail(m.where, Reader::index("spec.http", i) + ".match",
                   fmt::format("same match as route \"{}\" (line {}): this one would never be used",
                               earlier.name, em.where.line));
          }
        }
      }
    }
    if (route->matches.empty()) {
      for (const auto& earlier : out.http) {
        if (earlier.matches.empty()) {
          r.fail(route->where, Reader::index("spec.http", i),
                 fmt::format("route \"{}\" (line {}) already matches every request", earlier.name,
                             earlier.where.line));
        }
      }
    }
    out.http.push_back(std::move(*route));
  }
  return out;
}

DestinationPolicySpec parseDestinationPolicy(Reader& r, const YAML::Node& spec) {
  DestinationPolicySpec out;
  if (!r.mapping(spec, "spec", {"host", "trafficPolicy", "subsets"})) return out;
  if (auto h = r.child(spec, "host", "spec", true); present(h)) {
    out.host = r.name(h, "spec.host").value_or("");
    out.host_where = r.at(h);
  }
  if (auto tp = r.child(spec, "trafficPolicy", "spec", false); present(tp)) {
    const std::string p = "spec.trafficPolicy";
    if (r.mapping(tp, p, {"loadBalancer", "connectionPool", "outlierDetection", "protocol"})) {
      if (auto pr = r.child(tp, "protocol", p, false); present(pr)) {
        // Case-insensitive, as the proxy's own config reads Cluster.protocol.
        if (auto v = r.string(pr, p + ".protocol")) {
          const std::string l = lower(*v);
          if (l == "http1") {
            out.protocol = Protocol::kHttp1;
          } else if (l == "http2") {
            out.protocol = Protocol::kHttp2;
          } else if (l == "grpc") {
            out.protocol = Protocol::kGrpc;
          } else {
            r.fail(pr, p + ".protocol",
                   fmt::format("\"{}\" is not one of: http1, http2, grpc", *v));
          }
        }
      }
      if (auto lb = r.child(tp, "loadBalancer", p, false); present(lb)) {
        const std::string lp = p + ".loadBalancer";
        if (r.mapping(lb, lp, {"simple", "consistentHash"})) {
          if (lb.size() != 1) r.fail(lb, lp, "set exactly one of simple or consistentHash");
          if (auto s = r.child(lb, "simple", lp, false); present(s)) {
            auto v = r.oneOf(s, lp + ".simple", {"ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"});
            if (v == "ROUND_ROBIN") out.load_balancer = LoadBalancer::kRoundRobin;
            if (v == "LEAST_REQUEST") out.load_balancer = LoadBalancer::kLeastRequest;
            if (v == "RANDOM") out.load_balancer = LoadBalancer::kRandom;
          }
          if (auto c = r.child(lb, "consistentHash", lp, false); present(c)) {
            const std::string cp = lp + ".consistentHash";
            if (r.mapping(c, cp, {"httpHeaderName"})) {
              if (auto hn = r.child(c, "httpHeaderName", cp, true); present(hn)) {
                auto v = r.string(hn, cp + ".httpHeaderName");
                if (v && !validHeaderName(*v)) {
                  r.fail(hn, cp + ".httpHeaderName", "not a valid header name");
                } else if (v) {
                  out.load_balancer = LoadBalancer::kRingHash;
                  out.hash_header = lower(*v);
                }
              }
            }
          }
        }
      }
      if (auto cp = r.child(tp, "connectionPool", p, false); present(cp)) {
        const std::string pp = p + ".connectionPool";
        if (r.mapping(cp, pp,
                      {"maxConnections", "maxPendingRequests", "maxRequests", "connectTimeout"})) {
          constexpr uint32_t kMax = 1'000'000;
          if (auto v = r.child(cp, "maxConnections", pp, false); present(v))
            out.max_connections = r.integer(v, pp + ".maxConnections", 1, kMax).value_or(0);
          if (auto v = r.child(cp, "maxPendingRequests", pp, false); present(v))
            out.max_pending_requests =
                r.integer(v, pp + ".maxPendingRequests", 1, kMax).value_or(0);
          if (auto v = r.child(cp, "maxRequests", pp, false); present(v))
            out.max_requests = r.integer(v, pp + ".maxRequests", 1, kMax).value_or(0);
          if (auto v = r.child(cp, "connectTimeout", pp, false); present(v))
            out.connect_timeout = r.duration(v, pp + ".connectTimeout");
        }
      }
      if (auto od = r.child(tp, "outlierDetection", p, false); present(od)) {
        const std::string op = p + ".outlierDetection";
        if (r.mapping(od, op, {"consecutive5xxErrors", "baseEjectionTime", "maxEjectionPercent"})) {
          if (auto v = r.child(od, "consecutive5xxErrors", op, true); present(v))
            out.consecutive_errors =
                r.integer(v, op + ".consecutive5xxErrors", 1, 1000).value_or(0);
          if (auto v = r.child(od, "baseEjectionTime", op, false); present(v))
            out.base_ejection_time = r.duration(v, op + ".baseEjectionTime");
          if (auto v = r.child(od, "maxEjectionPercent", op, false); present(v))
            out.max_ejection_percent = r.integer(v, op + ".maxEjectionPercent", 0, 100).value_or(0);
        }
      }
    }
  }
  if (auto ss = r.child(spec, "subsets", "spec", false); present(ss)) {
    if (!ss.IsSequence()) {
      r.fail(ss, "spec.subsets", "must be a list");
      return out;
    }
    for (size_t i = 0; i < ss.size(); ++i) {
      const std::string p = Reader::index("spec.subsets", i);
      if (!r.mapping(ss[i], p, {"name", "labels"})) continue;
      SubsetSpec s;
      s.where = r.at(ss[i]);
      if (auto n = r.child(ss[i], "name", p, true); present(n))
        s.name = r.name(n, p + ".name").value_or("");
      if (auto l = r.child(ss[i], "labels", p, true); present(l)) {
        if (r.mapping(l, p + ".labels", {"version"})) {
          if (auto v = r.child(l, "version", p + ".labels", true); present(v))
            s.version = r.string(v, p + ".labels.version").value_or("");
        }
      }
      for (const auto& earlier : out.subsets) {
        if (!s.name.empty() && earlier.name == s.name)
          r.fail(ss[i], p + ".name",
                 fmt::format("subset \"{}\" is already declared on line {}", s.name,
                             earlier.where.line));
        else if (!s.version.empty() && earlier.version == s.version)
          r.fail(ss[i], p + ".labels.version",
                 fmt::format("version \"{}\" is already selected by subset \"{}\" (line {})",
                             s.version, earlier.name, earlier.where.line));
      }
      out.subsets.push_back(s);
    }
  }
  return out;
}

// selector: {service: x}
void parseSelector(Reader& r, const YAML::Node& spec, bool required, std::string* service,
                   SourceLocation* where) {
  auto sel = r.child(spec, "selector", "spec", required);
  if (!present(sel)) return;
  if (!r.mapping(sel, "spec.selector", {"service"})) return;
  if (auto s = r.child(sel, "service", "spec.selector", true); present(s)) {
    *service = r.name(s, "spec.selector.service").value_or("");
    *where = r.at(s);
  }
}

AuthorizationPolicySpec parseAuthorizationPolicy(Reader& r, const YAML::Node& spec) {
  AuthorizationPolicySpec out;
  if (!r.mapping(spec, "spec", {"selector", "action", "dryRun", "rules"})) return out;
  parseSelector(r, spec, false, &out.service, &out.service_where);
  if (auto a = r.child(spec, "action", "spec", false); present(a)) {
    auto v = r.oneOf(a, "spec.action", {"ALLOW", "DENY"});
    if (v == "DENY") out.action = AuthorizationPolicySpec::Action::kDeny;
  }
  if (auto d = r.child(spec, "dryRun", "spec", false); present(d))
    out.dry_run = r.boolean(d, "spec.dryRun").value_or(false);
  auto rules = r.child(spec, "rules", "spec", false);
  if (!present(rules) || rules.IsNull()) {
    if (out.action == AuthorizationPolicySpec::Action::kDeny)
      r.fail(spec, "spec.rules", "a DENY policy needs rules (an empty DENY would deny nothing)");
    return out;
  }
  if (!rules.IsSequence()) {
    r.fail(rules, "spec.rules", "must be a list");
    return out;
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string p = Reader::index("spec.rules", i);
    const YAML::Node rule = rules[i];
    if (!r.mapping(rule, p, {"from", "to", "when"})) continue;
    AuthorizationRuleSpec rs;
    if (auto from = r.child(rule, "from", p, false); present(from)) {
      if (!from.IsSequence()) r.fail(from, p + ".from", "must be a list");
      for (size_t j = 0; from.IsSequence() && j < from.size(); ++j) {
        const std::string fp = Reader::index(p + ".from", j);
        if (!r.mapping(from[j], fp, {"source"})) continue;
        auto src = r.child(from[j], "source", fp, true);
        if (!present(src) || !r.mapping(src, fp + ".source", {"principals", "services"})) continue;
        if (auto pr = r.child(src, "principals", fp + ".source", false); present(pr)) {
          const std::string pp = fp + ".source.principals";
          if (auto list = r.stringList(pr, pp)) {
            for (size_t k = 0; k < list->size(); ++k) {
              std::string v = (*list)[k];
              // Istio writes principals without the scheme ("cluster.local/ns/x/sa/y").
              if (v != "*" && v.rfind("spiffe://", 0) != 0) v = "spiffe://" + v;
              if (v != "*" && v.find("/ns/") == std::string::npos && v.back() != '*') {
                r.fail(pr[k], Reader::index(pp, k),
                       fmt::format("\"{}\" is not a workload identity "
                                   "(spiffe://<trust-domain>/ns/<ns>/sa/<service>, or a prefix "
                                   "ending in '*')",
                                   (*list)[k]));
              }
              rs.principals.push_back(v);
            }
          }
        }
        if (auto sv = r.child(src, "services", fp + ".source", false); present(sv)) {
          const std::string sp = fp + ".source.services";
          if (auto list = r.stringList(sv, sp)) {
            for (size_t k = 0; k < list->size(); ++k) {
              auto v = r.name(sv[k], Reader::index(sp, k));
              if (v) {
                rs.source_services.push_back(*v);
                rs.source_services_where.push_back(r.at(sv[k]));
              }
            }
          }
        }
      }
    }
    if (auto to = r.child(rule, "to", p, false); present(to)) {
      if (!to.IsSequence()) r.fail(to, p + ".to", "must be a list");
      for (size_t j = 0; to.IsSequence() && j < to.size(); ++j) {
        const std::string tp = Reader::index(p + ".to", j);
        if (!r.mapping(to[j], tp, {"operation"})) continue;
        auto op = r.child(to[j], "operation", tp, true);
        if (!present(op) || !r.mapping(op, tp + ".operation", {"methods", "paths"})) continue;
        std::vector<std::string> methods, paths;
        if (auto m = r.child(op, "methods", tp + ".operation", false); present(m)) {
          const std::string mp = tp + ".operation.methods";
          if (auto list = r.stringList(m, mp)) {
            for (size_t k = 0; k < list->size(); ++k) {
              if (std::find(httpMethods().begin(), httpMethods().end(), (*list)[k]) ==
                  httpMethods().end())
                r.fail(m[k], Reader::index(mp, k),
                       fmt::format("\"{}\" is not an HTTP method (upper case)", (*list)[k]));
              methods.push_back((*list)[k]);
            }
          }
        }
        if (auto ps = r.child(op, "paths", tp + ".operation", false); present(ps)) {
          const std::string pp = tp + ".operation.paths";
          if (auto list = r.stringList(ps, pp)) {
            for (size_t k = 0; k < list->size(); ++k) {
              const auto& v = (*list)[k];
              if (v != "*" && v.front() != '/')
                r.fail(ps[k], Reader::index(pp, k), "a path must start with '/' (or be \"*\")");
              if (v.find('*') != std::string::npos && v.find('*') != v.size() - 1)
                r.fail(ps[k], Reader::index(pp, k), "'*' is only allowed at the end of a path");
              paths.push_back(v);
            }
          }
        }
        rs.methods.push_back(methods);
        rs.paths.push_back(paths);
      }
    }
    if (auto when = r.child(rule, "when", p, false); present(when)) {
      if (!when.IsSequence()) r.fail(when, p + ".when", "must be a list");
      static const std::regex kHeaderKey(R"(request\.headers\[([^\]]+)\])");
      for (size_t j = 0; when.IsSequence() && j < when.size(); ++j) {
        const std::string wp = Reader::index(p + ".when", j);
        if (!r.mapping(when[j], wp, {"key", "values"})) continue;
        auto key = r.child(when[j], "key", wp, true);
        auto values = r.child(when[j], "values", wp, true);
        if (!present(key) || !present(values)) continue;
        auto k = r.string(key, wp + ".key");
        std::smatch sm;
        if (!k) continue;
        if (!std::regex_match(*k, sm, kHeaderKey) || !validHeaderName(sm[1].str())) {
          r.fail(key, wp + ".key",
                 fmt::format("\"{}\" is not supported (use request.headers[<name>])", *k));
          continue;
        }
        auto list = r.stringList(values, wp + ".values");
        if (!list) continue;
        if (list->empty()) {
          r.fail(values, wp + ".values", "must not be empty");
          continue;
        }
        HeaderCondition h;
        h.name = lower(sm[1].str());
        if (list->size() == 1) {
          h.value = StringMatch{StringMatch::Type::kExact, list->front()};
        } else {
          // Any of several values: one anchored alternation of the escaped literals.
          static const std::regex kSpecial(R"([.^$|()\[\]{}*+?\\/-])");
          std::string alt;
          for (const auto& v : *list)
            alt += (alt.empty() ? "" : "|") + std::regex_replace(v, kSpecial, R"(\$&)");
          h.value = StringMatch{StringMatch::Type::kRegex, "(" + alt + ")"};
        }
        rs.headers.push_back(h);
      }
    }
    out.rules.push_back(rs);
  }
  return out;
}

PeerAuthenticationSpec parsePeerAuthentication(Reader& r, const YAML::Node& spec) {
  PeerAuthenticationSpec out;
  if (!r.mapping(spec, "spec", {"selector", "mtls"})) return out;
  parseSelector(r, spec, false, &out.service, &out.service_where);
  auto m = r.child(spec, "mtls", "spec", true);
  if (present(m) && r.mapping(m, "spec.mtls", {"mode"})) {
    if (auto mode = r.child(m, "mode", "spec.mtls", true); present(mode)) {
      auto v = r.oneOf(mode, "spec.mtls.mode", {"STRICT", "PERMISSIVE", "DISABLE", "UNSET"});
      if (v == "STRICT") out.mode = MtlsMode::kStrict;
      if (v == "PERMISSIVE") out.mode = MtlsMode::kPermissive;
      if (v == "DISABLE") out.mode = MtlsMode::kDisable;
    }
  }
  return out;
}

RateLimitSpec parseRateLimit(Reader& r, const YAML::Node& spec) {
  RateLimitSpec out;
  if (!r.mapping(spec, "spec", {"selector", "requestsPerSecond", "burst"})) return out;
  parseSelector(r, spec, true, &out.service, &out.service_where);
  if (auto v = r.child(spec, "requestsPerSecond", "spec", true); present(v))
    out.requests_per_second = r.number(v, "spec.requestsPerSecond", 0.001, 1e6).value_or(0);
  if (auto v = r.child(spec, "burst", "spec", false); present(v)) {
    out.burst = r.integer(v, "spec.burst", 1, 1'000'000).value_or(1);
  } else {
    out.burst = static_cast<uint32_t>(std::max(1.0, std::ceil(out.requests_per_second)));
  }
  return out;
}

void parseTolerance(Reader& r, const YAML::Node& tolerances, const char* key,
                    HealthToleranceSpec* out) {
  const std::string path = std::string("spec.tolerances.") + key;
  auto t = r.child(tolerances, key, "spec.tolerances", false);
  if (!present(t) || !r.mapping(t, path, {"degraded", "failed"})) return;
  if (auto v = r.child(t, "degraded", path, false); present(v))
    out->degraded = r.number(v, path + ".degraded", 0, 100);
  if (auto v = r.child(t, "failed", path, false); present(v))
    out->failed = r.number(v, path + ".failed", 0.001, 100);
  if (out->degraded && out->failed && *out->degraded > *out->failed)
    r.fail(
        t, path,
        fmt::format("degraded ({}%) must not be above failed ({}%)", *out->degraded, *out->failed));
}

HealthPolicySpec parseHealthPolicy(Reader& r, const YAML::Node& spec) {
  HealthPolicySpec out;
  if (!r.mapping(spec, "spec",
                 {"selector", "tolerances", "latency", "proxiesNotSynced", "certificateExpiry",
                  "certificateWarning"}))
    return out;
  parseSelector(r, spec, false, &out.service, &out.service_where);
  if (auto t = r.child(spec, "tolerances", "spec", false);
      present(t) && r.mapping(t, "spec.tolerances", {"http5xx", "http4xx", "grpc"})) {
    parseTolerance(r, t, "http5xx", &out.http5xx);
    parseTolerance(r, t, "http4xx", &out.http4xx);
    parseTolerance(r, t, "grpc", &out.grpc);
  }
  if (auto l = r.child(spec, "latency", "spec", false);
      present(l) && r.mapping(l, "spec.latency", {"p99"})) {
    if (auto v = r.child(l, "p99", "spec.latency", false); present(v)) {
      if (auto d = r.duration(v, "spec.latency.p99")) {
        if (d->count() <= 0)
          r.fail(v, "spec.latency.p99", "must be above 0");
        else
          out.p99_target_ms = double(d->count()) / 1e6;
      }
    }
  }
  if (auto v = r.child(spec, "proxiesNotSynced", "spec", false); present(v))
    out.proxies_not_synced = r.boolean(v, "spec.proxiesNotSynced");
  if (auto v = r.child(spec, "certificateExpiry", "spec", false); present(v))
    out.certificate_expiry = r.boolean(v, "spec.certificateExpiry");
  if (auto v = r.child(spec, "certificateWarning", "spec", false); present(v)) {
    if (auto d = r.duration(v, "spec.certificateWarning")) {
      if (d->count() <= 0)
        r.fail(v, "spec.certificateWarning", "must be above 0");
      else
        out.certificate_warning = *d;
    }
  }
  return out;
}

void setBlockStyle(YAML::Node n) {
  if (n.IsMap() || n.IsSequence()) {
    if (n.size() > 0) n.SetStyle(YAML::EmitterStyle::Block);
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (n.IsMap())
        setBlockStyle(it->second);
      else
        setBlockStyle(*it);
    }
  }
}

std::optional<Policy> parseDocument(Reader& r, const YAML::Node& doc) {
  if (!r.mapping(doc, "", {"apiVersion", "kind", "metadata", "spec"})) return std::nullopt;
  Policy p;
  p.where = r.at(doc);
  bool ok = true;
  if (auto v = r.child(doc, "apiVersion", "", true); present(v)) {
    auto s = r.string(v, "apiVersion");
    if (s && *s != kApiVersion) {
      r.fail(v, "apiVersion", fmt::format("\"{}\" is not supported (use {})", *s, kApiVersion));
      ok = false;
    }
  }
  auto kind = r.child(doc, "kind", "", true);
  if (!present(kind)) return std::nullopt;
  auto k = r.oneOf(kind, "kind",
                   {"TrafficRoute", "DestinationPolicy", "AuthorizationPolicy",
                    "PeerAuthentication", "RateLimit", "HealthPolicy"});
  if (!k) return std::nullopt;
  const auto parsed_kind = policyKindFromString(*k);
  assert(parsed_kind.has_value());  // oneOf() accepted only the kinds' names
  p.kind = *parsed_kind;
  auto meta = r.child(doc, "metadata", "", true);
  if (present(meta) &&
      r.mapping(meta, "metadata", {"name", "namespace", "labels", "annotations"})) {
    if (auto n = r.child(meta, "name", "metadata", true); present(n)) {
      auto name = r.name(n, "metadata.name");
      ok = ok && name.has_value();
      p.name = name.value_or("");
    } else {
      ok = false;
    }
    if (auto ns = r.child(meta, "namespace", "metadata", false); present(ns)) {
      auto v = r.string(ns, "metadata.namespace");
      if (v && *v != "default") {
        r.fail(ns, "metadata.namespace", "only the \"default\" namespace exists in this mesh");
      }
    }
  } else {
    ok = false;
  }
  auto spec = r.child(doc, "spec", "", true);
  if (!present(spec)) return std::nullopt;
  switch (p.kind) {
    case PolicyKind::kTrafficRoute:
      p.spec = parseTrafficRoute(r, spec, p.name);
      break;
    case PolicyKind::kDestinationPolicy:
      p.spec = parseDestinationPolicy(r, spec);
      break;
    case PolicyKind::kAuthorizationPolicy:
      p.spec = parseAuthorizationPolicy(r, spec);
      break;
    case PolicyKind::kPeerAuthentication:
      p.spec = parsePeerAuthentication(r, spec);
      break;
    case PolicyKind::kRateLimit:
      p.spec = parseRateLimit(r, spec);
      break;
    case PolicyKind::kHealthPolicy:
      p.spec = parseHealthPolicy(r, spec);
      break;
  }
  if (!ok) return std::nullopt;
  // Block style everywhere, so that the stored text and its diffs do not depend on how the
  // author wrote the file.
  YAML::Node normalized = YAML::Clone(doc);
  setBlockStyle(normalized);
  YAML::Emitter emitter;
  emitter << normalized;
  p.yaml = std::string(emitter.c_str()) + "\n";
  return p;
}

}  // namespace

std::vector<Policy> parsePolicies(std::string_view yaml, const std::string& file,
                                  std::vector<common::LocatedError>* errors) {
  std::vector<Policy> out;
  Reader r(file, errors);
  // Limits, encoding and syntax are checked before any walk (the messages say which limit).
  const common::YamlDocuments loaded = common::loadYaml(yaml, file);
  if (!loaded.ok()) {
    r.fail(*loaded.error);
    return out;
  }
  const std::vector<YAML::Node>& docs = loaded.documents;
  for (const auto& doc : docs) {
    if (doc.IsNull()) continue;
    try {
      const size_t before = errors->size();
      auto p = parseDocument(r, doc);
      if (p && errors->size() == before) {
        p->where.file = file;
        for (const auto& earlier : out) {
          if (earlier.kind == p->kind && earlier.name == p->name) {
            r.fail(p->where, "metadata.name",
                   fmt::format("{} is defined twice in this file (first on line {})", p->id(),
                               earlier.where.line));
          }
        }
        out.push_back(std::move(*p));
      }
    } catch (const YAML::Exception& e) {
      // yaml-cpp throws on conversions the reader did not foresee; report, never crash.
      r.fail(doc, "", fmt::format("invalid document: {}", e.what()));
    }
  }
  return out;
}

}  // namespace meshdeck::cp
