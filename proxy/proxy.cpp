#include "proxy/proxy.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <future>
#include <thread>

#include "common/atomic_file.h"
#include "meshdeck/v1/discovery.pb.h"
#include "proxy/admin_server.h"
#include "proxy/config/config_compiler.h"
#include "proxy/worker.h"

namespace meshdeck::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Proxy::Control {
  asio::io_context io{1};
  asio::signal_set signals{io, SIGTERM, SIGINT, SIGHUP};
  std::thread thread;
};

Proxy::Proxy(Options options) : options_(std::move(options)), on_demand_(options_.on_demand) {
  if (options_.workers == 0) options_.workers = std::max(1u, std::thread::hardware_concurrency());
}

Proxy::~Proxy() {
  if (control_) {
    control_->io.stop();
    if (control_->thread.joinable()) control_->thread.join();
  }
  if (admin_) admin_->stop();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
}

bool Proxy::start(const meshdeck::v1::ProxyConfig& config, std::string* error) {
  // Signals first: a SIGTERM arriving right after the port file appears must drain, not kill.
  control_ = std::make_unique<Control>();
  auto arm = std::make_shared<std::function<void()>>();
  *arm = [this, arm] {
    control_->signals.async_wait([this, arm](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        if (reload_hook_) reload_hook_();
      } else {
        drain();
      }
      (*arm)();
    });
  };
  (*arm)();
  control_->thread = std::thread([this] { control_->io.run(); });

  WorkerContext context;
  context.draining = &draining_;
  context.tap = &tap_;
  context.on_demand = &on_demand_;
  context.worker_count = options_.workers;
  context.default_max_connections = options_.default_max_connections;
  context.busy_poll = options_.busy_poll;
  if (options_.busy_poll)
    spdlog::info("workers busy-poll: each of the {} keeps a CPU busy, idle or not",
                 options_.workers);
  for (size_t i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, context));
    workers_.back()->setTls(tlsIdentity());  // before the thread runs: no race
  }
  for (auto& w : workers_) w->start();
  if (!applyConfig(config, error)) return false;
  if (!options_.admin_address.empty()) {
    admin_ = std::make_unique<AdminServer>(*this);
    if (!admin_->start(options_.admin_address, error)) return false;
    spdlog::info("admin listening on port {}", admin_->port());
  }
  writePortFile();
  return true;
}

namespace {

// Opens one SO_REUSEPORT acceptor per worker on the same address. Port 0 is resolved by the
// first bind so that every worker shares the kernel-chosen port.
bool openAcceptors(const ListenerConfig& lc, std::vector<std::unique_ptr<Worker>>& workers,
                   std::vector<std::shared_ptr<tcp::acceptor>>* out, uint16_t* bound,
                   std::string* error) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(lc.host, ec);
  if (ec) {
    *error = fmt::format("listener {}: bad address {}: {}", lc.name, lc.host, ec.message());
    return false;
  }
  uint16_t port = lc.port;
  for (auto& w : workers) {
    auto a = std::make_shared<tcp::acceptor>(w->io());
    const tcp::endpoint ep(ip, port);
    a->open(ep.protocol(), ec);
    if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(a->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec.assign(errno, boost::system::system_category());
    }
    if (!ec) a->bind(ep, ec);
    if (!ec) a->listen(1024, ec);
    if (ec) {
      *error = fmt::format("listener {}: cannot listen on {}:{}: {}", lc.name, lc.host, port,
                           ec.message());
      for (auto& opened : *out) opened->close(ec);
      out->clear();
      return false;
    }
    port = a->local_endpoint().port();
    out->push_back(std::move(a));
  }
  *bound = port;
  return true;
}

}  // namespace

bool Proxy::applyConfig(const meshdeck::v1::ProxyConfig& proto, std::string* error) {
  std::lock_guard apply_lock(apply_mutex_);
  std::string problems;
  ConfigPtr config = compileConfig(proto, &problems);
  if (!config) {
    if (error) *error = problems;
    return false;
  }
  if (options_.require_tls_identity && config->needsTls() && !tlsIdentity()) {
    if (error)
      *error =
          "the configuration uses mutual TLS but no certificate, key and trust bundle were given";
    return false;
  }

  // Open what is new before touching anything, so a port in use refuses the whole config.
  struct Opened {
    BoundListener bound;
    std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  };
  std::vector<Opened> opened;
  std::vector<std::string> closing;
  std::map<std::string, BoundListener> next;
  std::map<std::string, BoundListener> current;
  {
    std::lock_guard lock(mutex_);
    current = listeners_;
  }
  for (const auto& lc : config->listeners) {
    auto it = current.find(lc.name);
    if (it != current.end() && it->second.config.host == lc.host &&
        it->second.config.port == lc.port) {
      BoundListener kept = it->second;
      kept.config = lc;
      next[lc.name] = kept;
      continue;
    }
    Opened o;
    o.bound.config = lc;
    o.bound.shared = std::make_shared<ListenerShared>();
    o.bound.shared->name = lc.name;
    std::string why;
    if (!openAcceptors(lc, workers_, &o.acceptors, &o.bound.port, &why)) {
      for (auto& prev : opened)
        for (auto& a : prev.acceptors) a->close();
      if (error) *error = why;
      return false;
    }
    if (it != current.end()) closing.push_back(lc.name);
    next[lc.name] = o.bound;
    opened.push_back(std::move(o));
  }
  for (const auto& [name, _] : current)
    if (!next.count(name)) closing.push_back(name);

  for (size_t i = 0; i < workers_.size(); ++i) {
    std::vector<std::pair<std::shared_ptr<tcp::acceptor>, std::shared_ptr<ListenerShared>>> adds;
    for (auto& o : opened) adds.emplace_back(o.acceptors[i], o.bound.shared);
    Worker* w = workers_[i].get();
    asio::post(w->io(), [w, config, adds, closing] {
      for (const auto& name : closing) w->closeListener(name);
      w->setConfig(config);
      for (const auto& [a, shared] : adds) w->addListener(a, shared);
    });
  }
  {
    std::lock_guard lock(mutex_);
    listeners_ = std::move(next);
    config_ = config;
  }
  for (const auto& o : opened)
    spdlog::info("listener {} on {}:{} ({})", o.bound.config.name, o.bound.config.host,
                 o.bound.port,
                 o.bound.config.direction == Direction::kOutbound ? "outbound" : "inbound");
  // After the workers were given the config: requests held for a service it routes go on.
  on_demand_.configApplied(config);
  if (!config->listeners.empty()) ready_ = true;
  writePortFile();
  return true;
}

bool Proxy::setTlsIdentity(const std::string& chain_pem, const std::string& key_pem,
                           const std::string& trust_bundle_pem, std::string* error) {
  std::string why;
  auto contexts = tls::TlsContexts::create({chain_pem, key_pem, trust_bundle_pem}, &why);
  if (!contexts) {
    if (error) *error = why;
    return false;
  }
  {
    std::lock_guard lock(mutex_);
    tls_ = contexts;
  }
  for (auto& w : workers_) {
    Worker* worker = w.get();
    asio::post(worker->io(), [worker, contexts] { worker->setTls(contexts); });
  }
  spdlog::info("TLS identity {} (serial {}, not after {:%Y-%m-%d %H:%M:%S} UTC)",
               contexts->identity(), contexts->serialHex(),
               fmt::gmtime(std::chrono::system_clock::to_time_t(contexts->notAfter())));
  return true;
}

tls::TlsContextsPtr Proxy::tlsIdentity() const {
  std::lock_guard lock(mutex_);
  return tls_;
}

ConfigPtr Proxy::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

std::map<std::string, uint16_t> Proxy::listenerPorts() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, uint16_t> out;
  for (const auto& [name, l] : listeners_) out[name] = l.port;
  return out;
}

uint16_t Proxy::adminPort() const { return admin_ ? admin_->port() : 0; }

void Proxy::writePortFile() {
  if (options_.port_file.empty()) return;
  std::string body = "{";
  for (const auto& [name, port] : listenerPorts())
    body += fmt::format("{}\"{}\": {}", body.size() > 1 ? ", " : "", name, port);
  if (admin_) body += fmt::format("{}\"admin\": {}", body.size() > 1 ? ", " : "", admin_->port());
  body += "}\n";
  std::string error;
  if (!common::writeFileAtomically(options_.port_file, body, &error))
    spdlog::error("cannot write port file {}: {}", options_.port_file, error);
}

template <typename Fn>
void Proxy::onEachWorker(Fn fn) {
  for (auto& w : workers_) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    Worker* worker = w.get();
    asio::post(worker->io(), [worker, fn, done] {
      fn(*worker);
      done->set_value();
    });
    // A stopped worker never answers; do not hang the admin thread on it.
    future.wait_for(std::chrono::seconds(2));
  }
}

WorkerStats Proxy::collectStats() {
  WorkerStats merged;
  std::mutex m;
  onEachWorker([&merged, &m](Worker& w) {
    WorkerStats copy = w.stats().clone();
    std::lock_guard lock(m);
    merged.merge(copy);
  });
  if (auto contexts = tlsIdentity()) {
    merged.tls_identity = contexts->identity();
    merged.tls_not_after =
        std::chrono::duration_cast<std::chrono::seconds>(contexts->notAfter().time_since_epoch())
            .count();
  }
  return merged;
}

EdgeMap Proxy::takeEdgeDeltas() {
  EdgeMap merged;
  std::mutex m;
  onEachWorker([&merged, &m](Worker& w) {
    EdgeMap mine;
    mine.swap(w.edges());
    std::lock_guard lock(m);
    for (auto& [k, v] : mine) {
      auto [it, fresh] = merged.try_emplace(k);
      it->second.merge(v);
    }
  });
  return merged;
}

void Proxy::drain() {
  if (draining_.exchange(true)) return;
  spdlog::info("draining: no new connections, finishing in-flight requests");
  for (auto& w : workers_) {
    Worker* worker = w.get();
    asio::post(worker->io(), [worker] {
      worker->closeAllListeners();
      worker->closeIdleSessions();
    });
  }
  std::lock_guard lock(stop_mutex_);
  stop_cv_.notify_all();
}

void Proxy::stop() {
  std::lock_guard lock(stop_mutex_);
  stop_requested_ = true;
  stop_cv_.notify_all();
}

int Proxy::run() {
  {
    std::unique_lock lock(stop_mutex_);
    stop_cv_.wait(lock, [&] { return stop_requested_ || draining_.load(); });
  }
  int rc = 0;
  if (!stop_requested_) {
    const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
    for (;;) {
      size_t active = 0;
      for (auto& w : workers_) active += w->active_sessions.load();
      if (active == 0) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        spdlog::warn("drain timeout: closing {} connections", active);
        break;
      }
      for (auto& w : workers_) {
        Worker* worker = w.get();
        asio::post(worker->io(), [worker] { worker->closeIdleSessions(); });
      }
      std::unique_lock lock(stop_mutex_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stop_requested_; });
      if (stop_requested_) break;
    }
    spdlog::info("drained");
  }
  control_->io.stop();
  if (control_->thread.joinable()) control_->thread.join();
  if (admin_) admin_->stop();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  return rc;
}

}  // namespace meshdeck::proxy
