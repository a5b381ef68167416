#include <QtTest>

#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"
#include "support/hostile_yaml.h"

using namespace meshdeck::proxy;
using namespace std::chrono_literals;

namespace {
// The loader's errors as the proxy prints them, one per line.
bool parse(const std::string& yaml, meshdeck::v1::ProxyConfig* out, std::string* error) {
  std::vector<meshdeck::common::LocatedError> errors;
  const bool ok = parseProxyConfigYaml(yaml, "proxy.yaml", out, &errors);
  *error = meshdeck::common::toString(errors);
  return ok;
}
const char* kBase = R"(listeners:
  - name: inbound
    address: {port: 0}
    route_table: main
    header_timeout: 250ms
route_tables:
  - name: main
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: all
            destinations: [{cluster: app}]
            timeout: 1.5s
            retry: {attempts: 2, retry_on: [5xx, connect-failure], per_try_timeout: 100ms}
clusters:
  - name: app
    lb_policy: least_request
    protocol: grpc
    endpoints: [{address: {host: 127.0.0.1, port: 8080}}]
    outlier_detection: {consecutive_errors: 5, base_ejection_time: 30s}
)";
}  // namespace

class ConfigTest : public QObject {
  Q_OBJECT

 private slots:
  void yamlMapsOntoProtoWithDurations() {
    meshdeck::v1::ProxyConfig proto;
    std::string error;
    QVERIFY2(parse(kBase, &proto, &error), error.c_str());
    QCOMPARE(proto.listeners(0).header_timeout().nanos(), 250'000'000);
    const auto& route = proto.route_tables(0).virtual_hosts(0).routes(0);
    QCOMPARE(route.timeout().seconds(), int64_t{1});
    QCOMPARE(route.timeout().nanos(), 500'000'000);
    QCOMPARE(proto.clusters(0).lb_policy(), meshdeck::v1::Cluster::LEAST_REQUEST);
    auto config = compileConfig(proto, &error);
    QVERIFY2(config, error.c_str());
    QCOMPARE(config->listeners[0].header_timeout, std::chrono::nanoseconds(250ms));
    const auto& r = config->route_tables.at("main").virtual_hosts[0].routes[0];
    QCOMPARE(r.timeout, std::chrono::nanoseconds(1500ms));
    QCOMPARE(r.retry.attempts, 2u);
    QCOMPARE(r.retry.retry_on, uint32_t(kRetryOn5xx | kRetryOnConnectFailure));
    QCOMPARE(config->findCluster("app")->outlier.base_ejection_time, std::chrono::nanoseconds(30s));
    QCOMPARE(proto.clusters(0).protocol(), meshdeck::v1::Cluster::GRPC);
    QVERIFY(config->findCluster("app")->protocol == UpstreamProtocol::kGrpc);
    QVERIFY(config->findCluster("app")->http2());
    const std::string json = configJson(*config);
    QVERIFY(json.find("\"route_tables\"") != std::string::npos);
    QVERIFY(json.find("\"header_timeout\": \"0.250s\"") != std::string::npos);
  }

  void hopHttp2OnlyOverMutualTls() {
    // Cluster.hop_http2: HTTP/2 streams for an HTTP/1.1 cluster of sidecars over mutual TLS, but
    // an Upgrade keeps HTTP/1.1; without mutual TLS the field is ignored.
    meshdeck::v1::ProxyConfig proto;
    std::string error;
    QVERIFY2(parse(R"(clusters:
  - name: mesh
    hop_http2: true
    tls: {mode: MUTUAL_TLS}
    endpoints: [{address: {host: 127.0.0.1, port: 8080}}]
  - name: plain
    hop_http2: true
    endpoints: [{address: {host: 127.0.0.1, port: 8081}}]
)",
                   &proto, &error),
             error.c_str());
    auto config = compileConfig(proto, &error);
    QVERIFY2(config, error.c_str());
    const auto* mesh = config->findCluster("mesh");
    QVERIFY(mesh->hop_http2);
    QVERIFY(!mesh->http2());
    QVERIFY(mesh->streamsRequest(false));
    QVERIFY(!mesh->streamsRequest(true));
    const auto* plain = config->findCluster("plain");
    QVERIFY(!plain->hop_http2);
    QVERIFY(!plain->streamsRequest(false));
  }

  void authorizationRulesCarryTheirId() {
    meshdeck::v1::ProxyConfig proto;
    std::string error;
    QVERIFY2(parse(std::string(kBase) + R"(security:
  authorization:
    - {name: no-delete, policy: no-delete, rule: "rules[0]", action: DENY, methods: [DELETE],
       dry_run: true}
    - {name: local, action: ALLOW, paths: ["/api*"]}
)",
                   &proto, &error),
             error.c_str());
    auto config = compileConfig(proto, &error);
    QVERIFY2(config, error.c_str());
    const auto& rules = config->security.authorization;
    QCOMPARE(rules.size(), size_t{2});
    QCOMPARE(rules[0].policy, std::string("no-delete"));
    QCOMPARE(rules[0].rule, std::string("rules[0]"));
    QVERIFY(rules[0].deny);
    QVERIFY(rules[0].dry_run);
    // Without an id from the control plane the rule's name and index stand for it.
    QCOMPARE(rules[1].policy, std::string("local"));
    QCOMPARE(rules[1].rule, std::string("1"));
    QVERIFY(!rules[1].deny);
    // Each rule's dense slot is its index; the default decision has the last one.
    const auto& slot_ids = config->security.authorization_slots;
    QVERIFY(slot_ids);
    QCOMPARE(slot_ids->size(), size_t{3});
    QCOMPARE((*slot_ids)[0].policy, std::string("no-delete"));
    QVERIFY((*slot_ids)[0].dry_run);
    QVERIFY((*slot_ids)[0].action == AuthzAction::kDeny);
    QCOMPARE((*slot_ids)[1].policy, std::string("local"));
    QVERIFY((*slot_ids)[1].action == AuthzAction::kAllow);
    QCOMPARE((*slot_ids)[2].rule, std::string("default"));
    QVERIFY((*slot_ids)[2].action == AuthzAction::kDefault);
  }

  // The "billion laughs" config file is refused by the YAML reader's limits before any walk.
  void refusesAliasBomb() {
    const auto file = meshdeck::testing::hostileYamlFile("billion-laughs.yaml");
    meshdeck::v1::ProxyConfig proto;
    std::vector<meshdeck::common::LocatedError> errors;
    QVERIFY(!loadProxyConfigFile(file, &proto, &errors));
    QCOMPARE(errors.size(), size_t(1));
    QCOMPARE(QString::fromStdString(errors[0].toString()),
             QString::fromStdString(file.string() + meshdeck::testing::kBillionLaughsRefusal));
    std::string error;
    QVERIFY(!parse(meshdeck::testing::billionLaughs(), &proto, &error));
    QCOMPARE(QString::fromStdString(error),
             QString("proxy.yaml") + meshdeck::testing::kBillionLaughsRefusal);
  }

  void yamlErrorsNameLineColumnAndField() {
    struct Case {
      std::string yaml;
      std::string expected;
    };
    const std::vector<Case> cases = {
        {"listeners:\n  - name: a\n    adress: {port: 1}\n",
         "proxy.yaml:3:5: listeners[0].adress: unknown field"},
        {"clusters:\n  - name: c\n    lb_policy: ROUND\n",
         "proxy.yaml:3:16: clusters[0].lb_policy: unknown value \"ROUND\""},
        {"clusters:\n  - name: c\n    protocol: h3\n",
         "proxy.yaml:3:15: clusters[0].protocol: unknown value \"h3\" (expected "
         "PROTOCOL_UNSPECIFIED, HTTP1, HTTP2, GRPC)"},
        {"listeners:\n  - header_timeout: 10 seconds\n",
         "proxy.yaml:2:21: listeners[0].header_timeout: \"10 seconds\" is not a duration"},

        {"route_tables:\n  - virtual_hosts:\n      - routes:\n          - match: {path_exact: /a, "
         "path_prefix: /b}\n",
         "route_tables[0].virtual_hosts[0].routes[0].match.path_prefix: only one of"},
        {"listeners: {name: a}\n", "proxy.yaml:1:12: listeners: expected a list"},
        {"listeners: [\n", "proxy.yaml:"},
    };
    for (const auto& c : cases) {
      meshdeck::v1::ProxyConfig proto;
      proto.add_listeners()->set_name("untouched");
      std::string error;
      QVERIFY2(!parse(c.yaml, &proto, &error), c.yaml.c_str());
      QVERIFY2(error.find(c.expected) != std::string::npos, error.c_str());
      QCOMPARE(proto.listeners(0).name(), std::string("untouched"));
    }
    // A problem with the document itself names no field.
    meshdeck::v1::ProxyConfig proto;
    std::string error;
    QVERIFY(!parse("[1, 2]\n", &proto, &error));
    QCOMPARE(error, std::string("proxy.yaml:1:1: expected a mapping (ProxyConfig)"));
  }

  void compilerRefusesInconsistentConfigs() {
    struct Case {
      std::string yaml;
      std::string expected;
    };
    const std::vector<Case> cases = {
        {"listeners: [{name: a, route_table: nope}]\n",
         "listeners[0].route_table: unknown route table \"nope\""},
        {"route_tables: [{name: t, virtual_hosts: [{domains: ['*'], routes: [{destinations: "
         "[{cluster: x}]}]}]}]\n",
         "route_tables[0].virtual_hosts[0].routes[0].destinations[0].cluster: unknown cluster "
         "\"x\""},
        {"clusters: [{name: c, endpoints: [{address: {port: 1}}]}]\n"
         "route_tables: [{name: t, virtual_hosts: [{domains: ['*'], routes: [{match: {path_regex: "
         "'(('}, destinations: [{cluster: c}]}]}]}]\n",
         "routes[0].match.path_regex: invalid regular expression"},
        {"clusters: [{name: c, endpoints: [{address: {host: example.com, port: 1}}]}]\n",
         "clusters[0].endpoints[0].address.host: \"example.com\" is not an IP address"},
        {"clusters: [{name: c, endpoints: [{address: {port: 70000}}]}]\n",
         "clusters[0].endpoints[0].address.port: must be 1..65535"},
        {"clusters: [{name: c}, {name: c}]\n", "clusters[1].name: duplicate cluster \"c\""},
        {"clusters: [{name: c, lb_policy: RING_HASH}]\n",
         "clusters[0].hash_header: required by RING_HASH"},
        {"clusters: [{name: c}]\nroute_tables: [{name: t, virtual_hosts: [{domains: ['*'], routes: "
         "[{destinations: [{cluster: c}], "
         "retry: {attempts: 1, retry_on: [sometimes]}, fault: {abort_percent: 150}}]}]}]\n",
         "retry.retry_on[0]: unknown condition \"sometimes\""},
    };
    for (const auto& c : cases) {
      // The loader runs the compiler's checks and locates their errors in the file.
      meshdeck::v1::ProxyConfig proto;
      std::string error;
      QVERIFY2(!parse(c.yaml, &proto, &error), c.yaml.c_str());
      QVERIFY2(error.find(c.expected) != std::string::npos, error.c_str());
      QVERIFY2(error.rfind("proxy.yaml:", 0) == 0, error.c_str());
      // The compiler alone refuses the same config when it arrives as a proto (a push).
    }
  }

  void compilerErrorsPointAtTheLine() {
    const std::string yaml =
        "clusters:\n  - name: c\n    endpoints: [{address: {port: 1}}]\n"
        "route_tables:\n  - name: t\n    virtual_hosts:\n      - domains: ['*']\n"
        "        routes:\n          - destinations: [{cluster: nope}]\n";
    meshdeck::v1::ProxyConfig proto;
    std::string error;
    QVERIFY(!parse(yaml, &proto, &error));
    QVERIFY2(error.find("proxy.yaml:9:29: route_tables[0].virtual_hosts[0].routes[0]"
                        ".destinations[0].cluster: unknown cluster \"nope\"") != std::string::npos,
             error.c_str());
    // The same error, structured: each compiler problem is one located error.
    std::vector<meshdeck::common::LocatedError> errors;
    QVERIFY(!parseProxyConfigYaml(yaml, "proxy.yaml", &proto, &errors));
    QCOMPARE(errors.size(), size_t(1));
    QCOMPARE(errors[0], (meshdeck::common::LocatedError{
                            "proxy.yaml", 9, 29,
                            "route_tables[0].virtual_hosts[0].routes[0].destinations[0].cluster",
                            "unknown cluster \"nope\""}));
    // A proto with the same problem (as pushed by a control plane) is refused by the compiler.
    meshdeck::v1::ProxyConfig pushed;
    auto* route = pushed.add_route_tables()->add_virtual_hosts()->add_routes();
    route->add_destinations()->set_cluster("nope");
    QVERIFY(compileConfig(pushed, &error) == nullptr);
    QVERIFY2(error.find("unknown cluster \"nope\"") != std::string::npos, error.c_str());
    // Its text (the NACK detail) has no location: "path: message" per line.
    QVERIFY2(error.rfind("route_tables[0].", 0) == 0, error.c_str());
  }

  void standaloneConfigRoutesEverythingRoundRobin() {
    meshdeck::v1::ProxyConfig proto;
    std::string error;
    QVERIFY(standaloneConfig("127.0.0.1:0", {"127.0.0.1:8080", "127.0.0.1:8081"}, &proto, &error));
    auto config = compileConfig(proto, &error);
    QVERIFY2(config, error.c_str());
    QCOMPARE(config->findCluster("upstream")->endpoints.size(), size_t{2});
    QVERIFY(!standaloneConfig("nonsense", {"127.0.0.1:1"}, &proto, &error));
    QVERIFY(!standaloneConfig("127.0.0.1:0", {"127.0.0.1:99999"}, &proto, &error));
    QVERIFY(!standaloneConfig("127.0.0.1:0", {}, &proto, &error));
  }
};

QTEST_APPLESS_MAIN(ConfigTest)
#include "config_test.moc"
