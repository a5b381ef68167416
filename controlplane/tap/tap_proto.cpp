#include "controlplane/tap/tap_proto.h"

namespace meshdeck::cp {

namespace v1 = meshdeck::v1;

TapEvent tapEventFromProto(const v1::TapEvent& in, const std::string& proxy_id) {
  TapEvent e;
  e.tap_id = in.tap_id();
  e.start = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(in.start_time().seconds()) +
          std::chrono::nanoseconds(in.start_time().nanos())));
  e.client_side = in.side() == v1::CLIENT;
  e.proxy_id = proxy_id;
  e.source_service = in.source_service();
  e.source_version = in.source_version();
  e.source_identity = in.source_identity();
  e.destination_service = in.destination_service();
  e.destination_version = in.destination_version();
  e.destination_identity = in.destination_identity();
  e.protocol = in.protocol();
  e.method = in.method();
  e.authority = in.authority();
  e.path = in.path();
  e.status = in.status();
  if (in.has_grpc_status()) e.grpc_status = in.grpc_status();
  e.latency_us = in.latency_us();
  e.bytes_in = in.bytes_in();
  e.bytes_out = in.bytes_out();
  e.retries = in.retries();
  e.error_code = in.error_code();
  e.route = in.route();
  e.authorization_policy = in.authorization_policy();
  e.authorization_rule = in.authorization_rule();
  e.mtls = in.mtls();
  e.trace_id = in.trace_id();
  e.span_id = in.span_id();
  for (const auto& h : in.request_headers()) e.request_headers.emplace_back(h.name(), h.value());
  for (const auto& h : in.response_headers()) e.response_headers.emplace_back(h.name(), h.value());
  return e;
}

void tapEventToProto(const TapEvent& e, v1::TapEvent* out) {
  out->set_tap_id(e.tap_id);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(e.start.time_since_epoch()).count();
  out->mutable_start_time()->set_seconds(ns / 1'000'000'000);
  out->mutable_start_time()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
  out->set_side(e.client_side ? v1::CLIENT : v1::SERVER);
  out->set_proxy_id(e.proxy_id);
  out->set_source_service(e.source_service);
  out->set_source_version(e.source_version);
  out->set_source_identity(e.source_identity);
  out->set_destination_service(e.destination_service);
  out->set_destination_version(e.destination_version);
  out->set_destination_identity(e.destination_identity);
  out->set_protocol(e.protocol);
  out->set_method(e.method);
  out->set_authority(e.authority);
  out->set_path(e.path);
  out->set_status(e.status);
  if (e.grpc_status) out->set_grpc_status(*e.grpc_status);
  out->set_latency_us(e.latency_us);
  out->set_bytes_in(e.bytes_in);
  out->set_bytes_out(e.bytes_out);
  out->set_retries(e.retries);
  out->set_error_code(e.error_code);
  out->set_route(e.route);
  out->set_authorization_policy(e.authorization_policy);
  out->set_authorization_rule(e.authorization_rule);
  out->set_mtls(e.mtls);
  out->set_trace_id(e.trace_id);
  out->set_span_id(e.span_id);
  for (const auto& [n, v] : e.request_headers) {
    auto* h = out->add_request_headers();
    h->set_name(n);
    h->set_value(v);
  }
  for (const auto& [n, v] : e.response_headers) {
    auto* h = out->add_response_headers();
    h->set_name(n);
    h->set_value(v);
  }
}

}  // namespace meshdeck::cp
