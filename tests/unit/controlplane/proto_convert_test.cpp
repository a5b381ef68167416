// The management API's conversions: what the Mesh service sends is what a remote
// GrpcControlPlane (meshdeck --connect) gets back, including the per-rule authorization counts
// of a service and the validation of the ones proxies report.
#include "controlplane/server/proto_convert.h"

#include <QtTest>
#include <ctime>
#include <functional>

#include "controlplane/server/telemetry_service.h"

using namespace meshdeck;
using namespace meshdeck::cp;

class ProtoConvertTest : public QObject {
  Q_OBJECT

 private slots:
  // ListPolicies carries each policy's badges, so a remote UI shows what an embedded one does.
  void policyBadgesSurviveTheRoundTrip() {
    for (int bits = 0; bits < 16; ++bits) {
      PolicyInfo in{
          "TrafficRoute",
          "reviews-canary",
          "reviews",
          "spec: {}\n",
          7,
          PolicyBadges{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0}};
      v1::Policy wire;
      toProto(in, &wire);
      QCOMPARE(wire.badges().fault(), in.badges.fault);
      QCOMPARE(wire.badges().canary(), in.badges.canary);
      QCOMPARE(wire.badges().rate_limit(), in.badges.rate_limit);
      QCOMPARE(wire.badges().mtls(), in.badges.mtls);
      const PolicyInfo back = fromProto(wire);
      QCOMPARE(back.kind, in.kind);
      QCOMPARE(back.name, in.name);
      QCOMPARE(back.target, in.target);
      QCOMPARE(back.yaml, in.yaml);
      QCOMPARE(back.revision, in.revision);
      QVERIFY(back.badges == in.badges);
    }
  }

  // meshdeck.v1.ValidationError carries the five fields of a LocatedError, unknown parts too.
  void applyErrorsSurviveTheRoundTrip() {
    ApplyResult in;
    in.ok = false;
    in.revision = 7;
    in.summary = "rejected";
    in.errors = {common::LocatedError{"f.yaml", 16, 19, "spec.http[0].route[1].weight",
                                      "must be an integer from 0 to 100"},
                 common::LocatedError{"", 0, 0, "", "no policy TrafficRoute/x exists"}};
    v1::ApplyPoliciesResponse wire;
    toProto(in, &wire);
    QCOMPARE(wire.errors_size(), 2);
    QCOMPARE(wire.errors(0).line(), 16u);
    QCOMPARE(wire.errors(0).field(), std::string("spec.http[0].route[1].weight"));
    const ApplyResult out = fromProto(wire);
    QVERIFY(out.errors == in.errors);
    QCOMPARE(out.revision, uint64_t(7));
    QCOMPARE(out.errors[1].toString(), std::string("no policy TrafficRoute/x exists"));
  }

  // meshdeck.v1.PolicyWarning: the located message and the edges it concerns.
  void applyWarningsSurviveTheRoundTrip() {
    ApplyResult in;
    in.ok = true;
    in.revision = 3;
    in.warnings = {
        PolicyWarning{common::LocatedError{"edit.yaml", 21, 7, "spec.http[0].route[1].destination",
                                           "subset \"v2\" has no running instance"},
                      {EdgeRef{"catalog", "reviews"}, EdgeRef{"frontend", "reviews"}}},
        PolicyWarning{common::LocatedError{"", 0, 0, "", "no edges"}, {}}};
    v1::ApplyPoliciesResponse wire;
    toProto(in, &wire);
    QCOMPARE(wire.warnings_size(), 2);
    QCOMPARE(wire.warnings(0).where().column(), 7u);
    QCOMPARE(wire.warnings(0).edges(1).source(), std::string("frontend"));
    const ApplyResult out = fromProto(wire);
    QVERIFY(out.warnings == in.warnings);
    QVERIFY(out.ok);
  }

  void authorizationCountsSurviveTheRoundTrip() {
    GraphSnapshot g;
    g.window_seconds = 30;
    ServiceNode reviews;
    reviews.name = "reviews";
    reviews.authorization = {{"", "default", "DEFAULT", false, 100, 2, 0},
                             {"audit", "rules[0]", "DENY", true, 0, 0, 201},
                             {"no-delete", "rules[1].to[0]", "DENY", false, 0, 101, 0}};
    g.services.push_back(reviews);
    ServiceNode ratings;
    ratings.name = "ratings";
    g.services.push_back(ratings);

    v1::GraphSnapshot wire;
    toProto(g, &wire);
    QCOMPARE(wire.services(0).authorization_size(), 3);
    QCOMPARE(wire.services(1).authorization_size(), 0);
    const GraphSnapshot back = fromProto(wire);
    QCOMPARE(back.services.size(), size_t{2});
    const auto& rules = back.services[0].authorization;
    QCOMPARE(rules.size(), size_t{3});
    for (size_t i = 0; i < rules.size(); ++i) {
      const auto& a = rules[i];
      const auto& b = reviews.authorization[i];
      QCOMPARE(a.policy, b.policy);
      QCOMPARE(a.rule, b.rule);
      QCOMPARE(a.action, b.action);
      QCOMPARE(a.dry_run, b.dry_run);
      QCOMPARE(a.allowed, b.allowed);
      QCOMPARE(a.denied, b.denied);
      QCOMPARE(a.dry_run_denied, b.dry_run_denied);
    }
    QVERIFY(back.services[1].authorization.empty());
  }

  void reportedCountsAreReadAndChecked() {
    v1::EdgeStats e;
    e.mutable_key()->set_destination_service("reviews");
    e.set_side(v1::SERVER);
    auto* a = e.add_authorization();
    a->set_policy("no-delete");
    a->set_rule("rules[0]");
    a->set_action("DENY");
    a->set_denied(7);
    EdgeReport report;
    std::string error;
    QVERIFY2(edgeReportFromProto(e, &report, &error), error.c_str());
    QCOMPARE(report.authorization.size(), size_t{1});
    QCOMPARE(report.authorization[0].denied, uint64_t{7});
    // A count that names no rule is refused with a reason, not aggregated under "".
    e.add_authorization()->set_denied(1);
    QVERIFY(!edgeReportFromProto(e, &report, &error));
    QCOMPARE(error, std::string("authorization count without rule"));
  }

  // gRPC statuses and the protocol of a report are read, out-of-range statuses refused; a graph
  // keeps them through the management API.
  void grpcStatusesAndProtocolAreReadAndChecked() {
    v1::EdgeStats e;
    e.mutable_key()->set_destination_service("payments");
    e.mutable_key()->set_protocol("grpc");
    e.set_side(v1::CLIENT);
    (*e.mutable_grpc_statuses())[0] = 97;
    (*e.mutable_grpc_statuses())[14] = 3;
    EdgeReport report;
    std::string error;
    QVERIFY2(edgeReportFromProto(e, &report, &error), error.c_str());
    QCOMPARE(report.grpc_statuses[0], uint64_t{97});
    QCOMPARE(report.grpc_statuses[14], uint64_t{3});
    QCOMPARE(report.protocol, kProtocolGrpc);
    e.mutable_key()->set_protocol("h2");
    QVERIFY(edgeReportFromProto(e, &report, &error));
    QCOMPARE(report.protocol, kProtocolHttp2);
    e.mutable_key()->set_protocol("carrier-pigeon");
    QVERIFY(edgeReportFromProto(e, &report, &error));
    QCOMPARE(report.protocol, uint8_t{0});
    (*e.mutable_grpc_statuses())[17] = 1;
    QVERIFY(!edgeReportFromProto(e, &report, &error));
    QCOMPARE(error, std::string("gRPC status 17 out of range"));

    GraphSnapshot g;
    ServiceEdge edge;
    edge.source = "checkout";
    edge.destination = "payments";
    edge.protocol = "http1,grpc";
    edge.metrics.grpc_statuses[0] = 97;
    edge.metrics.grpc_statuses[14] = 3;
    g.edges.push_back(edge);
    v1::GraphSnapshot wire;
    toProto(g, &wire);
    const auto back = fromProto(wire);
    QCOMPARE(back.edges.at(0).protocol, std::string("http1,grpc"));
    QVERIFY(back.edges.at(0).metrics.grpc_statuses == edge.metrics.grpc_statuses);
    QCOMPARE(grpcStatusSummary(back.edges.at(0).metrics.grpc_statuses),
             std::string("OK=97,UNAVAILABLE=3"));
    QCOMPARE(protocolNames(kProtocolGrpc | kProtocolHttp1), std::string("http1,grpc"));
    QCOMPARE(protocolNames(0), std::string());
  }

  // A proxy's reported certificate (TelemetryReport.certificate) is checked, recorded in the
  // registry for that proxy, and listed while the proxy is connected; a bad one is counted and
  // ignored while the report's edges still count.
  void reportedCertificatesAreCheckedAndRecorded() {
    v1::WorkloadCertificate c;
    c.set_spiffe_id("spiffe://meshdeck.local/ns/shop/sa/reviews");
    c.set_serial_hex("1A2B3C");
    c.set_issuer("CN=Meshdeck Root CA,O=meshdeck.local");
    c.mutable_not_before()->set_seconds(1'800'000'000);
    c.mutable_not_after()->set_seconds(1'800'086'400);
    CertificateInfo info;
    std::string error;
    QVERIFY2(certificateFromProto(c, &info, &error), error.c_str());
    QCOMPARE(info.serial, std::string("1A2B3C"));
    QCOMPARE(info.issuer, c.issuer());
    QCOMPARE(std::chrono::system_clock::to_time_t(info.not_after), std::time_t{1'800'086'400});

    struct Bad {
      const char* field;
      std::function<void(v1::WorkloadCertificate&)> spoil;
    };
    const std::vector<Bad> bad = {
        {"spiffe_id", [](auto& x) { x.set_spiffe_id("https://example.com/reviews"); }},
        {"serial_hex", [](auto& x) { x.set_serial_hex("1a2b"); }},
        {"serial_hex", [](auto& x) { x.set_serial_hex(std::string(41, 'A')); }},
        {"serial_hex", [](auto& x) { x.clear_serial_hex(); }},
        {"issuer", [](auto& x) { x.clear_issuer(); }},
        {"not_after", [](auto& x) { x.mutable_not_after()->set_seconds(1'700'000'000); }},
        // Found by the telemetry_report fuzzer: seconds * 10^9 overflowed (undefined behaviour).
        {"not_after", [](auto& x) { x.mutable_not_after()->set_seconds(15'390'294'656); }},
        {"not_before", [](auto& x) { x.mutable_not_before()->set_seconds(INT64_MIN); }},
    };
    for (const auto& b : bad) {
      v1::WorkloadCertificate spoilt = c;
      b.spoil(spoilt);
      QVERIFY2(!certificateFromProto(spoilt, &info, &error), b.field);
      QVERIFY2(error.find(b.field) != std::string::npos, error.c_str());
    }

    common::SimulatedTimeSource clock;
    TelemetryAggregator aggregator(clock, 60, 60);
    Registry registry;
    TelemetryIngestService ingest(aggregator, registry, clock);
    ProxyNode node;
    node.proxy_id = "reviews-v1";
    node.service = "reviews";
    const uint64_t connection = registry.connect(node, clock.systemNow());

    v1::TelemetryReport report;
    report.set_proxy_id("reviews-v1");
    *report.mutable_certificate() = c;
    report.mutable_certificate()->set_serial_hex("not hex");
    auto* e = report.add_edges();
    e->mutable_key()->set_destination_service("reviews");
    e->set_side(v1::SERVER);
    e->set_requests(3);
    QCOMPARE(ingest.ingest(report), uint32_t{0});  // the edge is kept
    QCOMPARE(ingest.certificatesRejected(), uint64_t{1});
    QVERIFY(registry.reportedCertificates().empty());

    *report.mutable_certificate() = c;
    ingest.ingest(report);
    auto listed = registry.reportedCertificates();
    QCOMPARE(listed.size(), size_t{1});
    QCOMPARE(listed[0].proxy_id, std::string("reviews-v1"));
    QCOMPARE(listed[0].serial, std::string("1A2B3C"));
    QCOMPARE(listed[0].spiffe_id, c.spiffe_id());
    // A renewal replaces it.
    report.mutable_certificate()->set_serial_hex("FF");
    ingest.ingest(report);
    QCOMPARE(registry.reportedCertificates().at(0).serial, std::string("FF"));
    // Only connected proxies' certificates are listed; an unknown proxy's report records none.
    registry.disconnect("reviews-v1", connection);
    QVERIFY(registry.reportedCertificates().empty());
    report.set_proxy_id("stranger");
    ingest.ingest(report);
    QVERIFY(registry.reportedCertificates().empty());
  }
};

QTEST_APPLESS_MAIN(ProtoConvertTest)
#include "proto_convert_test.moc"
