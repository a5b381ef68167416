// meshdeck-demo-service declared `protocol: grpc`: meshdeck.demo.v1.Demo/Call next to the
// HTTP/1.1 admin interface on one port, injected errors as gRPC statuses, grpc:// downstream
// calls from HTTP and gRPC services, and a stop that fails the calls in progress.
#include <grpcpp/grpcpp.h>

#include <QtTest>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <future>
#include <thread>

#include "common/telemetry/grpc_status.h"
#include "meshdeck/demo/v1/demo.grpc.pb.h"
#include "tools/demo_service/behaviour.h"
#include "tools/demo_service/demo_service.h"

using namespace std::chrono_literals;
using meshdeck::tools::DemoService;
using meshdeck::tools::ServiceConfig;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace demo = meshdeck::demo::v1;

namespace {

// Runs services on one io_context thread, as the real binary does, and stops them on that
// thread when the test ends (or at stopAll()).
class ServiceHost {
 public:
  ServiceHost() : guard_(net::make_work_guard(ioc_)) {}
  ~ServiceHost() { stopAll(); }
  std::shared_ptr<DemoService> add(ServiceConfig config) {
    auto svc = DemoService::create(ioc_, std::move(config), 7);
    std::string error;
    if (!svc->listen(&error)) qFatal("listen: %s", error.c_str());
    svc->start();
    services_.push_back(svc);
    return svc;
  }
  void run() {
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void stopAll() {
    if (!thread_.joinable()) return;
    net::post(ioc_, [this] {
      for (auto& s : services_) s->stop();
      guard_.reset();
    });
    thread_.join();
  }

 private:
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::vector<std::shared_ptr<DemoService>> services_;
  std::thread thread_;
};

ServiceConfig service(const std::string& name, const std::string& protocol = "grpc") {
  ServiceConfig c;
  c.name = name;
  c.listen = {"127.0.0.1", 0};
  c.protocol = protocol;
  return c;
}

meshdeck::tools::HttpUrl callUrl(const std::string& text) {
  std::string error;
  auto url = meshdeck::tools::parseCallUrl(text, &error);
  if (!url) qFatal("%s", error.c_str());
  return *url;
}

std::unique_ptr<demo::Demo::Stub> stub(uint16_t port) {
  return demo::Demo::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

grpc::Status call(demo::Demo::Stub& s, demo::CallResponse* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  demo::CallRequest request;
  request.set_path("/pay");
  return s.Call(&ctx, request, response);
}

// One HTTP/1.1 exchange on a fresh connection.
http::response<http::string_body> httpRequest(uint16_t port, http::verb method,
                                              const std::string& target,
                                              const std::string& body = {}) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "test");
  req.body() = body;
  req.prepare_payload();
  stream.expires_after(10s);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return res;
}

boost::json::object parseObject(const std::string& body) {
  return boost::json::parse(body).as_object();
}

}  // namespace

class DemoServiceGrpcTest : public QObject {
  Q_OBJECT

 private slots:
  void callUrlsParse() {
    const auto g = callUrl("grpc://payments/charge");
    QVERIFY(g.grpc);
    QCOMPARE(g.authority, std::string("payments"));
    QCOMPARE(g.target, std::string("/charge"));
    QCOMPARE(meshdeck::tools::callUrlText(g), std::string("grpc://payments/charge"));
    QVERIFY(!callUrl("http://catalog/items").grpc);
    std::string error;
    QVERIFY(!meshdeck::tools::parseCallUrl("grpc://", &error));
    QVERIFY(!meshdeck::tools::parseCallUrl("grpcs://payments", &error));
    meshdeck::tools::Behaviour b;
    QVERIFY(meshdeck::tools::setBehaviourField(
        b, "calls", std::vector<std::string>{"grpc://payments", "http://cart/"}, &error));
    QVERIFY(b.calls[0].grpc && !b.calls[1].grpc);
    QVERIFY2(meshdeck::tools::behaviourToJson(b).find("\"grpc://payments/\"") != std::string::npos,
             meshdeck::tools::behaviourToJson(b).c_str());
  }

  void httpStatusesMapToGrpcStatusesOfTheSameClass() {
    using meshdeck::tools::grpcStatusForHttp;
    QCOMPARE(grpcStatusForHttp(503), meshdeck::common::kGrpcUnavailable);
    QCOMPARE(grpcStatusForHttp(502), meshdeck::common::kGrpcUnavailable);
    QCOMPARE(grpcStatusForHttp(500), meshdeck::common::kGrpcInternal);
    QCOMPARE(grpcStatusForHttp(504), meshdeck::common::kGrpcDeadlineExceeded);
    QCOMPARE(grpcStatusForHttp(429), meshdeck::common::kGrpcResourceExhausted);
    QCOMPARE(grpcStatusForHttp(200), meshdeck::common::kGrpcOk);
    for (unsigned h = 400; h <= 599; ++h) {
      const unsigned back = meshdeck::common::grpcStatusHttpEquivalent(grpcStatusForHttp(h));
      QVERIFY2(back / 100 == h / 100, qPrintable(QString("%1 -> %2").arg(h).arg(back)));
    }
  }

  void servesGrpcAndHttpAdminOnOnePort() {
    ServiceHost host;
    auto cfg = service("payments");
    cfg.version = "v2";
    cfg.behaviour.response_size = 2048;
    auto svc = host.add(cfg);
    host.run();
    auto s = stub(svc->port());
    demo::CallResponse response;
    const auto status = call(*s, &response);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(response.service(), std::string("payments"));
    QCOMPARE(response.version(), std::string("v2"));
    QVERIFY(response.ByteSizeLong() >= 2000 && response.ByteSizeLong() <= 2048);
    // The admin interface on the same port, and the workload over HTTP/1.1 too.
    QCOMPARE(httpRequest(svc->port(), http::verb::get, "/_demo/health").result_int(), 200u);
    QCOMPARE(httpRequest(svc->port(), http::verb::get, "/").result_int(), 200u);
    // A method line starting like the preface ("P...") is still HTTP/1.1.
    QCOMPARE(httpRequest(svc->port(), http::verb::put, "/_demo/behaviour", R"({"error_rate":0})")
                 .result_int(),
             200u);
    const auto stats =
        parseObject(httpRequest(svc->port(), http::verb::get, "/_demo/stats").body());
    QCOMPARE(stats.at("requests").as_int64(), int64_t{2});
    QCOMPARE(stats.at("grpc_calls").as_int64(), int64_t{1});
    QCOMPARE(stats.at("responses").at("2xx").as_int64(), int64_t{2});
  }

  void injectedErrorsAreGrpcStatuses() {
    ServiceHost host;
    auto cfg = service("payments");
    cfg.behaviour.error_rate = 1;
    cfg.behaviour.error_status = 503;
    auto svc = host.add(cfg);
    host.run();
    auto s = stub(svc->port());
    for (const auto& [http_status, code] :
         {std::pair{503, grpc::StatusCode::UNAVAILABLE}, std::pair{500, grpc::StatusCode::INTERNAL},
          std::pair{504, grpc::StatusCode::DEADLINE_EXCEEDED},
          std::pair{429, grpc::StatusCode::RESOURCE_EXHAUSTED}}) {
      const auto put = httpRequest(svc->port(), http::verb::put, "/_demo/behaviour",
                                   R"({"error_status":)" + std::to_string(http_status) + "}");
      QCOMPARE(put.result_int(), 200u);
      demo::CallResponse response;
      const auto status = call(*s, &response);
      QCOMPARE(status.error_code(), code);
      QVERIFY2(status.error_message().find("payments: injected") != std::string::npos,
               status.error_message().c_str());
    }
    const auto stats =
        parseObject(httpRequest(svc->port(), http::verb::get, "/_demo/stats").body());
    QCOMPARE(stats.at("injected_errors").as_int64(), int64_t{4});
    QCOMPARE(stats.at("responses").at("5xx").as_int64(), int64_t{3});
    QCOMPARE(stats.at("responses").at("4xx").as_int64(), int64_t{1});
  }

  void httpAndGrpcServicesCallGrpcDownstreams() {
    ServiceHost host;
    auto payments = host.add(service("payments"));
    // checkout (HTTP) calls payments straight; orders (gRPC) calls it through a "sidecar"
    // address (payments' own port), by its service name as the authority.
    auto checkout_cfg = service("checkout", "http1");
    checkout_cfg.behaviour.calls = {
        callUrl("grpc://127.0.0.1:" + std::to_string(payments->port()) + "/charge")};
    auto checkout = host.add(checkout_cfg);
    auto orders_cfg = service("orders");
    std::string error;
    orders_cfg.outbound_proxy = *meshdeck::tools::parseHttpUrl(
        "http://127.0.0.1:" + std::to_string(payments->port()), &error);
    orders_cfg.behaviour.calls = {callUrl("grpc://payments")};
    auto orders = host.add(orders_cfg);
    host.run();

    auto res = httpRequest(checkout->port(), http::verb::get, "/");
    QCOMPARE(res.result_int(), 200u);
    auto c = parseObject(res.body()).at("calls").as_array().at(0).as_object();
    QCOMPARE(c.at("status").as_int64(), int64_t{200});
    QCOMPARE(c.at("grpc_status").as_int64(), int64_t{0});
    QVERIFY(c.at("url").as_string().starts_with("grpc://127.0.0.1:"));

    auto s = stub(orders->port());
    demo::CallResponse response;
    auto status = call(*s, &response);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(response.calls_size(), 1);
    QCOMPARE(response.calls(0).url(), std::string("grpc://payments/"));
    QCOMPARE(response.calls(0).grpc_status(), 0u);

    // payments failing UNAVAILABLE: the callers fail (502, UNAVAILABLE) and show the status.
    QCOMPARE(httpRequest(payments->port(), http::verb::put, "/_demo/behaviour",
                         R"({"error_rate":1,"error_status":503})")
                 .result_int(),
             200u);
    res = httpRequest(checkout->port(), http::verb::get, "/");
    QCOMPARE(res.result_int(), 502u);
    c = parseObject(res.body()).at("calls").as_array().at(0).as_object();
    QCOMPARE(c.at("status").as_int64(), int64_t{503});
    QCOMPARE(c.at("grpc_status").as_int64(), int64_t{14});
    status = call(*s, &response);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    QVERIFY2(status.error_message().find("orders: downstream") != std::string::npos,
             status.error_message().c_str());
  }

  void stopFailsCallsInProgress() {
    ServiceHost host;
    auto cfg = service("slow");
    cfg.behaviour.latency_p50 = cfg.behaviour.latency_p99 = 30s;
    auto svc = host.add(cfg);
    host.run();
    auto s = stub(svc->port());
    auto pending = std::async(std::launch::async, [&] {
      demo::CallResponse response;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 20s);
      return s->Call(&ctx, demo::CallRequest(), &response);
    });
    // Wait (bounded) until the call is being served.
    bool serving = false;
    for (int i = 0; i < 500 && !serving; ++i) {
      const auto stats =
          parseObject(httpRequest(svc->port(), http::verb::get, "/_demo/stats").body());
      serving = stats.at("grpc_calls").as_int64() == 1;
    }
    QVERIFY(serving);
    const auto before = std::chrono::steady_clock::now();
    host.stopAll();
    QVERIFY(pending.wait_for(10s) == std::future_status::ready);
    const auto status = pending.get();
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    QVERIFY(std::chrono::steady_clock::now() - before < 10s);
  }
};

QTEST_GUILESS_MAIN(DemoServiceGrpcTest)
#include "demo_service_grpc_test.moc"
