#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

namespace meshdeck::proxy {

UpstreamConnection::~UpstreamConnection() {
  if (counters) {
    assert(counters->connections > 0 && "cluster connection count underflow");
    if (counters->connections > 0) --counters->connections;
  }
  if (endpoint_slots) endpoint_slots->closed();
}

std::string poolKey(const EndpointConfig& ep, const ClusterConfig& cc) {
  return cc.tls.mutual ? ep.address() + "|tls" : ep.address();
}

namespace {

std::unique_ptr<UpstreamConnection> takeFrom(UpstreamPoolEntry& entry, UpstreamPool* pool) {
  if (entry.idle.empty()) return nullptr;
  auto c = std::move(entry.idle.back());
  entry.idle.pop_back();
  assert(c->idle && c->pool_entry == &entry && c->pool_owner == pool);
  (void)pool;
  c->idle = false;
  return c;
}

}  // namespace

std::unique_ptr<UpstreamConnection> UpstreamPool::take(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  return takeFrom(it->second, this);
}

std::unique_ptr<UpstreamConnection> UpstreamPool::takeUsable(const std::string& key,
                                                             const UpstreamTlsConfig& tls,
                                                             TimePoint now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  return takeUsable(it->second, tls, now);
}

std::unique_ptr<UpstreamConnection> UpstreamPool::takeUsable(UpstreamPoolEntry& entry,
                                                             const UpstreamTlsConfig& tls,
                                                             TimePoint now) {
  while (auto idle = takeFrom(entry, this)) {
    // A pooled TLS connection was verified against the expectations of its time: check them
    // again in case the cluster's expected identities changed since.
    if (tls.mutual && !tls.expected_identities.empty() &&
        std::find(tls.expected_identities.begin(), tls.expected_identities.end(),
                  idle->peer_identity) == tls.expected_identities.end())
      continue;
    if (stillOpen(*idle, now)) return idle;
  }
  return nullptr;
}

void UpstreamPool::give(std::unique_ptr<UpstreamConnection> connection, uint32_t max_idle,
                        TimePoint now) {
  assert(connection && !connection->idle && "connection returned to the pool twice");
  connection->stream.expires_never();
  // The key's entry: hashed once per connection, then kept by the connection.
  if (connection->pool_owner != this || !connection->pool_entry) {
    connection->pool_entry = &entries_[connection->pool_key];
    connection->pool_owner = this;
  }
  UpstreamPoolEntry& entry = *connection->pool_entry;
  if (entry.endpoint_slots && entry.endpoint_slots->waiting()) {
    // To the first attempt waiting for one; one with bytes already waiting (which stillOpen()
    // would refuse) is closed instead, which gives the first waiter room to open one.
    if (connection->buffer.size() == 0 && !connection->stream.tlsInputPending())
      entry.endpoint_slots->handOver(connection);
    return;
  }
  auto& list = entry.idle;
  if (list.size() >= max_idle) return;
  connection->idle_since = now;
  connection->idle = true;
  list.push_back(std::move(connection));
}

bool UpstreamPool::stillOpen(UpstreamConnection& c, TimePoint now) const {
  // For TLS, neither input already received by the stream nor records on the socket, which
  // would be a close_notify or an alert at this point.
  if (c.buffer.size() > 0) return false;
  if (c.stream.tlsInputPending()) return false;
  if (now - c.idle_since < kTrustRecentlyIdle) return true;
  return probe_(c);
}

size_t UpstreamPool::idleCount(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.idle.size();
}

const std::shared_ptr<EndpointSlots>& UpstreamPool::endpointSlots(const std::string& key) {
  auto& s = entries_[key].endpoint_slots;
  if (!s) s = std::make_shared<EndpointSlots>();
  return s;
}

bool UpstreamPool::peekSocket(UpstreamConnection& c) {
  char byte;
  const auto r = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace meshdeck::proxy
