#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "tools/demo_service/demo_config.h"
#include "tools/demo_service/downstream_client.h"

namespace grpc {
class Server;
}

namespace meshdeck::tools {

class GrpcDownstream;

// The gRPC status a demo service fails a gRPC call with for an HTTP status it would answer
// (error_status, 502 for a failed downstream): the inverse of common::grpcStatusHttpEquivalent,
// so the edge counts the call under the same HTTP class (503 -> UNAVAILABLE, 500 -> INTERNAL,
// 504 -> DEADLINE_EXCEEDED, 502 -> UNAVAILABLE, 429 -> RESOURCE_EXHAUSTED, 404 -> NOT_FOUND...).
uint32_t grpcStatusForHttp(unsigned http_status);

// What a service counted since it started (GET /_demo/stats).
struct DemoServiceStats {
  uint64_t requests = 0;                // workload requests received (HTTP and gRPC)
  uint64_t grpc_calls = 0;              // of which Demo/Call gRPC calls
  std::array<uint64_t, 6> responses{};  // by status class, [2] = 2xx ... [5] = 5xx
  uint64_t injected_errors = 0;         // answered with error_status on purpose
  uint64_t downstream_calls = 0;
  uint64_t downstream_failures = 0;   // transport errors and 5xx from downstream
  uint64_t bad_requests = 0;          // unparsable HTTP, answered 400
  uint64_t behaviour_changes = 0;     // accepted PUT /_demo/behaviour
  uint64_t behaviour_rejections = 0;  // refused PUT /_demo/behaviour
};

class DemoSession;
class WorkloadRun;
class GrpcDemoService;

// One demo service: an HTTP/1.1 server (Beast) that, per request, waits a drawn processing
// time, makes its downstream calls, and answers JSON naming itself and the calls' results —
// or answers error_status for a drawn share of requests. With protocol "grpc" it also serves
// meshdeck.demo.v1.Demo/Call (and Demo/Stream, a plain server stream) on the same port: a
// connection that opens with the HTTP/2 preface is handed to an in-process gRPC server, whose
// Demo/Call calls run the same workload on this service's thread and fail with
// grpcStatusForHttp() of the HTTP status they would have had.
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
  ~DemoService();

  // Binds the listen address (port 0 picks a free port). False with a reason on failure.
  bool listen(std::string* error);
  uint16_t port() const { return port_; }
  // Starts accepting. Call after listen().
  void start();
  // Stops accepting, closes every connection and idle downstream connection, fails the gRPC
  // calls in progress (UNAVAILABLE) and shuts the gRPC server down.
  void stop();

  const ServiceConfig& config() const { return config_; }
  const Behaviour& behaviour() const { return *behaviour_; }
  const DemoServiceStats& stats() const { return stats_; }
  std::string statsJson() const;

 private:
  friend class DemoSession;
  friend class WorkloadRun;
  friend class GrpcDemoService;
  struct GrpcPending;
  DemoService(boost::asio::io_context& ioc, ServiceConfig config, uint64_t seed);
  void accept();
  void serve(boost::asio::ip::tcp::socket socket);
  // protocol "grpc": peeks at the first bytes; the HTTP/2 preface goes to the gRPC server.
  void sniff(std::shared_ptr<boost::asio::ip::tcp::socket> socket, int tries);
  GrpcDownstream& grpcClient();
  // Called on a gRPC thread for each Demo/Call; runs the workload on the service's thread.
  void startGrpcCall(std::shared_ptr<GrpcPending> call, DownstreamClient::Headers forward);
  // Finishes a call once, on the service's thread: false when it was already finished (by
  // stop()).
  bool finishGrpcCall(const std::shared_ptr<GrpcPending>& call, unsigned http_status,
                      std::string_view error, const std::vector<DownstreamResult>* results);

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
  std::shared_ptr<GrpcDownstream> grpc_client_;  // created at the first grpc:// call
  std::unique_ptr<GrpcDemoService> grpc_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::mutex grpc_mutex_;  // guards the two below (gRPC threads and the service's thread)
  std::set<std::shared_ptr<GrpcPending>> grpc_calls_;
  bool grpc_stopping_ = false;
};

}  // namespace meshdeck::tools
