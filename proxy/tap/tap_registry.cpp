#include "proxy/tap/tap_registry.h"

#include <algorithm>
#include <cctype>

#include "common/telemetry/grpc_status.h"

namespace meshdeck::proxy {

namespace {
// A tap's token bucket; shared by the sets that keep the tap, so a new rate share does not
// refill it.
struct Bucket {
  std::mutex mutex;
  double tokens = 0;
  std::chrono::steady_clock::time_point last{};
  bool started = false;
};

std::string_view hostOf(std::string_view authority) {
  // "[::1]:80" keeps its brackets; "reviews:9080" loses the port.
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  const auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool matches(std::string_view want, std::string_view have) { return want.empty() || want == have; }
}  // namespace

struct TapCapture::Set {
  std::vector<TapSpec> specs;
  std::vector<std::shared_ptr<Bucket>> buckets;
};

std::pair<std::string, std::string> TapCapture::redacted(std::string_view name,
                                                         std::string_view value) const {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool redact = TapRegistry::alwaysRedacted(lower);
  for (size_t i = 0; !redact && set && i < set->specs.size(); ++i) {
    if (!(mask & (uint64_t{1} << i))) continue;
    const auto& r = set->specs[i].redact_headers;
    redact = std::any_of(r.begin(), r.end(),
                         [&](const std::string& h) { return equalsIgnoreCase(h, lower); });
  }
  return {std::move(lower), redact ? std::string(TapRegistry::kRedacted) : std::string(value)};
}

void TapCapture::addHeader(std::string_view name, std::string_view value) {
  headers.push_back(redacted(name, value));
}

void TapCapture::addResponseHeader(std::string_view name, std::string_view value) {
  if (equalsIgnoreCase(name, "x-meshdeck-error")) response_error = value;
  if (wants_headers) response_headers.push_back(redacted(name, value));
}

TapRegistry::TapRegistry() : set_(std::make_shared<TapCapture::Set>()) {}
TapRegistry::~TapRegistry() = default;

bool TapRegistry::alwaysRedacted(std::string_view n) {
  return n == "authorization" || n == "proxy-authorization" || n == "cookie" || n == "set-cookie";
}

void TapRegistry::set(std::vector<TapSpec> specs) {
  if (specs.size() > kMaxTaps) specs.resize(kMaxTaps);
  auto next = std::make_shared<TapCapture::Set>();
  std::lock_guard lock(set_mutex_);
  for (auto& spec : specs) {
    std::shared_ptr<Bucket> bucket;
    for (size_t i = 0; i < set_->specs.size(); ++i)
      if (set_->specs[i].tap_id == spec.tap_id) bucket = set_->buckets[i];
    if (!bucket) bucket = std::make_shared<Bucket>();
    spec.burst = std::max<uint32_t>(1, spec.burst);
    for (auto& h : spec.redact_headers)
      for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    next->specs.push_back(std::move(spec));
    next->buckets.push_back(std::move(bucket));
  }
  const bool any = !next->specs.empty();
  set_ = std::move(next);
  ++counters_.sets_applied;
  {
    // Events and drops of taps that closed have nowhere to go.
    std::lock_guard buffer_lock(buffer_mutex_);
    const auto open = [&](uint64_t id) {
      return std::any_of(set_->specs.begin(), set_->specs.end(),
                         [&](const TapSpec& s) { return s.tap_id == id; });
    };
    buffer_.erase(std::remove_if(buffer_.begin(), buffer_.end(),
                                 [&](const TapRecord& r) { return !open(r.tap_id); }),
                  buffer_.end());
    for (auto it = dropped_.begin(); it != dropped_.end();)
      it = open(it->first) ? std::next(it) : dropped_.erase(it);
  }
  active_.store(any, std::memory_order_relaxed);
}

std::vector<TapSpec> TapRegistry::specs() const {
  std::lock_guard lock(set_mutex_);
  return set_->specs;
}

size_t TapRegistry::size() const {
  std::lock_guard lock(set_mutex_);
  return set_->specs.size();
}

std::unique_ptr<TapCapture> TapRegistry::start(const TapStartFacts& f) const {
  std::shared_ptr<const TapCapture::Set> set;
  {
    std::lock_guard lock(set_mutex_);
    set = set_;
  }
  if (set->specs.empty()) return nullptr;
  // The path without scheme and authority (absolute form) and without the query.
  std::string_view path = f.target, authority = f.host;
  if (path.size() > 7 && (path.substr(0, 7) == "http://" || path.substr(0, 8) == "https://")) {
    const auto rest = path.substr(path.find("//") + 2);
    const auto slash = rest.find('/');
    if (authority.empty()) authority = rest.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  const auto query = path.find('?');
  const std::string_view bare_path = query == std::string_view::npos ? path : path.substr(0, query);
  uint64_t mask = 0;
  bool wants_headers = false;
  for (size_t i = 0; i < set->specs.size(); ++i) {
    const TapSpec& s = set->specs[i];
    if (s.direction == TapSpec::Direction::kInbound && f.outbound) continue;
    if (s.direction == TapSpec::Direction::kOutbound && !f.outbound) continue;
    // Each request once: one a mesh proxy sent was seen on that proxy's outbound side.
    if (s.direction == TapSpec::Direction::kFirstHop && f.from_mesh_proxy) continue;
    if (!matches(s.method, f.method)) continue;
    if (!s.path_prefix.empty() && bare_path.substr(0, s.path_prefix.size()) != s.path_prefix)
      continue;
    if (!s.authority.empty() && !equalsIgnoreCase(s.authority, authority) &&
        !equalsIgnoreCase(s.authority, hostOf(authority)))
      continue;
    // The side the workload is on is known now; the other side once routed (finish()).
    if (f.outbound) {
      if (!matches(s.source_service, f.workload_service) ||
          !matches(s.source_version, f.workload_version))
        continue;
    } else {
      if (!matches(s.destination_service, f.workload_service) ||
          !matches(s.destination_version, f.workload_version))
        continue;
    }
    mask |= uint64_t{1} << i;
    wants_headers = wants_headers || s.headers;
  }
  if (!mask) return nullptr;
  auto capture = std::make_unique<TapCapture>();
  capture->mask = mask;
  capture->set = std::move(set);
  capture->wall_start = std::chrono::system_clock::now();
  capture->method = f.method;
  capture->authority = authority;
  capture->path = path;
  capture->peer_identity = f.peer_identity;
  capture->wants_headers = wants_headers;
  return capture;
}

void TapRegistry::finish(const TapCapture& c, const TapEndFacts& f, SteadyTime now) {
  if (!c.set) return;
  // A gRPC call's class is that of the HTTP status its gRPC status stands for.
  const uint32_t http = f.grpc_status ? common::grpcStatusHttpEquivalent(*f.grpc_status) : f.status;
  const uint32_t status_class = http >= 100 && http < 600 ? http / 100 : 0;
  for (size_t i = 0; i < c.set->specs.size(); ++i) {
    if (!(c.mask & (uint64_t{1} << i))) continue;
    const TapSpec& s = c.set->specs[i];
    if (!matches(s.source_service, f.source_service) ||
        !matches(s.source_version, f.source_version) ||
        !matches(s.destination_service, f.destination_service) ||
        !matches(s.destination_version, f.destination_version))
      continue;
    if (!s.service.empty()) {
      const bool src =
          s.service == f.source_service && matches(s.service_version, f.source_version);
      const bool dst =
          s.service == f.destination_service && matches(s.service_version, f.destination_version);
      if (!src && !dst) continue;
    }
    if (s.status_class && s.status_class != status_class) continue;
    if (f.latency_us < s.min_latency_us) continue;
    {
      Bucket& b = *c.set->buckets[i];
      std::lock_guard lock(b.mutex);
      const double cap = static_cast<double>(s.burst);
      if (!b.started) {
        b.started = true;
        b.tokens = cap;
      } else {
        const double elapsed = std::chrono::duration<double>(now - b.last).count();
        if (elapsed > 0) b.tokens = std::min(cap, b.tokens + elapsed * s.events_per_second);
      }
      if (now > b.last) b.last = now;
      if (b.tokens < 1) {
        ++counters_.dropped_rate;
        std::lock_guard buffer_lock(buffer_mutex_);
        ++dropped_[s.tap_id];
        continue;
      }
      b.tokens -= 1;
    }
    TapRecord r;
    r.tap_id = s.tap_id;
    r.start = c.wall_start;
    r.client_side = f.client_side;
    r.source_service = f.source_service;
    r.source_version = f.source_version;
    // The proxy's own identity is the source's on an outbound listener and the destination's
    // on an inbound one; the other end is the mutual TLS peer (downstream or upstream).
    r.source_identity = f.client_side ? f.own_identity : std::string_view(c.peer_identity);
    r.destination_service = f.destination_service;
    r.destination_version = f.destination_version;
    r.destination_identity = f.client_side ? f.upstream_identity : f.own_identity;
    r.protocol = f.protocol;
    r.method = c.method;
    r.authority = c.authority;
    r.path = c.path;
    r.status = f.status;
    r.grpc_status = f.grpc_status;
    r.latency_us = f.latency_us;
    r.bytes_in = f.bytes_in;
    r.bytes_out = f.bytes_out;
    r.retries = f.retries;
    r.error_code = !f.error_code.empty() ? std::string(f.error_code) : c.response_error;
    r.route = f.route;
    r.authorization_policy = f.authorization_policy;
    r.authorization_rule = f.authorization_rule;
    r.mtls = f.mtls;
    // traceparent: 00-<trace id, 32 hex>-<span id, 16 hex>-<flags>
    if (f.traceparent.size() >= 55 && f.traceparent[2] == '-') {
      r.trace_id = f.traceparent.substr(3, 32);
      r.span_id = f.traceparent.substr(36, 16);
    }
    if (s.headers) {
      r.request_headers = c.headers;
      r.response_headers = c.response_headers;
    }
    ++counters_.built;
    std::lock_guard buffer_lock(buffer_mutex_);
    if (buffer_.size() >= kBufferEvents) {
      ++counters_.dropped_buffer;
      ++dropped_[s.tap_id];
      continue;
    }
    buffer_.push_back(std::move(r));
  }
}

std::vector<TapRecord> TapRegistry::drain(std::map<uint64_t, uint64_t>* dropped) {
  std::lock_guard lock(buffer_mutex_);
  std::vector<TapRecord> out;
  out.swap(buffer_);
  if (dropped) {
    dropped->clear();
    dropped->swap(dropped_);
  } else {
    dropped_.clear();
  }
  return out;
}

std::string TapRegistry::renderPrometheus() const {
  std::string out;
  out += "# HELP meshdeck_tap_active Taps open on this proxy.\n# TYPE meshdeck_tap_active gauge\n";
  out += "meshdeck_tap_active " + std::to_string(size()) + "\n";
  out +=
      "# HELP meshdeck_tap_events_built_total Tap events built (none while no tap is open).\n"
      "# TYPE meshdeck_tap_events_built_total counter\n";
  out += "meshdeck_tap_events_built_total " + std::to_string(counters_.built.load()) + "\n";
  out +=
      "# HELP meshdeck_tap_events_dropped_total Tap events dropped: over the tap's rate share, or "
      "the event buffer full.\n# TYPE meshdeck_tap_events_dropped_total counter\n";
  out += "meshdeck_tap_events_dropped_total{reason=\"rate\"} " +
         std::to_string(counters_.dropped_rate.load()) + "\n";
  out += "meshdeck_tap_events_dropped_total{reason=\"buffer\"} " +
         std::to_string(counters_.dropped_buffer.load()) + "\n";
  return out;
}

}  // namespace meshdeck::proxy
