#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "meshdeck/v1/discovery.pb.h"

namespace meshdeck::cp {

// The part of the configuration every proxy shares (the outbound virtual hosts and every
// cluster), as named, versioned resources: what the control plane sends proxies that accept
// incremental shared resources (proto/meshdeck/v1/discovery.proto, docs/cp-scale.md). Built
// once per push by the ConfigCompiler; immutable, and shared by every stream that sent or
// ACKed it.
struct SharedResources {
  struct Entry {
    std::string name;     // "route/<virtual host>" or "cluster/<cluster>"
    std::string version;  // FNV-1a 64 of the body's deterministic serialization, hex
    // The whole v1::SharedResource, serialized; shared by every scoped set holding the entry.
    std::shared_ptr<const std::string> bytes;
    // A route's clusters: the resource names of every cluster its routes send or mirror to.
    std::vector<std::string> refs;
  };
  std::vector<Entry> entries;  // by name
  std::string digest;          // common::SharedDigest of the entries

  // The entry named `name`, or null.
  const Entry* find(const std::string& name) const;
};

// The part of `full` a proxy scoped to `services` holds (docs/cp-scale.md, "Scoping"): for each
// service, route/<service>, every cluster of the service (cluster/<service> and
// cluster/<service>|<version>) and every cluster its route names (TrafficRoute destinations and
// mirrors, which may be other services'). Services `full` lacks are skipped.
std::shared_ptr<const SharedResources> scopeSharedResources(const SharedResources& full,
                                                            const std::set<std::string>& services);

// Builds the resources of an outbound route table's virtual hosts and of `clusters`.
std::shared_ptr<const SharedResources> makeSharedResources(
    const meshdeck::v1::RouteTable& outbound, const std::vector<meshdeck::v1::Cluster>& clusters);

// The serialized SharedResourcesDelta that takes a proxy holding any one of `bases` to `target`:
// every resource of `target` whose bytes differ in (or that is missing from) at least one base,
// and the name of every resource of a base that `target` does not have. With no bases the delta
// is complete (every resource of `target`, `complete` set). Whatever base the proxy holds, the
// result is `target`; more bases only make the delta larger.
std::string encodeSharedDelta(const SharedResources& target,
                              const std::vector<const SharedResources*>& bases);

}  // namespace meshdeck::cp
