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
  return {name, r.version(), deterministicBytes(r)};
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
  for (const auto& vh : outbound.virtual_hosts())
    out->entries.push_back(makeEntry(common::kRouteResourcePrefix + vh.name(), vh,
                                     &v1::SharedResource::mutable_outbound_virtual_host));
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
                          return !held || held->bytes != e.bytes;
                        });
      if (!send) continue;
      coded.WriteTag(WireFormatLite::MakeTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
      coded.WriteVarint32(static_cast<uint32_t>(e.bytes.size()));
      coded.WriteRaw(e.bytes.data(), static_cast<int>(e.bytes.size()));
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
