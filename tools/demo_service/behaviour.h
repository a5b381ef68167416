#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tools/load/http_url.h"

namespace meshdeck::tools {

enum class CallMode { kSequential, kParallel };

// How one demo service answers. Set from flags, from a --config entry, or at run time with
// PUT /_demo/behaviour; the same field names are used in all three places.
struct Behaviour {
  // Own processing time, log-normal with these two quantiles (both 0: answer at once).
  std::chrono::nanoseconds latency_p50{0};
  std::chrono::nanoseconds latency_p99{0};
  double error_rate = 0;  // share of requests answered with error_status, 0..1
  unsigned error_status = 503;
  size_t response_size = 0;  // the JSON body is padded to at least this many bytes
  // Downstream calls made for every request: http:// URLs, or grpc://authority[/path] for a
  // gRPC service (meshdeck.demo.v1.Demo/Call with the path as CallRequest.path).
  std::vector<HttpUrl> calls;
  CallMode call_mode = CallMode::kSequential;
  std::chrono::nanoseconds call_timeout = std::chrono::seconds(5);
  // Answer 502 when a downstream call fails (transport error or 5xx), as a real service
  // that needs its dependencies would.
  bool propagate_errors = true;
};

// Parses a call URL: "http://..." (parseHttpUrl) or "grpc://host[:port][/path]" (port 80 when
// absent, `grpc` set). Returns nullopt and explains in `error` otherwise.
std::optional<HttpUrl> parseCallUrl(std::string_view text, std::string* error);
// The URL as written: "grpc://authority/path" or "http://authority/path".
std::string callUrlText(const HttpUrl& url);

// A field's value as read from JSON or YAML: YAML scalars arrive as text, JSON numbers as
// double, sequences as lists of text.
using FieldValue = std::variant<std::string, double, bool, std::vector<std::string>>;

// Sets one field of `b` by its name. Returns false and explains in `error` for an unknown
// name or a value of the wrong type or range; `b` is then unchanged.
bool setBehaviourField(Behaviour& b, std::string_view name, const FieldValue& value,
                       std::string* error);

// Whether `name` is a behaviour field (so config readers can tell them from other keys).
bool isBehaviourField(std::string_view name);

// Checks the fields together (e.g. p99 >= p50). Empty when valid.
std::string validateBehaviour(const Behaviour& b);

// `base` with the fields of the JSON object `json` applied: all-or-nothing, so a bad field
// leaves nothing changed. Returns false and explains in `error`.
bool applyBehaviourJson(const Behaviour& base, std::string_view json, Behaviour* out,
                        std::string* error);

// Every field as a JSON object (durations as "5ms" strings).
std::string behaviourToJson(const Behaviour& b);

// Draws processing times: log-normal with the given median and 99th percentile, i.e.
// mu = ln(p50) and sigma = (ln(p99) - ln(p50)) / z(0.99). Deterministic for a seeded engine.
class LatencyModel {
 public:
  LatencyModel(std::chrono::nanoseconds p50, std::chrono::nanoseconds p99);
  std::chrono::nanoseconds sample(std::mt19937_64& rng) const;

 private:
  double mu_ = 0;
  double sigma_ = 0;
  bool zero_ = true;
};

}  // namespace meshdeck::tools
