// The management API's conversions: what the Mesh service sends is what a remote
// GrpcControlPlane (meshdeck --connect) gets back, including the per-rule authorization counts
// of a service and the validation of the ones proxies report.
#include "controlplane/server/proto_convert.h"

#include <QtTest>

#include "controlplane/server/telemetry_service.h"

using namespace meshdeck;
using namespace meshdeck::cp;

class ProtoConvertTest : public QObject {
  Q_OBJECT

 private slots:
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
};

QTEST_APPLESS_MAIN(ProtoConvertTest)
#include "proto_convert_test.moc"
