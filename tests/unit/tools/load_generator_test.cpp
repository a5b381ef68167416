#include "tools/load/load_generator.h"

#include <QtTest>
#include <thread>

#include "tools/load/http_url.h"
#include "tools/load/load_report.h"
#include "tools/load/open_loop_schedule.h"
#include "unit/tools/load_run.h"
#include "unit/tools/test_http_server.h"

using namespace std::chrono_literals;
using meshdeck::tools::HttpUrl;
using meshdeck::tools::LoadGenerator;
using meshdeck::tools::LoadOptions;
using meshdeck::tools::LoadResult;
using meshdeck::tools::OpenLoopSchedule;
using meshdeck::tools::TransportError;
using meshdeck::tools::testing::checkAccounting;
using meshdeck::tools::testing::optionsFor;
using meshdeck::tools::testing::runLoad;
using meshdeck::tools::testing::TestHttpServer;

class LoadGeneratorTest : public QObject {
  Q_OBJECT
 private slots:
  void scheduleIsAFixedTimetable() {
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    const OpenLoopSchedule s(t0, 1000, 1s);
    QCOMPARE(s.total(), uint64_t{1000});
    QVERIFY(s.at(0) == t0);
    QVERIFY(s.at(1) == t0 + 1ms);
    QVERIFY(s.at(999) == t0 + 999ms);
    QCOMPARE(s.dueBy(t0 - 1ns), uint64_t{0});
    QCOMPARE(s.dueBy(t0), uint64_t{1});
    QCOMPARE(s.dueBy(t0 + 1ms - 1ns), uint64_t{1});
    QCOMPARE(s.dueBy(t0 + 1ms), uint64_t{2});
    // A worker that wakes up late owes every request whose time has passed: none is skipped.
    QCOMPARE(s.dueBy(t0 + 250ms + 500us), uint64_t{251});
    QCOMPARE(s.dueBy(t0 + 1h), uint64_t{1000});
  }

  void scheduleWithFractionalRate() {
    const auto t0 = std::chrono::steady_clock::time_point{};
    const OpenLoopSchedule s(t0, 3, 1s);  // 0, 333.3 ms, 666.7 ms
    QCOMPARE(s.total(), uint64_t{3});
    QVERIFY(s.at(1) == t0 + 333'333'333ns);
    QCOMPARE(s.dueBy(t0 + 333'333'332ns), uint64_t{1});
    QCOMPARE(s.dueBy(t0 + 333'333'333ns), uint64_t{2});
    const OpenLoopSchedule tiny(t0, 0.5, 1s);  // one request at 0, the next would be at 2 s
    QCOMPARE(tiny.total(), uint64_t{1});
  }

  void workersInterleaveIntoTheGlobalTimetable() {
    const auto t0 = std::chrono::steady_clock::time_point{} + 5s;
    const OpenLoopSchedule global(t0, 777, 2s);
    std::vector<std::chrono::steady_clock::time_point> merged;
    uint64_t total = 0;
    for (int w = 0; w < 3; ++w) {
      const OpenLoopSchedule part(t0, 777, 2s, w, 3);
      total += part.total();
      for (uint64_t k = 0; k < part.total(); ++k) merged.push_back(part.at(k));
      // dueBy agrees with at() at every boundary.
      for (uint64_t k = 0; k < part.total(); k += 37) {
        QCOMPARE(part.dueBy(part.at(k)), k + 1);
        QCOMPARE(part.dueBy(part.at(k) - 1ns), k);
      }
    }
    QCOMPARE(total, global.total());
    std::sort(merged.begin(), merged.end());
    for (uint64_t j = 0; j < global.total(); ++j) QVERIFY(merged[j] == global.at(j));
  }

  void requestBytesOriginAndAbsoluteForm() {
    auto o = optionsFor("http://backend.test:8080/items?id=7");
    o.method = "POST";
    o.headers = {{"x-tenant", "blue"}};
    o.body_size = 5;
    const auto direct = meshdeck::tools::buildRequestBytes(o);
    QVERIFY(direct.starts_with("POST /items?id=7 HTTP/1.1\r\n"));
    QVERIFY(direct.find("Host: backend.test:8080\r\n") != std::string::npos);
    QVERIFY(direct.find("x-tenant: blue\r\n") != std::string::npos);
    QVERIFY(direct.find("Content-Length: 5\r\n") != std::string::npos);
    QVERIFY(direct.ends_with("\r\n\r\nxxxxx"));
    std::string error;
    o.proxy = *meshdeck::tools::parseHttpUrl("http://127.0.0.1:15001", &error);
    const auto proxied = meshdeck::tools::buildRequestBytes(o);
    QVERIFY(proxied.starts_with("POST http://backend.test:8080/items?id=7 HTTP/1.1\r\n"));
  }

  void parsesUrls() {
    std::string error;
    auto u = meshdeck::tools::parseHttpUrl("http://127.0.0.1:8000", &error);
    QVERIFY(u);
    QCOMPARE(u->host, std::string("127.0.0.1"));
    QCOMPARE(u->port, uint16_t{8000});
    QCOMPARE(u->target, std::string("/"));
    u = meshdeck::tools::parseHttpUrl("http://[::1]:9/a", &error);
    QVERIFY(u);
    QCOMPARE(u->host, std::string("::1"));
    QCOMPARE(u->authority, std::string("[::1]:9"));
    QVERIFY(!meshdeck::tools::parseHttpUrl("https://x/", &error));
    QVERIFY(error.find("only http") != std::string::npos);
    QVERIFY(!meshdeck::tools::parseHttpUrl("http://x:99999/", &error));
    QVERIFY(!meshdeck::tools::parseHttpUrl("not a url", &error));
    QVERIFY(!meshdeck::tools::parseHttpUrl("http://u:p@x/", &error));
    QVERIFY(meshdeck::tools::parseHostPort("127.0.0.1:0", &error));
    QVERIFY(!meshdeck::tools::parseHostPort("127.0.0.1", &error));
    QVERIFY(!meshdeck::tools::parseHostPort("127.0.0.1:x", &error));
  }

  void rejectsBadOptions() {
    auto o = optionsFor("http://127.0.0.1:1/");
    QVERIFY(meshdeck::tools::validateLoadOptions(o).empty());
    o.workers = 20;
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
    o = optionsFor("http://127.0.0.1:1/");
    o.rate = 0;
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
    o.closed_loop = true;
    QVERIFY(meshdeck::tools::validateLoadOptions(o).empty());
    o.headers = {{"bad name", "v"}};
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
    o.headers = {{"x", "a\r\nInjected: 1"}};
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
    o.headers = {};
    o.method = "FETCH IT";
    QVERIFY(!meshdeck::tools::validateLoadOptions(o).empty());
  }

  void openLoopSendsTheScheduledCount() {
    TestHttpServer server([](uint64_t) { return TestHttpServer::Action{}; });
    auto o = optionsFor(server.url());
    o.rate = 400;
    o.duration = 500ms;
    o.connections = 4;
    o.workers = 2;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.scheduled, uint64_t{200});
    QCOMPARE(r.stats.completed, uint64_t{200});
    QCOMPARE(r.stats.status_classes[2], uint64_t{200});
    QCOMPARE(r.stats.errorTotal(), uint64_t{0});
    QCOMPARE(server.requests(), uint64_t{200});
    QCOMPARE(server.connections(), uint64_t{4});  // opened before the clock and kept alive
    QVERIFY(qAbs(r.achievedRate() - 400.0) < 1.0);
  }

  // The heart of the tool: while the server stalls, requests keep falling due and each is
  // timed from when it was due. A generator that timed from the actual send would see one
  // slow request; this one must see every request scheduled during the stall.
  void latencyIsMeasuredFromTheScheduledTime() {
    constexpr uint64_t kStalled = 40;  // at 200 req/s: the request due at 200 ms
    TestHttpServer server([](uint64_t i) {
      TestHttpServer::Action a;
      if (i == kStalled) a.delay = 200ms;
      return a;
    });
    auto o = optionsFor(server.url());
    o.rate = 200;
    o.duration = 1s;
    o.connections = 1;
    const auto r = runLoad(o);
    checkAccounting(r);
    QCOMPARE(r.stats.completed, uint64_t{200});
    const auto& h = r.stats.latency;
    // Requests due in [200 ms, 400 ms] waited for the stall to end: ~40 of them, with
    // latencies from ~200 ms down to ~0. At least 25 waited over 50 ms.
    uint64_t over_50ms = 0;
    for (int b = 0; b < meshdeck::common::LatencyHistogram::kBucketCount; ++b)
      if (meshdeck::common::LatencyHistogram::bucketLower(b) >= 50'000'000)
        over_50ms += h.bucketCount(b);
    QVERIFY2(over_50ms >= 25, qPrintable(QString("only %1 requests over 50 ms").arg(over_50ms)));
    QVERIFY(h.max() >= 195'000'000);
    QVERIFY(h.percentile(99) >= 150'000'000);
    QVERIFY(h.percentile(90) >= 50'000'000);
  }

  void closedLoopKeepsEveryConnectionBusy() {
    TestHttpServer server([](uint64_t) { return TestHttpServer::Action{}; });
    auto o = optionsFor(server.url());
    o.closed_loop = true;
    o.duration = 300ms;
    o.connections = 3;
    const auto r = runLoad(o);
    checkAccounting(r);
    QVERIFY(r.stats.completed > 100);
    QCOMPARE(r.stats.completed, server.requests());
    QCOMPARE(r.stats.errorTotal(), uint64_t{0});
  }

  void countsErrorsByKind() {
    {  // 5xx responses are answers, and errors.
      TestHttpServer server([](uint64_t i) {
        TestHttpServer::Action a;
        a.status = i % 2 ? 503 : 200;
        return a;
      });
      auto o = optionsFor(server.url());
      o.rate = 100;
      o.duration = 200ms;
      o.connections = 1;
      const auto r = runLoad(o);
      checkAccounting(r);
      QCOMPARE(r.stats.completed, uint64_t{20});
      QCOMPARE(r.stats.status_classes[5], uint64_t{10});
      QCOMPARE(r.stats.errorTotal(), uint64_t{10});
    }
    {  // The server hangs up: reset, then the next request reconnects.
      TestHttpServer server([](uint64_t i) {
        TestHttpServer::Action a;
        if (i % 4 == 3) a.kind = TestHttpServer::Kind::kClose;
        return a;
      });
      auto o = optionsFor(server.url());
      o.rate = 100;
      o.duration = 200ms;
      o.connections = 1;
      const auto r = runLoad(o);
      checkAccounting(r);
      QCOMPARE(r.stats.transportErrors(TransportError::kReset), uint64_t{5});
      QCOMPARE(r.stats.completed, uint64_t{15});
      QCOMPARE(server.connections(), uint64_t{5});
    }
    {  // No answer within the budget: timeout, and the run still ends on time.
      TestHttpServer server([](uint64_t) {
        TestHttpServer::Action a;
        a.kind = TestHttpServer::Kind::kHang;
        return a;
      });
      auto o = optionsFor(server.url());
      o.rate = 50;
      o.duration = 200ms;
      o.connections = 2;
      o.timeout = 100ms;
      const auto start = std::chrono::steady_clock::now();
      const auto r = runLoad(o);
      QVERIFY(std::chrono::steady_clock::now() - start < 1500ms);
      checkAccounting(r);
      QCOMPARE(r.stats.scheduled, uint64_t{10});
      QCOMPARE(r.stats.transportErrors(TransportError::kTimeout), uint64_t{10});
      QCOMPARE(r.stats.completed, uint64_t{0});
    }
    {  // Nobody listening: connect errors, one per request.
      uint16_t port = 0;
      {
        TestHttpServer gone([](uint64_t) { return TestHttpServer::Action{}; });
        port = gone.port();
      }
      auto o = optionsFor("http://127.0.0.1:" + std::to_string(port) + "/");
      o.rate = 100;
      o.duration = 100ms;
      o.connections = 2;
      const auto r = runLoad(o);
      checkAccounting(r);
      QCOMPARE(r.stats.transportErrors(TransportError::kConnect), uint64_t{10});
      QCOMPARE(r.stats.sent, uint64_t{0});
    }
  }

  void sendsAbsoluteFormThroughAProxy() {
    TestHttpServer proxy([](uint64_t) { return TestHttpServer::Action{}; });
    auto o = optionsFor("http://catalog.mesh:9000/items");
    std::string error;
    o.proxy = *meshdeck::tools::parseHttpUrl(proxy.url(), &error);
    o.rate = 50;
    o.duration = 100ms;
    o.connections = 1;
    const auto r = runLoad(o);
    QCOMPARE(r.stats.completed, uint64_t{5});
    QCOMPARE(proxy.lastTarget(), std::string("http://catalog.mesh:9000/items"));
    QCOMPARE(proxy.lastHost(), std::string("catalog.mesh:9000"));
    const auto json = meshdeck::tools::formatLoadReportJson(o, r);
    QVERIFY(json.find("\"proxy\":\"http://127.0.0.1:") != std::string::npos);
  }

  void stopEndsTheRunWithWhatItHas() {
    TestHttpServer server([](uint64_t i) {
      TestHttpServer::Action a;
      if (i >= 20) a.kind = TestHttpServer::Kind::kHang;  // in flight when stopped
      return a;
    });
    auto o = optionsFor(server.url());
    o.rate = 100;
    o.duration = 30s;
    o.connections = 2;
    o.timeout = 20s;
    LoadGenerator generator(o);
    std::thread stopper([&generator] {
      std::this_thread::sleep_for(400ms);
      generator.stop();
    });
    const auto start = std::chrono::steady_clock::now();
    std::string error;
    const auto r = generator.run(&error);
    stopper.join();
    QVERIFY(r);
    QVERIFY(std::chrono::steady_clock::now() - start < 2s);
    QVERIFY(r->interrupted);
    checkAccounting(*r);
    QCOMPARE(r->stats.completed, uint64_t{20});
    QVERIFY(r->stats.unfinished >= 2);
    QVERIFY(r->elapsed >= 300ms && r->elapsed <= 1s);
    const auto text = meshdeck::tools::formatLoadReportText(o, *r);
    QVERIFY(text.find("(interrupted)") != std::string::npos);
    QVERIFY(text.find("unfinished") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(LoadGeneratorTest)
#include "load_generator_test.moc"
