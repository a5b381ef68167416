#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "controlplane/registry/registry.h"
#include "controlplane/tap/tap_hub.h"
#include "controlplane/telemetry/telemetry_aggregator.h"
#include "meshdeck/v1/telemetry.grpc.pb.h"

namespace meshdeck::cp {

namespace security {
class ProxyAuthenticator;
}

// Converts one received EdgeStats into an EdgeReport. Returns false with a reason when it is
// not valid (no destination, no side, a status code outside 100-599, or a histogram that
// common::fromProto refuses); such an edge is counted and dropped, the rest of the report is
// kept.
bool edgeReportFromProto(const meshdeck::v1::EdgeStats& in, EdgeReport* out, std::string* error);

// Converts a reported WorkloadCertificate. Returns false with a reason when it is not valid
// (no parseable SPIFFE id, a serial that is not 1-40 upper-case hex digits, an empty or
// over-long issuer, or not_after not after not_before); such a certificate is counted and
// ignored, the report's edges are kept.
bool certificateFromProto(const meshdeck::v1::WorkloadCertificate& in, CertificateInfo* out,
                          std::string* error);

// TelemetryIngestService serves TelemetryIngest.Report: each report's edges are validated,
// merged into the aggregator, and acknowledged with the number of edges refused. The streams
// are served by TelemetryQueues (below), one per gRPC server.
class TelemetryIngestService final {
 public:
  TelemetryIngestService(TelemetryAggregator& aggregator, Registry& registry,
                         const common::TimeSource& time);

  // Accepts one report (also used by the benchmark without a network). Returns the number of
  // edges refused.
  uint32_t ingest(const meshdeck::v1::TelemetryReport& report);
  // Binds every stream to its peer's identity (docs/security.md, "Proxies on the streams"): a
  // stream the authenticator does not admit ends PERMISSION_DENIED; a report for another
  // identity than the client certificate's (or, on the plaintext port, for a proxy that
  // connected with an identity) is refused whole, counted in reportsRefused(), and ends the
  // stream PERMISSION_DENIED. Null (the default): every stream is served. Not owned; call
  // before the server starts.
  void setProxyAuthenticator(security::ProxyAuthenticator* auth) { auth_ = auth; }

  uint64_t reports() const { return reports_.load(); }
  uint64_t edgesAccepted() const { return edges_accepted_.load(); }
  uint64_t edgesRejected() const { return edges_rejected_.load(); }
  uint64_t certificatesRejected() const { return certificates_rejected_.load(); }
  // Reports refused whole (size, edge count, rate, no or another proxy id; see
  // common/input_limits.h), and reports from a proxy not connected for discovery (accepted).
  uint64_t reportsRefused() const { return reports_refused_.load(); }
  uint64_t reportsFromUnknownProxies() const { return reports_unknown_proxy_.load(); }
  // Open streams.
  int streams() const { return streams_.load(); }
  // Where the reports' tap events go (docs/tap.md); none: they are dropped. Call before the
  // server starts.
  void setTapHub(TapHub* hub) { tap_hub_ = hub; }
  uint64_t tapEventsReceived() const { return tap_events_.load(); }

 private:
  friend class TelemetryQueues;
  TelemetryAggregator& aggregator_;
  Registry& registry_;
  const common::TimeSource& time_;
  security::ProxyAuthenticator* auth_ = nullptr;
  std::atomic<uint64_t> reports_{0}, edges_accepted_{0}, edges_rejected_{0},
      certificates_rejected_{0}, reports_refused_{0}, reports_unknown_proxy_{0};
  std::atomic<int> streams_{0};
  TapHub* tap_hub_ = nullptr;
  std::atomic<uint64_t> tap_events_{0};
};

// The Report streams of one gRPC server, served through the async API on completion queues of
// their own, one thread each (docs/cp-scale.md, "Telemetry on queues of its own").
//
// Why not the callback API: with Debian's libgrpc (epoll1, no background poller) every callback
// method of every server in the process runs on one process-wide completion queue, and a
// libgrpc built without NDEBUG scans that queue's list of outstanding operations on every
// completed one (`cq_check_tag`, under the queue's lock). With a telemetry and a discovery
// stream per proxy, each holding a pending read, that list is two entries per proxy. Here each
// queue holds the pending reads of its own telemetry streams only: the kernel's connections
// are spread over the queues by gRPC (a call is matched to a queue that has requested one).
//
// Each report is parsed raw (ByteBuffer) into a protobuf arena of the queue's thread, reset
// after the report is merged, instead of a heap message per stream. On the wire it is the
// ordinary TelemetryReport/ReportAck stream. A stream's operations all complete on its queue's
// one thread, so a stream needs no lock.
class TelemetryQueues {
 public:
  using AsyncReportService =
      meshdeck::v1::TelemetryIngest::WithRawMethod_Report<meshdeck::v1::TelemetryIngest::Service>;
  // `queues` (at least 1) completion queues; `calls` counts the streams taken.
  TelemetryQueues(TelemetryIngestService& service, size_t queues, std::atomic<uint64_t>& calls);
  ~TelemetryQueues();
  TelemetryQueues(const TelemetryQueues&) = delete;
  TelemetryQueues& operator=(const TelemetryQueues&) = delete;

  // Registers the method and adds the queues; before BuildAndStart.
  void registerWith(grpc::ServerBuilder& builder);
  // Requests the first streams and starts the threads; after BuildAndStart.
  void start();
  // Before the server's Shutdown: no new stream is requested from then on.
  void beginShutdown() { shutting_down_ = true; }
  // After the server's Shutdown and Wait: waits (at most 5 s) for the streams to end, then
  // shuts the queues down, drains them and joins the threads. Idempotent.
  void stop();
  // Streams each queue took.
  std::vector<uint64_t> streamsByQueue() const;

 private:
  class Session;
  struct Queue {
    std::unique_ptr<grpc::ServerCompletionQueue> cq;
    std::thread thread;
    std::atomic<uint64_t> streams{0};
    std::atomic<int> live{0};  // sessions of this queue (requested or serving)
  };
  TelemetryIngestService& service_;
  std::atomic<uint64_t>& calls_;
  AsyncReportService async_;
  std::vector<std::unique_ptr<Queue>> queues_;
  std::atomic<bool> shutting_down_{false};
  bool started_ = false, stopped_ = false;
};

}  // namespace meshdeck::cp
