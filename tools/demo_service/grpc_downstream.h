#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "tools/demo_service/downstream_client.h"

namespace meshdeck::tools {

// The demo service's gRPC client for its grpc:// downstream calls: meshdeck.demo.v1.Demo/Call
// on one channel per authority, over h2c either straight to the URL's host:port or to the
// outbound sidecar (the sidecar picks the route by :authority, which is the URL's authority).
// Calls run on gRPC's threads; `done` is posted to the executor, so callers stay
// single-threaded. Trace headers in `headers` go as metadata.
class GrpcDownstream : public std::enable_shared_from_this<GrpcDownstream> {
 public:
  static std::shared_ptr<GrpcDownstream> create(boost::asio::any_io_executor executor,
                                                std::optional<HttpUrl> proxy);
  ~GrpcDownstream();

  // Calls Demo/Call with `url.target` as the path and `timeout` as the deadline. `done` gets a
  // DownstreamResult whose status is the HTTP status the gRPC status stands for (200 for OK)
  // and whose grpc_status is set; a call that never reached a server (connect failure) has
  // status 0 and error "connect". Always called once, on the executor.
  void call(const HttpUrl& url, const DownstreamClient::Headers& headers,
            std::chrono::nanoseconds timeout, DownstreamClient::Callback done);

 private:
  struct Channel;
  GrpcDownstream(boost::asio::any_io_executor executor, std::optional<HttpUrl> proxy);

  boost::asio::any_io_executor executor_;
  std::optional<HttpUrl> proxy_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Channel>> channels_;  // by authority
};

}  // namespace meshdeck::tools
