#include "tools/demo_service/demo_service.h"

#include <QtTest>
#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <thread>

#include "support/hostile_yaml.h"
#include "tools/demo_service/behaviour.h"
#include "tools/demo_service/demo_config.h"
#include "unit/tools/test_http_server.h"

using namespace std::chrono_literals;
using meshdeck::tools::Behaviour;
using meshdeck::tools::DemoService;
using meshdeck::tools::LatencyModel;
using meshdeck::tools::ServiceConfig;
using meshdeck::tools::testing::TestHttpServer;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Runs services on one io_context thread, as the real binary does, and stops them on the
// same thread when the test ends.
class ServiceHost {
 public:
  ServiceHost() : guard_(net::make_work_guard(ioc_)) {}
  ~ServiceHost() {
    net::post(ioc_, [this] {
      for (auto& s : services_) s->stop();
      guard_.reset();
    });
    if (thread_.joinable()) thread_.join();
  }
  std::shared_ptr<DemoService> add(ServiceConfig config, uint64_t seed = 7) {
    auto svc = DemoService::create(ioc_, std::move(config), seed);
    std::string error;
    if (!svc->listen(&error)) qFatal("listen: %s", error.c_str());
    svc->start();
    services_.push_back(svc);
    return svc;
  }
  void run() {
    thread_ = std::thread([this] { ioc_.run(); });
  }

 private:
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::vector<std::shared_ptr<DemoService>> services_;
  std::thread thread_;
};

// A blocking keep-alive client for the tests.
class Client {
 public:
  explicit Client(uint16_t port) : stream_(ioc_) {
    stream_.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> send(
      http::verb method, const std::string& target, const std::string& body = {},
      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "test");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    stream_.expires_after(10s);
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }
  http::response<http::string_body> get(const std::string& target) {
    return send(http::verb::get, target);
  }

 private:
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

ServiceConfig service(const std::string& name, const std::string& version = "v1") {
  ServiceConfig c;
  c.name = name;
  c.version = version;
  c.listen = {"127.0.0.1", 0};
  return c;
}

double percentileOf(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p / 100.0 * double(v.size() - 1))];
}

boost::json::object parseObject(const std::string& body) {
  return boost::json::parse(body).as_object();
}

}  // namespace

class DemoServiceTest : public QObject {
  Q_OBJECT
 private slots:
  void latencyModelHitsItsQuantiles() {
    const LatencyModel model(5ms, 40ms);
    std::mt19937_64 rng(42);
    std::vector<double> ms;
    for (int i = 0; i < 50000; ++i)
      ms.push_back(std::chrono::duration<double, std::milli>(model.sample(rng)).count());
    const double p50 = percentileOf(ms, 50), p99 = percentileOf(ms, 99);
    QVERIFY2(std::abs(p50 - 5.0) < 0.25, qPrintable(QString("p50 %1 ms").arg(p50)));
    QVERIFY2(std::abs(p99 - 40.0) < 3.0, qPrintable(QString("p99 %1 ms").arg(p99)));
    // Seeded: the same seed draws the same sequence.
    std::mt19937_64 a(9), b(9);
    for (int i = 0; i < 100; ++i) QVERIFY(model.sample(a) == model.sample(b));
    // Degenerate cases: zero and constant.
    QVERIFY(LatencyModel(0ms, 0ms).sample(rng) == 0ns);
    QVERIFY(LatencyModel(3ms, 3ms).sample(rng) == 3ms);
  }

  void behaviourJsonIsAllOrNothing() {
    Behaviour base;
    Behaviour next;
    std::string error;
    QVERIFY(meshdeck::tools::applyBehaviourJson(
        base, R"({"latency_p50":"5ms","latency_p99":"40ms","error_rate":0.25})", &next, &error));
    QVERIFY(next.latency_p50 == 5ms && next.latency_p99 == 40ms);
    QCOMPARE(next.error_rate, 0.25);
    QCOMPARE(next.error_status, 503u);  // untouched fields keep their values
    // A bad field after a good one changes nothing.
    Behaviour untouched = next;
    QVERIFY(!meshdeck::tools::applyBehaviourJson(next, R"({"error_rate":0.5,"error_status":200})",
                                                 &untouched, &error));
    QVERIFY(error.find("error_status") != std::string::npos);
    QCOMPARE(untouched.error_rate, 0.25);
    QVERIFY(!meshdeck::tools::applyBehaviourJson(
        base, R"({"latency_p50":"50ms","latency_p99":"5ms"})", &next, &error));
    QVERIFY(error.find("latency_p99") != std::string::npos);
    QVERIFY(!meshdeck::tools::applyBehaviourJson(base, R"({"colour":"red"})", &next, &error));
    QVERIFY(error.find("unknown field 'colour'") != std::string::npos);
    QVERIFY(!meshdeck::tools::applyBehaviourJson(base, R"([1,2])", &next, &error));
    QVERIFY(!meshdeck::tools::applyBehaviourJson(base, "{\"calls\":[\"ftp://x\"]}", &next, &error));
    QVERIFY(!meshdeck::tools::applyBehaviourJson(base, "{not json", &next, &error));
    // Round trip.
    QVERIFY(meshdeck::tools::applyBehaviourJson(
        base,
        "{\"calls\":[\"http://reviews/items\"],\"call_mode\":\"parallel\","
        "\"response_size\":512}",
        &next, &error));
    Behaviour again;
    QVERIFY(meshdeck::tools::applyBehaviourJson(Behaviour{}, meshdeck::tools::behaviourToJson(next),
                                                &again, &error));
    QCOMPARE(again.calls.size(), size_t{1});
    QCOMPARE(again.calls[0].authority, std::string("reviews"));
    QVERIFY(again.call_mode == meshdeck::tools::CallMode::kParallel);
    QCOMPARE(again.response_size, size_t{512});
  }

  void configFileListsServices() {
    const char* yaml =
        "seed: 11\n"
        "services:\n"
        "  - name: catalog\n"
        "    listen: 127.0.0.1:0\n"
        "    latency_p50: 5ms\n"
        "    latency_p99: 40ms\n"
        "    calls: [http://reviews/items, http://127.0.0.1:9/x]\n"
        "    call_mode: parallel\n"
        "    outbound_proxy: http://127.0.0.1:15001\n"
        "  - name: reviews\n"
        "    version: v2\n"
        "    listen: 127.0.0.1:0\n"
        "    error_rate: 0.05\n"
        "    error_status: 500\n"
        "    response_size: 128\n";
    meshdeck::tools::DemoConfig config;
    meshdeck::common::LocatedError error;
    QVERIFY2(meshdeck::tools::parseDemoConfig(yaml, "demo.yaml", &config, &error),
             error.toString().c_str());
    QCOMPARE(config.seed, uint64_t{11});
    QCOMPARE(config.services.size(), size_t{2});
    QCOMPARE(config.services[0].behaviour.calls.size(), size_t{2});
    QVERIFY(config.services[0].outbound_proxy.has_value());
    QCOMPARE(config.services[1].version, std::string("v2"));
    QCOMPARE(config.services[1].behaviour.error_status, 500u);

    // Errors name the file, line, column and field.
    const char* bad = "services:\n  - name: a\n    latency_p50: fast\n";
    QVERIFY(!meshdeck::tools::parseDemoConfig(bad, "bad.yaml", &config, &error));
    QVERIFY2(error.toString().starts_with("bad.yaml:3:18: services[0].latency_p50:"),
             error.toString().c_str());
    QCOMPARE(error.file, std::string("bad.yaml"));
    QCOMPARE(error.line, 3u);
    QCOMPARE(error.column, 18u);
    QCOMPARE(error.field, std::string("services[0].latency_p50"));
    QVERIFY(
        !meshdeck::tools::parseDemoConfig("services:\n  - version: v1\n", "f", &config, &error));
    QVERIFY2(error.toString().find("services[0].name: is required") != std::string::npos,
             error.toString().c_str());
    QVERIFY(!meshdeck::tools::parseDemoConfig("services:\n  - name: a\n    colour: red\n", "f",
                                              &config, &error));
    QVERIFY2(error.toString().starts_with("f:3:5: services[0].colour: unknown field"),
             error.toString().c_str());
    QVERIFY(
        !meshdeck::tools::parseDemoConfig("services:\n  - {name: a, listen: '127.0.0.1:9000'}\n  - "
                                          "{name: b, listen: '127.0.0.1:9000'}\n",
                                          "f", &config, &error));
    QCOMPARE(error.toString(),
             std::string("f: two services listen on 127.0.0.1:9000 (the second is b)"));
    QVERIFY(!meshdeck::tools::parseDemoConfig("services: [\n", "f", &config, &error));
  }

  // The "billion laughs" config is refused by the YAML reader's limits, from text and file.
  void refusesAliasBomb() {
    meshdeck::tools::DemoConfig config;
    meshdeck::common::LocatedError error;
    QVERIFY(!meshdeck::tools::parseDemoConfig(meshdeck::testing::billionLaughs(), "bomb.yaml",
                                              &config, &error));
    QCOMPARE(QString::fromStdString(error.toString()),
             QString("bomb.yaml") + meshdeck::testing::kBillionLaughsRefusal);
    const auto file = meshdeck::testing::hostileYamlFile("billion-laughs.yaml");
    QVERIFY(!meshdeck::tools::loadDemoConfigFile(file, &config, &error));
    QCOMPARE(QString::fromStdString(error.toString()),
             QString::fromStdString(file.string() + meshdeck::testing::kBillionLaughsRefusal));
  }

  void errorRateAndStatusAreApplied() {
    ServiceHost host;
    auto cfg = service("payments");
    cfg.behaviour.error_rate = 0.2;
    cfg.behaviour.error_status = 503;
    auto svc = host.add(cfg);
    host.run();
    Client client(svc->port());
    int errors = 0;
    constexpr int kRequests = 1000;
    for (int i = 0; i < kRequests; ++i) {
      const auto res = client.get("/pay");
      if (res.result_int() == 503) {
        ++errors;
        QCOMPARE(parseObject(res.body()).at("error").as_string(), "injected");
      } else {
        QCOMPARE(res.result_int(), 200u);
      }
    }
    // Binomial(1000, 0.2): sd ~12.6; +-50 is four sd.
    QVERIFY2(std::abs(errors - 200) <= 50, qPrintable(QString("%1 errors").arg(errors)));
    const auto stats = parseObject(client.get("/_demo/stats").body());
    QCOMPARE(stats.at("injected_errors").as_int64(), int64_t{errors});
    QCOMPARE(stats.at("requests").as_int64(), int64_t{kRequests});
  }

  void sameSeedSameErrors() {
    auto pattern = [](uint64_t seed) {
      ServiceHost host;
      auto cfg = service("flaky");
      cfg.behaviour.error_rate = 0.3;
      auto svc = host.add(cfg, seed);
      host.run();
      Client client(svc->port());
      std::string out;
      for (int i = 0; i < 64; ++i) out += client.get("/").result_int() == 200 ? '.' : 'x';
      return out;
    };
    const auto a = pattern(5), b = pattern(5), c = pattern(6);
    QCOMPARE(a, b);
    QVERIFY(a != c);
  }

  void behaviourChangesAtRunTime() {
    ServiceHost host;
    auto svc = host.add(service("catalog"));
    host.run();
    Client client(svc->port());
    QCOMPARE(client.get("/").result_int(), 200u);
    auto res = client.send(http::verb::put, "/_demo/behaviour",
                           R"({"error_rate":1,"error_status":500,"response_size":700})");
    QCOMPARE(res.result_int(), 200u);
    QCOMPARE(parseObject(res.body()).at("error_status").as_int64(), int64_t{500});
    for (int i = 0; i < 5; ++i) {
      res = client.get("/");
      QCOMPARE(res.result_int(), 500u);
      QCOMPARE(res.body().size(), size_t{700});
    }
    // A bad change is refused and nothing changes.
    res = client.send(http::verb::put, "/_demo/behaviour", R"({"error_rate":0,"latency_p50":"x"})");
    QCOMPARE(res.result_int(), 400u);
    QVERIFY(res.body().find("latency_p50") != std::string::npos);
    QCOMPARE(client.get("/").result_int(), 500u);
    res = client.get("/_demo/behaviour");
    QCOMPARE(parseObject(res.body()).at("error_rate").to_number<double>(), 1.0);
    // Slow it down instead.
    res = client.send(http::verb::put, "/_demo/behaviour",
                      R"({"error_rate":0,"latency_p50":"80ms","latency_p99":"80ms"})");
    QCOMPARE(res.result_int(), 200u);
    const auto start = std::chrono::steady_clock::now();
    QCOMPARE(client.get("/").result_int(), 200u);
    QVERIFY(std::chrono::steady_clock::now() - start >= 80ms);
    const auto stats = parseObject(client.get("/_demo/stats").body());
    QCOMPARE(stats.at("behaviour_changes").as_int64(), int64_t{2});
    QCOMPARE(stats.at("behaviour_rejections").as_int64(), int64_t{1});
    QCOMPARE(client.send(http::verb::delete_, "/_demo/behaviour").result_int(), 405u);
    QCOMPARE(client.get("/_demo/nothing").result_int(), 404u);
  }

  void callsGoThroughTheOutboundProxyWithTraceHeaders() {
    TestHttpServer sidecar([](uint64_t) { return TestHttpServer::Action{}; });
    ServiceHost host;
    auto cfg = service("frontend");
    std::string error;
    cfg.outbound_proxy = *meshdeck::tools::parseHttpUrl(sidecar.url(), &error);
    cfg.behaviour.calls = {*meshdeck::tools::parseHttpUrl("http://catalog/items?page=2", &error)};
    auto svc = host.add(cfg);
    host.run();
    Client client(svc->port());
    const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const auto res =
        client.send(http::verb::get, "/", {}, {{"traceparent", trace}, {"x-request-id", "req-1"}});
    QCOMPARE(res.result_int(), 200u);
    QCOMPARE(sidecar.lastTarget(), std::string("http://catalog/items?page=2"));
    QCOMPARE(sidecar.lastHost(), std::string("catalog"));
    QCOMPARE(sidecar.lastHeader("traceparent"), trace);
    QCOMPARE(sidecar.lastHeader("x-request-id"), std::string("req-1"));
    const auto body = parseObject(res.body());
    QCOMPARE(body.at("service").as_string(), "frontend");
    QCOMPARE(body.at("calls").as_array().at(0).as_object().at("status").as_int64(), int64_t{200});
    // A second request reuses the pooled connection to the sidecar.
    QCOMPARE(client.get("/").result_int(), 200u);
    QCOMPARE(sidecar.connections(), uint64_t{1});
  }

  void sequentialAndParallelCalls() {
    ServiceHost host;
    auto slow = service("slow");
    slow.behaviour.latency_p50 = slow.behaviour.latency_p99 = 60ms;
    auto backend = host.add(slow);
    std::string error;
    const auto url = *meshdeck::tools::parseHttpUrl(
        "http://127.0.0.1:" + std::to_string(backend->port()) + "/", &error);
    auto seq = service("seq");
    seq.behaviour.calls = {url, url, url};
    auto par = seq;
    par.name = "par";
    par.behaviour.call_mode = meshdeck::tools::CallMode::kParallel;
    auto seq_svc = host.add(seq);
    auto par_svc = host.add(par);
    host.run();
    // Returns how long one request took, or -1 s when it did not make three good calls.
    auto timed = [](uint16_t port) -> std::chrono::nanoseconds {
      Client client(port);
      const auto start = std::chrono::steady_clock::now();
      const auto res = client.get("/");
      const auto took = std::chrono::steady_clock::now() - start;
      if (res.result_int() != 200 || parseObject(res.body()).at("calls").as_array().size() != 3)
        return -1s;
      return took;
    };
    QVERIFY(timed(seq_svc->port()) >= 180ms);
    const auto parallel = timed(par_svc->port());
    QVERIFY(parallel >= 60ms && parallel < 170ms);
  }

  void downstreamFailurePropagates() {
    uint16_t dead_port = 0;
    {
      TestHttpServer gone([](uint64_t) { return TestHttpServer::Action{}; });
      dead_port = gone.port();
    }
    ServiceHost host;
    auto cfg = service("checkout");
    std::string error;
    cfg.behaviour.calls = {*meshdeck::tools::parseHttpUrl(
        "http://127.0.0.1:" + std::to_string(dead_port) + "/", &error)};
    auto svc = host.add(cfg);
    auto tolerant_cfg = cfg;
    tolerant_cfg.name = "tolerant";
    tolerant_cfg.behaviour.propagate_errors = false;
    auto tolerant = host.add(tolerant_cfg);
    host.run();
    Client client(svc->port());
    auto res = client.get("/");
    QCOMPARE(res.result_int(), 502u);
    const auto call = parseObject(res.body()).at("calls").as_array().at(0).as_object();
    QCOMPARE(call.at("error").as_string(), "connect");
    QCOMPARE(Client(tolerant->port()).get("/").result_int(), 200u);
  }

  void hostsSeveralServicesInOneLoop() {
    ServiceHost host;
    std::vector<std::shared_ptr<DemoService>> services;
    for (int i = 0; i < 20; ++i) services.push_back(host.add(service("svc-" + std::to_string(i))));
    host.run();
    for (int i = 0; i < 20; ++i) {
      const auto res = Client(services[size_t(i)]->port()).get("/");
      QCOMPARE(res.result_int(), 200u);
      QCOMPARE(res[http::field::content_type], "application/json");
      QCOMPARE(res["x-demo-service"], "svc-" + std::to_string(i));
    }
  }

  void headHasHeadersButNoBody() {
    ServiceHost host;
    auto cfg = service("edge");
    cfg.behaviour.response_size = 300;
    auto svc = host.add(cfg);
    host.run();
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), svc->port()));
    for (const auto method : {http::verb::head, http::verb::get}) {
      http::request<http::empty_body> req{method, "/", 11};
      req.set(http::field::host, "test");
      http::write(stream, req);
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.skip(method == http::verb::head);
      http::read(stream, buffer, parser);
      QCOMPARE(parser.get().result_int(), 200u);
      QCOMPARE(parser.get()[http::field::content_length], "300");
      QCOMPARE(parser.get().body().size(), method == http::verb::head ? size_t{0} : size_t{300});
      // Nothing left over: the GET that follows on the same connection parses cleanly.
      QCOMPARE(buffer.size(), size_t{0});
    }
  }

  void badRequestsAreCountedAndAnswered() {
    ServiceHost host;
    auto svc = host.add(service("edge"));
    host.run();
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    socket.connect({net::ip::make_address("127.0.0.1"), svc->port()});
    const std::string garbage = "GET / HTTP/1.1\r\nBad Header\r\n\r\n";
    net::write(socket, net::buffer(garbage));
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    QCOMPARE(res.result_int(), 400u);
    QVERIFY(!res.keep_alive());
    const auto stats = parseObject(Client(svc->port()).get("/_demo/stats").body());
    QCOMPARE(stats.at("bad_requests").as_int64(), int64_t{1});
  }
};

QTEST_GUILESS_MAIN(DemoServiceTest)
#include "demo_service_test.moc"
