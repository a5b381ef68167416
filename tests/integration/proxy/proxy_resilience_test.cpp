#include <signal.h>

#include <QFile>
#include <QtTest>
#include <atomic>
#include <thread>

#include "proxy_process.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;

namespace {

void writeFile(const QString& path, const QString& text) {
  QFile f(path + ".tmp");
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(text.toUtf8());
  f.close();
  QFile::remove(path);
  QVERIFY(QFile::rename(path + ".tmp", path));
}

QString canaryConfig(uint16_t v1, uint16_t v2, int w1, int w2) {
  return QString(R"(listeners:
  - name: edge
    address: {host: 127.0.0.1, port: 0}
    route_table: main
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: split
            destinations: [{cluster: v1, weight: %3}, {cluster: v2, weight: %4}]
clusters:
  - {name: v1, endpoints: [{address: {port: %1}}]}
  - {name: v2, endpoints: [{address: {port: %2}}]}
)")
      .arg(v1)
      .arg(v2)
      .arg(w1)
      .arg(w2);
}

}  // namespace

// Retries, outlier ejection, canary weights, live reload and drain against real processes.
class ProxyResilienceTest : public QObject {
  Q_OBJECT

 private slots:
  void retriesAndEjectsAFlakyEndpoint() {
    TestBackend good("good"), flaky("flaky");
    flaky.always_fail = true;
    ProxyProcess p;
    writeFile(p.dir() + "/r.yaml", QString(R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: all
            destinations: [{cluster: app}]
            retry: {attempts: 2, retry_on: [5xx], base_interval: 1ms, max_interval: 5ms}
clusters:
  - name: app
    lb_policy: ROUND_ROBIN
    endpoints: [{address: {port: %1}}, {address: {port: %2}}]
    outlier_detection: {consecutive_errors: 3, base_ejection_time: 30s, max_ejection_percent: 50}
)")
                                       .arg(good.port())
                                       .arg(flaky.port()));
    QVERIFY(p.start({"--config", p.dir() + "/r.yaml", "--workers", "1"}));
    Client c(p.port("edge"));
    for (int i = 0; i < 40; ++i) {
      auto r = c.request("GET", "/name");
      QCOMPARE(r.status, 200);
      QCOMPARE(r.body, std::string("good"));
    }
    // The flaky endpoint failed three times in a row and was ejected: it saw no more traffic.
    QCOMPARE(flaky.requests.load(), uint64_t{3});
    QCOMPARE(p.stat("meshdeck_cluster_events_total{cluster=\"app\",event=\"outlier_ejection\"}"),
             1.0);
    QCOMPARE(p.stat("meshdeck_cluster_events_total{cluster=\"app\",event=\"retry\"}"), 3.0);
  }

  void canaryWeightsHold() {
    TestBackend v1("v1"), v2("v2");
    ProxyProcess p;
    writeFile(p.dir() + "/c.yaml", canaryConfig(v1.port(), v2.port(), 80, 20));
    QVERIFY(p.start({"--config", p.dir() + "/c.yaml", "--workers", "2"}));
    Client c(p.port("edge"));
    const int n = 2000;
    int to_v2 = 0;
    for (int i = 0; i < n; ++i) {
      auto r = c.request("GET", "/name");
      QCOMPARE(r.status, 200);
      to_v2 += r.body == "v2";
    }
    // 20 % of 2000 is 400, standard deviation ~18: allow four of them.
    QVERIFY2(std::abs(to_v2 - 400) < 72, qPrintable(QString::number(to_v2)));
  }

  void reloadsUnderLoadWithoutFailures() {
    TestBackend v1("v1"), v2("v2");
    ProxyProcess p;
    const QString file = p.dir() + "/live.yaml";
    writeFile(file, canaryConfig(v1.port(), v2.port(), 100, 0));
    QVERIFY(p.start({"--config", file, "--workers", "2"}));
    const uint16_t port = p.port("edge");
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0}, from_v2{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t)
      clients.emplace_back([&] {
        auto c = std::make_unique<Client>(port);
        for (int i = 0; i < 100000 && !stop; ++i) {
          if (!c->open()) c = std::make_unique<Client>(port);
          auto r = c->request("GET", "/name");
          if (r.status == 200) {
            ++ok;
            from_v2 += r.body == "v2";
          } else {
            ++failed;
          }
        }
      });
    for (int round = 0; round < 6; ++round) {
      QThread::msleep(150);
      writeFile(file, canaryConfig(v1.port(), v2.port(), round % 2 ? 100 : 0, round % 2 ? 0 : 100));
      p.signal(SIGHUP);
    }
    // A broken file is refused and the running config stays.
    QThread::msleep(150);
    writeFile(file, "listeners: [{name: edge, adress: {}}]\n");
    p.signal(SIGHUP);
    // Traffic keeps flowing until the refusal is logged (on a loaded machine the proxy may take
    // a while to get to the signal; pending SIGHUPs merge, the file read is the last one).
    const bool refused = QTest::qWaitFor([&] { return p.output().contains("reload of"); }, 10000);
    stop = true;
    for (auto& t : clients) t.join();
    QCOMPARE(failed.load(), 0);
    QVERIFY(ok.load() > 200);
    QVERIFY(from_v2.load() > 0);
    QVERIFY2(refused, qPrintable(p.output()));
    QVERIFY(p.admin("/config").find("\"weight\": 100") != std::string::npos);
    QCOMPARE(Client(port).request("GET", "/name").status, 200);
  }

  void keptAliveConnectionFollowsAReload() {
    // A connection waiting for its next request while the config changes must route that
    // request by the new config, not by the one in force when it started waiting.
    TestBackend v1("v1"), v2("v2");
    ProxyProcess p;
    const QString file = p.dir() + "/live.yaml";
    writeFile(file, canaryConfig(v1.port(), v2.port(), 100, 0));
    QVERIFY(p.start({"--config", file, "--workers", "1"}));
    Client c(p.port("edge"));
    auto first = c.request("GET", "/name");
    QCOMPARE(first.status, 200);
    QCOMPARE(first.body, std::string("v1"));
    writeFile(file, canaryConfig(v1.port(), v2.port(), 0, 100));
    p.signal(SIGHUP);
    QVERIFY(QTest::qWaitFor([&] { return p.output().contains("reloaded"); }, 5000));
    QTest::qWait(100);  // the workers take the new config from their own event loops
    auto second = c.request("GET", "/name");  // same connection
    QCOMPARE(second.status, 200);
    QCOMPARE(second.body, std::string("v2"));
    QVERIFY(c.open());
  }

  void featuresFromConfig() {
    TestBackend app("app"), shadow("shadow");
    ProxyProcess p;
    writeFile(p.dir() + "/f.yaml", QString(R"(listeners:
  - {name: edge, address: {port: 0}, route_table: main}
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: limited
            match: {path_prefix: /limited}
            rate_limit: {requests_per_second: 1, burst: 2}
            destinations: [{cluster: app}]
          - name: broken
            match: {path_prefix: /broken}
            fault: {abort_percent: 100, abort_status: 418}
            destinations: [{cluster: app}]
          - name: mirrored
            match: {path_prefix: /mirrored}
            mirror: {cluster: shadow, percent: 100}
            request_headers: {set: {x-added: yes}, remove: [x-drop]}
            response_headers: {set: {x-served-by: meshdeck}}
            destinations: [{cluster: app}]
          - name: guarded
            match: {headers: [{name: x-guarded}]}
            destinations: [{cluster: guarded}]
clusters:
  - {name: app, endpoints: [{address: {port: %1}}]}
  - {name: shadow, endpoints: [{address: {port: %2}}]}
  - name: guarded
    endpoints: [{address: {port: %1}}]
    circuit_breaker: {max_requests: 1}
)")
                                       .arg(app.port())
                                       .arg(shadow.port()));
    QVERIFY(p.start({"--config", p.dir() + "/f.yaml", "--workers", "1"}));
    Client c(p.port("edge"));
    QCOMPARE(c.request("GET", "/limited").status, 200);
    QCOMPARE(c.request("GET", "/limited").status, 200);
    auto limited = c.request("GET", "/limited");
    QCOMPARE(limited.status, 429);
    QCOMPARE(std::string(limited.headers["x-meshdeck-error"]), std::string("RL"));
    auto broken = c.request("GET", "/broken");
    QCOMPARE(broken.status, 418);
    QCOMPARE(std::string(broken.headers["x-meshdeck-error"]), std::string("FI"));
    auto mirrored = c.request("GET", "/mirrored", {{"x-drop", "1"}});
    QCOMPARE(mirrored.status, 200);
    const std::string seen = app.lastHeaders();
    QVERIFY2(seen.find("x-added: yes") != std::string::npos, seen.c_str());
    QVERIFY(seen.find("x-drop") == std::string::npos);
    QCOMPARE(std::string(mirrored.headers["x-served-by"]), std::string("meshdeck"));
    for (int i = 0; i < 50 && shadow.requests.load() == 0; ++i) QThread::msleep(10);
    QCOMPARE(shadow.requests.load(), uint64_t{1});
    // Circuit breaker: with one request in flight, a second one overflows.
    std::thread slow([&] {
      Client(p.port("edge")).request("GET", "/slow?ms=600", {{"x-guarded", "1"}});
    });
    QThread::msleep(200);
    auto overflow = c.request("GET", "/name", {{"x-guarded", "1"}});
    slow.join();
    QCOMPARE(overflow.status, 503);
    QCOMPARE(std::string(overflow.headers["x-meshdeck-error"]), std::string("UO"));
  }

  void badConfigIsRefusedAtStart() {
    ProxyProcess p;
    writeFile(p.dir() + "/bad.yaml", "listeners:\n  - name: a\n    direction: SIDEWAYS\n");
    QVERIFY(!p.start({"--config", p.dir() + "/bad.yaml"}));
    QCOMPARE(p.waitForExit(5000), 2);
    QVERIFY2(
        p.output().contains("bad.yaml:3:16: listeners[0].direction: unknown value \"SIDEWAYS\""),
        qPrintable(p.output()));
  }

  void sigtermDrainsInFlightRequests() {
    TestBackend app("app");
    ProxyProcess p;
    QVERIFY(
        p.start({"--listen", "127.0.0.1:0", "--upstream", QString("127.0.0.1:%1").arg(app.port()),
                 "--workers", "2", "--drain-timeout", "5"}));
    const uint16_t port = p.port("main");
    std::atomic<int> ok{0};
    std::vector<std::thread> inflight;
    for (int i = 0; i < 6; ++i)
      inflight.emplace_back([&] {
        if (Client(port).request("GET", "/slow?ms=700").status == 200) ++ok;
      });
    QThread::msleep(250);
    p.signal(SIGTERM);
    QThread::msleep(100);
    QVERIFY(p.admin("/ready").empty() || p.admin("/ready") == "draining\n");
    for (auto& t : inflight) t.join();
    QCOMPARE(ok.load(), 6);
    QCOMPARE(p.waitForExit(5000), 0);
    QVERIFY(Client(port).request("GET", "/name").status == 0);  // nobody listens any more
  }
};

QTEST_GUILESS_MAIN(ProxyResilienceTest)
#include "proxy_resilience_test.moc"
