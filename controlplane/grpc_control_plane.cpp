#include "controlplane/grpc_control_plane.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "controlplane/server/proto_convert.h"
#include "controlplane/server/telemetry_service.h"
#include "controlplane/tap/tap_proto.h"
#include "meshdeck/v1/management.grpc.pb.h"

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;

namespace {
ApplyResult refused(const std::string& file, std::string message) {
  ApplyResult r;
  r.errors.push_back(common::LocatedError{file, 0, 0, "", std::move(message)});
  return r;
}
}  // namespace

class GrpcControlPlane::Impl {
 public:
  Impl(std::string address, const std::optional<ClientTls>& tls, std::chrono::milliseconds deadline)
      : address_(std::move(address)),
        deadline_(deadline),
        stub_(v1::Mesh::NewStub(channel(address_, tls))),
        latest_(std::make_shared<GraphSnapshot>()) {}

  static std::shared_ptr<grpc::Channel> channel(const std::string& address,
                                                const std::optional<ClientTls>& tls) {
    auto args = channelArguments();
    if (!tls) return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls->trust_bundle_pem;
    ssl.pem_private_key = tls->key_pem;
    ssl.pem_cert_chain = tls->certificate_pem;
    // The TLS port's certificate names this DNS name, whatever address it is reached at.
    args.SetSslTargetNameOverride("meshdeck-controlplane");
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
  }

  ~Impl() { stopWatch(); }

  // The management API's limits, not gRPC's defaults (4 MiB received).
  static grpc::ChannelArguments channelArguments() {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(static_cast<int>(common::limits::kMaxReceiveMessageBytes));
    args.SetMaxReceiveMessageSize(static_cast<int>(common::limits::kMaxManagementResponseBytes));
    return args;
  }

  std::unique_ptr<grpc::ClientContext> ctx() const {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + deadline_);
    return c;
  }

  static ApplyResult failure(const grpc::Status& s) {
    ApplyResult r;
    r.errors.push_back(common::LocatedError{"", 0, 0, "", "control plane: " + s.error_message()});
    return r;
  }

  // The watch thread keeps one WatchGraph stream open while anybody subscribes.
  void ensureWatch() {
    std::lock_guard lock(mutex_);
    if (watcher_.joinable()) return;
    stopping_ = false;
    watcher_ = std::thread([this] { watchLoop(); });
  }

  void stopWatch() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      if (watch_ctx_) watch_ctx_->TryCancel();
    }
    wake_.notify_all();
    if (watcher_.joinable()) watcher_.join();
  }

  void watchLoop() {
    auto backoff = std::chrono::milliseconds(100);
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      auto context = std::make_shared<grpc::ClientContext>();
      watch_ctx_ = context;
      lock.unlock();
      v1::WatchGraphRequest req;
      req.set_max_rate_hz(4);
      auto reader = stub_->WatchGraph(context.get(), req);
      v1::GraphSnapshot msg;
      while (reader->Read(&msg)) {
        backoff = std::chrono::milliseconds(100);
        publish(std::make_shared<GraphSnapshot>(fromProto(msg)));
      }
      const auto status = reader->Finish();
      lock.lock();
      watch_ctx_.reset();
      if (stopping_) break;
      spdlog::warn("graph stream from {} ended ({}); retrying in {} ms", address_,
                   status.error_message(), backoff.count());
      wake_.wait_for(lock, backoff, [&] { return stopping_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }

  void publish(std::shared_ptr<const GraphSnapshot> snap) {
    std::vector<std::shared_ptr<Subscription>> subs;
    {
      std::lock_guard lock(mutex_);
      latest_ = snap;
      subs.assign(subscriptions_.begin(), subscriptions_.end());
    }
    for (const auto& s : subs) {
      std::lock_guard call(s->mutex);
      if (s->active) s->callback(snap);
    }
  }

  struct Subscription {
    std::recursive_mutex mutex;
    bool active = true;
    SnapshotCallback callback;
  };

  const std::string address_;
  const std::chrono::milliseconds deadline_;
  std::unique_ptr<v1::Mesh::Stub> stub_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread watcher_;
  std::shared_ptr<grpc::ClientContext> watch_ctx_;
  std::shared_ptr<const GraphSnapshot> latest_;
  std::list<std::shared_ptr<Subscription>> subscriptions_;
};

GrpcControlPlane::GrpcControlPlane(std::string address, std::chrono::milliseconds deadline)
    : impl_(std::make_unique<Impl>(std::move(address), std::nullopt, deadline)) {}

GrpcControlPlane::GrpcControlPlane(std::string address, std::optional<ClientTls> tls,
                                   std::chrono::milliseconds deadline)
    : impl_(std::make_unique<Impl>(std::move(address), tls, deadline)) {}

GrpcControlPlane::~GrpcControlPlane() = default;

bool GrpcControlPlane::ping(std::string* error) {
  v1::ListRevisionsResponse r;
  const auto s = impl_->stub_->ListRevisions(impl_->ctx().get(), {}, &r);
  if (!s.ok() && error) *error = impl_->address_ + ": " + s.error_message();
  return s.ok();
}

std::shared_ptr<const GraphSnapshot> GrpcControlPlane::snapshot() {
  v1::GraphSnapshot g;
  if (impl_->stub_->GetGraph(impl_->ctx().get(), {}, &g).ok()) {
    auto snap = std::make_shared<GraphSnapshot>(fromProto(g));
    snap->listen_address = impl_->address_;
    return snap;
  }
  std::lock_guard lock(impl_->mutex_);
  return impl_->latest_;
}

std::shared_ptr<void> GrpcControlPlane::subscribe(SnapshotCallback callback) {
  auto sub = std::make_shared<Impl::Subscription>();
  sub->callback = std::move(callback);
  {
    std::lock_guard lock(impl_->mutex_);
    impl_->subscriptions_.push_back(sub);
  }
  impl_->ensureWatch();
  Impl* impl = impl_.get();
  return std::shared_ptr<void>(nullptr, [impl, sub](void*) {
    {
      std::lock_guard call(sub->mutex);
      sub->active = false;
    }
    std::lock_guard lock(impl->mutex_);
    impl->subscriptions_.remove(sub);
  });
}

std::vector<EdgeSample> GrpcControlPlane::edgeHistory(const std::string& source,
                                                      const std::string& destination,
                                                      uint32_t seconds) {
  v1::GetEdgeHistoryRequest request;
  request.set_source(source);
  request.set_destination(destination);
  request.set_seconds(seconds);
  v1::GetEdgeHistoryResponse r;
  std::vector<EdgeSample> out;
  if (!impl_->stub_->GetEdgeHistory(impl_->ctx().get(), request, &r).ok()) return out;
  using google::protobuf::util::TimeUtil;
  for (const auto& h : r.samples()) {
    EdgeSample e;
    e.time = SystemTime(std::chrono::duration_cast<SystemTime::duration>(
        std::chrono::nanoseconds(TimeUtil::TimestampToNanoseconds(h.time()))));
    e.requests_per_second = h.requests_per_second();
    e.success_rate = h.success_rate();
    e.p50_ms = h.p50_ms();
    e.p90_ms = h.p90_ms();
    e.p99_ms = h.p99_ms();
    for (int i = 0; i < h.responses_by_class_size() && i < int(e.responses_by_class.size()); ++i)
      e.responses_by_class[size_t(i)] = h.responses_by_class(i);
    out.push_back(e);
  }
  return out;
}

std::vector<PolicyInfo> GrpcControlPlane::policies() {
  v1::ListPoliciesResponse r;
  std::vector<PolicyInfo> out;
  if (!impl_->stub_->ListPolicies(impl_->ctx().get(), {}, &r).ok()) return out;
  for (const auto& p : r.policies()) out.push_back(fromProto(p));
  return out;
}

std::optional<std::vector<PolicyInfo>> GrpcControlPlane::policiesAt(uint64_t revision) {
  v1::ListPoliciesRequest request;
  request.set_revision(revision);
  v1::ListPoliciesResponse r;
  if (revision == 0) return std::vector<PolicyInfo>{};
  if (!impl_->stub_->ListPolicies(impl_->ctx().get(), request, &r).ok()) return std::nullopt;
  std::vector<PolicyInfo> out;
  for (const auto& p : r.policies()) out.push_back(fromProto(p));
  return out;
}

ApplyResult GrpcControlPlane::applyPolicies(const std::string& yaml, const std::string& file,
                                            const std::string& author, bool dry_run) {
  // Refused here as the control plane would refuse it, without sending megabytes first.
  if (yaml.size() > common::limits::kMaxPolicyTextBytes)
    return refused(file, "policy text is " + common::formatBytes(yaml.size()) +
                             "; the control plane accepts at most " +
                             common::formatBytes(common::limits::kMaxPolicyTextBytes));
  if (const auto bad = common::findInvalidUtf8(yaml))
    return refused(file, "policy text is not UTF-8 (" + bad->toString() + ")");
  v1::ApplyPoliciesRequest req;
  req.set_yaml(yaml);
  req.set_file(file);
  req.set_author(author);
  req.set_dry_run(dry_run);
  v1::ApplyPoliciesResponse r;
  const auto s = impl_->stub_->ApplyPolicies(impl_->ctx().get(), req, &r);
  return s.ok() ? fromProto(r) : Impl::failure(s);
}

ApplyResult GrpcControlPlane::deletePolicy(const std::string& kind, const std::string& name,
                                           const std::string& author) {
  v1::DeletePolicyRequest req;
  req.set_kind(kind);
  req.set_name(name);
  req.set_author(author);
  v1::ApplyPoliciesResponse r;
  const auto s = impl_->stub_->DeletePolicy(impl_->ctx().get(), req, &r);
  return s.ok() ? fromProto(r) : Impl::failure(s);
}

std::vector<RevisionInfo> GrpcControlPlane::revisions() {
  v1::ListRevisionsResponse r;
  std::vector<RevisionInfo> out;
  if (!impl_->stub_->ListRevisions(impl_->ctx().get(), {}, &r).ok()) return out;
  using google::protobuf::util::TimeUtil;
  for (const auto& rev : r.revisions()) {
    out.push_back(RevisionInfo{
        rev.number(), rev.author(),
        SystemTime{} + std::chrono::duration_cast<SystemTime::duration>(
                           std::chrono::nanoseconds(TimeUtil::TimestampToNanoseconds(rev.time()))),
        rev.summary()});
  }
  return out;
}

std::string GrpcControlPlane::diffRevisions(uint64_t from, uint64_t to) {
  v1::DiffRevisionsRequest req;
  req.set_from(from);
  req.set_to(to);
  v1::DiffRevisionsResponse r;
  return impl_->stub_->DiffRevisions(impl_->ctx().get(), req, &r).ok() ? r.diff() : "";
}

ApplyResult GrpcControlPlane::revertToRevision(uint64_t revision, const std::string& author) {
  v1::RevertToRevisionRequest req;
  req.set_revision(revision);
  req.set_author(author);
  v1::ApplyPoliciesResponse r;
  const auto s = impl_->stub_->RevertToRevision(impl_->ctx().get(), req, &r);
  return s.ok() ? fromProto(r) : Impl::failure(s);
}

std::string GrpcControlPlane::exportSnapshotJson(uint32_t window_seconds) {
  v1::ExportSnapshotRequest req;
  req.set_window_seconds(window_seconds);
  v1::ExportSnapshotResponse r;
  return impl_->stub_->ExportSnapshot(impl_->ctx().get(), req, &r).ok() ? r.json() : "";
}

std::vector<CertificateInfo> GrpcControlPlane::certificates() {
  v1::ListCertificatesResponse r;
  std::vector<CertificateInfo> out;
  if (!impl_->stub_->ListCertificates(impl_->ctx().get(), {}, &r).ok()) return out;
  using google::protobuf::util::TimeUtil;
  for (const auto& c : r.certificates())
    out.push_back(
        {c.proxy_id(), c.spiffe_id(), c.issuer(), c.serial(),
         std::chrono::system_clock::from_time_t(TimeUtil::TimestampToTimeT(c.not_before())),
         std::chrono::system_clock::from_time_t(TimeUtil::TimestampToTimeT(c.not_after()))});
  return out;
}

CaStatus GrpcControlPlane::rotateRoot(RootRotationAction action, bool force) {
  using google::protobuf::util::TimeUtil;
  v1::RotateRootRequest req;
  req.set_action(action == RootRotationAction::kBegin    ? v1::ROOT_ROTATION_BEGIN
                 : action == RootRotationAction::kRetire ? v1::ROOT_ROTATION_RETIRE
                                                         : v1::ROOT_ROTATION_STATUS);
  req.set_force(force);
  v1::RotateRootResponse r;
  CaStatus out;
  const auto s = impl_->stub_->RotateRoot(impl_->ctx().get(), req, &r);
  if (!s.ok()) {
    out.message = "control plane: " + s.error_message();
    return out;
  }
  auto root = [](const v1::CaRoot& c) {
    return CaRootInfo{
        c.fingerprint_sha256(), c.subject(),
        std::chrono::system_clock::from_time_t(TimeUtil::TimestampToTimeT(c.not_before())),
        std::chrono::system_clock::from_time_t(TimeUtil::TimestampToTimeT(c.not_after()))};
  };
  out.ok = true;
  out.message = r.message();
  out.trust_domain = r.trust_domain();
  out.active_root = root(r.active_root());
  for (const auto& c : r.retiring_roots()) out.retiring_roots.push_back(root(c));
  out.rotation_in_progress = r.rotation_in_progress();
  out.proxies_on_retiring_root.assign(r.proxies_on_retiring_root().begin(),
                                      r.proxies_on_retiring_root().end());
  out.proxies_unknown_issuer.assign(r.proxies_unknown_issuer().begin(),
                                    r.proxies_unknown_issuer().end());
  return out;
}

std::vector<ProcessInfo> GrpcControlPlane::processes() {
  v1::ListProcessesResponse r;
  std::vector<ProcessInfo> out;
  if (!impl_->stub_->ListProcesses(impl_->ctx().get(), {}, &r).ok()) return out;
  for (const auto& p : r.processes()) {
    ProcessInfo i;
    i.name = p.name();
    i.service = p.service();
    i.version = p.version();
    i.role = p.role();
    i.state = p.state();
    i.instance = p.instance();
    i.restarts = p.restarts();
    i.pid = p.pid();
    i.uptime_seconds = p.uptime_seconds();
    i.cpu_percent = p.cpu_percent();
    i.rss_bytes = p.rss_bytes();
    i.ports.assign(p.ports().begin(), p.ports().end());
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<std::string> GrpcControlPlane::processLogs(const std::string& name, uint32_t tail) {
  v1::GetProcessLogsRequest req;
  req.set_name(name);
  req.set_tail(tail);
  v1::GetProcessLogsResponse r;
  if (!impl_->stub_->GetProcessLogs(impl_->ctx().get(), req, &r).ok()) return {};
  return {r.lines().begin(), r.lines().end()};
}

ActionResult GrpcControlPlane::restartProcess(const std::string& name) {
  v1::RestartProcessRequest req;
  req.set_name(name);
  v1::FleetActionResponse r;
  const auto s = impl_->stub_->RestartProcess(impl_->ctx().get(), req, &r);
  return s.ok() ? ActionResult{r.ok(), r.message()} : ActionResult{false, s.error_message()};
}

ActionResult GrpcControlPlane::scaleService(const std::string& service, const std::string& version,
                                            uint32_t replicas) {
  v1::ScaleServiceRequest req;
  req.set_service(service);
  req.set_version(version);
  req.set_replicas(replicas);
  v1::FleetActionResponse r;
  const auto s = impl_->stub_->ScaleService(impl_->ctx().get(), req, &r);
  return s.ok() ? ActionResult{r.ok(), r.message()} : ActionResult{false, s.error_message()};
}

std::string GrpcControlPlane::listenAddress() { return impl_->address_; }

namespace {
google::protobuf::Timestamp timestampOf(SystemTime t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}
}  // namespace

HistoricalGraph GrpcControlPlane::graphBetween(SystemTime from, SystemTime to) {
  v1::GetGraphAtRequest request;
  *request.mutable_from() = timestampOf(from);
  *request.mutable_to() = timestampOf(to);
  v1::GetGraphAtResponse r;
  const auto status = impl_->stub_->GetGraphAt(impl_->ctx().get(), request, &r);
  if (!status.ok()) {
    HistoricalGraph g;
    g.from = from, g.to = to;
    g.message = "GetGraphAt failed: " + status.error_message();
    return g;
  }
  return fromProto(r);
}

EventList GrpcControlPlane::events(SystemTime since, SystemTime until,
                                   const std::vector<std::string>& kinds, uint32_t limit) {
  v1::ListEventsRequest request;
  *request.mutable_since() = timestampOf(since);
  *request.mutable_until() = timestampOf(until);
  for (const auto& k : kinds) request.add_kinds(k);
  request.set_limit(limit);
  v1::ListEventsResponse r;
  EventList l;
  const auto status = impl_->stub_->ListEvents(impl_->ctx().get(), request, &r);
  if (!status.ok()) {
    l.message = "ListEvents failed: " + status.error_message();
    return l;
  }
  l.available = r.available();
  l.message = r.message();
  for (const auto& e : r.events()) l.events.push_back(fromProto(e));
  return l;
}

std::shared_ptr<void> GrpcControlPlane::startTap(const TapFilter& filter, TapCallback callback,
                                                 std::string* error) {
  (void)error;  // a refusal (role, filter) ends the stream; the callback gets nothing
  v1::TapRequest request;
  auto* m = request.mutable_match();
  m->set_service(filter.service);
  m->set_service_version(filter.service_version);
  m->set_source_service(filter.source_service);
  m->set_source_version(filter.source_version);
  m->set_destination_service(filter.destination_service);
  m->set_destination_version(filter.destination_version);
  m->set_method(filter.method);
  m->set_path_prefix(filter.path_prefix);
  m->set_authority(filter.authority);
  m->set_status_class(filter.status_class);
  m->set_min_latency_us(filter.min_latency_us);
  request.set_events_per_second(filter.events_per_second);
  request.set_headers(filter.headers);
  for (const auto& h : filter.redact_headers) request.add_redact_headers(h);
  // The token: never null (ControlPlane::startTap's contract); the last copy cancels and joins.
  struct Stream {
    grpc::ClientContext ctx;
    std::thread reader;
    ~Stream() {
      ctx.TryCancel();
      if (reader.joinable()) reader.join();
    }
  };
  auto stream = std::make_shared<Stream>();
  stream->reader = std::thread(
      [stub = impl_->stub_.get(), stream = stream.get(), request, callback = std::move(callback)] {
        auto reader = stub->Tap(&stream->ctx, request);
        v1::TapResponse r;
        while (reader->Read(&r)) {
          TapBatch batch;
          batch.dropped = r.dropped();
          batch.proxies = r.proxies();
          for (const auto& e : r.events())
            batch.events.push_back(tapEventFromProto(e, e.proxy_id()));
          callback(batch);
        }
        const grpc::Status status = reader->Finish();
        if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED)
          spdlog::warn("tap: {}", status.error_message());
      });
  return stream;
}

CallerIdentity GrpcControlPlane::whoAmI() {
  v1::WhoAmIResponse r;
  const auto s = impl_->stub_->WhoAmI(impl_->ctx().get(), {}, &r);
  CallerIdentity c;
  if (!s.ok()) {
    c.error = s.error_message();
    return c;
  }
  c.identity = r.identity();
  c.role = r.role();
  c.tls = r.tls();
  return c;
}

}  // namespace meshdeck::cp
