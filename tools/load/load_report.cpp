#include "load_report.h"

#include <fmt/format.h>

#include <boost/json.hpp>

namespace meshdeck::tools {

namespace {

std::string formatLatency(double ns) {
  if (ns < 1e6) return fmt::format("{:.0f}us", ns / 1e3);
  if (ns < 1e9) return fmt::format("{:.2f}ms", ns / 1e6);
  return fmt::format("{:.3f}s", ns / 1e9);
}

std::string describeLoad(const LoadOptions& o) {
  std::string mode = o.closed_loop ? std::string("closed loop (--max)")
                                   : fmt::format("open loop at {:g} req/s", o.rate);
  if (o.protocol != LoadProtocol::kHttp1)
    mode = fmt::format("{} {} stream{} per connection, {}",
                       o.protocol == LoadProtocol::kGrpc ? "gRPC," : "HTTP/2,", o.streams,
                       o.streams == 1 ? "" : "s", mode);
  return fmt::format(
      "{} {}{}, {}, {} connections, {} worker{}, {:g}s",
      o.protocol == LoadProtocol::kGrpc ? std::string("POST") : o.method, o.url.absoluteForm(),
      o.proxy ? " via proxy " + o.proxy->authority : std::string(), mode, o.connections, o.workers,
      o.workers == 1 ? "" : "s", std::chrono::duration<double>(o.duration).count());
}

}  // namespace

std::string formatLoadReportText(const LoadOptions& o, const LoadResult& r) {
  const auto& s = r.stats;
  const auto& h = s.latency;
  std::string out =
      fmt::format("meshdeck-load: {}{}\n", describeLoad(o), r.interrupted ? " (interrupted)" : "");
  out += fmt::format("  scheduled   {}\n", s.scheduled);
  out += fmt::format("  sent        {}\n", s.sent);
  out += fmt::format("  completed   {}  (1xx {}, 2xx {}, 3xx {}, 4xx {}, 5xx {})\n", s.completed,
                     s.status_classes[1], s.status_classes[2], s.status_classes[3],
                     s.status_classes[4], s.status_classes[5]);
  out += fmt::format(
      "  errors      {}  (connect {}, timeout {}, reset {}, protocol {}, status 5xx {})\n",
      s.errorTotal(), s.transportErrors(TransportError::kConnect),
      s.transportErrors(TransportError::kTimeout), s.transportErrors(TransportError::kReset),
      s.transportErrors(TransportError::kProtocol), s.status_classes[5]);
  if (s.unfinished > 0) out += fmt::format("  unfinished  {}\n", s.unfinished);
  out += fmt::format("  rate        {:.1f} req/s completed", r.achievedRate());
  out += o.closed_loop ? "\n" : fmt::format(" (target {:g})\n", o.rate);
  if (h.count() == 0) {
    out += "  latency     no responses\n";
  } else {
    out += fmt::format(
        "  latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {}, from scheduled send "
        "time)\n",
        formatLatency(h.percentile(50)), formatLatency(h.percentile(90)),
        formatLatency(h.percentile(99)), formatLatency(h.percentile(99.9)),
        formatLatency(double(h.max())), formatLatency(h.mean()));
  }
  return out;
}

std::string formatLoadReportJson(const LoadOptions& o, const LoadResult& r) {
  namespace json = boost::json;
  const auto& s = r.stats;
  const auto& h = s.latency;
  json::object responses{{"1xx", s.status_classes[1]},
                         {"2xx", s.status_classes[2]},
                         {"3xx", s.status_classes[3]},
                         {"4xx", s.status_classes[4]},
                         {"5xx", s.status_classes[5]}};
  json::object errors{{"total", s.errorTotal()},
                      {"connect", s.transportErrors(TransportError::kConnect)},
                      {"timeout", s.transportErrors(TransportError::kTimeout)},
                      {"reset", s.transportErrors(TransportError::kReset)},
                      {"protocol", s.transportErrors(TransportError::kProtocol)},
                      {"status_5xx", s.status_classes[5]}};
  json::object latency{{"count", h.count()},
                       {"min", double(h.min()) / 1e3},
                       {"mean", h.mean() / 1e3},
                       {"p50", h.percentile(50) / 1e3},
                       {"p90", h.percentile(90) / 1e3},
                       {"p99", h.percentile(99) / 1e3},
                       {"p999", h.percentile(99.9) / 1e3},
                       {"max", double(h.max()) / 1e3}};
  json::object root{{"url", o.url.absoluteForm()},
                    {"method", o.method},
                    {"mode", o.closed_loop ? "closed" : "open"},
                    {"connections", o.connections},
                    {"workers", o.workers},
                    {"duration_s", std::chrono::duration<double>(o.duration).count()},
                    {"elapsed_s", std::chrono::duration<double>(r.elapsed).count()},
                    {"interrupted", r.interrupted},
                    {"scheduled", s.scheduled},
                    {"sent", s.sent},
                    {"completed", s.completed},
                    {"unfinished", s.unfinished},
                    {"achieved_rate", r.achievedRate()},
                    {"responses", std::move(responses)},
                    {"errors", std::move(errors)},
                    {"latency_us", std::move(latency)}};
  if (!o.closed_loop) root["target_rate"] = o.rate;
  if (o.protocol != LoadProtocol::kHttp1) {
    root["protocol"] = o.protocol == LoadProtocol::kGrpc ? "grpc" : "http2";
    root["streams"] = o.streams;
    if (o.protocol == LoadProtocol::kGrpc) root["method"] = "POST";
  }
  if (o.proxy) root["proxy"] = o.proxy->absoluteForm();
  return json::serialize(root) + "\n";
}

}  // namespace meshdeck::tools
