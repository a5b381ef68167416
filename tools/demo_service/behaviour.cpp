#include "behaviour.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "common/duration.h"

namespace meshdeck::tools {

namespace {

constexpr double kZ99 = 2.3263478740408408;  // standard normal quantile at 0.99
constexpr size_t kMaxResponseSize = 16u << 20;
constexpr auto kMaxLatency = std::chrono::seconds(60);

const std::vector<std::string_view>& fieldNames() {
  static const std::vector<std::string_view> names{
      "latency_p50", "latency_p99", "error_rate",   "error_status",    "response_size",
      "calls",       "call_mode",   "call_timeout", "propagate_errors"};
  return names;
}

bool asNumber(const FieldValue& v, double* out) {
  if (const auto* d = std::get_if<double>(&v)) {
    *out = *d;
    return true;
  }
  if (const auto* s = std::get_if<std::string>(&v)) {
    const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), *out);
    return !s->empty() && ec == std::errc{} && end == s->data() + s->size() && std::isfinite(*out);
  }
  return false;
}

bool asDuration(const FieldValue& v, std::chrono::nanoseconds* out) {
  const auto* s = std::get_if<std::string>(&v);
  if (!s) return false;
  const auto d = common::parseDuration(*s);
  if (!d) return false;
  *out = *d;
  return true;
}

bool asBool(const FieldValue& v, bool* out) {
  if (const auto* b = std::get_if<bool>(&v)) {
    *out = *b;
    return true;
  }
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (*s == "true")
      *out = true;
    else if (*s == "false")
      *out = false;
    else
      return false;
    return true;
  }
  return false;
}

}  // namespace

std::optional<HttpUrl> parseCallUrl(std::string_view text, std::string* error) {
  constexpr std::string_view kGrpc = "grpc://";
  if (!text.starts_with(kGrpc)) return parseHttpUrl(text, error);
  std::string why;
  auto url = parseHttpUrl("http://" + std::string(text.substr(kGrpc.size())), &why);
  if (!url) {
    *error = "'" + std::string(text) + "' is not a grpc:// URL";
    return std::nullopt;
  }
  url->grpc = true;
  return url;
}

std::string callUrlText(const HttpUrl& url) {
  return url.grpc ? "grpc://" + url.authority + url.target : url.absoluteForm();
}

bool isBehaviourField(std::string_view name) {
  const auto& names = fieldNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool setBehaviourField(Behaviour& b, std::string_view name, const FieldValue& value,
                       std::string* error) {
  const std::string field(name);
  if (name == "latency_p50" || name == "latency_p99" || name == "call_timeout") {
    std::chrono::nanoseconds d{};
    if (!asDuration(value, &d)) {
      *error = field + " must be a duration such as \"5ms\"";
      return false;
    }
    if (d > kMaxLatency) {
      *error = field + " must be at most 60s";
      return false;
    }
    (name == "latency_p50"   ? b.latency_p50
     : name == "latency_p99" ? b.latency_p99
                             : b.call_timeout) = d;
    return true;
  }
  if (name == "error_rate") {
    double rate = 0;
    if (!asNumber(value, &rate) || rate < 0 || rate > 1) {
      *error = "error_rate must be a number from 0 to 1";
      return false;
    }
    b.error_rate = rate;
    return true;
  }
  if (name == "error_status") {
    double status = 0;
    if (!asNumber(value, &status) || status != std::floor(status) || status < 400 || status > 599) {
      *error = "error_status must be an HTTP status from 400 to 599";
      return false;
    }
    b.error_status = static_cast<unsigned>(status);
    return true;
  }
  if (name == "response_size") {
    double size = 0;
    if (!asNumber(value, &size) || size != std::floor(size) || size < 0 ||
        size > double(kMaxResponseSize)) {
      *error = "response_size must be a whole number of bytes up to 16777216";
      return false;
    }
    b.response_size = static_cast<size_t>(size);
    return true;
  }
  if (name == "calls") {
    const auto* list = std::get_if<std::vector<std::string>>(&value);
    if (!list) {
      *error = "calls must be a list of URLs";
      return false;
    }
    std::vector<HttpUrl> calls;
    for (const auto& text : *list) {
      std::string why;
      auto url = parseCallUrl(text, &why);
      if (!url) {
        *error = "calls: " + why;
        return false;
      }
      calls.push_back(std::move(*url));
    }
    b.calls = std::move(calls);
    return true;
  }
  if (name == "call_mode") {
    const auto* s = std::get_if<std::string>(&value);
    if (!s || (*s != "sequential" && *s != "parallel")) {
      *error = "call_mode must be \"sequential\" or \"parallel\"";
      return false;
    }
    b.call_mode = *s == "parallel" ? CallMode::kParallel : CallMode::kSequential;
    return true;
  }
  if (name == "propagate_errors") {
    bool flag = false;
    if (!asBool(value, &flag)) {
      *error = "propagate_errors must be true or false";
      return false;
    }
    b.propagate_errors = flag;
    return true;
  }
  *error = "unknown field '" + field + "'";
  return false;
}

std::string validateBehaviour(const Behaviour& b) {
  if (b.latency_p99 < b.latency_p50) return "latency_p99 must not be below latency_p50";
  if (b.latency_p50.count() == 0 && b.latency_p99.count() != 0)
    return "latency_p50 must be above 0 when latency_p99 is";
  if (b.call_timeout.count() == 0) return "call_timeout must be above 0";
  return {};
}

bool applyBehaviourJson(const Behaviour& base, std::string_view json, Behaviour* out,
                        std::string* error) {
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(json, ec);
  if (ec) {
    *error = "body is not JSON: " + ec.message();
    return false;
  }
  if (!parsed.is_object()) {
    *error = "body must be a JSON object";
    return false;
  }
  Behaviour next = base;
  for (const auto& [key, value] : parsed.as_object()) {
    FieldValue field;
    if (value.is_string()) {
      field = std::string(value.as_string());
    } else if (value.is_number()) {
      field = value.to_number<double>();
    } else if (value.is_bool()) {
      field = value.as_bool();
    } else if (value.is_array()) {
      std::vector<std::string> list;
      for (const auto& item : value.as_array()) {
        if (!item.is_string()) {
          *error = std::string(key) + " must be a list of strings";
          return false;
        }
        list.emplace_back(item.as_string());
      }
      field = std::move(list);
    } else {
      *error = std::string(key) + " has a value of the wrong type";
      return false;
    }
    if (!setBehaviourField(next, key, field, error)) return false;
  }
  if (auto problem = validateBehaviour(next); !problem.empty()) {
    *error = problem;
    return false;
  }
  *out = std::move(next);
  return true;
}

std::string behaviourToJson(const Behaviour& b) {
  boost::json::array calls;
  for (const auto& c : b.calls) calls.emplace_back(callUrlText(c));
  const boost::json::object obj{
      {"latency_p50", common::formatDuration(b.latency_p50)},
      {"latency_p99", common::formatDuration(b.latency_p99)},
      {"error_rate", b.error_rate},
      {"error_status", b.error_status},
      {"response_size", b.response_size},
      {"calls", std::move(calls)},
      {"call_mode", b.call_mode == CallMode::kParallel ? "parallel" : "sequential"},
      {"call_timeout", common::formatDuration(b.call_timeout)},
      {"propagate_errors", b.propagate_errors}};
  return boost::json::serialize(obj);
}

LatencyModel::LatencyModel(std::chrono::nanoseconds p50, std::chrono::nanoseconds p99) {
  if (p50.count() <= 0) return;
  zero_ = false;
  mu_ = std::log(double(p50.count()));
  sigma_ = p99 > p50 ? (std::log(double(p99.count())) - mu_) / kZ99 : 0.0;
}

std::chrono::nanoseconds LatencyModel::sample(std::mt19937_64& rng) const {
  if (zero_) return std::chrono::nanoseconds{0};
  double ns = std::exp(mu_);
  if (sigma_ > 0) ns = std::lognormal_distribution<double>(mu_, sigma_)(rng);
  // The far tail of a log-normal is unbounded; a demo request never sleeps over a minute.
  ns = std::min(ns, double(std::chrono::nanoseconds(kMaxLatency).count()));
  return std::chrono::nanoseconds{static_cast<int64_t>(ns)};
}

}  // namespace meshdeck::tools
