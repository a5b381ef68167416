#include "demo_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace meshdeck::tools {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr uint32_t kHeaderLimit = 16 * 1024;
constexpr uint64_t kRequestBodyLimit = 1u << 20;
constexpr auto kIdleTimeout = std::chrono::seconds(120);
// Headers a request carries on to its downstream calls, so a trace spans the whole mesh.
constexpr std::array<std::string_view, 4> kPropagatedHeaders{"traceparent", "tracestate",
                                                             "x-request-id", "baggage"};

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

// One client connection: reads requests one after another and answers each, either from
// the admin interface or as the workload.
class DemoSession : public std::enable_shared_from_this<DemoSession> {
 public:
  DemoSession(std::shared_ptr<DemoService> service, tcp::socket socket, uint64_t id)
      : service_(std::move(service)),
        stream_(std::move(socket)),
        timer_(stream_.get_executor()),
        id_(id) {}
  ~DemoSession() {
    if (!service_->stopped_) service_->sessions_.erase(id_);
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kRequestBodyLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](const beast::error_code& ec, size_t) { self->onRead(ec); });
  }

  void close() {
    timer_.cancel();
    stream_.close();
  }

 private:
  using Response = http::response<http::string_body>;

  void onRead(const beast::error_code& ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::eof ||
        ec == net::error::connection_reset)
      return close();
    if (ec) {
      ++service_->stats_.bad_requests;
      spdlog::debug("{}: bad request: {}", service_->config_.name, ec.message());
      keep_alive_ = false;
      return send(jsonResponse(
          http::status::bad_request,
          boost::json::serialize(boost::json::object{{"error", "bad request: " + ec.message()}})));
    }
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    stream_.expires_never();
    const std::string_view target = request_.target();
    if (target.starts_with("/_demo/") || target == "/_demo") return handleAdmin(target);
    handleWorkload();
  }

  void handleAdmin(std::string_view target) {
    auto& svc = *service_;
    if (target == "/_demo/behaviour") {
      if (request_.method() == http::verb::get)
        return send(jsonResponse(http::status::ok, behaviourToJson(*svc.behaviour_)));
      if (request_.method() == http::verb::put) {
        Behaviour next;
        std::string error;
        if (!applyBehaviourJson(*svc.behaviour_, request_.body(), &next, &error)) {
          ++svc.stats_.behaviour_rejections;
          spdlog::warn("{}: behaviour change refused: {}", svc.config_.name, error);
          return send(jsonResponse(http::status::bad_request,
                                   boost::json::serialize(boost::json::object{{"error", error}})));
        }
        svc.behaviour_ = std::make_shared<const Behaviour>(std::move(next));
        ++svc.stats_.behaviour_changes;
        const auto json = behaviourToJson(*svc.behaviour_);
        spdlog::info("{}: behaviour changed: {}", svc.config_.name, json);
        return send(jsonResponse(http::status::ok, json));
      }
      return send(methodNotAllowed("GET, PUT"));
    }
    if (target == "/_demo/stats" || target == "/_demo/health") {
      if (request_.method() != http::verb::get) return send(methodNotAllowed("GET"));
      if (target == "/_demo/health")
        return send(jsonResponse(http::status::ok, R"({"status":"ok"})"));
      return send(jsonResponse(http::status::ok, svc.statsJson()));
    }
    send(jsonResponse(http::status::not_found, R"({"error":"no such admin path"})"));
  }

  void handleWorkload() {
    auto& svc = *service_;
    ++svc.stats_.requests;
    behaviour_ = svc.behaviour_;
    // Draw in a fixed order so that a seed gives the same sequence every run.
    const auto delay =
        LatencyModel(behaviour_->latency_p50, behaviour_->latency_p99).sample(svc.rng_);
    const bool inject =
        behaviour_->error_rate > 0 && std::bernoulli_distribution(behaviour_->error_rate)(svc.rng_);
    for (const auto name : kPropagatedHeaders)
      if (auto it = request_.find(name); it != request_.end())
        forward_.emplace_back(std::string(name), std::string(it->value()));
    results_.clear();
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this(), inject](const beast::error_code& ec) {
      if (ec) return;
      if (inject) return self->answer(self->behaviour_->error_status, "injected");
      self->callDownstream();
    });
  }

  void callDownstream() {
    const auto& calls = behaviour_->calls;
    if (calls.empty()) return answerFromResults();
    results_.resize(calls.size());
    if (behaviour_->call_mode == CallMode::kParallel) {
      pending_ = calls.size();
      for (size_t i = 0; i < calls.size(); ++i)
        callOne(i, [self = shared_from_this()] {
          if (--self->pending_ == 0) self->answerFromResults();
        });
    } else {
      callSequential(0);
    }
  }

  void callSequential(size_t i) {
    if (i == behaviour_->calls.size()) return answerFromResults();
    callOne(i, [self = shared_from_this(), i] { self->callSequential(i + 1); });
  }

  void callOne(size_t i, std::function<void()> next) {
    ++service_->stats_.downstream_calls;
    service_->client_->get(behaviour_->calls[i], forward_, behaviour_->call_timeout,
                           [self = shared_from_this(), i, next](DownstreamResult r) {
                             if (r.failed()) ++self->service_->stats_.downstream_failures;
                             self->results_[i] = std::move(r);
                             next();
                           });
  }

  void answerFromResults() {
    bool failed = false;
    for (const auto& r : results_) failed = failed || r.failed();
    if (failed && behaviour_->propagate_errors) return answer(502, "downstream");
    answer(200, {});
  }

  void answer(unsigned status, std::string_view error) {
    auto& svc = *service_;
    if (error == "injected") ++svc.stats_.injected_errors;
    boost::json::array calls;
    for (const auto& r : results_) {
      boost::json::object c{
          {"url", r.url},
          {"status", r.status},
          {"latency_ms", std::chrono::duration<double, std::milli>(r.latency).count()}};
      if (!r.error.empty()) c["error"] = r.error;
      calls.push_back(std::move(c));
    }
    boost::json::object body{{"service", svc.config_.name},
                             {"version", svc.config_.version},
                             {"status", status},
                             {"calls", std::move(calls)}};
    if (!error.empty()) body["error"] = error;
    std::string text = boost::json::serialize(body);
    // Pad to the configured size with a field whose own syntax is accounted for.
    constexpr std::string_view kPadding = R"(,"padding":"")";
    const size_t wanted = behaviour_->response_size;
    if (wanted > text.size() + kPadding.size()) {
      text.pop_back();
      text += R"(,"padding":")";
      text.append(wanted - text.size() - 2, 'x');
      text += "\"}";
    }
    send(jsonResponse(static_cast<http::status>(status), std::move(text)));
  }

  Response jsonResponse(http::status status, std::string body) {
    Response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.set("x-demo-service", service_->config_.name);
    res.set("x-demo-version", service_->config_.version);
    if (auto it = request_.find("x-request-id"); it != request_.end())
      res.set("x-request-id", it->value());
    res.body() = std::move(body);
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    return res;
  }

  Response methodNotAllowed(std::string_view allow) {
    auto res = jsonResponse(http::status::method_not_allowed, R"({"error":"method not allowed"})");
    res.set(http::field::allow, allow);
    return res;
  }

  void send(Response res) {
    const unsigned cls = res.result_int() / 100;
    if (!request_.target().starts_with("/_demo")) ++service_->stats_.responses[cls <= 5 ? cls : 0];
    response_ = std::move(res);
    if (request_.method() == http::verb::head) {
      // Same headers as GET, Content-Length included, but no body on the wire.
      response_.content_length(response_.body().size());
      response_.body().clear();
    }
    http::async_write(stream_, response_,
                      [self = shared_from_this()](const beast::error_code& ec, size_t) {
                        if (ec || !self->keep_alive_) return self->close();
                        self->forward_.clear();
                        self->read();
                      });
  }

  std::shared_ptr<DemoService> service_;
  beast::tcp_stream stream_;
  net::steady_timer timer_;
  uint64_t id_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  Response response_;
  bool keep_alive_ = true;
  std::shared_ptr<const Behaviour> behaviour_;
  DownstreamClient::Headers forward_;
  std::vector<DownstreamResult> results_;
  size_t pending_ = 0;
};

std::shared_ptr<DemoService> DemoService::create(net::io_context& ioc, ServiceConfig config,
                                                 uint64_t seed) {
  return std::shared_ptr<DemoService>(new DemoService(ioc, std::move(config), seed));
}

DemoService::DemoService(net::io_context& ioc, ServiceConfig config, uint64_t seed)
    : ioc_(ioc),
      config_(std::move(config)),
      behaviour_(std::make_shared<const Behaviour>(config_.behaviour)),
      acceptor_(ioc),
      client_(DownstreamClient::create(ioc.get_executor(), config_.outbound_proxy)) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(fnv1a(config_.name)),
                    static_cast<uint32_t>(fnv1a(config_.version))};
  rng_.seed(seq);
}

bool DemoService::listen(std::string* error) {
  beast::error_code ec;
  const auto address = net::ip::make_address(config_.listen.host, ec);
  if (ec) {
    *error = "listen address '" + config_.listen.host + "' is not an IP address";
    return false;
  }
  const tcp::endpoint endpoint(address, config_.listen.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen on " + config_.listen.host + ":" + std::to_string(config_.listen.port) +
             ": " + ec.message();
    return false;
  }
  port_ = acceptor_.local_endpoint().port();
  return true;
}

void DemoService::start() { accept(); }

void DemoService::accept() {
  acceptor_.async_accept([self = shared_from_this()](const beast::error_code& ec,
                                                     tcp::socket socket) {
    if (self->stopped_) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      const auto id = self->next_session_id_++;
      auto session = std::make_shared<DemoSession>(self, std::move(socket), id);
      self->sessions_[id] = session;
      session->read();
    } else {
      // Out of descriptors or similar: wait a little rather than spin on the error.
      spdlog::warn("{}: accept failed: {}", self->config_.name, ec.message());
      auto timer = std::make_shared<net::steady_timer>(self->ioc_, std::chrono::milliseconds(100));
      timer->async_wait([self, timer](const beast::error_code&) {
        if (!self->stopped_) self->accept();
      });
      return;
    }
    self->accept();
  });
}

void DemoService::stop() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  for (auto& [id, weak] : sessions_)
    if (auto s = weak.lock()) s->close();
  sessions_.clear();
  client_->closeIdle();
}

std::string DemoService::statsJson() const {
  const auto& s = stats_;
  const boost::json::object obj{{"service", config_.name},
                                {"version", config_.version},
                                {"requests", s.requests},
                                {"responses", boost::json::object{{"2xx", s.responses[2]},
                                                                  {"3xx", s.responses[3]},
                                                                  {"4xx", s.responses[4]},
                                                                  {"5xx", s.responses[5]}}},
                                {"injected_errors", s.injected_errors},
                                {"downstream_calls", s.downstream_calls},
                                {"downstream_failures", s.downstream_failures},
                                {"bad_requests", s.bad_requests},
                                {"behaviour_changes", s.behaviour_changes},
                                {"behaviour_rejections", s.behaviour_rejections}};
  return boost::json::serialize(obj);
}

}  // namespace meshdeck::tools
