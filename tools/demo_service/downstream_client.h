#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tools/load/http_url.h"

namespace meshdeck::tools {

// The outcome of one downstream call.
struct DownstreamResult {
  std::string url;
  unsigned status = 0;  // 0 when no response came back
  std::string error;    // "connect", "timeout", "reset", "protocol", "resolve" when status is 0
  std::chrono::nanoseconds latency{0};
  std::optional<uint32_t> grpc_status;  // gRPC calls: their status (status is what it stands for)
  bool failed() const { return status == 0 || status >= 500; }
};

// The demo service's HTTP/1.1 client for its downstream calls: GET requests, either straight
// to the URL's host or through the outbound sidecar as an HTTP proxy (absolute-form target,
// Host = the URL's authority). Keeps idle keep-alive connections per peer. Single-threaded:
// every call and callback runs on the executor's one thread.
class DownstreamClient : public std::enable_shared_from_this<DownstreamClient> {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  using Callback = std::function<void(DownstreamResult)>;

  static std::shared_ptr<DownstreamClient> create(boost::asio::any_io_executor executor,
                                                  std::optional<HttpUrl> proxy);

  // Sends GET `url` with `headers`; `done` gets the result (never throws, always called
  // once, at the latest `timeout` after the call).
  void get(const HttpUrl& url, const Headers& headers, std::chrono::nanoseconds timeout,
           Callback done);

  // Closes every idle connection (at shutdown).
  void closeIdle();

 private:
  struct Exchange;
  struct Connection;
  DownstreamClient(boost::asio::any_io_executor executor, std::optional<HttpUrl> proxy);
  void connect(std::shared_ptr<Exchange> ex);
  void write(std::shared_ptr<Exchange> ex);
  void read(std::shared_ptr<Exchange> ex);
  void finish(const std::shared_ptr<Exchange>& ex, std::string error);

  boost::asio::any_io_executor executor_;
  std::optional<HttpUrl> proxy_;
  boost::asio::ip::tcp::resolver resolver_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;  // by "host:port"
};

}  // namespace meshdeck::tools
