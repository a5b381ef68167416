#include "proxy/policy/router.h"

#include <QtTest>
#include <random>

#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
#include "unit/proxy/compile_yaml.h"

using namespace meshdeck::proxy;
namespace http = boost::beast::http;

namespace {

const char* kYaml = R"(
listeners:
  - name: outbound
    address: {host: 127.0.0.1, port: 15001}
    direction: OUTBOUND
    route_table: outbound
route_tables:
  - name: outbound
    virtual_hosts:
      - name: reviews
        domains: [reviews]
        routes:
          - name: reviews-api
            match: {path_regex: "/api/v[0-9]+/.*", methods: [GET]}
            destinations: [{cluster: "reviews|v1", weight: 90}, {cluster: "reviews|v2", weight: 10}]
          - name: reviews-debug
            match:
              path_prefix: /
              headers: [{name: X-Debug, exact: "1"}]
            destinations: [{cluster: "reviews|v2"}]
          - name: reviews-exact
            match: {path_exact: /health}
            destinations: [{cluster: "reviews|v1"}]
      - name: any
        domains: ["*"]
        routes:
          - name: fallback
            destinations: [{cluster: "reviews|v1"}]
      - name: ratings
        domains: ["ratings:*", "*.example.com"]
        routes:
          - name: ratings
            destinations: [{cluster: "reviews|v1"}]
clusters:
  - name: "reviews|v1"
    endpoints: [{address: {port: 9001}}]
  - name: "reviews|v2"
    endpoints: [{address: {port: 9002}}]
)";

ConfigPtr compile(const char* yaml) { return meshdeck::proxy::test::compileYaml(yaml); }

}  // namespace

class RouterTest : public QObject {
  Q_OBJECT

 private slots:
  void domainRules() {
    QVERIFY(domainMatches("reviews", "reviews"));
    QVERIFY(domainMatches("reviews", "reviews:9080"));  // a domain without port takes any port
    QVERIFY(!domainMatches("reviews", "reviews2"));
    QVERIFY(!domainMatches("reviews:9080", "reviews:9081"));
    QVERIFY(domainMatches("reviews:*", "reviews:1"));
    QVERIFY(domainMatches("*.example.com", "a.example.com:80"));
    QVERIFY(!domainMatches("*.example.com", "example.com"));
    QVERIFY(domainMatches("*", "anything"));
  }

  void virtualHostPrefersSpecificDomains() {
    auto config = compile(kYaml);
    const auto& table = config->route_tables.at("outbound");
    QCOMPARE(matchVirtualHost(table, "reviews:9080")->name, std::string("reviews"));
    QCOMPARE(matchVirtualHost(table, "ratings:1234")->name, std::string("ratings"));
    QCOMPARE(matchVirtualHost(table, "x.example.com")->name, std::string("ratings"));
    QCOMPARE(matchVirtualHost(table, "details")->name, std::string("any"));
  }

  void routeMatchesPathMethodHeaders() {
    auto config = compile(kYaml);
    const auto& host = config->route_tables.at("outbound").virtual_hosts[0];
    Fields none;
    Fields debug;
    debug.set("x-debug", "1");
    QCOMPARE(matchRoute(host, "GET", "/api/v2/books", none)->name, std::string("reviews-api"));
    QVERIFY(matchRoute(host, "POST", "/api/v2/books", none) == nullptr ||
            matchRoute(host, "POST", "/api/v2/books", none)->name != "reviews-api");
    QCOMPARE(matchRoute(host, "POST", "/api/v2/books", debug)->name, std::string("reviews-debug"));
    QCOMPARE(matchRoute(host, "GET", "/health", none)->name, std::string("reviews-exact"));
    QVERIFY(matchRoute(host, "GET", "/healthz", none) == nullptr);
    QVERIFY(matchRoute(host, "GET", "/api/vx/books", none) == nullptr);
  }

  void weightedDestinationsFollowWeights() {
    auto config = compile(kYaml);
    const auto& route = config->route_tables.at("outbound").virtual_hosts[0].routes[0];
    std::mt19937_64 rng(5);
    int v2 = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) v2 += pickDestination(route, rng()).cluster == "reviews|v2";
    QVERIFY2(std::abs(v2 - n / 10) < n / 100, qPrintable(QString::number(v2)));
  }

  void percentSelection() {
    std::mt19937_64 rng(9);
    int hits = 0;
    for (int i = 0; i < 100000; ++i) hits += selectPercent(25.0, rng());
    QVERIFY(hits > 24000 && hits < 26000);
    QVERIFY(!selectPercent(0, 123));
    QVERIFY(selectPercent(100, 123));
  }
};

QTEST_APPLESS_MAIN(RouterTest)
#include "router_test.moc"
