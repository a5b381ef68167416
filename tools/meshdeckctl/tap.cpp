// meshdeckctl tap and top --routes (docs/tap.md).
#include "controlplane/api/tap.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>
#include <map>

#include "common/telemetry/grpc_status.h"
#include "controlplane/tap/tap_proto.h"
#include "tools/meshdeckctl/meshdeckctl.h"

namespace meshdeck::tools {

namespace v1 = meshdeck::v1;

namespace {
// "svc/NAME", "svc/NAME/VERSION" or "NAME" -> service, version.
bool parseService(const std::string& text, std::string* service, std::string* version) {
  std::string rest = text;
  for (const std::string prefix : {"svc/", "service/", "deploy/"})
    if (rest.rfind(prefix, 0) == 0) rest = rest.substr(prefix.size());
  const auto slash = rest.find('/');
  *service = rest.substr(0, slash);
  *version = slash == std::string::npos ? "" : rest.substr(slash + 1);
  return !service->empty() && version->find('/') == std::string::npos;
}

// "100ms", "2s", "500us", "1.5s" -> microseconds.
bool parseLatency(const std::string& text, uint64_t* us) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || value < 0) return false;
  const std::string unit(end, text.data() + text.size());
  double scale = 0;
  if (unit == "us" || unit == "µs")
    scale = 1;
  else if (unit == "ms")
    scale = 1e3;
  else if (unit == "s")
    scale = 1e6;
  else
    return false;
  *us = static_cast<uint64_t>(value * scale);
  return true;
}

std::string timeOf(const v1::TapEvent& e) {
  const auto ms = e.start_time().seconds() * 1000 + e.start_time().nanos() / 1'000'000;
  const time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:02d}:{:02d}:{:02d}.{:03d}", tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

std::string latencyText(uint64_t us) {
  if (us >= 1'000'000) return fmt::format("{:.2f}s", double(us) / 1e6);
  if (us >= 1000) return fmt::format("{:.1f}ms", double(us) / 1e3);
  return fmt::format("{}us", us);
}

std::string workload(const std::string& service, const std::string& version) {
  if (service.empty()) return "(outside)";
  return version.empty() ? service : service + "/" + version;
}

}  // namespace

bool tapRequestFromOptions(const CtlOptions& o, v1::TapRequest* out, std::string* error) {
  auto* m = out->mutable_match();
  std::string service, version;
  if (!o.tap_target.empty() && o.tap_target != "mesh") {
    if (!parseService(o.tap_target, &service, &version)) {
      *error = "the target is svc/NAME, svc/NAME/VERSION or mesh, not \"" + o.tap_target + "\"";
      return false;
    }
    m->set_service(service);
    m->set_service_version(version);
  }
  if (!o.tap_to.empty()) {
    if (!parseService(o.tap_to, &service, &version)) {
      *error = "--to is svc/NAME or svc/NAME/VERSION, not \"" + o.tap_to + "\"";
      return false;
    }
    m->set_destination_service(service);
    m->set_destination_version(version);
  }
  if (!o.tap_from.empty()) {
    if (!parseService(o.tap_from, &service, &version)) {
      *error = "--from is svc/NAME or svc/NAME/VERSION, not \"" + o.tap_from + "\"";
      return false;
    }
    m->set_source_service(service);
    m->set_source_version(version);
  }
  m->set_method(o.tap_method);
  m->set_path_prefix(o.tap_path);
  m->set_authority(o.tap_authority);
  if (!o.tap_status.empty()) {
    const auto& s = o.tap_status;
    if (s.size() != 3 || s[0] < '1' || s[0] > '5' || (s.substr(1) != "xx" && s.substr(1) != "XX")) {
      *error = "--status is a class: 1xx, 2xx, 3xx, 4xx or 5xx, not \"" + s + "\"";
      return false;
    }
    m->set_status_class(static_cast<uint32_t>(s[0] - '0'));
  }
  if (!o.tap_min_latency.empty()) {
    uint64_t us = 0;
    if (!parseLatency(o.tap_min_latency, &us)) {
      *error = "--min-latency is a duration such as 100ms, 2s or 500us, not \"" +
               o.tap_min_latency + "\"";
      return false;
    }
    m->set_min_latency_us(us);
  }
  out->set_events_per_second(o.tap_rate);
  out->set_headers(o.tap_headers);
  for (const auto& h : o.tap_redact) out->add_redact_headers(h);
  return true;
}

std::string tapHeader(bool wide) {
  std::string line =
      fmt::format("{:<12} {:<3} {:<22} {:<22} {:<6} {:<32} {:>6} {:>9}", "TIME", "DIR", "SOURCE",
                  "DESTINATION", "METHOD", "PATH", "STATUS", "LATENCY");
  if (wide)
    line +=
        fmt::format(" {:<16} {:>8} {:>9} {:>4} {:<5} {:<10} {:<5} {:<18} {:<32} {:<20} {:<40} {}",
                    "AUTHORITY", "BYTES-IN", "BYTES-OUT", "RTRY", "ERROR", "ROUTE", "MTLS", "PROXY",
                    "TRACE", "AUTHZ", "SOURCE-ID", "DESTINATION-ID");
  return line + "\n";
}

std::string tapLine(const v1::TapEvent& e, bool wide) {
  std::string status = std::to_string(e.status());
  if (e.has_grpc_status()) status += fmt::format("/g{}", e.grpc_status());
  std::string line = fmt::format("{:<12} {:<3} {:<22} {:<22} {:<6} {:<32} {:>6} {:>9}", timeOf(e),
                                 e.side() == v1::CLIENT ? "out" : "in",
                                 workload(e.source_service(), e.source_version()),
                                 workload(e.destination_service(), e.destination_version()),
                                 e.method(), e.path(), status, latencyText(e.latency_us()));
  if (wide) {
    std::string authz = e.authorization_policy().empty() && e.authorization_rule().empty()
                            ? "-"
                            : e.authorization_policy() + ":" + e.authorization_rule();
    line += fmt::format(
        " {:<16} {:>8} {:>9} {:>4} {:<5} {:<10} {:<5} {:<18} {:<32} {:<20} {:<40} {}",
        e.authority(), e.bytes_in(), e.bytes_out(), e.retries(),
        e.error_code().empty() ? "-" : e.error_code(), e.route().empty() ? "-" : e.route(),
        e.mtls() ? "mtls" : "plain", e.proxy_id(), e.trace_id().empty() ? "-" : e.trace_id(), authz,
        e.source_identity().empty() ? "-" : e.source_identity(),
        e.destination_identity().empty() ? "-" : e.destination_identity());
    // Headers, when the tap copied them: > sent by the client, < answered.
    for (const auto& h : e.request_headers())
      line += fmt::format("\n    > {}: {}", h.name(), h.value());
    for (const auto& h : e.response_headers())
      line += fmt::format("\n    < {}: {}", h.name(), h.value());
  }
  return line + "\n";
}

void RouteTop::add(const v1::TapEvent& e) {
  std::string path = e.path();
  if (const auto q = path.find('?'); q != std::string::npos) path.resize(q);
  auto it = std::find_if(rows_.begin(), rows_.end(), [&](const RouteRow& r) {
    return r.method == e.method() && r.path == path;
  });
  if (it == rows_.end()) {
    rows_.push_back(RouteRow{e.method(), path, 0, 0, e.latency_us(), e.latency_us(), 0});
    it = rows_.end() - 1;
  }
  ++it->count;
  const uint32_t http =
      e.has_grpc_status() ? common::grpcStatusHttpEquivalent(e.grpc_status()) : e.status();
  if (http != 0 && http < 500) ++it->success;
  it->best_us = std::min(it->best_us, e.latency_us());
  it->worst_us = std::max(it->worst_us, e.latency_us());
  it->last_us = e.latency_us();
}

std::string RouteTop::table() const {
  std::vector<RouteRow> rows = rows_;
  std::stable_sort(rows.begin(), rows.end(),
                   [](const RouteRow& a, const RouteRow& b) { return a.count > b.count; });
  std::string out = fmt::format("{:<7} {:<40} {:>7} {:>8} {:>9} {:>9} {:>9}\n", "METHOD", "PATH",
                                "COUNT", "SUCCESS", "BEST", "WORST", "LAST");
  for (const auto& r : rows)
    out += fmt::format("{:<7} {:<40} {:>7} {:>7.1f}% {:>9} {:>9} {:>9}\n", r.method, r.path,
                       r.count, r.count ? 100.0 * double(r.success) / double(r.count) : 0.0,
                       latencyText(r.best_us), latencyText(r.worst_us), latencyText(r.last_us));
  return out;
}

int Ctl::tap() {
  v1::TapRequest req;
  std::string error;
  if (!tapRequestFromOptions(o_, &req, &error)) {
    std::cerr << "meshdeckctl: tap: " << error << "\n";
    return 1;
  }
  // A tap runs until --count events or the user stops it: no deadline.
  grpc::ClientContext ctx;
  auto reader = stub_->Tap(&ctx, req);
  const bool json = o_.output == "json";
  const bool wide = o_.output == "wide";
  if (!json) std::cout << tapHeader(wide) << std::flush;
  v1::TapResponse r;
  uint64_t seen = 0, dropped = 0;
  bool done = false;
  while (!done && reader->Read(&r)) {
    dropped = r.dropped();
    for (const auto& e : r.events()) {
      std::cout << (json ? cp::tapEventFromProto(e, e.proxy_id()).toJson() + "\n"
                         : tapLine(e, wide));
      if (o_.tap_count && ++seen >= o_.tap_count) {
        done = true;
        break;
      }
    }
    std::cout << std::flush;
  }
  if (done) ctx.TryCancel();
  const grpc::Status s = reader->Finish();
  std::cerr << fmt::format("meshdeckctl: tap: {} event(s), {} dropped\n", seen, dropped);
  if (!done && !s.ok()) return failed(s);
  return 0;
}

int Ctl::topRoutes() {
  v1::TapRequest req;
  std::string error;
  if (!tapRequestFromOptions(o_, &req, &error)) {
    std::cerr << "meshdeckctl: top: " << error << "\n";
    return 1;
  }
  grpc::ClientContext ctx;
  auto reader = stub_->Tap(&ctx, req);
  const bool tty = isatty(STDOUT_FILENO);
  RouteTop top;
  v1::TapResponse r;
  int printed = 0;
  auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.interval_ms);
  uint64_t dropped = 0;
  while (reader->Read(&r)) {
    dropped = r.dropped();
    for (const auto& e : r.events()) top.add(e);
    if (std::chrono::steady_clock::now() < next) continue;
    next += std::chrono::milliseconds(o_.interval_ms);
    if (tty) std::cout << "\033[H\033[2J";
    std::cout << fmt::format("routes of {} ({} dropped)\n",
                             o_.tap_target.empty() ? "mesh" : o_.tap_target, dropped)
              << top.table() << std::flush;
    if (o_.iterations && ++printed >= o_.iterations) {
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status s = reader->Finish();
  if (o_.iterations && printed >= o_.iterations) return 0;
  if (!s.ok()) return failed(s);
  return 0;
}

}  // namespace meshdeck::tools
