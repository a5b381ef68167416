#include "controlplane/server/mesh_service.h"

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "controlplane/identity/certificate_authority.h"
#include "controlplane/server/peer_info.h"
#include "controlplane/server/proto_convert.h"
#include "controlplane/tap/tap_proto.h"

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;

namespace {
SystemTime timeOf(const google::protobuf::Timestamp& t) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::nanoseconds(google::protobuf::util::TimeUtil::TimestampToNanoseconds(t))));
}

grpc::ServerUnaryReactor* done(grpc::CallbackServerContext* ctx,
                               grpc::Status status = grpc::Status::OK) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

grpc::Status statusOf(const security::Decision& d) {
  using Code = security::Decision::Code;
  switch (d.code) {
    case Code::kOk:
      return grpc::Status::OK;
    case Code::kUnauthenticated:
      return {grpc::StatusCode::UNAUTHENTICATED, d.message};
    case Code::kPermissionDenied:
      return {grpc::StatusCode::PERMISSION_DENIED, d.message};
    case Code::kUnavailable:
      return {grpc::StatusCode::FAILED_PRECONDITION, d.message};
  }
  return {grpc::StatusCode::INTERNAL, d.message};
}

// A stream refused before it starts.
class RefusedWriter final : public grpc::ServerWriteReactor<v1::GraphSnapshot> {
 public:
  explicit RefusedWriter(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// Streams snapshots to one watcher: the newest one whenever the previous write finished and
// the rate limit allows; snapshots produced meanwhile are skipped, never queued.
class WatchReactor final : public grpc::ServerWriteReactor<v1::GraphSnapshot> {
 public:
  WatchReactor(ControlPlane& cp, double max_rate_hz)
      : interval_(std::chrono::milliseconds(static_cast<int64_t>(
            1000.0 / std::clamp(max_rate_hz <= 0 ? 4.0 : max_rate_hz, 0.1, 4.0)))) {
    offer(cp.snapshot());
    token_ = cp.subscribe([this](std::shared_ptr<const GraphSnapshot> s) { offer(std::move(s)); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (pending_finish_) {
      pending_finish_ = false;
      Finish(grpc::Status::OK);
      return;
    }
    if (!ok) {
      finishLocked();
      return;
    }
    if (next_) writeLocked();
  }
  void OnCancel() override {
    std::lock_guard lock(mutex_);
    finishLocked();
  }
  void OnDone() override {
    // The subscription must end before this object goes away; its destructor waits for a
    // running callback, which only takes our mutex briefly.
    token_.reset();
    delete this;
  }

 private:
  void offer(std::shared_ptr<const GraphSnapshot> s) {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    next_ = std::move(s);
    if (!writing_ && std::chrono::steady_clock::now() - last_write_ >= interval_) writeLocked();
  }
  void writeLocked() {
    out_.Clear();
    toProto(*next_, &out_);
    next_.reset();
    writing_ = true;
    last_write_ = std::chrono::steady_clock::now();
    StartWrite(&out_);
  }
  void finishLocked() {
    if (finished_) return;
    finished_ = true;
    if (!writing_)
      Finish(grpc::Status::OK);
    else
      pending_finish_ = true;
  }

  const std::chrono::steady_clock::duration interval_;
  std::mutex mutex_;
  std::shared_ptr<const GraphSnapshot> next_;
  v1::GraphSnapshot out_;
  bool writing_ = false, finished_ = false, pending_finish_ = false;
  std::chrono::steady_clock::time_point last_write_{};
  std::shared_ptr<void> token_;
};
}  // namespace

grpc::ServerUnaryReactor* MeshService::GetGraph(grpc::CallbackServerContext* ctx,
                                                const v1::GetGraphRequest* request,
                                                v1::GraphSnapshot* response) {
  const auto decision = authorize(ctx, "GetGraph");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  toProto(*cp_.snapshotForWindow(request->window_seconds()), response);
  return done(ctx);
}

grpc::ServerWriteReactor<v1::GraphSnapshot>* MeshService::WatchGraph(
    grpc::CallbackServerContext* ctx, const v1::WatchGraphRequest* request) {
  const auto decision = authorize(ctx, "WatchGraph");
  if (!decision.ok()) return new RefusedWriter(statusOf(decision));
  return new WatchReactor(cp_, request->max_rate_hz());
}

grpc::ServerUnaryReactor* MeshService::ListProxies(grpc::CallbackServerContext* ctx,
                                                   const v1::ListProxiesRequest*,
                                                   v1::ListProxiesResponse* response) {
  const auto decision = authorize(ctx, "ListProxies");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  for (const auto& p : cp_.snapshot()->proxies) toProto(p, response->add_proxies());
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ListPolicies(grpc::CallbackServerContext* ctx,
                                                    const v1::ListPoliciesRequest* request,
                                                    v1::ListPoliciesResponse* response) {
  const auto decision = authorize(ctx, "ListPolicies");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  if (request->revision() != 0) {
    const auto past = cp_.policiesAt(request->revision());
    if (!past)
      return done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                    "revision " + std::to_string(request->revision()) +
                                        " is not kept by this control plane"));
    for (const auto& p : *past) toProto(p, response->add_policies());
    response->set_revision(request->revision());
    return done(ctx);
  }
  uint64_t revision = 0;
  for (const auto& p : cp_.policies()) {
    toProto(p, response->add_policies());
    revision = std::max(revision, p.revision);
  }
  const auto revs = cp_.revisions();
  response->set_revision(revs.empty() ? revision : revs.front().number);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ApplyPolicies(grpc::CallbackServerContext* ctx,
                                                     const v1::ApplyPoliciesRequest* request,
                                                     v1::ApplyPoliciesResponse* response) {
  const auto decision = authorize(ctx, "ApplyPolicies");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  namespace limits = common::limits;
  if (request->yaml().size() > limits::kMaxPolicyTextBytes) {
    ++refused_requests_;
    return done(ctx, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                  fmt::format("policy text is {}; the control plane accepts at "
                                              "most {}",
                                              common::formatBytes(request->yaml().size()),
                                              common::formatBytes(limits::kMaxPolicyTextBytes))));
  }
  if (const auto bad = common::findInvalidUtf8(request->yaml())) {
    ++refused_requests_;
    return done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  fmt::format("{}: policy text is not UTF-8 ({})",
                                              request->file().empty() ? "-" : request->file(),
                                              bad->toString())));
  }
  // The server's own bound on the call, whatever deadline the client chose (or none).
  const auto start = std::chrono::system_clock::now();
  const auto deadline = std::min(
      ctx->deadline(), start + std::chrono::milliseconds(limits::kMaxManagementCallMillis));
  bool client_gone = false, out_of_time = false;
  auto cancelled = [&] {
    client_gone = client_gone || ctx->IsCancelled();
    out_of_time = out_of_time || std::chrono::system_clock::now() >= deadline;
    return client_gone || out_of_time;
  };
  const InFlight in_flight(in_flight_);
  const auto result =
      cp_.applyPoliciesUntil(request->yaml(), request->file(),
                             authorOf(decision, request->author()), request->dry_run(), cancelled);
  if (!request->dry_run())
    audit(decision, "ApplyPolicies", result, request->file().empty() ? "-" : request->file());
  if (!result.ok && (client_gone || out_of_time)) {
    ++cancelled_calls_;
    return done(ctx,
                grpc::Status(
                    client_gone ? grpc::StatusCode::CANCELLED : grpc::StatusCode::DEADLINE_EXCEEDED,
                    client_gone ? "the client cancelled the apply; nothing changed"
                                : fmt::format("the apply did not finish within "
                                              "its {} ms; nothing changed",
                                              std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  deadline - start)
                                                  .count())));
  }
  toProto(result, response);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::DeletePolicy(grpc::CallbackServerContext* ctx,
                                                    const v1::DeletePolicyRequest* request,
                                                    v1::ApplyPoliciesResponse* response) {
  const auto decision = authorize(ctx, "DeletePolicy");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  const auto result =
      cp_.deletePolicy(request->kind(), request->name(), authorOf(decision, request->author()));
  audit(decision, "DeletePolicy", result, request->kind() + "/" + request->name());
  toProto(result, response);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ListRevisions(grpc::CallbackServerContext* ctx,
                                                     const v1::ListRevisionsRequest*,
                                                     v1::ListRevisionsResponse* response) {
  const auto decision = authorize(ctx, "ListRevisions");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  using google::protobuf::util::TimeUtil;
  for (const auto& r : cp_.revisions()) {
    auto* out = response->add_revisions();
    out->set_number(r.number);
    out->set_author(r.author);
    out->set_summary(r.summary);
    *out->mutable_time() = TimeUtil::NanosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(r.time.time_since_epoch()).count());
  }
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::DiffRevisions(grpc::CallbackServerContext* ctx,
                                                     const v1::DiffRevisionsRequest* request,
                                                     v1::DiffRevisionsResponse* response) {
  const auto decision = authorize(ctx, "DiffRevisions");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  const auto revs = cp_.revisions();
  auto exists = [&](uint64_t n) {
    return n == 0 || std::any_of(revs.begin(), revs.end(), [&](auto& r) { return r.number == n; });
  };
  if (!exists(request->from()) || !exists(request->to()))
    return done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND, "no such revision"));
  response->set_diff(cp_.diffRevisions(request->from(), request->to()));
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::RevertToRevision(grpc::CallbackServerContext* ctx,
                                                        const v1::RevertToRevisionRequest* request,
                                                        v1::ApplyPoliciesResponse* response) {
  const auto decision = authorize(ctx, "RevertToRevision");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  const auto result =
      cp_.revertToRevision(request->revision(), authorOf(decision, request->author()));
  audit(decision, "RevertToRevision", result, "to revision " + std::to_string(request->revision()));
  toProto(result, response);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ExportSnapshot(grpc::CallbackServerContext* ctx,
                                                      const v1::ExportSnapshotRequest* request,
                                                      v1::ExportSnapshotResponse* response) {
  const auto decision = authorize(ctx, "ExportSnapshot");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  response->set_json(
      cp_.exportSnapshotJson(request->window_seconds() ? request->window_seconds() : 60));
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ListProcesses(grpc::CallbackServerContext* ctx,
                                                     const v1::ListProcessesRequest*,
                                                     v1::ListProcessesResponse* response) {
  const auto decision = authorize(ctx, "ListProcesses");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  for (const auto& p : cp_.processes()) {
    auto* out = response->add_processes();
    out->set_name(p.name);
    out->set_service(p.service);
    out->set_version(p.version);
    out->set_instance(p.instance);
    out->set_role(p.role);
    out->set_pid(p.pid);
    out->set_state(p.state);
    out->set_restarts(p.restarts);
    out->set_uptime_seconds(p.uptime_seconds);
    for (auto port : p.ports) out->add_ports(port);
    out->set_rss_bytes(p.rss_bytes);
    out->set_cpu_percent(p.cpu_percent);
  }
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::GetProcessLogs(grpc::CallbackServerContext* ctx,
                                                      const v1::GetProcessLogsRequest* request,
                                                      v1::GetProcessLogsResponse* response) {
  const auto decision = authorize(ctx, "GetProcessLogs");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  for (auto& line : cp_.processLogs(request->name(), request->tail() ? request->tail() : 200))
    response->add_lines(std::move(line));
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::RestartProcess(grpc::CallbackServerContext* ctx,
                                                      const v1::RestartProcessRequest* request,
                                                      v1::FleetActionResponse* response) {
  const auto decision = authorize(ctx, "RestartProcess");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  const auto r = cp_.restartProcess(request->name());
  audit(decision, "RestartProcess", r.ok, request->name() + ": " + r.message);
  response->set_ok(r.ok);
  response->set_message(r.message);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ScaleService(grpc::CallbackServerContext* ctx,
                                                    const v1::ScaleServiceRequest* request,
                                                    v1::FleetActionResponse* response) {
  const auto decision = authorize(ctx, "ScaleService");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  const auto r = cp_.scaleService(request->service(), request->version(), request->replicas());
  audit(decision, "ScaleService", r.ok,
        fmt::format("{} {} to {}: {}", request->service(), request->version(), request->replicas(),
                    r.message));
  response->set_ok(r.ok);
  response->set_message(r.message);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::GetEdgeHistory(grpc::CallbackServerContext* ctx,
                                                      const v1::GetEdgeHistoryRequest* request,
                                                      v1::GetEdgeHistoryResponse* response) {
  const auto decision = authorize(ctx, "GetEdgeHistory");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  using google::protobuf::util::TimeUtil;
  const uint32_t seconds = request->seconds() ? request->seconds() : 300;
  for (const auto& h : cp_.edgeHistory(request->source(), request->destination(), seconds)) {
    auto* out = response->add_samples();
    *out->mutable_time() = TimeUtil::NanosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(h.time.time_since_epoch()).count());
    out->set_requests_per_second(h.requests_per_second);
    out->set_success_rate(h.success_rate);
    out->set_p50_ms(h.p50_ms);
    out->set_p90_ms(h.p90_ms);
    out->set_p99_ms(h.p99_ms);
    for (const auto n : h.responses_by_class) out->add_responses_by_class(n);
  }
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::GetGraphAt(grpc::CallbackServerContext* ctx,
                                                  const v1::GetGraphAtRequest* request,
                                                  v1::GetGraphAtResponse* response) {
  const auto decision = authorize(ctx, "GetGraphAt");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  if (!request->has_from() || !request->has_to())
    return done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "GetGraphAt needs both ends of the range (from, to)"));
  toProto(cp_.graphBetween(timeOf(request->from()), timeOf(request->to())), response);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ListEvents(grpc::CallbackServerContext* ctx,
                                                  const v1::ListEventsRequest* request,
                                                  v1::ListEventsResponse* response) {
  const auto decision = authorize(ctx, "ListEvents");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  if (request->kinds_size() > 64)
    return done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "at most 64 kinds"));
  const SystemTime until =
      request->has_until() ? timeOf(request->until()) : std::chrono::system_clock::now();
  const std::vector<std::string> kinds(request->kinds().begin(), request->kinds().end());
  const uint32_t limit = std::min<uint32_t>(request->limit() ? request->limit() : 1000, 100000);
  const auto list = cp_.events(timeOf(request->since()), until, kinds, limit);
  response->set_available(list.available);
  response->set_message(list.message);
  for (const auto& e : list.events) toProto(e, response->add_events());
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ListCertificates(grpc::CallbackServerContext* ctx,
                                                        const v1::ListCertificatesRequest*,
                                                        v1::ListCertificatesResponse* response) {
  const auto decision = authorize(ctx, "ListCertificates");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  using google::protobuf::util::TimeUtil;
  for (const auto& c : cp_.certificates()) {
    auto* out = response->add_certificates();
    out->set_proxy_id(c.proxy_id);
    out->set_spiffe_id(c.spiffe_id);
    out->set_issuer(c.issuer);
    out->set_serial(c.serial);
    *out->mutable_not_before() =
        TimeUtil::TimeTToTimestamp(std::chrono::system_clock::to_time_t(c.not_before));
    *out->mutable_not_after() =
        TimeUtil::TimeTToTimestamp(std::chrono::system_clock::to_time_t(c.not_after));
  }
  return done(ctx);
}

// A refused action (RETIRE with proxies still on the old root, BEGIN during a rotation, no CA)
// is FAILED_PRECONDITION with the reason; the state is then read with ROOT_ROTATION_STATUS.
grpc::ServerUnaryReactor* MeshService::RotateRoot(grpc::CallbackServerContext* ctx,
                                                  const v1::RotateRootRequest* request,
                                                  v1::RotateRootResponse* response) {
  using google::protobuf::util::TimeUtil;
  RootRotationAction action = RootRotationAction::kStatus;
  switch (request->action()) {
    case v1::ROOT_ROTATION_BEGIN:
      action = RootRotationAction::kBegin;
      break;
    case v1::ROOT_ROTATION_RETIRE:
      action = RootRotationAction::kRetire;
      break;
    case v1::ROOT_ROTATION_STATUS:
    case v1::ROOT_ROTATION_ACTION_UNSPECIFIED:
      break;
    default:
      return done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "unknown root rotation action " +
                                        std::to_string(static_cast<int>(request->action()))));
  }
  const char* call = action == RootRotationAction::kBegin    ? "RotateRoot/begin"
                     : action == RootRotationAction::kRetire ? "RotateRoot/retire"
                                                             : "RotateRoot/status";
  const auto decision = authorize(ctx, call);
  if (!decision.ok()) return done(ctx, statusOf(decision));
  const CaStatus s = cp_.rotateRoot(action, request->force());
  if (action != RootRotationAction::kStatus)
    audit(decision, call, s.ok, s.message + (request->force() ? " (--force)" : ""));
  if (!s.ok) return done(ctx, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.message));
  auto root = [](const CaRootInfo& r, v1::CaRoot* out) {
    out->set_fingerprint_sha256(r.fingerprint_sha256);
    out->set_subject(r.subject);
    *out->mutable_not_before() =
        TimeUtil::TimeTToTimestamp(std::chrono::system_clock::to_time_t(r.not_before));
    *out->mutable_not_after() =
        TimeUtil::TimeTToTimestamp(std::chrono::system_clock::to_time_t(r.not_after));
  };
  response->set_trust_domain(s.trust_domain);
  root(s.active_root, response->mutable_active_root());
  for (const auto& r : s.retiring_roots) root(r, response->add_retiring_roots());
  response->set_rotation_in_progress(s.rotation_in_progress);
  for (const auto& p : s.proxies_on_retiring_root) response->add_proxies_on_retiring_root(p);
  for (const auto& p : s.proxies_unknown_issuer) response->add_proxies_unknown_issuer(p);
  response->set_message(s.message);
  return done(ctx);
}

security::Decision MeshService::authorize(grpc::CallbackServerContext* ctx, std::string_view call) {
  if (!security_) {
    security::Decision d;
    d.caller = {"in-process", security::Role::kAdmin, ctx->peer(), false};
    return d;
  }
  auto d = security_->authorize(peerInfo(ctx), call);
  if (!d.ok()) {
    const auto* rule = security::ruleOf(call);
    if (!rule || rule->mutating) security_->audit(d.caller, call, "refused", d.message, 0);
  }
  return d;
}

void MeshService::audit(const security::Decision& d, std::string_view call,
                        const ApplyResult& result, std::string_view detail) {
  if (!security_) return;
  std::string what(detail);
  if (result.ok) {
    if (!result.summary.empty()) what += ": " + result.summary;
  } else if (!result.errors.empty()) {
    what += ": " + result.errors.front().toString();
  }
  security_->audit(d.caller, call, result.ok ? "ok" : "failed", what,
                   result.ok ? result.revision : 0);
}

void MeshService::audit(const security::Decision& d, std::string_view call, bool ok,
                        std::string_view detail) {
  if (security_) security_->audit(d.caller, call, ok ? "ok" : "failed", detail, 0);
}

std::string MeshService::authorOf(const security::Decision& d, const std::string& claimed) {
  if (d.caller.tls) return d.caller.identity;
  return claimed;
}

grpc::ServerUnaryReactor* MeshService::AddOperator(grpc::CallbackServerContext* ctx,
                                                   const v1::AddOperatorRequest* request,
                                                   v1::AddOperatorResponse* response) {
  const auto decision = authorize(ctx, "AddOperator");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  const std::string detail = request->name() + " as " + request->role();
  const auto role = security::parseRole(request->role());
  if (!role) {
    audit(decision, "AddOperator", false, detail + ": unknown role");
    return done(
        ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "unknown role \"" + request->role() + "\" (viewer, operator or admin)"));
  }
  auto* ca = admin_.ca ? admin_.ca() : nullptr;
  const std::string tls = admin_.tls_address ? admin_.tls_address() : "";
  if (!security_ || !ca || tls.empty()) {
    audit(decision, "AddOperator", false, detail + ": no TLS port");
    return done(ctx, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                  "this control plane has no TLS port (--secure-listen \"\"): "
                                  "operators have nowhere to connect"));
  }
  std::string error;
  const auto c = security_->addOperator(request->name(), *role, *ca, tls, &error);
  audit(decision, "AddOperator", c.has_value(), c ? detail : detail + ": " + error);
  if (!c) return done(ctx, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, error));
  response->set_name(c->operator_name);
  response->set_role(c->role);
  response->set_spiffe_id(security::operatorSpiffeId(security_->trustDomain(), c->operator_name));
  response->set_certificate_pem(c->certificate_pem);
  response->set_key_pem(c->key_pem);
  response->set_trust_bundle_pem(c->trust_bundle_pem);
  response->set_server(c->server);
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ListOperators(grpc::CallbackServerContext* ctx,
                                                     const v1::ListOperatorsRequest*,
                                                     v1::ListOperatorsResponse* response) {
  const auto decision = authorize(ctx, "ListOperators");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  if (!security_) return done(ctx);
  for (const auto& o : security_->operators()) {
    auto* out = response->add_operators();
    out->set_name(o.name);
    out->set_role(std::string(security::toString(o.role)));
    out->set_spiffe_id(security::operatorSpiffeId(security_->trustDomain(), o.name));
    for (const auto& s : o.serials) out->add_serials(s);
    out->set_revoked(o.revoked);
    out->set_created(o.created);
  }
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::RevokeOperator(grpc::CallbackServerContext* ctx,
                                                      const v1::RevokeOperatorRequest* request,
                                                      v1::RevokeOperatorResponse* response) {
  const auto decision = authorize(ctx, "RevokeOperator");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  std::string error;
  const bool ok = security_ && security_->revokeOperator(request->name(), &error);
  audit(decision, "RevokeOperator", ok, ok ? request->name() : request->name() + ": " + error);
  if (!ok) return done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND, error));
  response->set_message("operator " + request->name() +
                        " revoked: its certificates are refused from now on");
  return done(ctx);
}

grpc::ServerUnaryReactor* MeshService::ReadAudit(grpc::CallbackServerContext* ctx,
                                                 const v1::ReadAuditRequest* request,
                                                 v1::ReadAuditResponse* response) {
  const auto decision = authorize(ctx, "ReadAudit");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  if (!security_) return done(ctx);
  const auto since =
      request->since_seconds() == 0
          ? std::chrono::system_clock::time_point{}
          : std::chrono::system_clock::now() - std::chrono::seconds(std::min<uint64_t>(
                                                   request->since_seconds(), uint64_t{1} << 40));
  std::string error;
  for (auto& line : security_->readAudit(since, &error)) response->add_entries(std::move(line));
  if (!error.empty()) return done(ctx, grpc::Status(grpc::StatusCode::INTERNAL, error));
  return done(ctx);
}

namespace {
class RefusedTapWriter final : public grpc::ServerWriteReactor<v1::TapResponse> {
 public:
  explicit RefusedTapWriter(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};
}  // namespace

// Streams one tap's batches to its client. Batches that arrive while a write is in flight are
// merged into one waiting response of at most kMaxPending events; events beyond it are dropped
// and counted with the tap's own drops, so a slow client never holds the control plane up.
class MeshService::TapReactor final : public grpc::ServerWriteReactor<v1::TapResponse> {
 public:
  static constexpr int kMaxPending = 4096;

  TapReactor(MeshService& service, security::Decision decision, TapFilter filter)
      : service_(service), decision_(std::move(decision)), describe_(filter.describe()) {
    std::string error;
    token_ = service_.cp_.startTap(
        filter, [this](const TapBatch& batch) { offer(batch); }, &error);
    if (!token_) {
      service_.audit(decision_, "Tap", false, describe_ + ": " + error);
      std::lock_guard lock(mutex_);
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, error));
      return;
    }
    service_.audit(decision_, "Tap", true, "opened: " + describe_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {
      finishLocked();
      return;
    }
    if (pending_finish_) {
      pending_finish_ = false;
      Finish(grpc::Status::OK);
      return;
    }
    if (has_next_) writeLocked();
  }
  void OnCancel() override {
    std::lock_guard lock(mutex_);
    finishLocked();
  }
  void OnDone() override {
    // The tap ends before this object goes away; the token's deleter waits for a running
    // callback, which only takes our mutex briefly.
    const bool opened = token_ != nullptr;
    token_.reset();
    if (opened)
      service_.audit(decision_, "Tap", true,
                     fmt::format("closed: {}: {} event(s) sent, {} dropped", describe_, sent_,
                                 dropped_ + local_dropped_));
    delete this;
  }

 private:
  void offer(const TapBatch& batch) {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    dropped_ = batch.dropped;
    for (const auto& e : batch.events) {
      if (next_.events_size() >= kMaxPending) {
        ++local_dropped_;
        continue;
      }
      tapEventToProto(e, next_.add_events());
    }
    next_.set_dropped(dropped_ + local_dropped_);
    next_.set_proxies(batch.proxies);
    has_next_ = true;
    if (!writing_) writeLocked();
  }
  void writeLocked() {
    out_.Swap(&next_);
    next_.Clear();
    has_next_ = false;
    sent_ += static_cast<uint64_t>(out_.events_size());
    writing_ = true;
    StartWrite(&out_);
  }
  void finishLocked() {
    if (finished_) return;
    finished_ = true;
    if (!writing_)
      Finish(grpc::Status::OK);
    else
      pending_finish_ = true;
  }

  MeshService& service_;
  const security::Decision decision_;
  const std::string describe_;
  std::mutex mutex_;
  v1::TapResponse out_, next_;
  bool has_next_ = false, writing_ = false, finished_ = false, pending_finish_ = false;
  uint64_t dropped_ = 0, local_dropped_ = 0, sent_ = 0;
  std::shared_ptr<void> token_;
};

static TapFilter tapFilterFromProto(const v1::TapRequest& request) {
  TapFilter f;
  const auto& m = request.match();
  f.service = m.service();
  f.service_version = m.service_version();
  f.source_service = m.source_service();
  f.source_version = m.source_version();
  f.destination_service = m.destination_service();
  f.destination_version = m.destination_version();
  f.method = m.method();
  f.path_prefix = m.path_prefix();
  f.authority = m.authority();
  f.status_class = m.status_class();
  f.min_latency_us = m.min_latency_us();
  f.events_per_second =
      request.events_per_second() > 0 ? request.events_per_second() : TapFilter::kDefaultRate;
  f.headers = request.headers();
  f.redact_headers.assign(request.redact_headers().begin(), request.redact_headers().end());
  return f;
}

grpc::ServerWriteReactor<v1::TapResponse>* MeshService::Tap(grpc::CallbackServerContext* ctx,
                                                            const v1::TapRequest* request) {
  const auto decision = authorize(ctx, "Tap");
  if (!decision.ok()) return new RefusedTapWriter(statusOf(decision));
  namespace limits = common::limits;
  const auto& m = request->match();
  for (const std::string* field :
       {&m.service(), &m.service_version(), &m.source_service(), &m.source_version(),
        &m.destination_service(), &m.destination_version(), &m.method(), &m.authority()}) {
    if (field->size() > limits::kMaxNameBytes) {
      ++refused_requests_;
      return new RefusedTapWriter(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          fmt::format("a tap filter field is longer than {} bytes", limits::kMaxNameBytes)));
    }
  }
  if (m.path_prefix().size() > limits::kMaxUriBytes || request->redact_headers_size() > 64 ||
      m.status_class() > 5) {
    ++refused_requests_;
    return new RefusedTapWriter(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "a tap needs a path prefix of at most 2 KiB, at most 64 headers to redact and a status "
        "class 1-5 (or none)"));
  }
  return new TapReactor(*this, decision, tapFilterFromProto(*request));
}

grpc::ServerUnaryReactor* MeshService::WhoAmI(grpc::CallbackServerContext* ctx,
                                              const v1::WhoAmIRequest*,
                                              v1::WhoAmIResponse* response) {
  const auto decision = authorize(ctx, "WhoAmI");
  if (!decision.ok()) return done(ctx, statusOf(decision));
  response->set_identity(decision.caller.identity);
  response->set_role(decision.caller.role ? std::string(security::toString(*decision.caller.role))
                                          : std::string());
  response->set_tls(decision.caller.tls);
  return done(ctx);
}

}  // namespace meshdeck::cp
