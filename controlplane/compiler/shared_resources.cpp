#include "controlplane/compiler/shared_resources.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <set>

#include "common/shared_resources.h"

namespace meshdeck::cp {
namespace v1 = meshdeck::v1;
using google::protobuf::internal::WireFormatLite;

namespace {
std::string deterministicBytes(const google::protobuf::Message& m) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return bytes;
}

std::string fnvHex(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

template <typename Body>
SharedResources::Entry makeEntry(const std::string& name, const Body& body,
                                 Body* (v1::SharedResource::*mutable_body)()) {
  v1::SharedResource r;
  r.set_name(name);
  r.set_version(fnvHex(deterministicBytes(body)));
  *(r.*mutable_body)() = body;
  return {name, r.version(), std::make_shared<const std::string>(deterministicBytes(r)), {}};
}
}  // namespace

const SharedResources::Entry* SharedResources::find(const std::string& name) const {
  const auto it = std::lower_bound(entries.begin(), entries.end(), name,
                                   [](const Entry& e, const std::string& n) { return e.name < n; });
  return it != entries.end() && it->name == name ? &*it : nullptr;
}

std::shared_ptr<const SharedResources> makeSharedResources(
    const v1::RouteTable& outbound, const std::vector<v1::Cluster>& clusters) {
  auto out = std::make_shared<SharedResources>();
  out->entries.reserve(static_cast<size_t>(outbound.virtual_hosts_size()) + clusters.size());
  for (const auto& vh : outbound.virtual_hosts()) {
    auto entry = makeEntry(common::kRouteResourcePrefix + vh.name(), vh,
                           &v1::SharedResource::mutable_outbound_virtual_host);
    std::set<std::string> refs;
    for (const auto& route : vh.routes()) {
      for (const auto& d : route.destinations())
        refs.insert(common::kClusterResourcePrefix + d.cluster());
      if (route.has_mirror() && !route.mirror().cluster().empty())
        refs.insert(common::kClusterResourcePrefix + route.mirror().cluster());
    }
    entry.refs.assign(refs.begin(), refs.end());
    out->entries.push_back(std::move(entry));
  }
  for (const auto& c : clusters)
    out->entries.push_back(makeEntry(common::kClusterResourcePrefix + c.name(), c,
                                     &v1::SharedResource::mutable_cluster));
  std::stable_sort(out->entries.begin(), out->entries.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  common::SharedDigest digest;
  for (const auto& e : out->entries) digest.add(e.name, e.version);
  out->digest = digest.hex();
  return out;
}

std::shared_ptr<const SharedResources> scopeSharedResources(const SharedResources& full,
                                                            const std::set<std::string>& services) {
  const std::string route_prefix = common::kRouteResourcePrefix;
  const std::string cluster_prefix = common::kClusterResourcePrefix;
  std::set<std::string> names;
  for (const auto& service : services) {
    const auto* route = full.find(route_prefix + service);
    if (route) {
      names.insert(route->name);
      names.insert(route->refs.begin(), route->refs.end());
    }
    // cluster/<service> and cluster/<service>|<version>, among the names that start with
    // cluster/<service> (cluster/<service>x... lies between them in name order).
    const std::string own = cluster_prefix + service;
    auto it = std::lower_bound(full.entries.begin(), full.entries.end(), own,
                               [](const auto& e, const std::string& n) { return e.name < n; });
    for (; it != full.entries.end() && it->name.compare(0, own.size(), own) == 0; ++it)
      if (it->name.size() == own.size() || it->name[own.size()] == '|') names.insert(it->name);
  }
  auto out = std::make_shared<SharedResources>();
  out->entries.reserve(names.size());
  common::SharedDigest digest;
  for (const auto& name : names) {
    if (const auto* e = full.find(name)) {
      out->entries.push_back(*e);
      digest.add(e->name, e->version);
    }
  }
  out->digest = digest.hex();
  return out;
}

std::string encodeSharedDelta(const SharedResources& target,
                              const std::vector<const SharedResources*>& bases) {
  // SharedResourcesDelta{digest = 1, complete = 2, resources = 3 (each entry's bytes),
  // removed = 4}, written by hand so that the entries' bytes are copied, not re-serialized.
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    WireFormatLite::WriteString(1, target.digest, &coded);
    if (bases.empty()) WireFormatLite::WriteBool(2, true, &coded);
    for (const auto& e : target.entries) {
      const bool send = bases.empty() || std::any_of(bases.begin(), bases.end(), [&](auto* b) {
                          if (b == &target) return false;
                          const auto* held = b->find(e.name);
                          return !held || (held->bytes != e.bytes && *held->bytes != *e.bytes);
                        });
      if (!send) continue;
      coded.WriteTag(WireFormatLite::MakeTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
      coded.WriteVarint32(static_cast<uint32_t>(e.bytes->size()));
      coded.WriteRaw(e.bytes->data(), static_cast<int>(e.bytes->size()));
    }
    std::set<std::string> removed;
    for (const auto* b : bases)
      for (const auto& e : b->entries)
        if (!target.find(e.name)) removed.insert(e.name);
    for (const auto& name : removed) WireFormatLite::WriteString(4, name, &coded);
  }
  return out;
}

}  // namespace meshdeck::cp
