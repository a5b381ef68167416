#include "load_generator.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <functional>
#include <latch>
#include <sstream>
#include <thread>

#include "tools/load/h2_load.h"
#include "tools/load/open_loop_schedule.h"

namespace meshdeck::tools {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kResponseBodyLimit = 64ull << 20;

uint64_t nanosSince(Clock::time_point from, Clock::time_point to) {
  return to > from ? static_cast<uint64_t>((to - from).count()) : 0;
}

// Sorts a failed read or write into the kinds the report shows.
TransportError classify(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return TransportError::kTimeout;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == net::error::connection_aborted)
    return TransportError::kReset;
  if (ec.category() == http::make_error_code(http::error::bad_version).category())
    return TransportError::kProtocol;
  return TransportError::kReset;
}

}  // namespace

std::string validateLoadOptions(const LoadOptions& o) {
  if (o.connections < 1) return "--connections must be at least 1";
  if (o.workers < 1) return "--workers must be at least 1";
  if (o.workers > o.connections) return "--workers cannot exceed --connections";
  if (!o.closed_loop && !(o.rate > 0)) return "--rate must be above 0 (or use --max)";
  if (o.duration <= std::chrono::nanoseconds::zero()) return "--duration must be above 0";
  if (o.timeout <= std::chrono::nanoseconds::zero()) return "--timeout must be above 0";
  if (http::string_to_verb(o.method) == http::verb::unknown)
    return "--method '" + o.method + "' is not an HTTP method";
  if (o.streams < 1 || o.streams > 1000) return "--streams must be from 1 to 1000";
  if (o.streams > 1 && o.protocol == LoadProtocol::kHttp1)
    return "--streams needs --http2 or --grpc (HTTP/1.1 sends one request at a time)";
  if (o.protocol == LoadProtocol::kGrpc && o.method != "GET" && o.method != "POST")
    return "--grpc sends POST calls; --method does not apply";
  if (o.protocol != LoadProtocol::kHttp1 && o.method == "HEAD")
    return "--method HEAD is HTTP/1.1 only";
  for (const auto& [name, value] : o.headers) {
    if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos)
      return "header name '" + name + "' is not valid";
    if (value.find_first_of("\r\n") != std::string::npos)
      return "header '" + name + "' has a line break in its value";
  }
  return {};
}

std::string buildRequestBytes(const LoadOptions& o) {
  http::request<http::string_body> req;
  req.method(http::string_to_verb(o.method));
  req.target(o.proxy ? o.url.absoluteForm() : o.url.target);
  req.version(11);
  req.set(http::field::host, o.url.authority);
  req.set(http::field::user_agent, "meshdeck-load");
  for (const auto& [name, value] : o.headers) req.insert(name, value);
  if (o.body_size > 0) {
    req.body().assign(o.body_size, 'x');
    if (req.find(http::field::content_type) == req.end())
      req.set(http::field::content_type, "application/octet-stream");
  }
  req.prepare_payload();
  std::ostringstream out;
  out << req;
  return std::move(out).str();
}

double LoadResult::achievedRate() const {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds > 0 ? double(stats.completed) / seconds : 0.0;
}

// One thread's share of the load. Everything below runs on the worker's own io_context
// thread, so it needs no locks; the generator only posts start and stop into it.
class LoadWorker {
 public:
  LoadWorker(const LoadOptions& options, const std::string& request, const H2Request& h2_request,
             const tcp::resolver::results_type& endpoints, int index, int count, int connections)
      : options_(options),
        request_(request),
        endpoints_(endpoints),
        index_(index),
        count_(count),
        guard_(net::make_work_guard(ioc_)),
        tick_timer_(ioc_),
        end_timer_(ioc_),
        hard_timer_(ioc_),
        sweep_timer_(ioc_),
        h2_(options.protocol != LoadProtocol::kHttp1) {
    for (int i = 0; i < connections; ++i) {
      if (h2_)
        h2_connections_.push_back(std::make_unique<H2LoadConnection>(
            ioc_, options_, h2_request, endpoints_,
            [this](H2LoadConnection* c, const H2LoadConnection::Outcome& o) { h2Done(c, o); }));
      else
        connections_.push_back(std::make_unique<Conn>(ioc_));
    }
  }

  net::io_context& ioc() { return ioc_; }
  const LoadStats& stats() const { return stats_; }

  // Opens every connection before the clock starts, so the first requests do not pay for
  // the handshakes; `done` runs (on this thread) once every attempt has finished.
  void preconnect(std::function<void()> done) {
    net::post(ioc_, [this, done = std::move(done)] {
      if (h2_) {
        pending_connects_ = h2_connections_.size();
        for (auto& c : h2_connections_)
          c->connect([this, done](bool) {
            if (--pending_connects_ == 0) done();
          });
        return;
      }
      pending_connects_ = connections_.size();
      for (auto& c : connections_) {
        c->stream.expires_after(options_.timeout);
        c->stream.async_connect(
            endpoints_, [this, conn = c.get(), done](const beast::error_code& ec, const auto&) {
              conn->connected = !ec && !stopped_;
              if (ec) conn->stream.close();
              if (--pending_connects_ == 0) done();
            });
      }
    });
  }

  void start(Clock::time_point t0) {
    net::post(ioc_, [this, t0] {
      guard_.reset();
      if (stopped_) return;
      for (auto& c : connections_) idle_.push_back(c.get());
      for (int slot = 0; slot < options_.streams; ++slot)
        for (auto& c : h2_connections_) h2_idle_.push_back(c.get());
      if (h2_) sweep();
      const auto end = t0 + options_.duration;
      end_timer_.expires_at(end);
      end_timer_.async_wait([this](const beast::error_code& ec) {
        if (ec) return;
        scheduling_done_ = true;
        tick_timer_.cancel();
        maybeFinish();
      });
      hard_timer_.expires_at(end + options_.timeout + std::chrono::seconds(1));
      hard_timer_.async_wait([this](const beast::error_code& ec) {
        if (!ec) stopNow();
      });
      if (options_.closed_loop) {
        dispatch();
      } else {
        schedule_.emplace(t0, options_.rate, options_.duration, index_, count_);
        tick();
      }
    });
  }

  void stop() {
    net::post(ioc_, [this] {
      guard_.reset();
      stopNow();
    });
  }

 private:
  struct Conn {
    explicit Conn(net::io_context& ioc) : stream(ioc) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    Clock::time_point scheduled;
    bool connected = false;
    bool busy = false;
    bool abandoned = false;  // already counted as unfinished by stopNow()
  };

  // Moves every request whose time has come into the queue, hands queued requests to idle
  // connections, and sleeps until the next send time.
  void tick() {
    if (scheduling_done_) return;
    const auto due = schedule_->dueBy(Clock::now());
    for (; issued_ < due; ++issued_) {
      queue_.push_back(schedule_->at(issued_));
      ++stats_.scheduled;
    }
    dispatch();
    if (issued_ >= schedule_->total()) {
      scheduling_done_ = true;
      maybeFinish();
      return;
    }
    tick_timer_.expires_at(schedule_->at(issued_));
    tick_timer_.async_wait([this](const beast::error_code& ec) {
      if (!ec) tick();
    });
  }

  void dispatch() {
    const auto now = Clock::now();
    if (options_.closed_loop) {
      // Closed loop: the send time is "now", so latency is plain response time.
      while (!scheduling_done_ && !idle_.empty()) {
        Conn* c = idle_.front();
        idle_.pop_front();
        ++stats_.scheduled;
        send(c, now);
      }
      while (!scheduling_done_ && !h2_idle_.empty()) {
        H2LoadConnection* c = h2_idle_.front();
        h2_idle_.pop_front();
        ++stats_.scheduled;
        sendH2(c, now);
      }
    }
    while (!queue_.empty()) {
      const auto scheduled = queue_.front();
      if (now >= scheduled + options_.timeout) {
        // Waited its whole budget for a free connection: the server was too slow for it.
        queue_.pop_front();
        stats_.recordError(TransportError::kTimeout);
        continue;
      }
      if (h2_) {
        if (h2_idle_.empty()) break;
        queue_.pop_front();
        H2LoadConnection* c = h2_idle_.front();
        h2_idle_.pop_front();
        sendH2(c, scheduled);
        continue;
      }
      if (idle_.empty()) break;
      queue_.pop_front();
      Conn* c = idle_.front();
      idle_.pop_front();
      send(c, scheduled);
    }
    maybeFinish();
  }

  void send(Conn* c, Clock::time_point scheduled) {
    c->busy = true;
    ++busy_;
    c->scheduled = scheduled;
    // One deadline covers connect, write and read: the request's whole budget.
    c->stream.expires_at(scheduled + options_.timeout);
    if (c->connected) {
      write(c);
      return;
    }
    c->stream.async_connect(endpoints_, [this, c](const beast::error_code& ec, const auto&) {
      if (c->abandoned) return finishAbandoned(c);
      if (ec) {
        return fail(
            c, ec == beast::error::timeout ? TransportError::kTimeout : TransportError::kConnect);
      }
      c->connected = true;
      write(c);
    });
  }

  void write(Conn* c) {
    net::async_write(c->stream, net::buffer(request_),
                     [this, c](const beast::error_code& ec, size_t) {
                       if (c->abandoned) return finishAbandoned(c);
                       if (ec) return fail(c, classify(ec));
                       ++stats_.sent;
                       read(c);
                     });
  }

  void read(Conn* c) {
    c->parser.emplace();
    c->parser->body_limit(kResponseBodyLimit);
    if (options_.method == "HEAD") c->parser->skip(true);
    http::async_read(
        c->stream, c->buffer, *c->parser, [this, c](const beast::error_code& ec, size_t) {
          if (c->abandoned) return finishAbandoned(c);
          if (ec) return fail(c, classify(ec));
          const auto& res = c->parser->get();
          stats_.recordResponse(res.result_int(), nanosSince(c->scheduled, Clock::now()));
          if (!res.keep_alive()) disconnect(c);
          c->parser.reset();
          release(c);
        });
  }

  // HTTP/2 and gRPC: one stream per free slot; a connection has `streams` slots.
  void sendH2(H2LoadConnection* c, Clock::time_point scheduled) {
    ++busy_;
    ++stats_.sent;
    c->submit(scheduled);
  }

  void h2Done(H2LoadConnection* c, const H2LoadConnection::Outcome& o) {
    if (o.status)
      stats_.recordResponse(*o.status, nanosSince(o.scheduled, Clock::now()));
    else
      stats_.recordError(o.error);
    --busy_;
    h2_idle_.push_back(c);
    dispatch();
  }

  // Resets the streams past their budget, every 10 ms while the run lasts.
  void sweep() {
    const auto now = Clock::now();
    for (auto& c : h2_connections_) c->sweep(now);
    sweep_timer_.expires_after(std::chrono::milliseconds(10));
    sweep_timer_.async_wait([this](const beast::error_code& ec) {
      if (!ec && !finished_) sweep();
    });
  }

  void fail(Conn* c, TransportError e) {
    stats_.recordError(e);
    disconnect(c);
    release(c);
  }

  void disconnect(Conn* c) {
    c->stream.close();
    c->connected = false;
    c->buffer.clear();
  }

  void release(Conn* c) {
    c->busy = false;
    --busy_;
    idle_.push_back(c);
    dispatch();
  }

  void finishAbandoned(Conn* c) {
    c->busy = false;
    --busy_;
    maybeFinish();
  }

  // The run ends when nothing is scheduled any more and every request has an outcome.
  void maybeFinish() {
    if (finished_ || !scheduling_done_ || !queue_.empty() || busy_ > 0) return;
    finished_ = true;
    tick_timer_.cancel();
    end_timer_.cancel();
    hard_timer_.cancel();
    sweep_timer_.cancel();
    for (auto& c : connections_) disconnect(c.get());
    for (auto& c : h2_connections_) c->close();
  }

  void stopNow() {
    if (stopped_) return;
    stopped_ = true;
    scheduling_done_ = true;
    stats_.unfinished += queue_.size();
    queue_.clear();
    for (auto& c : connections_) {
      if (c->busy && !c->abandoned) {
        c->abandoned = true;
        ++stats_.unfinished;
      }
      disconnect(c.get());
    }
    for (auto& c : h2_connections_) {
      const size_t dropped = c->abandon();
      stats_.unfinished += dropped;
      busy_ -= dropped;
    }
    maybeFinish();
  }

  const LoadOptions& options_;
  const std::string& request_;
  const tcp::resolver::results_type endpoints_;
  const int index_;
  const int count_;
  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> guard_;
  net::steady_timer tick_timer_;
  net::steady_timer end_timer_;
  net::steady_timer hard_timer_;
  net::steady_timer sweep_timer_;
  const bool h2_;
  std::vector<std::unique_ptr<Conn>> connections_;
  std::deque<Conn*> idle_;
  std::vector<std::unique_ptr<H2LoadConnection>> h2_connections_;
  std::deque<H2LoadConnection*> h2_idle_;  // one entry per free stream slot
  std::deque<Clock::time_point> queue_;    // scheduled send times waiting for a connection
  std::optional<OpenLoopSchedule> schedule_;
  uint64_t issued_ = 0;
  size_t busy_ = 0;
  size_t pending_connects_ = 0;
  bool scheduling_done_ = false;
  bool finished_ = false;
  bool stopped_ = false;
  LoadStats stats_;
};

LoadGenerator::LoadGenerator(LoadOptions options) : options_(std::move(options)) {}
LoadGenerator::~LoadGenerator() = default;

std::optional<LoadResult> LoadGenerator::run(std::string* error) {
  const HttpUrl& peer = options_.proxy ? *options_.proxy : options_.url;
  tcp::resolver::results_type endpoints;
  {
    net::io_context resolve_ioc;
    tcp::resolver resolver(resolve_ioc);
    beast::error_code ec;
    endpoints = resolver.resolve(peer.host, std::to_string(peer.port), ec);
    if (ec) {
      *error = "cannot resolve " + peer.host + ": " + ec.message();
      return std::nullopt;
    }
  }
  const std::string request = buildRequestBytes(options_);
  const H2Request h2_request = buildH2Request(options_);
  const int count = options_.workers;
  std::vector<std::thread> threads;
  std::latch connected(count);
  {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < count; ++i) {
      const int share = options_.connections / count + (i < options_.connections % count ? 1 : 0);
      workers_.push_back(
          std::make_unique<LoadWorker>(options_, request, h2_request, endpoints, i, count, share));
    }
    for (auto& w : workers_) {
      w->preconnect([&connected] { connected.count_down(); });
      threads.emplace_back([worker = w.get()] { worker->ioc().run(); });
    }
  }
  connected.wait();
  // All workers share one t0 so that their interleaved slices form one even timetable.
  const auto t0 = Clock::now();
  {
    std::lock_guard lock(mutex_);
    for (auto& w : workers_) w->start(t0);
    if (stop_requested_) {
      for (auto& w : workers_) w->stop();
    }
  }
  for (auto& t : threads) t.join();

  LoadResult result;
  for (const auto& w : workers_) result.stats.merge(w->stats());
  result.elapsed = options_.duration;
  const auto stop_ns = stop_time_ns_.load();
  if (stop_ns != 0) {
    result.interrupted = true;
    const auto stopped_at = Clock::time_point(std::chrono::nanoseconds(stop_ns));
    result.elapsed = std::clamp<std::chrono::nanoseconds>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(stopped_at - t0),
        std::chrono::nanoseconds::zero(), options_.duration);
  }
  return result;
}

void LoadGenerator::stop() {
  std::lock_guard lock(mutex_);
  if (stop_requested_) return;
  stop_requested_ = true;
  stop_time_ns_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  for (auto& w : workers_) w->stop();
}

}  // namespace meshdeck::tools
