// meshdeck-load --http2 and --grpc: the same open-loop schedule and accounting as HTTP/1.1,
// many streams per connection, gRPC statuses counted by the HTTP class they stand for,
// timeouts by stream reset. The server is meshdeck-demo-service declared `protocol: grpc`.
#include <QtTest>
#include <boost/asio/executor_work_guard.hpp>
#include <thread>

#include "tools/demo_service/demo_service.h"
#include "tools/load/h2_load.h"
#include "tools/load/load_generator.h"
#include "unit/tools/load_run.h"

using namespace std::chrono_literals;
using meshdeck::tools::DemoService;
using meshdeck::tools::LoadGenerator;
using meshdeck::tools::LoadOptions;
using meshdeck::tools::LoadProtocol;
using meshdeck::tools::LoadResult;
using meshdeck::tools::TransportError;
using meshdeck::tools::testing::checkAccounting;
using meshdeck::tools::testing::optionsFor;
using meshdeck::tools::testing::runLoad;
namespace net = boost::asio;

namespace {

// One gRPC demo service on its own thread.
class GrpcServer {
 public:
  explicit GrpcServer(meshdeck::tools::Behaviour behaviour = {})
      : guard_(net::make_work_guard(ioc_)) {
    meshdeck::tools::ServiceConfig c;
    c.name = "payments";
    c.listen = {"127.0.0.1", 0};
    c.protocol = "grpc";
    c.behaviour = std::move(behaviour);
    service_ = DemoService::create(ioc_, c, 3);
    std::string error;
    if (!service_->listen(&error)) qFatal("listen: %s", error.c_str());
    service_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~GrpcServer() {
    net::post(ioc_, [this] {
      service_->stop();
      guard_.reset();
    });
    thread_.join();
  }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(service_->port()) + path;
  }

 private:
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::shared_ptr<DemoService> service_;
  std::thread thread_;
};

}  // namespace

class LoadH2Test : public QObject {
  Q_OBJECT

 private slots:
  void requestsAreBuiltOnce() {
    auto o = optionsFor("http://payments:8080/", LoadProtocol::kGrpc);
    o.body_size = 300;
    o.headers = {{"X-Tenant", "blue"}};
    const auto r = meshdeck::tools::buildH2Request(o);
    QCOMPARE(r.headers[0], (std::pair<std::string, std::string>{":method", "POST"}));
    QCOMPARE(r.headers[2], (std::pair<std::string, std::string>{":authority", "payments:8080"}));
    QCOMPARE(r.headers[3],
             (std::pair<std::string, std::string>{":path", "/meshdeck.demo.v1.Demo/Call"}));
    QVERIFY(std::find(r.headers.begin(), r.headers.end(),
                      std::pair<std::string, std::string>{"x-tenant", "blue"}) != r.headers.end());
    // 5-byte prefix (uncompressed, length 303) + tag 0x12, varint 300 (0xac 0x02), payload.
    QCOMPARE(r.body.size(), size_t{5 + 303});
    QCOMPARE(r.body.substr(0, 5), std::string("\0\0\0\x01\x2f", 5));
    QCOMPARE(r.body.substr(5, 3), std::string("\x12\xac\x02"));
    const auto h2 =
        meshdeck::tools::buildH2Request(optionsFor("http://x/items?id=1", LoadProtocol::kHttp2));
    QCOMPARE(h2.headers[0].second, std::string("GET"));
    QCOMPARE(h2.headers[3].second, std::string("/items?id=1"));
    QVERIFY(h2.body.empty());
  }

  void grpcStatusesCountAsTheirHttpClass() {
    using H = std::vector<std::pair<std::string, std::string>>;
    QCOMPARE(meshdeck::tools::grpcResponseStatus(H{{"grpc-status", "14"}}, {}), 503u);
    QCOMPARE(meshdeck::tools::grpcResponseStatus({}, H{{"grpc-status", "0"}}), 200u);
    QCOMPARE(meshdeck::tools::grpcResponseStatus({}, H{{"grpc-status", "5"}}), 404u);
    QCOMPARE(meshdeck::tools::grpcResponseStatus({}, {}), 500u);  // none: UNKNOWN
    QCOMPARE(meshdeck::tools::grpcResponseStatus({}, H{{"grpc-status", "x"}}), 500u);
  }

  void rejectsBadOptions() {
    auto o = optionsFor("http://x/", LoadProtocol::kHttp1);
    o.streams = 4;
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
    o.protocol = LoadProtocol::kHttp2;
    QVERIFY(meshdeck::tools::validateLoadOptions(o).empty());
    o.streams = 0;
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
    o.streams = 1;
    o.protocol = LoadProtocol::kGrpc;
    o.method = "DELETE";
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
  }

  void grpcOpenLoopSendsTheScheduledCountOnFewConnections() {
    GrpcServer server;
    auto o = optionsFor(server.url(), LoadProtocol::kGrpc);
    o.rate = 400;
    o.duration = 500ms;
    o.connections = 2;
    o.streams = 8;
    o.workers = 2;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.scheduled, uint64_t{200});
    QCOMPARE(r.stats.completed, uint64_t{200});
    QCOMPARE(r.stats.status_classes[2], uint64_t{200});
    QCOMPARE(r.stats.errorTotal(), uint64_t{0});
    QVERIFY(qAbs(r.achievedRate() - 400.0) < 1.0);
  }

  void grpcErrorsAreCountedByStatus() {
    meshdeck::tools::Behaviour b;
    b.error_rate = 1;
    b.error_status = 503;  // UNAVAILABLE
    GrpcServer server(b);
    auto o = optionsFor(server.url(), LoadProtocol::kGrpc);
    o.rate = 200;
    o.duration = 250ms;
    o.connections = 1;
    o.streams = 4;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.completed, uint64_t{50});
    QCOMPARE(r.stats.status_classes[5], uint64_t{50});
    QCOMPARE(r.stats.errorTotal(), uint64_t{50});
  }

  // Streams: with one connection and 8 streams, 8 slow calls run at once; their latency is
  // the server's, not a queue's. Served one at a time, call k (every 25 ms, 100 ms each) would
  // end at 100 (k + 1) ms, a p99 of about 1.5 s; two at a time still about 0.6 s. The bound
  // sits well below both and leaves room for a loaded machine's scheduling delays (180 ms,
  // the bound before, failed under load with the calls running concurrently).
  void streamsRunConcurrentlyOnOneConnection() {
    meshdeck::tools::Behaviour b;
    b.latency_p50 = b.latency_p99 = 100ms;
    GrpcServer server(b);
    auto o = optionsFor(server.url(), LoadProtocol::kGrpc);
    o.rate = 40;  // 4 calls in flight on average
    o.duration = 500ms;
    o.connections = 1;
    o.streams = 8;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.completed, uint64_t{20});
    QVERIFY2(r.stats.latency.percentile(99) < 450e6,
             qPrintable(QString::number(r.stats.latency.percentile(99) / 1e6)));
  }

  void slowCallsTimeOutByStreamReset() {
    meshdeck::tools::Behaviour b;
    b.latency_p50 = b.latency_p99 = 2s;
    GrpcServer server(b);
    auto o = optionsFor(server.url(), LoadProtocol::kGrpc);
    o.rate = 40;
    o.duration = 250ms;
    o.connections = 1;
    o.streams = 16;
    o.timeout = 200ms;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.scheduled, uint64_t{10});
    QCOMPARE(r.stats.transportErrors(TransportError::kTimeout), uint64_t{10});
    QCOMPARE(r.stats.completed, uint64_t{0});
  }

  void http2ModeCountsHttpStatuses() {
    GrpcServer server;
    // A plain HTTP/2 GET to the gRPC server: answered (with a gRPC error status the HTTP/2
    // mode does not look at), each on a stream of the one connection.
    auto o = optionsFor(server.url("/meshdeck.demo.v1.Demo/Call"), LoadProtocol::kHttp2);
    o.rate = 200;
    o.duration = 250ms;
    o.connections = 1;
    o.streams = 4;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.scheduled, uint64_t{50});
    QCOMPARE(r.stats.completed, uint64_t{50});
    QCOMPARE(r.stats.transportErrors(TransportError::kReset), uint64_t{0});
  }

  void refusedConnectionsAreConnectErrors() {
    // A port nothing listens on (bound, then closed).
    net::io_context ioc;
    net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    const auto port = a.local_endpoint().port();
    a.close();
    auto o = optionsFor("http://127.0.0.1:" + std::to_string(port) + "/", LoadProtocol::kHttp2);
    o.rate = 100;
    o.duration = 100ms;
    o.connections = 1;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.transportErrors(TransportError::kConnect), r.stats.scheduled);
  }
};

QTEST_GUILESS_MAIN(LoadH2Test)
#include "load_h2_test.moc"
