#pragma once

#include <cstddef>
#include <cstdint>

// Every limit on what the control plane, the proxy and the tools accept from the outside: the
// management API, the discovery and telemetry streams, and the files they open. One place, so
// that the client checks what the server enforces and docs/input-limits.md lists them all.
namespace meshdeck::common::limits {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

// --- Management API (Mesh.*) ---
// Policy text of one ApplyPolicies call (meshdeckctl checks before sending; the server refuses
// a larger one with RESOURCE_EXHAUSTED).
constexpr uint64_t kMaxPolicyTextBytes = 8 * kMiB;
// Any message the control plane's gRPC server receives: the policy text plus room for the
// other fields. Larger messages are refused by gRPC itself (RESOURCE_EXHAUSTED).
constexpr uint64_t kMaxReceiveMessageBytes = kMaxPolicyTextBytes + 256 * kKiB;
// Responses management clients accept (an exported snapshot of a large mesh is the biggest).
constexpr uint64_t kMaxManagementResponseBytes = 256 * kMiB;
// The server's own upper bound on the work of one management call, whatever the client's
// deadline (or none).
constexpr int64_t kMaxManagementCallMillis = 30'000;

// --- Discovery stream (ConfigDiscovery.Stream) ---
// One DiscoveryRequest (a hello or an ACK/NACK).
constexpr uint64_t kMaxDiscoveryRequestBytes = 64 * kKiB;
// Requests per stream in one second; more closes the stream (a proxy ACKs each push, and
// pushes are at most one per debounce).
constexpr uint32_t kMaxDiscoveryRequestsPerSecond = 200;
// A NACK's reason as kept and shown (longer ones are cut).
constexpr size_t kMaxNackReasonBytes = 4 * kKiB;

// --- Telemetry stream (TelemetryIngest.Report) ---
// One TelemetryReport.
constexpr uint64_t kMaxTelemetryReportBytes = 4 * kMiB;
// Edges in one report; a report with more is refused whole.
constexpr int kMaxEdgesPerReport = 2048;
// Reports per stream: a rate of kMaxReportsPerSecond with bursts of kMaxReportsBurst (a token
// bucket; the proxies report once a second by default, so a burst is a minute of backlog read
// at once after the control plane fell behind); extra reports are refused whole.
constexpr uint32_t kMaxReportsPerSecond = 20;
constexpr uint32_t kMaxReportsBurst = 60;
// Authorization rule counts in one edge.
constexpr int kMaxAuthorizationRulesPerEdge = 256;
// Edge/node series the telemetry aggregator keeps; new series beyond it are refused.
constexpr size_t kMaxTelemetrySeries = 20'000;
// Authorization rule series (service, policy, rule) the aggregator keeps.
constexpr size_t kMaxAuthorizationSeries = 20'000;
// Destination versions counted in one second of one edge.
constexpr size_t kMaxVersionsPerEdgeSecond = 64;

// --- Names on both streams ---
// Service, version, namespace, proxy id, host, route, policy and rule names (a DNS name's
// length).
constexpr size_t kMaxNameBytes = 253;
// A SPIFFE id (URI) or a build version string.
constexpr size_t kMaxUriBytes = 2048;

// --- Files ---
// A snapshot file opened by the app (meshdeckctl snapshot writes them).
constexpr uint64_t kMaxSnapshotFileBytes = 256 * kMiB;
// A bootstrap token file (a token is 43 characters).
constexpr uint64_t kMaxTokenFileBytes = 4 * kKiB;
// A Kubernetes projected service-account token (a JWT, ~1 KiB; long names make it grow).
constexpr uint64_t kMaxSaTokenFileBytes = 16 * kKiB;
// Each PEM file of --ca-import and each TLS identity file of the proxy.
constexpr uint64_t kMaxPemFileBytes = 1 * kMiB;
// The CA state (identity/ca.json).
constexpr uint64_t kMaxCaStateFileBytes = 4 * kMiB;
// The policy store's state (policies.json): older revisions are dropped to stay under it.
constexpr uint64_t kMaxPolicyStateFileBytes = 256 * kMiB;
// A policy file of --policy-dir (the same as one apply).
constexpr uint64_t kMaxPolicyFileBytes = kMaxPolicyTextBytes;

}  // namespace meshdeck::common::limits
