#include "demo_service.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "common/telemetry/grpc_status.h"
#include "meshdeck/demo/v1/demo.grpc.pb.h"
#include "tools/demo_service/grpc_downstream.h"

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

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0";

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

uint32_t grpcStatusForHttp(unsigned http_status) {
  switch (http_status) {
    case 200:
      return common::kGrpcOk;
    case 400:
      return common::kGrpcInvalidArgument;
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 5;  // NOT_FOUND
    case 409:
      return 10;  // ABORTED
    case 429:
      return common::kGrpcResourceExhausted;
    case 499:
      return common::kGrpcCancelled;
    case 500:
      return common::kGrpcInternal;
    case 501:
      return 12;  // UNIMPLEMENTED
    case 502:
    case 503:
      return common::kGrpcUnavailable;
    case 504:
      return common::kGrpcDeadlineExceeded;
    default:
      return http_status >= 500 ? common::kGrpcUnknown : 9;  // FAILED_PRECONDITION (400)
  }
}

// A Demo/Call in progress: the reactor to finish and the response to fill.
struct DemoService::GrpcPending {
  grpc::ServerUnaryReactor* reactor = nullptr;
  demo::v1::CallResponse* response = nullptr;
  bool finished = false;           // guarded by the service's grpc_mutex_
  std::weak_ptr<WorkloadRun> run;  // the service's thread only
};

// Demo/Stream: writes the messages one after the other on the gRPC threads (it needs nothing
// of the service's state but its name), then finishes OK; a cancelled call (client gone, server
// shutting down) fails its pending write and finishes there.
class DemoStreamWriter final : public grpc::ServerWriteReactor<demo::v1::StreamMessage> {
 public:
  static constexpr uint32_t kMaxCount = 10000;
  static constexpr uint32_t kMaxMessageBytes = 1 << 20;

  DemoStreamWriter(const demo::v1::StreamRequest& request, const std::string& service,
                   const std::string& version)
      : count_(request.count()) {
    if (count_ > kMaxCount || request.message_bytes() > kMaxMessageBytes) {
      Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          fmt::format("at most {} messages of at most {} bytes", kMaxCount, kMaxMessageBytes)));
      return;
    }
    message_.set_service(service);
    message_.set_version(version);
    message_.set_payload(std::string(request.message_bytes(), 'x'));
    next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
      return;
    }
    next();
  }
  void OnDone() override { delete this; }

 private:
  void next() {
    if (sent_ == count_) {
      Finish(grpc::Status::OK);
      return;
    }
    message_.set_index(sent_++);
    StartWrite(&message_);
  }

  const uint32_t count_;
  uint32_t sent_ = 0;
  demo::v1::StreamMessage message_;
};

// meshdeck.demo.v1.Demo on the callback API: each call is handed to the service.
class GrpcDemoService final : public demo::v1::Demo::CallbackService {
 public:
  GrpcDemoService(std::weak_ptr<DemoService> service, std::string name, std::string version)
      : service_(std::move(service)), name_(std::move(name)), version_(std::move(version)) {}

  grpc::ServerWriteReactor<demo::v1::StreamMessage>* Stream(
      grpc::CallbackServerContext*, const demo::v1::StreamRequest* request) override {
    return new DemoStreamWriter(*request, name_, version_);
  }

  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* context, const demo::v1::CallRequest*,
                                 demo::v1::CallResponse* response) override {
    auto* reactor = context->DefaultReactor();
    auto service = service_.lock();
    if (!service) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping"));
      return reactor;
    }
    auto call = std::make_shared<DemoService::GrpcPending>();
    call->reactor = reactor;
    call->response = response;
    DownstreamClient::Headers forward;
    for (const auto name : kPropagatedHeaders) {
      const auto& metadata = context->client_metadata();
      if (auto it = metadata.find(grpc::string_ref(name.data(), name.size())); it != metadata.end())
        forward.emplace_back(std::string(name), std::string(it->second.data(), it->second.size()));
    }
    service->startGrpcCall(std::move(call), std::move(forward));
    return reactor;
  }

 private:
  std::weak_ptr<DemoService> service_;
  const std::string name_, version_;
};

// One workload request, whatever protocol brought it: draws its processing time and whether
// it fails (in a fixed order, so a seed gives the same sequence every run), waits, makes the
// downstream calls, then reports the status to answer (200, error_status for an injected
// error, 502 when a needed downstream call failed) with the calls' results. Runs on the
// service's thread.
class WorkloadRun : public std::enable_shared_from_this<WorkloadRun> {
 public:
  using Done = std::function<void(unsigned status, std::string_view error,
                                  const std::vector<DownstreamResult>& results)>;

  WorkloadRun(std::shared_ptr<DemoService> service, DownstreamClient::Headers forward, Done done)
      : service_(std::move(service)),
        behaviour_(service_->behaviour_),
        timer_(service_->ioc_),
        forward_(std::move(forward)),
        done_(std::move(done)) {}

  const Behaviour& behaviour() const { return *behaviour_; }

  void start() {
    auto& svc = *service_;
    ++svc.stats_.requests;
    const auto delay =
        LatencyModel(behaviour_->latency_p50, behaviour_->latency_p99).sample(svc.rng_);
    const bool inject =
        behaviour_->error_rate > 0 && std::bernoulli_distribution(behaviour_->error_rate)(svc.rng_);
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this(), inject](const beast::error_code& ec) {
      if (ec) return;
      if (inject) {
        ++self->service_->stats_.injected_errors;
        return self->report(self->behaviour_->error_status, "injected");
      }
      self->callDownstream();
    });
  }

  // Stops waiting (the connection went away); the callback is not called then.
  void cancel() {
    cancelled_ = true;
    timer_.cancel();
  }

 private:
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
    auto on_result = [self = shared_from_this(), i, next](DownstreamResult r) {
      if (r.failed()) ++self->service_->stats_.downstream_failures;
      self->results_[i] = std::move(r);
      next();
    };
    const HttpUrl& url = behaviour_->calls[i];
    if (url.grpc)
      service_->grpcClient().call(url, forward_, behaviour_->call_timeout, std::move(on_result));
    else
      service_->client_->get(url, forward_, behaviour_->call_timeout, std::move(on_result));
  }

  void answerFromResults() {
    bool failed = false;
    for (const auto& r : results_) failed = failed || r.failed();
    if (failed && behaviour_->propagate_errors) return report(502, "downstream");
    report(200, {});
  }

  void report(unsigned status, std::string_view error) {
    if (cancelled_) return;
    done_(status, error, results_);
  }

  std::shared_ptr<DemoService> service_;
  std::shared_ptr<const Behaviour> behaviour_;  // the one in force when the request came
  net::steady_timer timer_;
  DownstreamClient::Headers forward_;
  Done done_;
  std::vector<DownstreamResult> results_;
  size_t pending_ = 0;
  bool cancelled_ = false;
};

// One client connection: reads requests one after another and answers each, either from
// the admin interface or as the workload.
class DemoSession : public std::enable_shared_from_this<DemoSession> {
 public:
  DemoSession(std::shared_ptr<DemoService> service, tcp::socket socket, uint64_t id)
      : service_(std::move(service)), stream_(std::move(socket)), id_(id) {}
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
    if (run_) run_->cancel();
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
    DownstreamClient::Headers forward;
    for (const auto name : kPropagatedHeaders)
      if (auto it = request_.find(name); it != request_.end())
        forward.emplace_back(std::string(name), std::string(it->value()));
    run_ = std::make_shared<WorkloadRun>(
        service_, std::move(forward),
        [self = shared_from_this()](unsigned status, std::string_view error,
                                    const std::vector<DownstreamResult>& results) {
          self->answer(status, error, results);
        });
    run_->start();
  }

  void answer(unsigned status, std::string_view error,
              const std::vector<DownstreamResult>& results) {
    auto& svc = *service_;
    boost::json::array calls;
    for (const auto& r : results) {
      boost::json::object c{
          {"url", r.url},
          {"status", r.status},
          {"latency_ms", std::chrono::duration<double, std::milli>(r.latency).count()}};
      if (r.grpc_status) c["grpc_status"] = *r.grpc_status;
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
    const size_t wanted = run_->behaviour().response_size;
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
                        self->run_.reset();
                        self->read();
                      });
  }

  std::shared_ptr<DemoService> service_;
  beast::tcp_stream stream_;
  uint64_t id_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  Response response_;
  bool keep_alive_ = true;
  std::shared_ptr<WorkloadRun> run_;  // the workload request being answered
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

DemoService::~DemoService() {
  if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now());
}

void DemoService::start() {
  if (config_.protocol == "grpc") {
    // No listening port of its own: connections arrive through the service's acceptor.
    grpc_service_ =
        std::make_unique<GrpcDemoService>(weak_from_this(), config_.name, config_.version);
    grpc::ServerBuilder builder;
    builder.RegisterService(grpc_service_.get());
    grpc_server_ = builder.BuildAndStart();
    if (!grpc_server_) spdlog::error("{}: the gRPC server did not start", config_.name);
  }
  accept();
}

void DemoService::accept() {
  acceptor_.async_accept([self = shared_from_this()](const beast::error_code& ec,
                                                     tcp::socket socket) {
    if (self->stopped_) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      if (self->grpc_server_)
        self->sniff(std::make_shared<tcp::socket>(std::move(socket)), 0);
      else
        self->serve(std::move(socket));
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

void DemoService::serve(tcp::socket socket) {
  const auto id = next_session_id_++;
  auto session = std::make_shared<DemoSession>(shared_from_this(), std::move(socket), id);
  sessions_[id] = session;
  session->read();
}

void DemoService::sniff(std::shared_ptr<tcp::socket> socket, int tries) {
  socket->async_wait(tcp::socket::wait_read, [self = shared_from_this(), socket,
                                              tries](const beast::error_code& ec) {
    if (ec || self->stopped_) return;
    std::array<char, kH2Preface.size()> head{};
    beast::error_code peek_ec;
    const size_t n = socket->receive(net::buffer(head), tcp::socket::message_peek, peek_ec);
    if (peek_ec || n == 0) return;  // gone (the socket closes with the last reference)
    const std::string_view got(head.data(), n);
    if (got == kH2Preface) {
      // An HTTP/2 client: the gRPC server takes the connection, preface and all.
      beast::error_code release_ec;
      const int fd = socket->release(release_ec);
      if (!release_ec) grpc::AddInsecureChannelFromFd(self->grpc_server_.get(), fd);
      return;
    }
    if (kH2Preface.starts_with(got) && tries < 50) {
      // A prefix of the preface so far: look again shortly (bounded).
      auto timer = std::make_shared<net::steady_timer>(self->ioc_, std::chrono::milliseconds(2));
      timer->async_wait([self, socket, tries, timer](const beast::error_code& wait_ec) {
        if (!wait_ec && !self->stopped_) self->sniff(socket, tries + 1);
      });
      return;
    }
    self->serve(std::move(*socket));
  });
}

GrpcDownstream& DemoService::grpcClient() {
  if (!grpc_client_)
    grpc_client_ = GrpcDownstream::create(ioc_.get_executor(), config_.outbound_proxy);
  return *grpc_client_;
}

void DemoService::startGrpcCall(std::shared_ptr<GrpcPending> call,
                                DownstreamClient::Headers forward) {
  {
    std::lock_guard lock(grpc_mutex_);
    if (grpc_stopping_) {
      call->finished = true;
      call->reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping"));
      return;
    }
    grpc_calls_.insert(call);
  }
  net::post(ioc_, [self = shared_from_this(), call, forward = std::move(forward)]() mutable {
    {
      std::lock_guard lock(self->grpc_mutex_);
      if (call->finished) return;
    }
    ++self->stats_.grpc_calls;
    auto run =
        std::make_shared<WorkloadRun>(self, std::move(forward),
                                      [self, call](unsigned status, std::string_view error,
                                                   const std::vector<DownstreamResult>& results) {
                                        self->finishGrpcCall(call, status, error, &results);
                                      });
    call->run = run;
    run->start();
  });
}

bool DemoService::finishGrpcCall(const std::shared_ptr<GrpcPending>& call, unsigned http_status,
                                 std::string_view error,
                                 const std::vector<DownstreamResult>* results) {
  std::lock_guard lock(grpc_mutex_);
  if (call->finished) return false;
  call->finished = true;
  grpc_calls_.erase(call);
  const uint32_t code = grpcStatusForHttp(http_status);
  const unsigned cls = common::grpcStatusHttpEquivalent(code) / 100;
  ++stats_.responses[cls <= 5 ? cls : 0];
  if (code != common::kGrpcOk) {
    call->reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(code),
                                       fmt::format("{}: {}", config_.name, error)));
    return true;
  }
  auto& response = *call->response;
  response.set_service(config_.name);
  response.set_version(config_.version);
  if (results) {
    for (const auto& r : *results) {
      auto* c = response.add_calls();
      c->set_url(r.url);
      c->set_status(r.status);
      if (r.grpc_status) c->set_grpc_status(*r.grpc_status);
      c->set_error(r.error);
      c->set_latency_ms(std::chrono::duration<double, std::milli>(r.latency).count());
    }
  }
  const size_t wanted = behaviour_->response_size;
  const size_t have = response.ByteSizeLong();
  if (wanted > have + 8) response.set_payload(std::string(wanted - have - 8, 'x'));
  call->reactor->Finish(grpc::Status::OK);
  return true;
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
  if (grpc_server_) {
    std::set<std::shared_ptr<GrpcPending>> calls;
    {
      std::lock_guard lock(grpc_mutex_);
      grpc_stopping_ = true;
      calls.swap(grpc_calls_);
      for (const auto& c : calls) {
        c->finished = true;
        c->reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping"));
        if (auto run = c->run.lock()) run->cancel();
      }
    }
    // Every call is finished: the shutdown does not wait on this thread.
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
}

std::string DemoService::statsJson() const {
  const auto& s = stats_;
  const boost::json::object obj{{"service", config_.name},
                                {"version", config_.version},
                                {"requests", s.requests},
                                {"grpc_calls", s.grpc_calls},
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
