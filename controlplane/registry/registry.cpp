#include "controlplane/registry/registry.h"

#include <algorithm>
#include <tuple>

namespace meshdeck::cp {

uint64_t Registry::connect(const ProxyNode& node, SystemTime now) {
  std::lock_guard lock(mutex_);
  Entry& e = proxies_[node.proxy_id];
  e.node = node;
  e.connection = next_connection_++;
  e.connected = true;
  e.info.proxy_id = node.proxy_id;
  e.info.service = node.service;
  e.info.version = node.version;
  e.info.host = node.host;
  e.info.inbound_port = node.inbound_port;
  e.info.admin_port = node.admin_port;
  e.info.state = SyncState::kNeverSent;
  e.info.version_sent.clear();
  e.info.version_acked.clear();
  e.info.nack_reason.clear();
  e.info.connected_since = now;
  auto& svc = declared_[node.service];
  svc.name = node.service;
  svc.versions.insert(node.version);
  ++topology_version_;
  return e.connection;
}

void Registry::disconnect(const std::string& proxy_id, uint64_t connection) {
  std::lock_guard lock(mutex_);
  auto it = proxies_.find(proxy_id);
  if (it == proxies_.end() || it->second.connection != connection) return;
  it->second.connected = false;
  it->second.info.state = SyncState::kDisconnected;
  ++topology_version_;
}

void Registry::registerService(const std::string& service, const std::string& version,
                               const std::string& tier) {
  std::lock_guard lock(mutex_);
  auto& svc = declared_[service];
  const bool fresh = svc.name.empty() || (!version.empty() && !svc.versions.count(version));
  svc.name = service;
  if (!version.empty()) svc.versions.insert(version);
  if (!tier.empty()) svc.tier = tier;
  if (fresh) ++topology_version_;
}

void Registry::setSourceEndpoints(const std::string& source,
                                  std::vector<SourceEndpoint> endpoints) {
  std::lock_guard lock(mutex_);
  auto& current = source_endpoints_[source];
  if (current == endpoints) return;
  current = std::move(endpoints);
  ++topology_version_;
}

std::vector<SourceEndpoint> Registry::sourceEndpoints() const {
  std::lock_guard lock(mutex_);
  std::vector<SourceEndpoint> out;
  for (const auto& [source, list] : source_endpoints_)
    out.insert(out.end(), list.begin(), list.end());
  std::sort(out.begin(), out.end(), [](const SourceEndpoint& a, const SourceEndpoint& b) {
    return std::tie(a.service, a.host, a.port) < std::tie(b.service, b.host, b.port);
  });
  return out;
}

void Registry::recordSent(const std::string& proxy_id, const std::string& version) {
  std::lock_guard lock(mutex_);
  auto it = proxies_.find(proxy_id);
  if (it == proxies_.end()) return;
  auto& info = it->second.info;
  info.version_sent = version;
  if (info.version_acked != version) info.state = SyncState::kStale;
}

void Registry::recordAck(const std::string& proxy_id, const std::string& version) {
  std::lock_guard lock(mutex_);
  auto it = proxies_.find(proxy_id);
  if (it == proxies_.end()) return;
  auto& info = it->second.info;
  info.version_acked = version;
  info.nack_reason.clear();
  info.state = version == info.version_sent ? SyncState::kSynced : SyncState::kStale;
}

void Registry::recordNack(const std::string& proxy_id, const std::string& reason) {
  std::lock_guard lock(mutex_);
  auto it = proxies_.find(proxy_id);
  if (it == proxies_.end()) return;
  it->second.info.nack_reason = reason;
  it->second.info.state = SyncState::kRejected;
}

std::optional<ProxyNode> Registry::node(const std::string& proxy_id) const {
  std::lock_guard lock(mutex_);
  const auto it = proxies_.find(proxy_id);
  if (it == proxies_.end()) return std::nullopt;
  return it->second.node;
}

bool Registry::recordReport(const std::string& proxy_id, SystemTime now) {
  std::lock_guard lock(mutex_);
  auto it = proxies_.find(proxy_id);
  if (it == proxies_.end()) return false;
  it->second.info.last_report = now;
  return true;
}

bool Registry::recordCertificate(const std::string& proxy_id, CertificateInfo cert) {
  std::lock_guard lock(mutex_);
  auto it = proxies_.find(proxy_id);
  if (it == proxies_.end()) return false;
  cert.proxy_id = proxy_id;
  it->second.certificate = std::move(cert);
  return true;
}

std::vector<CertificateInfo> Registry::reportedCertificates() const {
  std::lock_guard lock(mutex_);
  std::vector<CertificateInfo> out;
  for (const auto& [id, e] : proxies_)
    if (e.connected && e.certificate) out.push_back(*e.certificate);
  return out;
}

std::vector<ProxyNode> Registry::connectedProxies() const {
  std::lock_guard lock(mutex_);
  std::vector<ProxyNode> out;
  for (const auto& [id, e] : proxies_)
    if (e.connected) out.push_back(e.node);
  return out;
}

std::vector<ProxyInfo> Registry::proxies() const {
  std::lock_guard lock(mutex_);
  std::vector<ProxyInfo> out;
  for (const auto& [id, e] : proxies_) out.push_back(e.info);
  return out;
}

std::vector<ServiceRecord> Registry::services() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, ServiceRecord> out = declared_;
  for (auto& [name, s] : out) s.instances = 0;
  for (const auto& [id, e] : proxies_)
    if (e.connected) ++out[e.node.service].instances;
  std::vector<ServiceRecord> list;
  for (auto& [name, s] : out) list.push_back(std::move(s));
  return list;
}

std::set<std::string> Registry::serviceNames() const {
  std::lock_guard lock(mutex_);
  std::set<std::string> out;
  for (const auto& [name, s] : declared_) out.insert(name);
  return out;
}

uint64_t Registry::topologyVersion() const {
  std::lock_guard lock(mutex_);
  return topology_version_;
}

}  // namespace meshdeck::cp
