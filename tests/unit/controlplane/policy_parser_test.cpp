#include "controlplane/policy/policy_parser.h"

#include <QtTest>

#include "support/hostile_yaml.h"

using namespace meshdeck::cp;
using meshdeck::common::LocatedError;

namespace {

std::vector<LocatedError> parseErrors(const std::string& yaml) {
  std::vector<LocatedError> errors;
  parsePolicies(yaml, "p.yaml", &errors);
  return errors;
}

// Asserts exactly one error at line:column on `field` whose message contains `text`.
void expectOneError(const std::string& yaml, uint32_t line, uint32_t column,
                    const std::string& field, const std::string& text) {
  const auto errors = parseErrors(yaml);
  QVERIFY2(errors.size() == 1,
           qPrintable(QString("expected 1 error, got %1: %2")
                          .arg(errors.size())
                          .arg(errors.empty() ? QString()
                                              : QString::fromStdString(errors[0].toString()))));
  const auto& e = errors[0];
  QCOMPARE(e.file, std::string("p.yaml"));
  QVERIFY2(e.line == line && e.column == column, qPrintable(QString::fromStdString(e.toString())));
  QCOMPARE(e.field, field);
  QVERIFY2(e.message.find(text) != std::string::npos,
           qPrintable(QString::fromStdString(e.message)));
}

const char* kCanary = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata:
  name: reviews-canary
spec:
  host: reviews
  http:
  - name: testers
    match:
    - headers:
        x-user: {exact: tester}
      uri: {prefix: /api}
      methods: [GET, POST]
    route:
    - destination: {host: reviews, subset: v2}
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure"}
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
    fault:
      delay: {percentage: 10, fixedDelay: 200ms}
      abort: {percentage: 5, httpStatus: 503}
    mirror: {host: reviews, subset: v3, percentage: 20}
    headers:
      request: {set: {x-canary: "yes"}, remove: [x-debug]}
      response: {add: {x-served-by: mesh}}
)";

}  // namespace

class PolicyParserTest : public QObject {
  Q_OBJECT

 private slots:
  void parsesEveryTrafficRouteField() {
    std::vector<LocatedError> errors;
    auto policies = parsePolicies(kCanary, "p.yaml", &errors);
    QVERIFY2(errors.empty(), errors.empty() ? "" : errors[0].toString().c_str());
    QCOMPARE(policies.size(), size_t(1));
    const auto& p = policies[0];
    QCOMPARE(p.id(), std::string("TrafficRoute/reviews-canary"));
    QCOMPARE(p.target(), std::string("reviews"));
    const auto& tr = std::get<TrafficRouteSpec>(p.spec);
    QCOMPARE(tr.http.size(), size_t(2));
    QCOMPARE(tr.http[0].name, std::string("testers"));
    QCOMPARE(tr.http[1].name, std::string("reviews-canary-1"));
    QCOMPARE(tr.http[0].matches.size(), size_t(1));
    QCOMPARE(tr.http[0].matches[0].methods, (std::vector<std::string>{"GET", "POST"}));
    QCOMPARE(tr.http[0].matches[0].headers[0].name, std::string("x-user"));
    QCOMPARE(tr.http[0].matches[0].where.line, 10u);
    QCOMPARE(*tr.http[0].timeout, std::chrono::nanoseconds(std::chrono::seconds(2)));
    QCOMPARE(tr.http[0].retries->attempts, 3u);
    QCOMPARE(tr.http[0].retries->retry_on, (std::vector<std::string>{"5xx", "connect-failure"}));
    QCOMPARE(tr.http[1].destinations[0].weight, 90u);
    QCOMPARE(tr.http[1].destinations[1].subset, std::string("v2"));
    QCOMPARE(*tr.http[1].fault->delay_percent, 10.0);
    QCOMPARE(tr.http[1].fault->abort_status, 503u);
    QCOMPARE(tr.http[1].mirror->percent, 20.0);
    QCOMPARE(tr.http[1].request_headers.set.at("x-canary"), std::string("yes"));
    QCOMPARE(tr.http[1].response_headers.add.at("x-served-by"), std::string("mesh"));
    QVERIFY(p.yaml.find("reviews-canary") != std::string::npos);
  }

  void parsesManyDocumentsOfEveryKind() {
    const char* yaml = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: X-User}}
    connectionPool: {maxConnections: 100, maxPendingRequests: 10, maxRequests: 50, connectTimeout: 1s}
    outlierDetection: {consecutive5xxErrors: 5, baseEjectionTime: 30s, maxEjectionPercent: 50}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: reviews-readers}
spec:
  selector: {service: reviews}
  action: ALLOW
  dryRun: true
  rules:
  - from:
    - source: {principals: ["meshdeck.local/ns/default/sa/productpage"], services: [ratings]}
    to:
    - operation: {methods: [GET], paths: ["/reviews*"]}
    - operation: {methods: [HEAD]}
    when:
    - {key: "request.headers[x-team]", values: [a, b.c]}
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata: {name: mesh}
spec:
  mtls: {mode: STRICT}
---
apiVersion: meshdeck.io/v1alpha1
kind: RateLimit
metadata: {name: reviews}
spec:
  selector: {service: reviews}
  requestsPerSecond: 2.5
---
)";
    std::vector<LocatedError> errors;
    auto policies = parsePolicies(yaml, "p.yaml", &errors);
    QVERIFY2(errors.empty(), errors.empty() ? "" : errors[0].toString().c_str());
    QCOMPARE(policies.size(), size_t(4));
    const auto& dp = std::get<DestinationPolicySpec>(policies[0].spec);
    QCOMPARE(int(dp.load_balancer), int(LoadBalancer::kRingHash));
    QCOMPARE(dp.hash_header, std::string("x-user"));
    QCOMPARE(dp.max_requests, 50u);
    QCOMPARE(dp.consecutive_errors, 5u);
    QCOMPARE(dp.subsets[1].version, std::string("v2"));
    const auto& ap = std::get<AuthorizationPolicySpec>(policies[1].spec);
    QVERIFY(ap.dry_run);
    QCOMPARE(ap.rules[0].principals[0],
             std::string("spiffe://meshdeck.local/ns/default/sa/productpage"));
    QCOMPARE(ap.rules[0].source_services, std::vector<std::string>{"ratings"});
    QCOMPARE(ap.rules[0].methods.size(), size_t(2));
    QCOMPARE(ap.rules[0].headers[0].value->value, std::string("(a|b\\.c)"));
    const auto& pa = std::get<PeerAuthenticationSpec>(policies[2].spec);
    QCOMPARE(int(pa.mode), int(MtlsMode::kStrict));
    QCOMPARE(policies[2].target(), std::string("*"));
    const auto& rl = std::get<RateLimitSpec>(policies[3].spec);
    QCOMPARE(rl.requests_per_second, 2.5);
    QCOMPARE(rl.burst, 3u);  // default: one second of refill, rounded up
  }

  // HealthPolicy: every field read, the unset ones left unset (they come from the mesh-wide
  // policy, then the defaults).
  void parsesHealthPolicy() {
    const std::string yaml = R"(apiVersion: meshdeck.io/v1alpha1
kind: HealthPolicy
metadata: {name: reviews}
spec:
  selector: {service: reviews}
  tolerances:
    http5xx: {degraded: 1, failed: 5}
    grpc: {failed: 20}
  latency: {p99: 500ms}
  proxiesNotSynced: false
  certificateWarning: 6h
---
apiVersion: meshdeck.io/v1alpha1
kind: HealthPolicy
metadata: {name: mesh}
spec: {}
)";
    std::vector<LocatedError> errors;
    auto policies = parsePolicies(yaml, "p.yaml", &errors);
    QVERIFY2(errors.empty(), errors.empty() ? "" : errors[0].toString().c_str());
    QCOMPARE(policies.size(), size_t(2));
    QCOMPARE(policies[0].id(), std::string("HealthPolicy/reviews"));
    QCOMPARE(policies[0].target(), std::string("reviews"));
    const auto& h = std::get<HealthPolicySpec>(policies[0].spec);
    QCOMPARE(*h.http5xx.degraded, 1.0);
    QCOMPARE(*h.http5xx.failed, 5.0);
    QVERIFY(!h.http4xx.degraded && !h.http4xx.failed && !h.grpc.degraded);
    QCOMPARE(*h.grpc.failed, 20.0);
    QCOMPARE(*h.p99_target_ms, 500.0);
    QCOMPARE(*h.proxies_not_synced, false);
    QVERIFY(!h.certificate_expiry);
    QCOMPARE(h.certificate_warning->count(), int64_t(6) * 3600 * 1'000'000'000);
    QCOMPARE(policies[1].target(), std::string("*"));
    QVERIFY(!policies[0].badges().any());
  }
  void reportsHealthPolicyErrors() {
    const std::string head =
        "apiVersion: meshdeck.io/v1alpha1\nkind: HealthPolicy\nmetadata: {name: h}\nspec:\n";
    expectOneError(head + "  tolerances:\n    http5xx: {degraded: 20, failed: 10}\n", 6, 14,
                   "spec.tolerances.http5xx", "degraded (20%) must not be above failed (10%)");
    expectOneError(head + "  tolerances:\n    http4xx: {failed: 120}\n", 6, 23,
                   "spec.tolerances.http4xx.failed", "out of range");
    expectOneError(head + "  tolerances:\n    http3xx: {failed: 1}\n", 6, 5,
                   "spec.tolerances.http3xx", "unknown field");
    expectOneError(head + "  latency: {p99: fast}\n", 5, 18, "spec.latency.p99",
                   "is not a duration");
    expectOneError(head + "  latency: {p50: 1s}\n", 5, 13, "spec.latency.p50", "unknown field");
    expectOneError(head + "  proxiesNotSynced: maybe\n", 5, 21, "spec.proxiesNotSynced",
                   "must be true or false");
    expectOneError(head + "  certificateWarning: 0s\n", 5, 23, "spec.certificateWarning",
                   "must be above 0");
    expectOneError(head + "  selector: {service: Bad_Name}\n", 5, 23, "spec.selector.service",
                   "not a valid name");
  }

  // Each kind of error names the line and column of the offending node and its field path.
  void reportsSyntaxErrorWithPosition() {
    expectOneError("apiVersion: meshdeck.io/v1alpha1\nkind: [unclosed\n", 3, 1, "", "invalid YAML");
  }
  void reportsUnknownField() {
    expectOneError(R"(apiVersion: meshdeck.io/v1alpha1
kind: RateLimit
metadata: {name: r}
spec:
  selector: {service: reviews}
  requestsPerSecond: 10
  brust: 5
)",
                   7, 3, "spec.brust", "unknown field \"brust\"");
  }
  void reportsWrongApiVersionAndKind() {
    expectOneError(
        "apiVersion: v1\nkind: RateLimit\nmetadata: {name: r}\nspec: {selector: "
        "{service: a}, requestsPerSecond: 1}\n",
        1, 13, "apiVersion", "not supported");
    expectOneError(
        "apiVersion: meshdeck.io/v1alpha1\nkind: VirtualService\nmetadata: {name: r}\n"
        "spec: {}\n",
        2, 7, "kind", "is not one of");
  }
  void reportsMissingField() {
    expectOneError(
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata: {name: r}\n"
        "spec:\n  selector: {service: a}\n",
        5, 3, "spec.requestsPerSecond", "required field is missing");
  }
  void reportsBadName() {
    expectOneError(
        "apiVersion: meshdeck.io/v1alpha1\nkind: PeerAuthentication\nmetadata:\n"
        "  name: Not_Valid\nspec: {mtls: {mode: STRICT}}\n",
        4, 9, "metadata.name", "not a valid name");
  }
  void reportsWrongType() {
    expectOneError(
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata: {name: r}\n"
        "spec:\n  selector: {service: a}\n  requestsPerSecond: lots\n",
        6, 22, "spec.requestsPerSecond", "must be a number");
    expectOneError(
        "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: r}\n"
        "spec:\n  host: a\n  http: {route: x}\n",
        6, 9, "spec.http", "non-empty list");
  }
  void reportsWeightsNotSummingTo100() {
    std::string yaml = kCanary;
    yaml.replace(yaml.find("weight: 10"), 10, "weight: 20");
    expectOneError(yaml, 19, 5, "spec.http[1].route", "weights sum to 110");
  }
  void reportsMissingWeightWithSeveralDestinations() {
    std::string yaml = kCanary;
    yaml.replace(yaml.find("      weight: 10\n"), 17, "");
    expectOneError(yaml, 21, 7, "spec.http[1].route[1].weight", "needs a weight");
  }
  void reportsPercentOutOfRange() {
    std::string yaml = kCanary;
    yaml.replace(yaml.find("percentage: 5,"), 14, "percentage: 105,");
    expectOneError(yaml, 25, 27, "spec.http[1].fault.abort.percentage", "out of range [0, 100]");
  }
  void reportsBadDuration() {
    std::string yaml = kCanary;
    yaml.replace(yaml.find("timeout: 2s"), 11, "timeout: 2 sec");
    expectOneError(yaml, 16, 14, "spec.http[0].timeout", "is not a duration");
  }
  void reportsBadStatusAndRetryCondition() {
    std::string yaml = kCanary;
    yaml.replace(yaml.find("httpStatus: 503"), 15, "httpStatus: 99");
    expectOneError(yaml, 25, 42, "spec.http[1].fault.abort.httpStatus", "out of range");
    yaml = kCanary;
    yaml.replace(yaml.find("5xx,connect-failure"), 19, "5xx,sometimes");
    expectOneError(yaml, 17, 59, "spec.http[0].retries.retryOn", "\"sometimes\" is not a retry");
  }
  void parsesGrpcRetryConditionsAndAbortStatus() {
    for (const auto& [text, code] :
         {std::pair{"grpcStatus: UNAVAILABLE", 14u}, std::pair{"grpcStatus: deadline_exceeded", 4u},
          std::pair{"grpcStatus: 8", 8u}}) {
      std::string yaml = kCanary;
      yaml.replace(yaml.find("httpStatus: 503"), 15, text);
      yaml.replace(yaml.find("5xx,connect-failure"), 19,
                   "unavailable, resource-exhausted,cancelled,deadline-exceeded,internal");
      std::vector<LocatedError> errors;
      auto policies = parsePolicies(yaml, "p.yaml", &errors);
      QVERIFY2(errors.empty(), errors.empty() ? "" : errors[0].toString().c_str());
      const auto& tr = std::get<TrafficRouteSpec>(policies.at(0).spec);
      QCOMPARE(tr.http[1].fault->abort_grpc_status, std::optional<uint32_t>(code));
      QCOMPARE(tr.http[1].fault->abort_status, 0u);
      QCOMPARE(tr.http[0].retries->retry_on,
               (std::vector<std::string>{"unavailable", "resource-exhausted", "cancelled",
                                         "deadline-exceeded", "internal"}));
    }
  }
  void reportsBadGrpcAbortStatusAndRetryCondition() {
    const auto withAbort = [](const std::string& abort) {
      std::string yaml = kCanary;
      yaml.replace(yaml.find("httpStatus: 503"), 15, abort);
      return yaml;
    };
    expectOneError(withAbort("grpcStatus: NOPE"), 25, 42, "spec.http[1].fault.abort.grpcStatus",
                   "\"NOPE\" is not a gRPC status");
    expectOneError(withAbort("grpcStatus: 17"), 25, 42, "spec.http[1].fault.abort.grpcStatus",
                   "is not a gRPC status");
    expectOneError(withAbort("grpcStatus: 99999999999999999999"), 25, 42,
                   "spec.http[1].fault.abort.grpcStatus", "is not a gRPC status");
    expectOneError(withAbort("grpcStatus: \"1 4\""), 25, 42, "spec.http[1].fault.abort.grpcStatus",
                   "is not a gRPC status");
    expectOneError(withAbort("grpcStatus: OK"), 25, 42, "spec.http[1].fault.abort.grpcStatus",
                   "OK is not an abort status");
    expectOneError(withAbort("grpcStatus: [14]"), 25, 42, "spec.http[1].fault.abort.grpcStatus",
                   "must be a string");
    expectOneError(withAbort("httpStatus: 503, grpcStatus: UNAVAILABLE"), 25, 59,
                   "spec.http[1].fault.abort.grpcStatus", "not both");
    std::string yaml = kCanary;
    yaml.replace(yaml.find(", httpStatus: 503"), 17, "");
    expectOneError(yaml, 25, 14, "spec.http[1].fault.abort", "set httpStatus or grpcStatus");
    yaml = kCanary;
    yaml.replace(yaml.find("5xx,connect-failure"), 19, "5xx,UNAVAILABLE");
    expectOneError(yaml, 17, 59, "spec.http[0].retries.retryOn",
                   "\"UNAVAILABLE\" is not a retry condition");
  }
  void parsesDestinationProtocol() {
    const auto withProtocol = [](const std::string& value) {
      return "apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: pay}\n"
             "spec:\n  host: payments\n  trafficPolicy:\n    protocol: " +
             value + "\n";
    };
    for (const auto& [text, protocol] :
         {std::pair{"grpc", Protocol::kGrpc}, std::pair{"GRPC", Protocol::kGrpc},
          std::pair{"http2", Protocol::kHttp2}, std::pair{"Http1", Protocol::kHttp1}}) {
      std::vector<LocatedError> errors;
      auto policies = parsePolicies(withProtocol(text), "p.yaml", &errors);
      QVERIFY2(errors.empty(), errors.empty() ? "" : errors[0].toString().c_str());
      QCOMPARE(std::get<DestinationPolicySpec>(policies.at(0).spec).protocol, protocol);
    }
    // Absent: unset (the sidecars' declaration decides).
    std::vector<LocatedError> errors;
    auto policies = parsePolicies(
        "apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: pay}\n"
        "spec: {host: payments}\n",
        "p.yaml", &errors);
    QVERIFY(errors.empty());
    QCOMPARE(std::get<DestinationPolicySpec>(policies.at(0).spec).protocol, Protocol::kUnset);
    expectOneError(withProtocol("h3"), 7, 15, "spec.trafficPolicy.protocol",
                   "\"h3\" is not one of: http1, http2, grpc");
    expectOneError(withProtocol("[grpc]"), 7, 15, "spec.trafficPolicy.protocol",
                   "must be a string");
    expectOneError(withProtocol("\"\""), 7, 15, "spec.trafficPolicy.protocol", "must not be empty");
  }
  void reportsBadRegexAndMethod() {
    std::string yaml = kCanary;
    yaml.replace(yaml.find("{prefix: /api}"), 14, "{regex: \"(\"}");
    expectOneError(yaml, 12, 20, "spec.http[0].match[0].uri.regex", "invalid regular expression");
    yaml = kCanary;
    yaml.replace(yaml.find("[GET, POST]"), 11, "[GET, FETCH]");
    expectOneError(yaml, 13, 22, "spec.http[0].match[0].methods[1]", "not an HTTP method");
  }
  void reportsDuplicateMatchWithinPolicy() {
    const char* yaml = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: r}
spec:
  host: reviews
  http:
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: reviews}}]
)";
    expectOneError(yaml, 9, 13, "spec.http[1].match", "same match as route \"r-0\" (line 7)");
  }
  void reportsDuplicateSubsetVersion() {
    const char* yaml = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: d}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v1b, labels: {version: v1}}
)";
    expectOneError(yaml, 8, 5, "spec.subsets[1].labels.version", "already selected");
  }
  void reportsDuplicateDocument() {
    const char* doc =
        "apiVersion: meshdeck.io/v1alpha1\nkind: PeerAuthentication\nmetadata: "
        "{name: m}\nspec: {mtls: {mode: STRICT}}\n";
    expectOneError(std::string(doc) + "---\n" + doc, 6, 1, "metadata.name", "defined twice");
  }
  void reportsEveryErrorOfAFileAtOnce() {
    const char* yaml = R"(apiVersion: meshdeck.io/v1alpha1
kind: RateLimit
metadata: {name: r}
spec:
  selector: {service: a, extra: 1}
  requestsPerSecond: -3
  burst: 0
)";
    QCOMPARE(parseErrors(yaml).size(), size_t(3));
  }

  // Cross references: the whole resulting set is checked against the known services.
  void validatesReferences() {
    std::vector<LocatedError> errors;
    auto set = parsePolicies(kCanary, "p.yaml", &errors);
    QVERIFY(errors.empty());
    validatePolicySet(set, {}, &errors);
    // Unknown host: reported once per reference site (host, three destinations, mirror).
    QCOMPARE(errors.size(), size_t(5));
    QCOMPARE(errors[0].field, std::string("spec.host"));
    QCOMPARE(errors[0].line, 6u);
    QCOMPARE(errors[0].column, 9u);
    QVERIFY(errors[0].message.find("unknown service \"reviews\"") != std::string::npos);

    errors.clear();
    validatePolicySet(set, {"reviews"}, &errors);
    // Service known but no DestinationPolicy declares the subsets.
    QCOMPARE(errors.size(), size_t(4));
    QCOMPARE(errors[0].field, std::string("spec.http[0].route[0].destination.subset"));
    QCOMPARE(errors[0].line, 15u);
    QVERIFY(errors[0].message.find("subset \"v2\"") != std::string::npos);

    const char* dp = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
)";
    errors.clear();
    auto more = parsePolicies(dp, "d.yaml", &errors);
    set.insert(set.end(), more.begin(), more.end());
    validatePolicySet(set, {}, &errors);  // the DestinationPolicy declares the service
    QVERIFY2(errors.empty(), errors.empty() ? "" : errors[0].toString().c_str());

    // A misspelt caller in an AuthorizationPolicy is an unknown service too (it would never
    // match), reported at the name itself.
    const char* authz = R"(apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: reviews-readers}
spec:
  selector: {service: reviews}
  action: DENY
  rules:
  - from:
    - source: {services: [reviews, ratngs]}
)";
    errors.clear();
    auto denied = parsePolicies(authz, "a.yaml", &errors);
    QVERIFY(errors.empty());
    validatePolicySet(denied, {"reviews"}, &errors);
    QCOMPARE(errors.size(), size_t(1));
    QCOMPARE(errors[0].field, std::string("spec.rules[0].from.source.services"));
    QCOMPARE(errors[0].line, 9u);
    QCOMPARE(errors[0].column, 36u);
    QVERIFY(errors[0].message.find("unknown service \"ratngs\"") != std::string::npos);
    errors.clear();
    validatePolicySet(denied, {"reviews", "ratngs"}, &errors);
    QVERIFY(errors.empty());
  }

  void rejectsTwoRoutesClaimingTheSameMatch() {
    const char* a = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: a}
spec:
  host: reviews
  http:
  - match: [{uri: {prefix: /x}, methods: [POST, GET]}]
    route: [{destination: {host: reviews}}]
)";
    const char* b = R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: b}
spec:
  host: reviews
  http:
  - match:
    - {methods: [GET, POST], uri: {prefix: /x}}
    route: [{destination: {host: reviews}}]
)";
    std::vector<LocatedError> errors;
    auto set = parsePolicies(a, "a.yaml", &errors);
    auto more = parsePolicies(b, "b.yaml", &errors);
    set.insert(set.end(), more.begin(), more.end());
    validatePolicySet(set, {"reviews"}, &errors);
    QCOMPARE(errors.size(), size_t(1));
    QCOMPARE(errors[0].file, std::string("b.yaml"));
    QCOMPARE(errors[0].line, 8u);
    QCOMPARE(errors[0].column, 7u);
    QVERIFY(errors[0].message.find("TrafficRoute/a (a.yaml:7)") != std::string::npos);
  }

  void rejectsTwoMeshWideMtlsModes() {
    const char* a =
        "apiVersion: meshdeck.io/v1alpha1\nkind: PeerAuthentication\nmetadata: "
        "{name: a}\nspec: {mtls: {mode: STRICT}}\n";
    const char* b =
        "apiVersion: meshdeck.io/v1alpha1\nkind: PeerAuthentication\nmetadata: "
        "{name: b}\nspec: {mtls: {mode: DISABLE}}\n";
    std::vector<LocatedError> errors;
    auto set = parsePolicies(a, "a.yaml", &errors);
    auto more = parsePolicies(b, "b.yaml", &errors);
    set.insert(set.end(), more.begin(), more.end());
    validatePolicySet(set, {}, &errors);
    QCOMPARE(errors.size(), size_t(1));
    QVERIFY(errors[0].message.find("the whole mesh") != std::string::npos);
  }

  // The "billion laughs" policy is refused by the reader's limits before any walk, fast.
  void refusesAliasBombBeforeWalking() {
    const std::string bomb =
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\n"
        "metadata: {name: bomb}\nspec:\n" +
        meshdeck::testing::billionLaughs();
    QElapsedTimer timer;
    timer.start();
    std::vector<LocatedError> errors;
    QVERIFY(parsePolicies(bomb, "bomb.yaml", &errors).empty());
    QVERIFY(timer.elapsed() < 2000);
    QCOMPARE(errors.size(), size_t{1});
    // Four header lines before the bomb's own.
    QCOMPARE(QString::fromStdString(errors[0].toString()),
             QStringLiteral("bomb.yaml:8:36: too many alias expansions (limit 10000)"));
  }
};

QTEST_GUILESS_MAIN(PolicyParserTest)
#include "policy_parser_test.moc"
