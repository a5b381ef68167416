#include "controlplane/server/telemetry_service.h"

#include <fmt/format.h>
#include <google/protobuf/arena.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "common/bounded_file.h"
#include "common/histogram_proto.h"
#include "common/input_limits.h"
#include "common/pki/pki.h"
#include "common/telemetry/counter_fields.h"
#include "common/token_bucket.h"
#include "controlplane/security/proxy_auth.h"
#include "controlplane/server/peer_info.h"
#include "controlplane/server/proto_convert.h"
#include "controlplane/tap/tap_proto.h"

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;

bool edgeReportFromProto(const v1::EdgeStats& in, EdgeReport* out, std::string* error) {
  namespace limits = common::limits;
  // Names become map keys and UI labels: bounded, like the discovery stream's.
  for (const auto& [field, value] :
       {std::pair{"source_service", &in.key().source_service()},
        std::pair{"source_version", &in.key().source_version()},
        std::pair{"destination_service", &in.key().destination_service()},
        std::pair{"destination_version", &in.key().destination_version()},
        std::pair{"route", &in.key().route()}}) {
    if (value->size() > limits::kMaxNameBytes) {
      *error = fmt::format("key.{} is {} bytes long; the limit is {}", field, value->size(),
                           limits::kMaxNameBytes);
      return false;
    }
  }
  if (in.authorization_size() > limits::kMaxAuthorizationRulesPerEdge) {
    *error = fmt::format("{} authorization counts; the limit is {}", in.authorization_size(),
                         limits::kMaxAuthorizationRulesPerEdge);
    return false;
  }
  if (in.key().destination_service().empty()) {
    *error = "edge without destination service";
    return false;
  }
  if (in.side() != v1::CLIENT && in.side() != v1::SERVER) {
    *error = "edge without side";
    return false;
  }
  out->source_service = in.key().source_service();
  out->source_version = in.key().source_version();
  out->destination_service = in.key().destination_service();
  out->destination_version = in.key().destination_version();
  out->route = in.key().route();
  out->client_side = in.side() == v1::CLIENT;
#define MESHDECK_GET_(member, ...) out->member = in.member();
  MESHDECK_EDGE_COUNTERS(MESHDECK_GET_)
#undef MESHDECK_GET_
  out->responses_by_class = {};
  for (const auto& [code, n] : in.responses_by_code()) {
    if (code < 100 || code > 599) {
      *error = "status code " + std::to_string(code) + " out of range";
      return false;
    }
    out->responses_by_class[code / 100 - 1] += n;
  }
  out->grpc_statuses = {};
  for (const auto& [code, n] : in.grpc_statuses()) {
    if (code >= out->grpc_statuses.size()) {
      *error = "gRPC status " + std::to_string(code) + " out of range";
      return false;
    }
    out->grpc_statuses[code] += n;
  }
  const std::string& protocol = in.key().protocol();
  out->protocol = protocol == "grpc"       ? kProtocolGrpc
                  : protocol == "h2"       ? kProtocolHttp2
                  : protocol == "http/1.1" ? kProtocolHttp1
                                           : 0;
  out->authorization.clear();
  for (const auto& a : in.authorization()) {
    if (a.rule().empty()) {
      *error = "authorization count without rule";
      return false;
    }
    if (a.rule().size() > limits::kMaxNameBytes || a.policy().size() > limits::kMaxNameBytes ||
        a.action().size() > limits::kMaxNameBytes) {
      *error = fmt::format("authorization rule, policy or action longer than {} bytes",
                           limits::kMaxNameBytes);
      return false;
    }
    out->authorization.push_back(fromProto(a));
  }
  out->latency = SparseHistogram{};
  if (in.has_latency() && in.latency().count() > 0) {
    // Validate with the common decoder's checks (without filling a dense histogram), then keep
    // the (now known good) buckets sparse.
    const auto& l = in.latency();
    if (!common::validateProto(l, error)) return false;
    auto& h = out->latency;
    h.buckets.reserve(static_cast<size_t>(l.buckets_size()));
    for (const auto& b : l.buckets())
      h.buckets.emplace_back(static_cast<uint16_t>(b.index()), b.count());
    h.count = l.count();
    h.sum = l.sum_ns();
    h.min = l.min_ns();  // count > 0
    h.max = l.max_ns();
    h.underflow = l.underflow();
    h.overflow = l.overflow();
  }
  return true;
}

bool certificateFromProto(const v1::WorkloadCertificate& in, CertificateInfo* out,
                          std::string* error) {
  if (!pki::parseSpiffeId(in.spiffe_id())) {
    *error = "certificate: spiffe_id '" + in.spiffe_id().substr(0, 200) + "' is not a SPIFFE id";
    return false;
  }
  const std::string& serial = in.serial_hex();
  if (serial.empty() || serial.size() > 40 ||
      serial.find_first_not_of("0123456789ABCDEF") != std::string::npos) {
    *error = "certificate: serial_hex must be 1-40 upper-case hex digits";
    return false;
  }
  if (in.issuer().empty() || in.issuer().size() > 1024) {
    *error = "certificate: issuer must be 1-1024 characters";
    return false;
  }
  // Seconds from a peer, converted to the clock's nanoseconds below: beyond ~292 years from 1970
  // the multiplication would overflow.
  constexpr int64_t kMaxSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(SystemTime::duration::max()).count();
  for (const auto& [name, ts] :
       {std::pair{"not_before", &in.not_before()}, std::pair{"not_after", &in.not_after()}}) {
    if (ts->seconds() < -kMaxSeconds || ts->seconds() > kMaxSeconds) {
      *error = std::string("certificate: ") + name + " is out of range";
      return false;
    }
  }
  if (in.not_after().seconds() <= in.not_before().seconds()) {
    *error = "certificate: not_after must be after not_before";
    return false;
  }
  out->spiffe_id = in.spiffe_id();
  out->serial = serial;
  out->issuer = in.issuer();
  out->not_before = SystemTime(std::chrono::seconds(in.not_before().seconds()));
  out->not_after = SystemTime(std::chrono::seconds(in.not_after().seconds()));
  return true;
}

TelemetryIngestService::TelemetryIngestService(TelemetryAggregator& aggregator, Registry& registry,
                                               const common::TimeSource& time)
    : aggregator_(aggregator), registry_(registry), time_(time) {}

uint32_t TelemetryIngestService::ingest(const v1::TelemetryReport& report) {
  ++reports_;
  registry_.recordReport(report.proxy_id(), time_.systemNow());
  uint32_t rejected = 0;
  EdgeReport edge;
  std::string error;
  for (const auto& e : report.edges()) {
    if (!edgeReportFromProto(e, &edge, &error)) {
      ++rejected;
      spdlog::debug("proxy {}: edge refused: {}", report.proxy_id(), error);
      continue;
    }
    if (!aggregator_.ingest(edge)) {
      ++rejected;
      error = fmt::format("the aggregator holds its limit of {} edge/node series",
                          common::limits::kMaxTelemetrySeries);
    }
  }
  if (report.has_certificate()) {
    CertificateInfo cert;
    if (certificateFromProto(report.certificate(), &cert, &error)) {
      registry_.recordCertificate(report.proxy_id(), std::move(cert));
    } else {
      ++certificates_rejected_;
      spdlog::warn("proxy {}: reported certificate ignored: {}", report.proxy_id(), error);
    }
  }
  if (tap_hub_ && (report.tap_events_size() > 0 || report.tap_dropped_size() > 0)) {
    std::vector<TapEvent> events;
    events.reserve(static_cast<size_t>(report.tap_events_size()));
    for (const auto& e : report.tap_events())
      events.push_back(tapEventFromProto(e, report.proxy_id()));
    tap_events_ += events.size();
    const std::map<uint64_t, uint64_t> dropped(report.tap_dropped().begin(),
                                               report.tap_dropped().end());
    tap_hub_->deliver(std::move(events), dropped);
  }
  edges_accepted_ += static_cast<uint64_t>(report.edges_size()) - rejected;
  edges_rejected_ += rejected;
  if (rejected)
    spdlog::warn("proxy {}: {} invalid edge(s) refused (last: {})", report.proxy_id(), rejected,
                 error);
  return rejected;
}

namespace {
// The arena a serving thread parses reports into: its first block is reused report after
// report, so a report of the usual size costs no heap allocation at all.
class ReportArena {
 public:
  ReportArena() : arena_(options()) {}
  v1::TelemetryReport* fresh() {
    arena_.Reset();
    return google::protobuf::Arena::CreateMessage<v1::TelemetryReport>(&arena_);
  }

 private:
  google::protobuf::ArenaOptions options() {
    google::protobuf::ArenaOptions o;
    o.initial_block = first_block_.get();
    o.initial_block_size = kFirstBlock;
    return o;
  }
  static constexpr size_t kFirstBlock = 64 * 1024;
  std::unique_ptr<char[]> first_block_ = std::make_unique<char[]>(kFirstBlock);
  google::protobuf::Arena arena_;
};
}  // namespace

class TelemetryQueues::Session {
 public:
  Session(TelemetryQueues& owner, Queue& queue)
      : owner_(owner), queue_(queue), service_(owner.service_), rw_(&ctx_) {
    ++queue_.live;
    owner_.async_.RequestReport(&ctx_, &rw_, queue_.cq.get(), queue_.cq.get(), &on_new_);
  }
  ~Session() {
    if (serving_) {
      if (refused_ > 1)
        spdlog::warn("telemetry stream of proxy {} ended: {} report(s) refused",
                     proxy_id_.empty() ? "(not identified)" : proxy_id_, refused_);
      --service_.streams_;
    }
    --queue_.live;
  }

  enum class Op { kNew, kRead, kWrite, kFinish };
  struct Tag {
    Session* session;
    Op op;
  };
  // Called by the queue's thread for every completed operation of this stream.
  void proceed(Op op, bool ok) {
    switch (op) {
      case Op::kNew:
        return onNew(ok);
      case Op::kRead:
        return onRead(ok);
      case Op::kWrite:
        return onWrite(ok);
      case Op::kFinish:
        delete this;  // no read or write is pending once Finish is called
        return;
    }
  }

 private:
  void onNew(bool ok) {
    if (!ok) {  // the server is shutting down
      delete this;
      return;
    }
    // The next stream of this queue.
    if (!owner_.shutting_down_) new Session(owner_, queue_);
    ++owner_.calls_;
    ++queue_.streams;
    ++service_.streams_;
    serving_ = true;
    std::string why;
    auto peer = admitProxyPeer(&ctx_, service_.auth_, "telemetry", &why);
    if (!peer) {
      finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why));
      return;
    }
    peer_ = std::move(*peer);
    rw_.Read(&in_, &on_read_);
  }

  void onRead(bool ok) {
    thread_local ReportArena arena;
    v1::TelemetryReport* parsed = ok ? arena.fresh() : nullptr;
    if (!ok) {  // the proxy closed its side, or the stream broke
      done_reading_ = true;
      if (!writing_) finish(status_);
      return;
    }
    // A message that does not parse ends the stream with an error the proxy sees (as the typed
    // method's deserialization did), counted as a refused report and logged.
    const size_t bytes = in_.Length();  // Deserialize() clears the buffer
    if (!grpc::SerializationTraits<v1::TelemetryReport>::Deserialize(&in_, parsed).ok()) {
      ++service_.reports_refused_;
      spdlog::warn("telemetry stream from {} ended: a report that does not parse ({} bytes)",
                   peer_.address, bytes);
      done_reading_ = true;
      status_ =
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "a telemetry report that does not parse as meshdeck.v1.TelemetryReport");
      if (!writing_) finish(status_);
      return;
    }
    const v1::TelemetryReport& report = *parsed;
    v1::ReportAck ack;
    ack.set_sequence(report.sequence());
    if (const std::string why = checkIdentity(report); !why.empty()) {
      // Another proxy's identity: nothing of it is used, and the stream ends.
      ++service_.reports_refused_;
      service_.edges_rejected_ += static_cast<uint64_t>(report.edges_size());
      spdlog::warn("telemetry stream from {} refused: {}", peer_.address, why);
      done_reading_ = true;
      status_ = grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why);
      if (!writing_) finish(status_);
      return;
    }
    if (const std::string why = check(report); !why.empty()) {
      // Refused whole: acknowledged with every edge rejected, counted, logged once a stream.
      ++service_.reports_refused_;
      ++refused_;
      service_.edges_rejected_ += static_cast<uint64_t>(report.edges_size());
      ack.set_rejected_edges(static_cast<uint32_t>(report.edges_size()));
      if (refused_ == 1)
        spdlog::warn(
            "telemetry from proxy {} refused: {} (further refusals on this stream are "
            "counted, and summed up when it ends)",
            proxy_id_.empty() ? "(not identified)" : proxy_id_, why);
    } else {
      ack.set_rejected_edges(service_.ingest(report));
    }
    grpc::ByteBuffer ack_bytes;
    bool own = false;
    (void)grpc::SerializationTraits<v1::ReportAck>::Serialize(ack, &ack_bytes, &own);
    // Acks are small; bound the queue anyway against a client that never reads.
    if (acks_.size() < 64) acks_.push_back(std::move(ack_bytes));
    if (!writing_) writeNext();
    rw_.Read(&in_, &on_read_);
  }

  void onWrite(bool ok) {
    writing_ = false;
    if (!ok) {
      // The stream is broken: its pending read fails too, unless reading has ended already.
      if (done_reading_) finish(status_);
      return;
    }
    if (!acks_.empty() && status_.ok())
      writeNext();
    else if (done_reading_)
      finish(status_);
  }

  void writeNext() {
    out_ = std::move(acks_.front());
    acks_.pop_front();
    writing_ = true;
    rw_.Write(out_, &on_write_);
  }

  void finish(const grpc::Status& status) {
    if (finishing_) return;
    finishing_ = true;
    rw_.Finish(status, &on_finish_);
  }

  // Why `report` is refused whole ("" when it is not). The first report names the proxy and
  // binds the stream to it.
  std::string check(const v1::TelemetryReport& report) {
    namespace limits = common::limits;
    const auto size = report.ByteSizeLong();
    if (size > limits::kMaxTelemetryReportBytes)
      return fmt::format("a report of {}; the limit is {}", common::formatBytes(size),
                         common::formatBytes(limits::kMaxTelemetryReportBytes));
    if (report.proxy_id().empty()) return "a report without proxy_id";
    if (report.proxy_id().size() > limits::kMaxNameBytes)
      return fmt::format("proxy_id longer than {} bytes", limits::kMaxNameBytes);
    if (proxy_id_.empty()) {
      proxy_id_ = report.proxy_id();
      if (!service_.registry_.recordReport(proxy_id_, service_.time_.systemNow())) {
        // Telemetry before the discovery stream named the proxy (or from one that never
        // opens one): accepted, since the two streams race at a proxy's start, but counted.
        ++service_.reports_unknown_proxy_;
        spdlog::info("telemetry from proxy {} before it connected for discovery", proxy_id_);
      }
    } else if (report.proxy_id() != proxy_id_) {
      return fmt::format("proxy_id \"{}\" on the stream of proxy {}",
                         report.proxy_id().substr(0, limits::kMaxNameBytes), proxy_id_);
    }
    if (report.edges_size() > limits::kMaxEdgesPerReport)
      return fmt::format("{} edges in one report; the limit is {}", report.edges_size(),
                         limits::kMaxEdgesPerReport);
    if (!rate_.tryTake(std::chrono::steady_clock::now()))
      return fmt::format("more than {} reports a second (bursts of {})",
                         limits::kMaxReportsPerSecond, limits::kMaxReportsBurst);
    return {};
  }

  // Why `report` is refused for its identity ("" when it is not; see
  // TelemetryIngestService::setProxyAuthenticator).
  std::string checkIdentity(const v1::TelemetryReport& report) {
    auto* auth = service_.auth_;
    if (!auth || report.proxy_id().empty()) return {};
    std::optional<security::RegisteredProxy> registered;
    if (const auto r = service_.registry_.node(report.proxy_id()))
      registered = security::RegisteredProxy{r->ns, r->service, r->spiffe_id, r->authenticated};
    std::vector<security::ReportedEdge> edges;
    if (peer_.authenticated()) {
      edges.reserve(static_cast<size_t>(report.edges_size()));
      for (const auto& e : report.edges())
        edges.push_back(
            {e.side() == v1::CLIENT, e.key().source_service(), e.key().destination_service()});
    }
    return auth->checkReport(peer_, report.proxy_id(), registered, edges);
  }

  TelemetryQueues& owner_;
  Queue& queue_;
  TelemetryIngestService& service_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> rw_;
  Tag on_new_{this, Op::kNew}, on_read_{this, Op::kRead}, on_write_{this, Op::kWrite},
      on_finish_{this, Op::kFinish};
  security::ProxyPeer peer_;  // who is at the other end (the transport's word)
  grpc::Status status_;       // how the stream ends (OK, or why its identity was refused)
  grpc::ByteBuffer in_, out_;
  std::deque<grpc::ByteBuffer> acks_;
  bool serving_ = false, writing_ = false, done_reading_ = false, finishing_ = false;
  std::string proxy_id_;  // named by the stream's first report
  uint64_t refused_ = 0;
  // Reports are counted when they are read: a burst after the control plane fell behind is
  // the backlog of a well-behaved proxy, so the limit is a rate with a burst, not a window.
  common::TokenBucket rate_{common::limits::kMaxReportsPerSecond, common::limits::kMaxReportsBurst,
                            std::chrono::steady_clock::now()};
};

TelemetryQueues::TelemetryQueues(TelemetryIngestService& service, size_t queues,
                                 std::atomic<uint64_t>& calls)
    : service_(service), calls_(calls) {
  for (size_t i = 0; i < std::max<size_t>(queues, 1); ++i)
    queues_.push_back(std::make_unique<Queue>());
}

TelemetryQueues::~TelemetryQueues() {
  beginShutdown();
  stop();
}

void TelemetryQueues::registerWith(grpc::ServerBuilder& builder) {
  builder.RegisterService(&async_);
  for (auto& q : queues_) q->cq = builder.AddCompletionQueue();
}

void TelemetryQueues::start() {
  started_ = true;
  for (auto& q : queues_) {
    new Session(*this, *q);
    q->thread = std::thread([cq = q->cq.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) {
        auto* t = static_cast<Session::Tag*>(tag);
        t->session->proceed(t->op, ok);
      }
    });
  }
}

void TelemetryQueues::stop() {
  if (stopped_) return;
  stopped_ = true;
  shutting_down_ = true;
  if (!started_) {
    for (auto& q : queues_)
      if (q->cq) q->cq->Shutdown();
    for (auto& q : queues_) {
      void* tag = nullptr;
      bool ok = false;
      while (q->cq && q->cq->Next(&tag, &ok)) {
      }
    }
    return;
  }
  // The server is shut down: its calls were cancelled, every stream finishes and deletes
  // itself, and the requested ones come back not ok. A queue must not be shut down while a
  // stream may still start an operation on it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& q : queues_)
    while (q->live.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& q : queues_)
    if (q->live.load() > 0)
      spdlog::warn("telemetry queue shut down with {} stream(s) not finished", q->live.load());
  for (auto& q : queues_) q->cq->Shutdown();
  for (auto& q : queues_)
    if (q->thread.joinable()) q->thread.join();
}

std::vector<uint64_t> TelemetryQueues::streamsByQueue() const {
  std::vector<uint64_t> out;
  for (const auto& q : queues_) out.push_back(q->streams.load());
  return out;
}

}  // namespace meshdeck::cp
