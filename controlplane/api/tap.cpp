#include "controlplane/api/tap.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/telemetry/grpc_status.h"

namespace meshdeck::cp {

namespace {
void appendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  out += '"';
}
}  // namespace

std::string TapFilter::describe() const {
  std::string out;
  const auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    out += value;
  };
  add("svc", service_version.empty() ? service : service + "/" + service_version);
  add("from", source_version.empty() ? source_service : source_service + "/" + source_version);
  add("to", destination_version.empty() ? destination_service
                                        : destination_service + "/" + destination_version);
  add("method", method);
  add("path", path_prefix);
  add("authority", authority);
  if (status_class) add("status", fmt::format("{}xx", status_class));
  if (min_latency_us) add("min-latency", fmt::format("{}us", min_latency_us));
  add("rate", fmt::format("{:g}/s", events_per_second));
  if (headers) add("headers", "yes");
  return out.empty() ? "mesh" : out;
}

uint32_t TapEvent::statusClass() const {
  const uint32_t s =
      grpc_status ? static_cast<uint32_t>(common::grpcStatusHttpEquivalent(*grpc_status)) : status;
  return s >= 100 && s < 600 ? s / 100 : 0;
}

std::string TapEvent::toJson() const {
  std::string out = "{";
  bool first = true;
  const auto key = [&](const char* k) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += k;
    out += "\":";
  };
  const auto str = [&](const char* k, const std::string& v) {
    key(k);
    appendJsonString(out, v);
  };
  const auto num = [&](const char* k, uint64_t v) {
    key(k);
    out += std::to_string(v);
  };
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(start.time_since_epoch());
  str("time", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(ms.count() / 1000),
                          static_cast<int>(ms.count() % 1000)));
  num("tap", tap_id);
  str("side", client_side ? "client" : "server");
  str("proxy", proxy_id);
  str("source", source_service);
  str("sourceVersion", source_version);
  if (!source_identity.empty()) str("sourceIdentity", source_identity);
  str("destination", destination_service);
  str("destinationVersion", destination_version);
  if (!destination_identity.empty()) str("destinationIdentity", destination_identity);
  str("protocol", protocol);
  str("method", method);
  str("authority", authority);
  str("path", path);
  num("status", status);
  if (grpc_status) num("grpcStatus", *grpc_status);
  num("latencyUs", latency_us);
  num("bytesIn", bytes_in);
  num("bytesOut", bytes_out);
  num("retries", retries);
  if (!error_code.empty()) str("error", error_code);
  str("route", route);
  if (!authorization_policy.empty() || !authorization_rule.empty()) {
    str("authorizationPolicy", authorization_policy);
    str("authorizationRule", authorization_rule);
  }
  key("mtls");
  out += mtls ? "true" : "false";
  if (!trace_id.empty()) str("traceId", trace_id);
  if (!span_id.empty()) str("spanId", span_id);
  for (const auto& [name, list] : {std::pair{"requestHeaders", &request_headers},
                                   std::pair{"responseHeaders", &response_headers}}) {
    if (list->empty()) continue;
    key(name);
    out += '{';
    bool f = true;
    for (const auto& [h, v] : *list) {
      if (!f) out += ',';
      f = false;
      appendJsonString(out, h);
      out += ':';
      appendJsonString(out, v);
    }
    out += '}';
  }
  out += '}';
  return out;
}

}  // namespace meshdeck::cp
