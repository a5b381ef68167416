#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "tools/demo_service/demo_config.h"
#include "tools/demo_service/downstream_client.h"

namespace meshdeck::tools {

// What a service counted since it started (GET /_demo/stats).
struct DemoServiceStats {
  uint64_t requests = 0;                // workload requests received
  std::array<uint64_t, 6> responses{};  // by status class, [2] = 2xx ... [5] = 5xx
  uint64_t injected_errors = 0;         // answered with error_status on purpose
  uint64_t downstream_calls = 0;
  uint64_t downstream_failures = 0;   // transport errors and 5xx from downstream
  uint64_t bad_requests = 0;          // unparsable HTTP, answered 400
  uint64_t behaviour_changes = 0;     // accepted PUT /_demo/behaviour
  uint64_t behaviour_rejections = 0;  // refused PUT /_demo/behaviour
};

class DemoSession;

// One demo service: an HTTP/1.1 server (Beast) that, per request, waits a drawn processing
// time, makes its downstream calls, and answers JSON naming itself and the calls' results —
// or answers error_status for a drawn share of requests.
//
// Paths under /_demo/ are its admin interface on the same port (so each hosted service is
// steered on its own port): GET|PUT /_demo/behaviour, GET /_demo/stats, GET /_demo/health.
//
// Single-threaded: several services may share one io_context, which must be run by one
// thread; that is how one process hosts a whole large demo mesh.
class DemoService : public std::enable_shared_from_this<DemoService> {
 public:
  // `seed` makes latency and error draws repeatable; it is mixed with name and version so
  // that services sharing a seed still draw differently.
  static std::shared_ptr<DemoService> create(boost::asio::io_context& ioc, ServiceConfig config,
                                             uint64_t seed);

  // Binds the listen address (port 0 picks a free port). False with a reason on failure.
  bool listen(std::string* error);
  uint16_t port() const { return port_; }
  // Starts accepting. Call after listen().
  void start();
  // Stops accepting, closes every connection and idle downstream connection.
  void stop();

  const ServiceConfig& config() const { return config_; }
  const Behaviour& behaviour() const { return *behaviour_; }
  const DemoServiceStats& stats() const { return stats_; }
  std::string statsJson() const;

 private:
  friend class DemoSession;
  DemoService(boost::asio::io_context& ioc, ServiceConfig config, uint64_t seed);
  void accept();

  boost::asio::io_context& ioc_;
  ServiceConfig config_;
  // Replaced as a whole by PUT /_demo/behaviour; a request in flight keeps the one it began
  // with.
  std::shared_ptr<const Behaviour> behaviour_;
  std::mt19937_64 rng_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::shared_ptr<DownstreamClient> client_;
  std::map<uint64_t, std::weak_ptr<DemoSession>> sessions_;
  uint64_t next_session_id_ = 0;
  bool stopped_ = false;
  DemoServiceStats stats_;
};

}  // namespace meshdeck::tools
