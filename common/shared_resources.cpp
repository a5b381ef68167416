#include "common/shared_resources.h"

#include <fmt/format.h>

#include <set>

#include "meshdeck/v1/discovery.pb.h"

namespace meshdeck::common {
namespace v1 = meshdeck::v1;

void SharedDigest::add(const std::string& name, const std::string& version) {
  auto feed = [this](const std::string& s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ull;
    }
    h_ *= 1099511628211ull;  // the 0 byte after it (h ^ 0 == h)
  };
  feed(name);
  feed(version);
}

std::string SharedDigest::hex() const { return fmt::format("{:016x}", h_); }

namespace {
// The name a resource must have for its body, or "" when it has none.
std::string expectedName(const v1::SharedResource& r) {
  switch (r.body_case()) {
    case v1::SharedResource::kOutboundVirtualHost:
      return kRouteResourcePrefix + r.outbound_virtual_host().name();
    case v1::SharedResource::kCluster:
      return kClusterResourcePrefix + r.cluster().name();
    default:
      return {};
  }
}
}  // namespace

bool SharedResourceSet::apply(const v1::SharedResourcesDelta& delta, SharedResourceSet* next,
                              std::string* error) const {
  next->resources_ = delta.complete() ? decltype(resources_){} : resources_;
  std::set<std::string> seen;
  for (const auto& name : delta.removed()) {
    if (!seen.insert(name).second) {
      *error = fmt::format("shared resource \"{}\" removed twice", name.substr(0, 200));
      return false;
    }
    next->resources_.erase(name);
  }
  for (const auto& r : delta.resources()) {
    const std::string expected = expectedName(r);
    if (expected.empty() || r.name() != expected) {
      *error =
          fmt::format("shared resource \"{}\" does not name its body", r.name().substr(0, 200));
      return false;
    }
    if (r.version().empty()) {
      *error = fmt::format("shared resource \"{}\" has no version", r.name().substr(0, 200));
      return false;
    }
    if (!seen.insert(r.name()).second) {
      *error = fmt::format("shared resource \"{}\" listed twice (or also removed)",
                           r.name().substr(0, 200));
      return false;
    }
    next->resources_[r.name()] = std::make_shared<const v1::SharedResource>(r);
  }
  const std::string digest = next->digest();
  if (digest != delta.digest()) {
    *error = fmt::format(
        "shared resources after this response have digest {}, the control plane says {}", digest,
        delta.digest().substr(0, 64));
    return false;
  }
  return true;
}

void SharedResourceSet::appendTo(v1::ProxyConfig* config) const {
  auto* table = config->add_route_tables();
  table->set_name("outbound");
  for (const auto& [name, r] : resources_) {
    if (r->has_outbound_virtual_host())
      *table->add_virtual_hosts() = r->outbound_virtual_host();
    else if (r->has_cluster())
      *config->add_clusters() = r->cluster();
  }
}

std::string SharedResourceSet::digest() const {
  SharedDigest d;
  for (const auto& [name, r] : resources_) d.add(name, r->version());
  return d.hex();
}

std::string SharedResourceSet::version(const std::string& name) const {
  const auto it = resources_.find(name);
  return it == resources_.end() ? std::string() : it->second->version();
}

}  // namespace meshdeck::common
