#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controlplane/api/types.h"

namespace meshdeck::cp {

// What a proxy says about itself when its discovery stream opens (the Node message, as plain
// C++).
struct ProxyNode {
  std::string proxy_id, service, version, ns = "default", host = "127.0.0.1", build_version;
  // SPIFFE id of the certificate the proxy has installed ("" without one): only proxies with
  // an identity get mutual TLS by default (auto-mTLS, controlplane/compiler).
  std::string spiffe_id;
  uint32_t inbound_port = 0, app_port = 0, outbound_port = 0, admin_port = 0;
  // What the application behind the proxy speaks, as its sidecar declares it
  // (`meshdeck-proxy --app-protocol`): "http1", "http2", "grpc", or "" when not declared.
  std::string app_protocol;
  // The discovery stream came over the TLS port with the certificate of `spiffe_id`
  // (security::ProxyAuthenticator); false on the plaintext port.
  bool authenticated = false;
};

// A registered service (from proxies or from the fleet).
struct ServiceRecord {
  std::string name, tier;
  std::set<std::string> versions;
  uint32_t instances = 0;  // connected proxies
};

// An endpoint of a service that a registry source (Kubernetes: docs/kubernetes-registry.md)
// knows, whether or not its sidecar is connected.
struct SourceEndpoint {
  std::string service, version, ns;
  std::string host;       // the pod's address
  uint32_t port = 0;      // where its sidecar takes mesh traffic
  uint32_t app_port = 0;  // the Service's target port (the first of the EndpointSlice), 0: none
  std::string pod;        // the pod's name ("" when the address is not a pod's)
  bool ready = true;
  bool operator==(const SourceEndpoint&) const = default;
};

// Registry of services, versions and proxies with each proxy's config sync state. Services are
// remembered for the life of the process even when their last proxy leaves, so policies naming
// them stay valid while a proxy restarts. Thread-safe.
class Registry {
 public:
  // Records a proxy whose discovery stream opened. Returns the connection number the stream
  // must pass to disconnect(), so that a late close of an old stream does not unregister the
  // reconnected proxy.
  uint64_t connect(const ProxyNode& node, SystemTime now);
  void disconnect(const std::string& proxy_id, uint64_t connection);
  // Declares a service without a proxy (the fleet, before its processes start).
  void registerService(const std::string& service, const std::string& version,
                       const std::string& tier);

  // Replaces the endpoints `source` knows (e.g. "kubernetes"); the topology changes when they
  // differ from the last ones.
  void setSourceEndpoints(const std::string& source, std::vector<SourceEndpoint> endpoints);
  // The endpoints of every source, ready or not, sorted by (service, host, port).
  std::vector<SourceEndpoint> sourceEndpoints() const;

  void recordSent(const std::string& proxy_id, const std::string& version);
  void recordAck(const std::string& proxy_id, const std::string& version);
  void recordNack(const std::string& proxy_id, const std::string& reason);
  // Returns false when the proxy is unknown.
  bool recordReport(const std::string& proxy_id, SystemTime now);
  // The certificate a proxy reports it has installed (TelemetryReport.certificate); kept until
  // the proxy reports another. Returns false when the proxy is unknown.
  bool recordCertificate(const std::string& proxy_id, CertificateInfo cert);
  // The reported certificates of connected proxies, by proxy id.
  std::vector<CertificateInfo> reportedCertificates() const;

  // The node a proxy last announced (also after it disconnected), or nothing for a proxy id
  // never seen.
  std::optional<ProxyNode> node(const std::string& proxy_id) const;
  // Connected proxies (the endpoints of the mesh), sorted by proxy id.
  std::vector<ProxyNode> connectedProxies() const;
  std::vector<ProxyInfo> proxies() const;
  std::vector<ServiceRecord> services() const;
  std::set<std::string> serviceNames() const;
  // Changes whenever an endpoint appears or disappears or a service is added.
  uint64_t topologyVersion() const;

 private:
  struct Entry {
    ProxyNode node;
    uint64_t connection = 0;
    bool connected = false;
    ProxyInfo info;
    std::optional<CertificateInfo> certificate;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> proxies_;
  std::map<std::string, ServiceRecord> declared_;                        // services ever seen
  std::map<std::string, std::vector<SourceEndpoint>> source_endpoints_;  // by source
  uint64_t next_connection_ = 1;
  uint64_t topology_version_ = 0;
};

}  // namespace meshdeck::cp
