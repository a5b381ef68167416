#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/tls/mesh_stream.h"
#include "proxy/upstream_queue.h"

namespace meshdeck::proxy {

// Upstream connection counters of one cluster on one worker; connections keep the counters
// alive so a config change that replaces the cluster does not confuse the accounting.
struct ClusterCounters {
  uint32_t connections = 0;
};

struct UpstreamPoolEntry;
class UpstreamPool;

// An upstream connection, owned by one request at a time or idle in the pool.
struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::io_context& io) : stream(io) {}
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  tls::MeshStream stream;  // plain TCP, or mutual TLS towards MUTUAL_TLS clusters
  boost::beast::flat_buffer buffer;
  std::string address;
  std::string pool_key;       // address, plus "|tls" for TLS connections
  std::string peer_identity;  // verified SPIFFE id of a TLS peer
  std::shared_ptr<ClusterCounters> counters;
  // The endpoint's open-connection count this connection is in (EndpointSlots::closed() when
  // it goes); nullptr for connections outside the limit (mirror copies).
  std::shared_ptr<EndpointSlots> endpoint_slots;
  // When the connection last went back to the pool (stillOpen() trusts a recent one).
  std::chrono::steady_clock::time_point idle_since{};
  bool idle = false;  // in a pool's idle list (checked: never returned twice)
  // The entry of pool_key in the pool that last had it (UpstreamPool::give() finds it without
  // hashing the key again); set by the pool.
  UpstreamPoolEntry* pool_entry = nullptr;
  const UpstreamPool* pool_owner = nullptr;
};

// What a worker's pool keeps per pool key: the idle connections, and the endpoint's
// open-connection count with the attempts waiting for one (made on first use).
struct UpstreamPoolEntry {
  std::vector<std::unique_ptr<UpstreamConnection>> idle;
  std::shared_ptr<EndpointSlots> endpoint_slots;  // not `slots`: a Qt macro in the tests
};

// The idle-pool key of connections to endpoint `ep` of cluster `cc` (TLS ones apart).
std::string poolKey(const EndpointConfig& ep, const ClusterConfig& cc);

// One worker's idle upstream connections, by pool key (endpoint address, TLS apart). A
// connection is owned by exactly one request or by the pool. Time is passed in (simulated in
// tests); so is the check of the socket itself (`Probe`), which tests replace. One thread only.
class UpstreamPool {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // Whether a connection that sat idle for a while is still open: no EOF and no unexpected
  // bytes waiting on its socket. The default, peekSocket(), asks the kernel.
  using Probe = bool (*)(UpstreamConnection&);

  // A connection back in the pool for less than this is reused without probing the socket.
  // Servers close idle keep-alive connections after seconds, not milliseconds, and a
  // connection that did die in between fails its attempt as a reset on a reused connection,
  // which is retried once on a fresh connection (RetryState). Under load connections come
  // back within microseconds, so the hot path saves one recv() per request.
  static constexpr auto kTrustRecentlyIdle = std::chrono::milliseconds(200);

  explicit UpstreamPool(Probe probe = &peekSocket) : probe_(probe) {}

  // The most recently returned idle connection for `key`, or nullptr; not checked.
  std::unique_ptr<UpstreamConnection> take(const std::string& key);
  // The most recently returned idle connection for `key` that is still open and, for a
  // MUTUAL_TLS cluster with expected identities, still presents one of them (they may have
  // changed since it was verified); the ones that fail are closed. nullptr: none.
  std::unique_ptr<UpstreamConnection> takeUsable(const std::string& key,
                                                 const UpstreamTlsConfig& tls, TimePoint now);
  // The same from the key's entry (entry()), without looking the key up.
  std::unique_ptr<UpstreamConnection> takeUsable(UpstreamPoolEntry& entry,
                                                 const UpstreamTlsConfig& tls, TimePoint now);
  // The entry of `key`, made if new; entries are never removed (their addresses stay valid).
  UpstreamPoolEntry& entry(const std::string& key) { return entries_[key]; }
  // Hands `connection` to the first attempt waiting for one to its endpoint (endpointSlots()), else
  // keeps it for reuse at `now`, unless `max_idle` connections for its key are idle already
  // (then it is closed). Requires: not in the pool already.
  void give(std::unique_ptr<UpstreamConnection> connection, uint32_t max_idle, TimePoint now);
  // Whether an idle connection still looks usable at `now` (see kTrustRecentlyIdle).
  bool stillOpen(UpstreamConnection& c, TimePoint now) const;

  size_t idleCount(const std::string& key) const;

  // The open HTTP/1.1 connections of endpoint `key` on this worker and the attempts waiting for
  // one (upstream_queue.h); made on first use, kept for the pool's life.
  const std::shared_ptr<EndpointSlots>& endpointSlots(const std::string& key);

  // Probe of a real socket: recv(MSG_PEEK | MSG_DONTWAIT) finds neither EOF nor data.
  static bool peekSocket(UpstreamConnection& c);

 private:
  Probe probe_;
  // By pool key; never erased, so a connection's pool_entry stays valid for the pool's life
  // (the elements of an unordered_map do not move when it rehashes).
  std::unordered_map<std::string, UpstreamPoolEntry> entries_;
};

}  // namespace meshdeck::proxy
