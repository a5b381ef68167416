#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controlplane/compiler/shared_resources.h"
#include "controlplane/policy/policy_store.h"
#include "controlplane/registry/registry.h"
#include "meshdeck/v1/discovery.pb.h"

namespace meshdeck::cp {

// What the compiler reads: the mesh's endpoints and services and one policy revision.
struct MeshState {
  std::vector<ProxyNode> proxies;  // connected proxies: the endpoints
  // Ready endpoints a registry source knows (Kubernetes) at an address no connected proxy
  // serves: endpoints too, without an identity (docs/kubernetes-registry.md).
  std::vector<SourceEndpoint> source_endpoints;
  std::set<std::string> services;  // registered services (with or without proxies)
  std::shared_ptr<const PolicySet> policies;
  std::string trust_domain = "meshdeck.local";
  std::vector<std::string> trust_bundle_pem;  // the CA's roots, the signing one first
};

// ConfigCompiler turns registry + policies into each proxy's complete ProxyConfig. This is the
// protobuf edge towards the proxies (the conventions are in docs/architecture.md):
//  - listener "inbound" (INBOUND, Node.inbound_port) -> route table "inbound" -> cluster
//    "inbound|local" = 127.0.0.1:Node.app_port;
//  - listener "outbound" (OUTBOUND, Node.outbound_port) -> route table "outbound", one virtual
//    host per service with domains ["<service>"];
//  - clusters "<service>" (every version) and "<service>|<version>" (per version and subset),
//    whose endpoints are the peers' inbound ports;
//  - every cluster of a service, and "inbound|local" of its own proxies, speak the service's
//    protocol (DestinationPolicy trafficPolicy.protocol, else the sidecars' --app-protocol).
// The part every proxy shares (outbound routes and clusters) is built once per state, both as
// one serialized piece (sharedBytes(), for proxies that get whole configs) and as named,
// versioned resources (sharedResources(), for proxies that accept increments).
class ConfigCompiler {
 public:
  explicit ConfigCompiler(MeshState state);

  // The complete configuration of one proxy.
  meshdeck::v1::ProxyConfig compile(const ProxyNode& self) const;
  // The same, into `out` (which may live on an arena: the push builds hundreds at once).
  void compileInto(const ProxyNode& self, meshdeck::v1::ProxyConfig* out) const;
  // Version of compile(self): a content hash combining the proxy's own part with the shared
  // part's digest (its resources' names and content hashes), so unchanged configs keep their
  // version without serializing them whole.
  std::string version(const ProxyNode& self) const;
  // The push path: the proxy's own part serialized, and its version. The complete config on
  // the wire is localBytes followed by sharedBytes() (protobuf concatenation appends repeated
  // fields), so the large shared part is serialized once per push, not once per proxy.
  struct LocalPart {
    std::string bytes;
    std::string version;
  };
  // With `scoped` (the resources of a scoped proxy, scopeSharedResources()), the version
  // combines the own part with that set's digest instead: a change outside the proxy's scope
  // leaves its version as it was.
  LocalPart compileLocalBytes(const ProxyNode& self, const SharedResources* scoped = nullptr) const;
  // Serialized on first use (a push where every proxy takes increments never needs it).
  const std::string& sharedBytes() const;
  // The shared part as resources: compileInto() is compileLocal() plus these, assembled by
  // common::SharedResourceSet::appendTo (up to the order of the clusters).
  const std::shared_ptr<const SharedResources>& sharedResources() const { return resources_; }
  // A content hash of a configuration (deterministic serialization).
  static std::string contentHash(const meshdeck::v1::ProxyConfig& config);

  const MeshState& state() const { return state_; }

 private:
  // host -> subset name -> version, from the DestinationPolicies.
  using Subsets = std::map<std::string, std::map<std::string, std::string>>;
  // The shared part, built once per state: the outbound route table and every cluster.
  void buildShared();
  void buildVirtualHost(const std::string& service, const Subsets& subsets);
  void buildClusters(const std::string& service, const std::set<std::string>& versions,
                     const DestinationPolicySpec* destination);
  void applyAutoMtls(const std::string& service, const std::string& version, MtlsMode mode,
                     meshdeck::v1::Cluster* c) const;
  // Cluster.hop_http2 for a mutual-TLS cluster of HTTP/1.1 sidecars (after applyAutoMtls()).
  static void markHopHttp2(const DestinationPolicySpec* destination, meshdeck::v1::Cluster* c);
  // Everything but the shared outbound route table and clusters.
  void compileLocal(const ProxyNode& self, meshdeck::v1::ProxyConfig* out) const;
  const Policy* peerAuthFor(const std::string& service) const;
  const DestinationPolicySpec* destinationFor(const std::string& service) const;
  // The protocol of a cluster of `service` (version "" = every version): the DestinationPolicy's
  // `protocol` when set, else what the sidecars of its endpoints declare when they all agree.
  Protocol serviceProtocol(const std::string& service, const DestinationPolicySpec* destination,
                           const std::string& version) const;

  MeshState state_;
  meshdeck::v1::RouteTable outbound_;
  std::vector<meshdeck::v1::Cluster> clusters_;
  uint64_t shared_hash_ = 0;
  std::shared_ptr<const SharedResources> resources_;
  mutable std::once_flag shared_bytes_once_;
  mutable std::string shared_bytes_;
};

// Cluster name of a destination: "<service>" or "<service>|<version>" of a subset.
std::string clusterName(const std::string& service, const std::string& version);

}  // namespace meshdeck::cp
