#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tools/load/http_url.h"
#include "tools/load/load_stats.h"

namespace meshdeck::tools {

// What the connections speak: HTTP/1.1 (one request at a time each), HTTP/2 with prior
// knowledge (h2c; `streams` requests at once on each connection), or gRPC unary calls over it.
enum class LoadProtocol { kHttp1, kHttp2, kGrpc };

// What to send, how fast and for how long.
struct LoadOptions {
  LoadProtocol protocol = LoadProtocol::kHttp1;
  // HTTP/2 and gRPC: requests in flight at once on one connection (1..1000).
  int streams = 1;
  HttpUrl url;
  // When set, connections go to this HTTP proxy and requests use absolute-form targets.
  std::optional<HttpUrl> proxy;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  size_t body_size = 0;
  // Closed loop: each connection sends its next request as soon as the previous response is
  // in (saturation). Open loop (default): a fixed `rate` whatever the responses do.
  bool closed_loop = false;
  double rate = 1000;  // requests per second, open loop only
  int connections = 16;
  int workers = 1;  // threads, each with its own io_context and share of the connections
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  // A request with no complete response this long after its scheduled send time fails with
  // "timeout". It also bounds how long the run drains after `duration`.
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);
};

// Empty when the options can run, otherwise what is wrong with them.
std::string validateLoadOptions(const LoadOptions& options);

// The request every connection sends, serialized once with Beast: origin-form target (or
// absolute-form through a proxy), Host, the extra headers, and a body of `body_size` bytes.
std::string buildRequestBytes(const LoadOptions& options);

struct LoadResult {
  LoadStats stats;
  // From the first scheduled send to the end of scheduling (the duration, or less when
  // interrupted): the denominator of the achieved rate.
  std::chrono::nanoseconds elapsed{0};
  bool interrupted = false;
  double achievedRate() const;
};

class LoadWorker;

// Runs one load. Each worker thread owns its connections, its slice of the open-loop
// timetable (see OpenLoopSchedule) and its own LoadStats; they are merged when the run ends,
// so nothing is shared on the request path.
class LoadGenerator {
 public:
  explicit LoadGenerator(LoadOptions options);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Opens the connections, runs the load for the duration, drains for at most the timeout
  // and returns what was counted. Blocks; call once. Returns nullopt and fills `error` only
  // when the run cannot start (the target's address does not resolve).
  std::optional<LoadResult> run(std::string* error);

  // Ends the run now from any thread (e.g. on SIGINT): run() returns what it has, with
  // queued and in-flight requests counted as unfinished.
  void stop();

 private:
  LoadOptions options_;
  std::mutex mutex_;  // guards workers_ and stop_requested_ between run() and stop()
  std::vector<std::unique_ptr<LoadWorker>> workers_;
  bool stop_requested_ = false;
  std::atomic<int64_t> stop_time_ns_{0};
};

}  // namespace meshdeck::tools
