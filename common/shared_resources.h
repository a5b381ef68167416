#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace meshdeck::v1 {
class ProxyConfig;
class SharedResource;
class SharedResourcesDelta;
}  // namespace meshdeck::v1

namespace meshdeck::common {

// Incremental shared resources (proto/meshdeck/v1/discovery.proto, docs/cp-scale.md): the
// feature a proxy lists in Node.client_features, the digest both sides compute, and the
// proxy's side of the protocol.
inline constexpr const char* kIncrementalSharedResources = "incremental_shared_resources";
// Resource names: "route/<outbound virtual host name>" and "cluster/<cluster name>".
inline constexpr const char* kRouteResourcePrefix = "route/";
inline constexpr const char* kClusterResourcePrefix = "cluster/";

// SharedDigest: FNV-1a 64 over name, 0, version, 0 of every resource, fed in name order.
class SharedDigest {
 public:
  void add(const std::string& name, const std::string& version);
  // 16 lower-case hex digits.
  std::string hex() const;

 private:
  uint64_t h_ = 1469598103934665603ull;
};

// The shared resources a proxy holds, and how a SharedResourcesDelta changes them. Copies are
// cheap (the resources themselves are shared, immutable).
class SharedResourceSet {
 public:
  // Applies `delta` to a copy of this set (to nothing when delta.complete) into `next`. False,
  // with the reason, when the delta is malformed (a name listed twice, added and removed, a
  // name that does not match its body, an empty version) or the result's digest is not
  // delta.digest; `next` is then unspecified and this set unchanged.
  bool apply(const meshdeck::v1::SharedResourcesDelta& delta, SharedResourceSet* next,
             std::string* error) const;
  // Appends the route table "outbound" (the virtual hosts in name order) and the clusters (in
  // name order) to `config`, which holds the proxy's own part.
  void appendTo(meshdeck::v1::ProxyConfig* config) const;
  std::string digest() const;
  size_t size() const { return resources_.size(); }
  bool empty() const { return resources_.empty(); }
  void clear() { resources_.clear(); }
  // Version of resource `name`, or "" when not held.
  std::string version(const std::string& name) const;

 private:
  std::map<std::string, std::shared_ptr<const meshdeck::v1::SharedResource>> resources_;
};

}  // namespace meshdeck::common
