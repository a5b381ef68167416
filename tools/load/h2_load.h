#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/http2/h2_client_codec.h"
#include "tools/load/load_stats.h"

namespace meshdeck::tools {

struct LoadOptions;

// The request an HTTP/2 or gRPC load sends on every stream, built once: the header list
// (pseudo-headers first) and the body. gRPC: POST to the URL's path, or to
// /meshdeck.demo.v1.Demo/Call when the path is "/", content-type application/grpc, te:
// trailers, and one length-prefixed meshdeck.demo.v1.CallRequest whose payload is --body-size
// bytes.
struct H2Request {
  std::vector<proxy::h2::ClientCodec::Header> headers;
  std::string body;
};
H2Request buildH2Request(const LoadOptions& options);

// The grpc-status of a gRPC response (head of a trailers-only response, else the trailers),
// as the HTTP status it stands for (common::grpcStatusHttpEquivalent); a response without one
// counts as UNKNOWN (500), as gRPC clients treat it.
unsigned grpcResponseStatus(const std::vector<proxy::h2::ClientCodec::Header>& head,
                            const std::vector<proxy::h2::ClientCodec::Header>& trailers);

// One HTTP/2 connection of a load worker (h2c with prior knowledge), carrying many requests
// at once on proxy/http2's ClientCodec. Runs on the worker's thread. Every submitted request
// ends in exactly one on_done call (a response, or a transport error) unless abandon() drops
// it first.
class H2LoadConnection : private proxy::h2::ClientEvents {
 public:
  using Clock = std::chrono::steady_clock;
  struct Outcome {
    Clock::time_point scheduled;
    std::optional<unsigned> status;  // the response's status (gRPC: what grpc-status stands for)
    TransportError error = TransportError::kReset;  // when there is no status
  };
  using OnDone = std::function<void(H2LoadConnection*, const Outcome&)>;

  H2LoadConnection(boost::asio::io_context& ioc, const LoadOptions& options,
                   const H2Request& request,
                   const boost::asio::ip::tcp::resolver::results_type& endpoints, OnDone on_done);
  ~H2LoadConnection() override;

  // Opens the connection (TCP, preface, SETTINGS sent) before the clock starts; `done(ok)`.
  void connect(std::function<void(bool)> done);
  // Sends one request scheduled at `scheduled` (connecting first when needed).
  void submit(Clock::time_point scheduled);
  // Resets the streams whose budget (scheduled + timeout) has passed: they end as timeouts.
  void sweep(Clock::time_point now);
  // Requests submitted and not yet done.
  size_t inFlight() const { return in_flight_; }
  // Drops every request without calling on_done and closes the connection; returns how many
  // were dropped.
  size_t abandon();
  // Closes an idle connection.
  void close();

 private:
  struct Stream {
    Clock::time_point scheduled;
    unsigned status = 0;
    std::vector<Header> head;
    bool ended = false;
    bool timed_out = false;
  };

  void start();
  void submitNow(Clock::time_point scheduled);
  void read();
  void flush();
  void lost(TransportError error);
  void finish(Clock::time_point scheduled, const Outcome& outcome);
  void afterCodec();

  // ClientEvents, from inside the codec: outcomes are collected and reported afterwards.
  void onResponseHead(int32_t stream, unsigned status, std::vector<Header>& headers,
                      bool end_stream) override;
  void onResponseData(int32_t stream, const char* data, size_t size) override;
  void onResponseEnd(int32_t stream, std::vector<Header>& trailers) override;
  void onStreamClosed(int32_t stream, uint32_t error_code) override;
  void onDrained(int32_t) override {}
  void onMalformed(int32_t, const char*) override {}

  boost::asio::io_context& ioc_;
  const LoadOptions& options_;
  const H2Request& request_;
  const boost::asio::ip::tcp::resolver::results_type endpoints_;
  OnDone on_done_;
  boost::beast::tcp_stream socket_;
  std::unique_ptr<proxy::h2::ClientCodec> codec_;
  bool connecting_ = false;
  bool connected_ = false;
  bool writing_ = false;
  uint64_t generation_ = 0;  // bumped when the connection is dropped: stale callbacks stop
  size_t in_flight_ = 0;
  std::unordered_map<int32_t, Stream> streams_;
  std::vector<Clock::time_point> waiting_;  // submitted while connecting
  std::vector<std::pair<int32_t, size_t>> consumed_;
  std::vector<Outcome> done_;  // collected inside the codec, reported by afterCodec()
  std::function<void(bool)> on_connected_;
  std::string out_;
  std::array<char, 16 * 1024> in_{};
};

}  // namespace meshdeck::tools
