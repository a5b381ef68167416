#include "controlplane/compiler/config_compiler.h"

#include <QtTest>

#include "controlplane/policy/policy_parser.h"

using namespace meshdeck::cp;
using meshdeck::common::LocatedError;
namespace v1 = meshdeck::v1;

namespace {

ProxyNode node(const std::string& id, const std::string& svc, const std::string& ver,
               uint32_t port) {
  ProxyNode n;
  n.proxy_id = id;
  n.service = svc;
  n.version = ver;
  n.inbound_port = port;
  n.app_port = port + 1;
  n.outbound_port = port + 2;
  return n;
}

std::shared_ptr<PolicySet> policies(const std::string& yaml) {
  std::vector<LocatedError> errors;
  auto set = std::make_shared<PolicySet>();
  set->revision = 1;
  set->policies = parsePolicies(yaml, "t.yaml", &errors);
  if (!errors.empty()) qFatal("%s", errors[0].toString().c_str());
  return set;
}

const v1::Cluster* cluster(const v1::ProxyConfig& c, const std::string& name) {
  for (const auto& cl : c.clusters())
    if (cl.name() == name) return &cl;
  return nullptr;
}
const v1::VirtualHost* host(const v1::ProxyConfig& c, const std::string& name) {
  for (const auto& vh : c.route_tables(1).virtual_hosts())
    if (vh.name() == name) return &vh;
  return nullptr;
}

const char* kAll = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool: {maxRequests: 10, connectTimeout: 250ms}
    outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 10s}
  subsets:
  - {name: stable, labels: {version: v1}}
  - {name: canary, labels: {version: v2}}
---
apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: reviews}
spec:
  host: reviews
  http:
  - name: api
    match:
    - {uri: {prefix: /api}, methods: [GET]}
    - {headers: {x-user: {exact: tester}}}
    route: [{destination: {host: reviews, subset: canary}}]
    timeout: 1s
    retries: {attempts: 2, perTryTimeout: 300ms}
    headers: {request: {set: {x-route: api}}}
  - name: rest
    route:
    - {destination: {host: reviews, subset: stable}, weight: 75}
    - {destination: {host: reviews, subset: canary}, weight: 25}
    fault: {abort: {percentage: 10, httpStatus: 503}}
    mirror: {host: reviews, subset: canary, percentage: 5}
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: mesh}
spec: {mtls: {mode: STRICT}}
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: page}
spec: {selector: {service: productpage}, mtls: {mode: DISABLE}}
---
apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: readers}
spec:
  selector: {service: reviews}
  rules:
  - from: [{source: {services: [productpage]}}]
    to: [{operation: {methods: [GET], paths: ["/api*"]}}, {operation: {methods: [HEAD]}}]
---
apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: no-delete}
spec:
  action: DENY
  dryRun: true
  rules: [{to: [{operation: {methods: [DELETE]}}]}]
---
apiVersion: meshdeck.io/v1alpha1
kind: RateLimit
metadata: {name: reviews}
spec: {selector: {service: reviews}, requestsPerSecond: 20, burst: 5}
)";

}  // namespace

class ConfigCompilerTest : public QObject {
  Q_OBJECT

 private slots:
  void compilesListenersAndEndpointsWithoutPolicies() {
    MeshState state;
    state.proxies = {node("page-0", "productpage", "v1", 100), node("rev-1", "reviews", "v1", 200),
                     node("rev-2", "reviews", "v2", 300)};
    ConfigCompiler compiler(state);
    const auto c = compiler.compile(state.proxies[0]);
    QCOMPARE(c.listeners(0).direction(), v1::Listener::INBOUND);
    QCOMPARE(c.listeners(0).address().port(), 100u);
    QCOMPARE(c.listeners(0).route_table(), std::string("inbound"));
    QCOMPARE(c.listeners(1).direction(), v1::Listener::OUTBOUND);
    QCOMPARE(c.listeners(1).address().port(), 102u);
    QCOMPARE(c.route_tables(0).virtual_hosts(0).routes(0).destinations(0).cluster(),
             std::string("inbound|local"));
    QCOMPARE(cluster(c, "inbound|local")->endpoints(0).address().port(), 101u);
    // Default route to every version; clusters per service and per version.
    const auto* vh = host(c, "reviews");
    QCOMPARE(vh->domains(0), std::string("reviews"));
    QCOMPARE(vh->routes_size(), 1);
    QCOMPARE(vh->routes(0).destinations(0).cluster(), std::string("reviews"));
    QCOMPARE(cluster(c, "reviews")->endpoints_size(), 2);
    QCOMPARE(cluster(c, "reviews|v2")->endpoints(0).address().port(), 300u);
    QCOMPARE(cluster(c, "reviews|v2")->endpoints(0).version(), std::string("v2"));
    QCOMPARE(cluster(c, "reviews|v2")->service(), std::string("reviews"));
    QCOMPARE(cluster(c, "reviews|v2")->version(), std::string("v2"));
    QCOMPARE(c.workload().service(), std::string("productpage"));
    QCOMPARE(c.telemetry().interval().seconds(), 1);
    QCOMPARE(c.security().inbound_mode(), v1::PLAINTEXT);
    QVERIFY(!c.security().default_deny());
    // Same input, same version; a changed endpoint or own port, another version.
    const std::string v = compiler.version(state.proxies[0]);
    QCOMPARE(v.size(), size_t(16));
    QCOMPARE(ConfigCompiler(state).version(state.proxies[0]), v);
    QVERIFY(compiler.version(state.proxies[1]) != v);
    auto moved = state;
    moved.proxies[2].inbound_port = 301;
    QVERIFY(ConfigCompiler(moved).version(moved.proxies[0]) != v);
    moved = state;
    moved.proxies[0].app_port = 999;
    QVERIFY(ConfigCompiler(moved).version(moved.proxies[0]) != v);
    QCOMPARE(ConfigCompiler::contentHash(c),
             ConfigCompiler::contentHash(ConfigCompiler(state).compile(state.proxies[0])));
  }

  void compilesEveryPolicyKind() {
    MeshState state;
    state.proxies = {node("page-0", "productpage", "v1", 100), node("rev-1", "reviews", "v1", 200),
                     node("rev-2", "reviews", "v2", 300)};
    state.policies = policies(kAll);
    ConfigCompiler compiler(state);
    const auto page = compiler.compile(state.proxies[0]);
    const auto* vh = host(page, "reviews");
    // Two match conditions become two routes; then the weighted route; no default route since
    // "rest" matches everything.
    QCOMPARE(vh->routes_size(), 3);
    QCOMPARE(vh->routes(0).name(), std::string("api"));
    QCOMPARE(vh->routes(0).match().path_prefix(), std::string("/api"));
    QCOMPARE(vh->routes(0).match().methods(0), std::string("GET"));
    QCOMPARE(vh->routes(1).match().headers(0).exact(), std::string("tester"));
    QCOMPARE(vh->routes(0).destinations(0).cluster(), std::string("reviews|v2"));
    QCOMPARE(vh->routes(0).timeout().seconds(), 1);
    QCOMPARE(vh->routes(0).retry().attempts(), 2u);
    QCOMPARE(vh->routes(0).retry().per_try_timeout().nanos(), 300'000'000);
    QCOMPARE(vh->routes(0).request_headers().set().at("x-route"), std::string("api"));
    const auto& rest = vh->routes(2);
    QCOMPARE(rest.destinations(0).cluster(), std::string("reviews|v1"));
    QCOMPARE(rest.destinations(0).weight(), 75u);
    QCOMPARE(rest.destinations(1).weight(), 25u);
    QCOMPARE(rest.fault().abort_percent(), 10.0);
    QCOMPARE(rest.fault().abort_status(), 503u);
    QCOMPARE(rest.mirror().cluster(), std::string("reviews|v2"));
    QCOMPARE(rest.mirror().percent(), 5.0);
    // Destination policy on every reviews cluster; mTLS towards a STRICT service.
    const auto* v1c = cluster(page, "reviews|v1");
    QCOMPARE(v1c->lb_policy(), v1::Cluster::LEAST_REQUEST);
    QCOMPARE(v1c->circuit_breaker().max_requests(), 10u);
    QCOMPARE(v1c->connect_timeout().nanos(), 250'000'000);
    QCOMPARE(v1c->outlier_detection().consecutive_errors(), 3u);
    QCOMPARE(v1c->tls().mode(), v1::MUTUAL_TLS);
    QCOMPARE(v1c->tls().expected_identities(0),
             std::string("spiffe://meshdeck.local/ns/default/sa/reviews"));
    QCOMPARE(cluster(page, "productpage")->tls().mode(), v1::PLAINTEXT);  // DISABLE wins
    QCOMPARE(page.security().inbound_mode(), v1::PLAINTEXT);
    QCOMPARE(page.security().authorization_size(), 1);  // only the mesh-wide DENY
    QVERIFY(!page.security().default_deny());

    const auto rev = compiler.compile(state.proxies[1]);
    QCOMPARE(rev.security().inbound_mode(), v1::MUTUAL_TLS);
    QCOMPARE(rev.listeners(0).tls_mode(), v1::MUTUAL_TLS);
    const auto& authz = rev.security().authorization();
    QCOMPARE(authz.size(), 3);
    QCOMPARE(authz[0].action(), v1::AuthorizationRule::DENY);  // DENY first
    QVERIFY(authz[0].dry_run());
    QCOMPARE(authz[1].action(), v1::AuthorizationRule::ALLOW);
    QCOMPARE(authz[1].sources(0), std::string("spiffe://meshdeck.local/ns/default/sa/productpage"));
    QCOMPARE(authz[1].paths(0), std::string("/api*"));
    QCOMPARE(authz[2].methods(0), std::string("HEAD"));
    // Each rule carries its stable id: the policy and its place there.
    QCOMPARE(authz[0].policy(), std::string("no-delete"));
    QCOMPARE(authz[0].rule(), std::string("rules[0]"));
    QCOMPARE(authz[1].policy(), std::string("readers"));
    QCOMPARE(authz[1].rule(), std::string("rules[0].to[0]"));
    QCOMPARE(authz[2].rule(), std::string("rules[0].to[1]"));
    QVERIFY(rev.security().default_deny());
    const auto& inbound_vh = rev.route_tables(0).virtual_hosts(0);
    QCOMPARE(inbound_vh.rate_limit().requests_per_second(), 20.0);
    QCOMPARE(inbound_vh.rate_limit().burst(), 5u);
    QVERIFY(!page.route_tables(0).virtual_hosts(0).has_rate_limit());
  }

  void autoMtlsWithoutPeerAuthentication() {
    MeshState state;
    state.proxies = {node("page-0", "productpage", "v1", 100), node("rev-1", "reviews", "v1", 200),
                     node("rev-2", "reviews", "v2", 300), node("rat-1", "ratings", "v1", 400)};
    const std::string kPage = "spiffe://meshdeck.local/ns/default/sa/productpage";
    const std::string kReviews = "spiffe://meshdeck.local/ns/default/sa/reviews";
    state.proxies[0].spiffe_id = kPage;
    state.proxies[1].spiffe_id = kReviews;
    state.proxies[2].spiffe_id = kReviews;
    // ratings has no identity (its token was refused, say).
    ConfigCompiler compiler(state);
    const auto page = compiler.compile(state.proxies[0]);
    // Inbound: PERMISSIVE with an identity, PLAINTEXT without.
    QCOMPARE(page.security().inbound_mode(), v1::PERMISSIVE);
    QCOMPARE(page.listeners(0).tls_mode(), v1::PERMISSIVE);
    const auto ratings = compiler.compile(state.proxies[3]);
    QCOMPARE(ratings.security().inbound_mode(), v1::PLAINTEXT);
    QCOMPARE(ratings.listeners(0).tls_mode(), v1::PLAINTEXT);
    // Callers: mutual TLS to clusters whose every endpoint has an identity, expecting it.
    for (const char* name : {"reviews", "reviews|v1", "reviews|v2"}) {
      const auto* c = cluster(page, name);
      QVERIFY2(c, name);
      QCOMPARE(c->tls().mode(), v1::MUTUAL_TLS);
      QCOMPARE(c->tls().expected_identities_size(), 1);
      QCOMPARE(c->tls().expected_identities(0), kReviews);
    }
    QCOMPARE(cluster(page, "productpage")->tls().expected_identities(0), kPage);
    QCOMPARE(cluster(page, "ratings")->tls().mode(), v1::PLAINTEXT);
    QCOMPARE(cluster(page, "ratings")->tls().expected_identities_size(), 0);
    // The local cluster is always plaintext (to the application on loopback).
    QCOMPARE(cluster(page, "inbound|local")->tls().mode(), v1::PLAINTEXT);

    // One endpoint without an identity makes its clusters plaintext (it could not answer TLS).
    auto mixed = state;
    mixed.proxies[2].spiffe_id.clear();
    const auto m = ConfigCompiler(mixed).compile(mixed.proxies[0]);
    QCOMPARE(cluster(m, "reviews")->tls().mode(), v1::PLAINTEXT);
    QCOMPARE(cluster(m, "reviews|v2")->tls().mode(), v1::PLAINTEXT);
    QCOMPARE(cluster(m, "reviews|v1")->tls().mode(), v1::MUTUAL_TLS);
    // A service with no endpoint at all is plaintext too.
    mixed.services.insert("details");
    QCOMPARE(cluster(ConfigCompiler(mixed).compile(mixed.proxies[0]), "details")->tls().mode(),
             v1::PLAINTEXT);
    // Announcing an identity changes the config version (the push reaches the proxy).
    auto without = state;
    without.proxies[0].spiffe_id.clear();
    QVERIFY(ConfigCompiler(without).version(without.proxies[0]) !=
            compiler.version(state.proxies[0]));
  }

  void sourceEndpointsJoinTheirClusters() {
    // Kubernetes endpoints no connected proxy serves (docs/kubernetes-registry.md): endpoints
    // of their service's clusters, without an identity.
    MeshState state;
    state.proxies = {node("page-0", "productpage", "v1", 100), node("rev-1", "reviews", "v1", 200),
                     node("rev-2", "reviews", "v2", 300)};
    const std::string kReviews = "spiffe://meshdeck.local/ns/default/sa/reviews";
    state.proxies[0].spiffe_id = "spiffe://meshdeck.local/ns/default/sa/productpage";
    state.proxies[1].spiffe_id = kReviews;
    state.proxies[2].spiffe_id = kReviews;
    SourceEndpoint e;
    e.service = "reviews";
    e.version = "v1";
    e.host = "10.1.0.9";
    e.port = 15006;
    state.source_endpoints = {e};
    const auto page = ConfigCompiler(state).compile(state.proxies[0]);
    const auto* all = cluster(page, "reviews");
    QVERIFY(all);
    QCOMPARE(all->endpoints_size(), 3);
    bool found = false;
    for (const auto& ep : all->endpoints())
      found = found || (ep.address().host() == "10.1.0.9" && ep.address().port() == 15006 &&
                        ep.version() == "v1");
    QVERIFY(found);
    // No identity behind it: its clusters are plaintext; the other version's stay mutual TLS.
    QCOMPARE(all->tls().mode(), v1::PLAINTEXT);
    QCOMPARE(cluster(page, "reviews|v1")->tls().mode(), v1::PLAINTEXT);
    QCOMPARE(cluster(page, "reviews|v1")->endpoints_size(), 2);
    QCOMPARE(cluster(page, "reviews|v2")->tls().mode(), v1::MUTUAL_TLS);
    QCOMPARE(cluster(page, "reviews|v2")->endpoints_size(), 1);
    // A version only Kubernetes knows has its cluster too.
    e.version = "v3";
    e.host = "10.1.0.10";
    state.source_endpoints.push_back(e);
    const auto with_v3 = ConfigCompiler(state).compile(state.proxies[0]);
    QVERIFY(cluster(with_v3, "reviews|v3"));
    QCOMPARE(cluster(with_v3, "reviews|v3")->endpoints_size(), 1);
    QCOMPARE(cluster(with_v3, "reviews")->endpoints_size(), 4);
  }

  void peerAuthenticationOverridesAutoMtls() {
    MeshState state;
    state.proxies = {node("page-0", "productpage", "v1", 100), node("rev-1", "reviews", "v1", 200),
                     node("rat-1", "ratings", "v1", 400)};
    state.proxies[0].spiffe_id = "spiffe://meshdeck.local/ns/default/sa/productpage";
    state.proxies[1].spiffe_id = "spiffe://meshdeck.local/ns/default/sa/reviews";
    // Mesh-wide PERMISSIVE, reviews DISABLE, ratings (no identity) STRICT.
    state.policies = policies(R"(apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: mesh}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: reviews}
spec: {selector: {service: reviews}, mtls: {mode: DISABLE}}
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: ratings}
spec: {selector: {service: ratings}, mtls: {mode: STRICT}}
)");
    ConfigCompiler compiler(state);
    const auto page = compiler.compile(state.proxies[0]);
    QCOMPARE(page.security().inbound_mode(), v1::PERMISSIVE);
    // PERMISSIVE still follows auto-mTLS: productpage has an identity.
    QCOMPARE(cluster(page, "productpage")->tls().mode(), v1::MUTUAL_TLS);
    // DISABLE: plaintext both ways although reviews has an identity.
    QCOMPARE(cluster(page, "reviews")->tls().mode(), v1::PLAINTEXT);
    QCOMPARE(compiler.compile(state.proxies[1]).security().inbound_mode(), v1::PLAINTEXT);
    // STRICT: mutual TLS both ways even without an announced identity (the proxy refuses
    // plaintext, so callers must not send it), expecting the service's id.
    QCOMPARE(cluster(page, "ratings")->tls().mode(), v1::MUTUAL_TLS);
    QCOMPARE(cluster(page, "ratings")->tls().expected_identities(0),
             std::string("spiffe://meshdeck.local/ns/default/sa/ratings"));
    QCOMPARE(compiler.compile(state.proxies[2]).security().inbound_mode(), v1::MUTUAL_TLS);
  }

  void protocolFromDestinationPolicyAndSidecars() {
    MeshState state;
    auto pay1 = node("pay-1", "payments", "v1", 200);
    auto pay2 = node("pay-2", "payments", "v2", 300);
    pay1.app_protocol = pay2.app_protocol = "grpc";
    auto rec1 = node("rec-1", "recommendations", "v1", 400);
    auto rec2 = node("rec-2", "recommendations", "v2", 500);
    rec1.app_protocol = "http2";  // rec2 declares nothing: the sidecars disagree
    state.proxies = {node("page-0", "productpage", "v1", 100), pay1, pay2, rec1, rec2};
    state.policies = std::make_shared<PolicySet>();
    {
      ConfigCompiler compiler(state);
      const auto page = compiler.compile(state.proxies[0]);
      // Declared by every sidecar of payments: its clusters speak gRPC.
      QCOMPARE(cluster(page, "payments")->protocol(), v1::Cluster::GRPC);
      QCOMPARE(cluster(page, "productpage")->protocol(), v1::Cluster::PROTOCOL_UNSPECIFIED);
      // Disagreeing sidecars: the whole service stays HTTP/1.1, each version follows its own.
      QCOMPARE(cluster(page, "recommendations")->protocol(), v1::Cluster::PROTOCOL_UNSPECIFIED);
      QCOMPARE(cluster(page, "recommendations|v1")->protocol(), v1::Cluster::HTTP2);
      QCOMPARE(cluster(page, "recommendations|v2")->protocol(), v1::Cluster::PROTOCOL_UNSPECIFIED);
      // Towards its own application a proxy speaks what its sidecar declares.
      QCOMPARE(cluster(compiler.compile(pay1), "inbound|local")->protocol(), v1::Cluster::GRPC);
      QCOMPARE(cluster(compiler.compile(rec1), "inbound|local")->protocol(), v1::Cluster::HTTP2);
      QCOMPARE(cluster(compiler.compile(rec2), "inbound|local")->protocol(),
               v1::Cluster::PROTOCOL_UNSPECIFIED);
      QCOMPARE(cluster(page, "inbound|local")->protocol(), v1::Cluster::PROTOCOL_UNSPECIFIED);
    }
    // A DestinationPolicy's protocol wins, for every cluster of the host and the local hop.
    state.policies = policies(R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: recommendations}
spec:
  host: recommendations
  trafficPolicy: {protocol: grpc}
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: payments}
spec:
  host: payments
  trafficPolicy: {protocol: http1}
)");
    ConfigCompiler compiler(state);
    const auto page = compiler.compile(state.proxies[0]);
    QCOMPARE(cluster(page, "recommendations")->protocol(), v1::Cluster::GRPC);
    QCOMPARE(cluster(page, "recommendations|v1")->protocol(), v1::Cluster::GRPC);
    QCOMPARE(cluster(page, "recommendations|v2")->protocol(), v1::Cluster::GRPC);
    QCOMPARE(cluster(page, "payments")->protocol(), v1::Cluster::HTTP1);
    QCOMPARE(cluster(compiler.compile(rec2), "inbound|local")->protocol(), v1::Cluster::GRPC);
    QCOMPARE(cluster(compiler.compile(pay1), "inbound|local")->protocol(), v1::Cluster::HTTP1);
  }
  void hopHttp2BetweenSidecars() {
    // Between two sidecars of HTTP/1.1 apps over mutual TLS the hop is HTTP/2 (Cluster.hop_http2);
    // not to a plain host, not without mutual TLS, not for a cluster already HTTP/2 or gRPC, and
    // not when a DestinationPolicy declares http1.
    const std::string kTd = "spiffe://meshdeck.local/ns/default/sa/";
    MeshState state;
    state.proxies = {node("page-0", "productpage", "v1", 100), node("rev-1", "reviews", "v1", 200),
                     node("rev-2", "reviews", "v2", 300),      node("rat-1", "ratings", "v1", 400),
                     node("pay-1", "payments", "v1", 500),     node("leg-1", "legacy", "v1", 600),
                     node("det-1", "details", "v1", 700),      node("cat-1", "catalog", "v1", 800)};
    for (auto& p : state.proxies) p.spiffe_id = kTd + p.service;
    state.proxies[3].spiffe_id.clear();  // ratings: no identity, so plaintext
    state.proxies[4].app_protocol = "grpc";
    // details has a Kubernetes endpoint no sidecar serves (its "details" cluster is mutual TLS
    // under STRICT, its v2 endpoint a plain host).
    SourceEndpoint e;
    e.service = "details";
    e.version = "v2";
    e.host = "10.1.0.9";
    e.port = 15006;
    state.source_endpoints = {e};
    state.policies = policies(R"(apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: legacy}
spec: {selector: {service: legacy}, mtls: {mode: DISABLE}}
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: details}
spec: {selector: {service: details}, mtls: {mode: STRICT}}
---
apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: catalog}
spec:
  host: catalog
  trafficPolicy: {protocol: http1}
)");
    ConfigCompiler compiler(state);
    const auto page = compiler.compile(state.proxies[0]);
    for (const char* name : {"reviews", "reviews|v1", "reviews|v2", "productpage", "details|v1"}) {
      const auto* c = cluster(page, name);
      QVERIFY2(c, name);
      QCOMPARE(c->tls().mode(), v1::MUTUAL_TLS);
      QCOMPARE(c->protocol(), v1::Cluster::PROTOCOL_UNSPECIFIED);
      QVERIFY2(c->hop_http2(), name);
    }
    // Mutual TLS, but an endpoint is not a sidecar.
    QCOMPARE(cluster(page, "details")->tls().mode(), v1::MUTUAL_TLS);
    QVERIFY(!cluster(page, "details")->hop_http2());
    QVERIFY(!cluster(page, "details|v2")->hop_http2());
    // Plaintext: no identity, or mTLS disabled.
    QCOMPARE(cluster(page, "ratings")->tls().mode(), v1::PLAINTEXT);
    QVERIFY(!cluster(page, "ratings")->hop_http2());
    QCOMPARE(cluster(page, "legacy")->tls().mode(), v1::PLAINTEXT);
    QVERIFY(!cluster(page, "legacy")->hop_http2());
    // gRPC: HTTP/2 already; http1 declared by a DestinationPolicy: the opt-out.
    QCOMPARE(cluster(page, "payments")->protocol(), v1::Cluster::GRPC);
    QVERIFY(!cluster(page, "payments")->hop_http2());
    QCOMPARE(cluster(page, "catalog")->tls().mode(), v1::MUTUAL_TLS);
    QVERIFY(!cluster(page, "catalog")->hop_http2());
    // The local cluster keeps the app's own protocol.
    QVERIFY(!cluster(compiler.compile(state.proxies[1]), "inbound|local")->hop_http2());
    // Its app's connections are not queued behind 64 (the outbound default): long polls held
    // by the app each keep one, up to Envoy's default circuit breaker.
    QCOMPARE(cluster(compiler.compile(state.proxies[1]), "inbound|local")->max_idle_connections(),
             1024u);
    QCOMPARE(cluster(page, "reviews")->max_idle_connections(), 0u);
  }

  void allowNothingIsDefaultDeny() {
    MeshState state;
    state.proxies = {node("rev-1", "reviews", "v1", 200)};
    state.policies = policies(R"(apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: lockdown}
spec: {selector: {service: reviews}}
)");
    const auto c = ConfigCompiler(state).compile(state.proxies[0]);
    QCOMPARE(c.security().authorization_size(), 0);
    QVERIFY(c.security().default_deny());
  }

  // `services: [catalog]` names the identities catalog's workloads really have: their
  // namespace comes from the proxies (namespace "shop" here), not a fixed "default".
  void sourceServicesResolveToTheirNamespace() {
    MeshState state;
    state.proxies = {node("cat-1", "catalog", "v1", 100), node("rev-1", "reviews", "v1", 200),
                     node("cat-2", "catalog", "v2", 300)};
    state.proxies[0].ns = "shop";
    state.proxies[0].spiffe_id = "spiffe://meshdeck.local/ns/shop/sa/catalog";
    state.proxies[2].ns = "shop";  // still waiting for its certificate
    state.proxies[1].ns = "shop";
    state.policies = policies(R"(apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: readers}
spec:
  selector: {service: reviews}
  rules:
  - from: [{source: {services: [catalog, gone]}}]
)");
    const auto c = ConfigCompiler(state).compile(state.proxies[1]);
    QCOMPARE(c.security().authorization_size(), 1);
    const auto& sources = c.security().authorization(0).sources();
    QCOMPARE(sources.size(), 2);
    QCOMPARE(sources.Get(0), std::string("spiffe://meshdeck.local/ns/shop/sa/catalog"));
    // A service without connected proxies keeps the default namespace.
    QCOMPARE(sources.Get(1), std::string("spiffe://meshdeck.local/ns/default/sa/gone"));
  }
};

QTEST_GUILESS_MAIN(ConfigCompilerTest)
#include "config_compiler_test.moc"
