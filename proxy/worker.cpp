#include "proxy/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>

#include "proxy/session.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
std::vector<std::string> endpointKeys(const ClusterConfig& c) {
  std::vector<std::string> keys;
  for (const auto& e : c.endpoints) keys.push_back(e.address());
  return keys;
}
}  // namespace

ClusterRuntime::ClusterRuntime(std::shared_ptr<const ClusterConfig> cfg)
    : config(std::move(cfg)),
      lb(config->lb_policy, endpointKeys(*config)),
      outlier(config->outlier, config->endpoints.size()),
      endpoints(config->endpoints.size()),
      h2_connections(config->endpoints.size()) {
  pool_keys.reserve(config->endpoints.size());
  for (const auto& ep : config->endpoints) pool_keys.push_back(poolKey(ep, *config));
}

Worker::Worker(size_t index, WorkerContext context)
    : index_(index),
      context_(context),
      rng_(IdGenerator::randomSeed() ^ (index * 0x9e3779b97f4a7c15ull)) {}

Worker::~Worker() {
  stop();
  join();
  // Sessions still waiting (their coroutine frames sit in the io_context's queues) are
  // destroyed here, while the sets, stats and pools their destructors touch still exist.
  shut_down_ = true;
  io_.shutdown();
}

void Worker::start() {
  thread_ = std::make_unique<std::thread>([this] {
    auto guard = asio::make_work_guard(io_);
    try {
      if (context_.busy_poll) {
        // Ready handlers, then the reactor with a zero timeout, over and over: the thread
        // never blocks in epoll_wait, so nothing has to wake it.
        while (!io_.stopped()) io_.poll();
      } else {
        io_.run();
      }
    } catch (const std::exception& e) {
      spdlog::error("worker {} stopped by exception: {}", index_, e.what());
    }
  });
}

void Worker::stop() { io_.stop(); }

void Worker::join() {
  if (thread_ && thread_->joinable()) thread_->join();
  thread_.reset();
}

void Worker::setConfig(ConfigPtr config) {
  std::unordered_map<std::string, std::shared_ptr<ClusterRuntime>> next;
  for (const auto& [name, cc] : config->clusters) {
    auto it = clusters_.find(name);
    if (it != clusters_.end() && *it->second->config == *cc) {
      // Unchanged cluster: keep balancer position, ejections and counters.
      next[name] = it->second;
    } else {
      next[name] = std::make_shared<ClusterRuntime>(cc);
    }
  }
  clusters_ = std::move(next);
  cluster_slots_.clear();
  cluster_slots_.reserve(config->cluster_slots.size());
  for (const auto& cc : config->cluster_slots) cluster_slots_.push_back(clusters_.at(cc->name));
  buckets_.clear();
  config_ = std::move(config);
}

std::shared_ptr<ClusterRuntime> Worker::cluster(const std::string& name) {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second;
}

std::shared_ptr<ClusterRuntime> Worker::cluster(const Config& config, int32_t slot,
                                                const std::string& name) {
  if (slot >= 0 && &config == config_.get()) {
    assert(static_cast<size_t>(slot) < cluster_slots_.size());
    assert(cluster_slots_[static_cast<size_t>(slot)]->config->name == name);
    return cluster_slots_[static_cast<size_t>(slot)];
  }
  return cluster(name);
}

TokenBucket& Worker::bucket(const RateLimitConfig& limit) {
  auto it = buckets_.find(&limit);
  if (it == buckets_.end()) {
    const double n = static_cast<double>(context_.worker_count);
    const double burst = std::max(1.0, limit.burst / n);
    it = buckets_.emplace(&limit, TokenBucket(limit.requests_per_second / n, burst, now())).first;
  }
  return it->second;
}

void Worker::sessionOpened(Session* s) {
  sessions_.insert(s);
  active_sessions.fetch_add(1, std::memory_order_relaxed);
}

void Worker::sessionClosed(Session* s) {
  const bool known = sessions_.erase(s) == 1;
  assert(known && "session closed twice or never opened");
  (void)known;
  active_sessions.fetch_sub(1, std::memory_order_relaxed);
}

namespace {
// How often a worker holding more spare relay buffers than the minimum lets the reserve
// follow demand down (RelayBufferPool::trim).
constexpr auto kRelayTrimInterval = std::chrono::seconds(2);
}  // namespace

void Worker::returnRelayBuffer(RelayBuffer buffer) {
  relay_buffers_.give(std::move(buffer));
  armRelayTrim();
}

void Worker::armRelayTrim() {
  if (shut_down_ || relay_trim_armed_ || !relay_buffers_.trimmable()) return;
  if (!relay_trim_timer_) relay_trim_timer_ = std::make_unique<asio::steady_timer>(io_);
  relay_trim_armed_ = true;
  relay_trim_timer_->expires_after(kRelayTrimInterval);
  relay_trim_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    relay_trim_armed_ = false;
    relay_buffers_.trim();
    armRelayTrim();
  });
}

void Worker::addListener(std::shared_ptr<tcp::acceptor> acceptor,
                         std::shared_ptr<ListenerShared> shared) {
  acceptors_[shared->name] = acceptor;
  asio::co_spawn(
      io_,
      [this, acceptor, shared]() -> asio::awaitable<void> {
        constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
        for (;;) {
          // Accepted onto this worker's io_context executor (the type Session wants).
          auto [ec, socket] = co_await acceptor->async_accept(io_, kNoThrow);
          if (!acceptor->is_open() || ec == asio::error::operation_aborted) break;
          if (ec) {
            // Out of descriptors and the like: back off briefly instead of spinning.
            asio::steady_timer t(io_);
            t.expires_after(std::chrono::milliseconds(50));
            co_await t.async_wait(kNoThrow);
            continue;
          }
          const uint32_t limit = [&] {
            if (config_)
              for (const auto& l : config_->listeners)
                if (l.name == shared->name && l.max_connections) return l.max_connections;
            return context_.default_max_connections;
          }();
          if (shared->connections.fetch_add(1, std::memory_order_relaxed) >= limit) {
            shared->connections.fetch_sub(1, std::memory_order_relaxed);
            ++stats_.listeners[shared->name].cx_overflow;
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
          }
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          std::make_shared<Session>(*this, std::move(socket), shared)->start();
        }
      },
      asio::detached);
}

void Worker::closeListener(const std::string& name) {
  auto it = acceptors_.find(name);
  if (it == acceptors_.end()) return;
  boost::system::error_code ec;
  it->second->close(ec);
  acceptors_.erase(it);
}

void Worker::closeAllListeners() {
  boost::system::error_code ec;
  for (auto& [_, a] : acceptors_) a->close(ec);
  acceptors_.clear();
}

void Worker::closeIdleSessions() {
  std::vector<Session*> all(sessions_.begin(), sessions_.end());
  for (auto* s : all) s->closeIfIdle();
}

}  // namespace meshdeck::proxy
