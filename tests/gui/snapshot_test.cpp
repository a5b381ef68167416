#include <QFile>
#include <QImage>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTemporaryDir>
#include <QtTest>

#include "controlplane/snapshot_json.h"
#include "support/fake_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/graph_items.h"
#include "ui/graph_style.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"
#include "ui/main_window.h"
#include "ui/policy_panel.h"
#include "ui/snapshot_control_plane.h"
#include "ui/table_models.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

class SnapshotTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void exportThenReopenReadOnly() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath("storefront.json");
    auto fake = std::make_shared<FakeControlPlane>();
    // A RateLimit the control plane accepts (the fake checks with its parser).
    const cp::ApplyResult applied = fake->applyPolicies(
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata:\n  name: cart-limit\n"
        "spec:\n  selector: {service: cart}\n  requestsPerSecond: 50\n",
        "t", "test", false);
    QVERIFY2(applied.ok, common::toString(applied.errors).c_str());
    QCOMPARE(fake->policies().at(0).target, std::string("cart"));
    {
      ui::MainWindowOptions options;
      options.source = "Fake control plane";
      options.use_settings = false;
      ui::MainWindow live(fake, options);
      live.show();
      QVERIFY(QTest::qWaitForWindowExposed(&live));
      QTRY_VERIFY_WITH_TIMEOUT(live.graphView()->layoutsDone() >= 1, 10000);
      QSignalSpy finished(&live, &ui::MainWindow::exportFinished);
      live.exportSnapshotTo(path);
      QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
      QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
    }
    // Three files, each complete.
    QImage png(dir.filePath("storefront.png"));
    QVERIFY(!png.isNull());
    QVERIFY(png.width() > 600 && png.height() > 200);
    QFile svg(dir.filePath("storefront.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray svg_text = svg.readAll();
    QVERIFY(svg_text.contains("<svg"));
    QVERIFY(svg_text.contains("checkout"));                        // node names are drawn as text
    QVERIFY(QDir(dir.path()).entryList(QDir::Files).size() == 3);  // no temporaries left

    QString error;
    std::shared_ptr<ui::SnapshotControlPlane> offline =
        ui::SnapshotControlPlane::open(path, &error);
    QVERIFY2(offline, qPrintable(error));
    const auto original = fake->snapshot();
    const auto reopened = offline->snapshot();
    QCOMPARE(reopened->services.size(), original->services.size());
    QCOMPARE(reopened->edges.size(), original->edges.size());
    QCOMPARE(reopened->proxies.size(), original->proxies.size());
    QCOMPARE(reopened->policy_revision, original->policy_revision);
    QCOMPARE(reopened->edges[5].metrics.p99_ms, original->edges[5].metrics.p99_ms);
    QVERIFY(reopened->edges[5].metrics.latency);
    QVERIFY(*reopened->edges[5].metrics.latency == *original->edges[5].metrics.latency);
    QCOMPARE(offline->policies().size(), size_t(1));
    QVERIFY(fake->policies()[0].badges.rate_limit);
    QVERIFY(offline->policies()[0].badges == fake->policies()[0].badges);
    QVERIFY(!offline->applyPolicies("kind: RateLimit", "x", "y", false).ok);
    QVERIFY(!offline->restartProcess("x").ok);

    ui::MainWindowOptions options;
    options.source = "Snapshot storefront.json";
    options.read_only = true;
    options.use_settings = false;
    ui::MainWindow window(offline, options);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTRY_VERIFY_WITH_TIMEOUT(window.graphView()->layoutsDone() >= 1, 10000);
    QCOMPARE(window.graphView()->nodeCount(), 12);
    // The reopened file shows the policy's badge (the fake's traffic limits nothing).
    QCOMPARE(window.graphView()->edgeItem("frontend", "cart")->edge().metrics.rate_limited,
             uint64_t{0});
    QTRY_VERIFY_WITH_TIMEOUT(window.graphView()->edgeItem("frontend", "cart")->badges().rate_limit,
                             5000);
    QVERIFY(!window.graphView()->edgeItem("frontend", "auth")->badges().rate_limit);
    QVERIFY(window.windowTitle().contains("read-only"));
    window.graphView()->selectEdge("frontend", "catalog");
    QTRY_VERIFY_WITH_TIMEOUT(window.inspector()->historyPoints() > 100, 5000);
    QVERIFY(window.policyPanel()->editor()->isReadOnly());
    QVERIFY(!window.policyPanel()->findChild<QPushButton*>("applyButton")->isEnabled());
    QTRY_COMPARE_WITH_TIMEOUT(window.policyPanel()->model()->rowCount(), 1, 5000);
    const QString dir_env = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
    if (!dir_env.isEmpty()) window.grab().save(dir_env + "/snapshot-offline.png");
  }

  // The control plane's health travels through the snapshot file; the node's health is the
  // control plane's when given (even against the thresholds), the thresholds' without it.
  void healthFromTheControlPlane() {
    cp::GraphSnapshot g;
    g.window_seconds = 10;
    cp::ServiceNode reviews;
    reviews.name = "reviews";
    reviews.inbound.requests = 100;
    reviews.inbound.success_rate = 1.0;  // the thresholds would call it healthy
    reviews.health = cp::ServiceHealth{cp::HealthState::kFailing,
                                       {"5xx 12.0% \u2265 10%", "2 proxies not synced"}};
    cp::ServiceNode cart;
    cart.name = "cart";
    cart.inbound.requests = 100;
    cart.inbound.success_rate = 0.5;  // no health from the control plane: thresholds judge
    g.services = {reviews, cart};
    const std::string text = cp::snapshotToJson(g, {}, "test");
    const auto doc = QJsonDocument::fromJson(QByteArray::fromStdString(text));
    const QJsonObject health = doc["services"][0]["health"].toObject();
    QCOMPARE(health["state"].toString(), QStringLiteral("failing"));
    QCOMPARE(health["reasons"].toArray().size(), 2);
    QVERIFY(!doc["services"][1].toObject().contains("health"));

    ui::SnapshotDocument reread;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(QByteArray::fromStdString(text), &reread, &error),
             qPrintable(error));
    QCOMPARE(reread.graph.services[0].health, reviews.health);
    QVERIFY(!reread.graph.services[1].health);
    const ui::HealthThresholds thresholds;
    QCOMPARE(ui::serviceHealth(reread.graph.services[0], thresholds), ui::Health::kCritical);
    QCOMPARE(ui::serviceHealth(reread.graph.services[1], thresholds), ui::Health::kCritical);
    cart.inbound.success_rate = 1.0;
    QCOMPARE(ui::serviceHealth(cart, thresholds), ui::Health::kHealthy);
    cart.health = cp::ServiceHealth{cp::HealthState::kDegraded, {"1 proxy not synced"}};
    QCOMPARE(ui::serviceHealth(cart, thresholds), ui::Health::kWarning);
    // An unknown state makes the file unreadable, as documented.
    QVERIFY(!ui::parseSnapshotJson(
        R"({"services":[{"name":"a","health":{"state":"fine","reasons":[]}}]})", &reread, &error));
    QVERIFY2(error.contains("health"), qPrintable(error));
  }

  // The control plane's own writer (what `meshdeckctl snapshot` saves) carries each service's
  // per-rule authorization counts, as documented, and the app reads them back.
  void authorizationCountsPerService() {
    cp::GraphSnapshot g;
    g.window_seconds = 10;
    cp::ServiceNode reviews;
    reviews.name = "reviews";
    reviews.authorization = {
        {"", "default", "DEFAULT", false, 1200, 0, 0},
        {"reviews-audit", "rules[0]", "DENY", true, 0, 0, 37},
        {"reviews-no-delete", "rules[0]", "DENY", false, 0, 12, 0},
    };
    cp::ServiceNode cart;
    cart.name = "cart";
    g.services = {reviews, cart};
    const std::string text = cp::snapshotToJson(g, {}, "test");

    const auto doc = QJsonDocument::fromJson(QByteArray::fromStdString(text));
    QCOMPARE(doc["format_version"].toInt(), cp::kSnapshotFormatVersion);
    const QJsonArray services = doc["services"].toArray();
    QCOMPARE(services.size(), 2);
    const QJsonArray rules = services[0].toObject()["authorization"].toArray();
    QCOMPARE(rules.size(), 3);
    const QJsonObject audit = rules[1].toObject();
    QCOMPARE(audit["policy"].toString(), QStringLiteral("reviews-audit"));
    QCOMPARE(audit["rule"].toString(), QStringLiteral("rules[0]"));
    QCOMPARE(audit["action"].toString(), QStringLiteral("DENY"));
    QCOMPARE(audit["dry_run"].toBool(), true);
    QCOMPARE(audit["dry_run_denied"].toInteger(), qint64(37));
    QCOMPARE(audit["allowed"].toInteger(), qint64(0));
    QCOMPARE(rules[2].toObject()["denied"].toInteger(), qint64(12));
    QCOMPARE(rules[0].toObject()["allowed"].toInteger(), qint64(1200));
    QVERIFY(services[1].toObject()["authorization"].isArray());  // present, empty
    QVERIFY(services[1].toObject()["authorization"].toArray().isEmpty());

    ui::SnapshotDocument reread;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(QByteArray::fromStdString(text), &reread, &error),
             qPrintable(error));
    QCOMPARE(reread.graph.services.size(), size_t(2));
    const auto& back = reread.graph.services[0].authorization;
    QCOMPARE(back.size(), size_t(3));
    for (size_t i = 0; i < back.size(); ++i) {
      const auto& want = reviews.authorization[i];
      QCOMPARE(back[i].policy, want.policy);
      QCOMPARE(back[i].rule, want.rule);
      QCOMPARE(back[i].action, want.action);
      QCOMPARE(back[i].dry_run, want.dry_run);
      QCOMPARE(back[i].allowed, want.allowed);
      QCOMPARE(back[i].denied, want.denied);
      QCOMPARE(back[i].dry_run_denied, want.dry_run_denied);
    }
    QVERIFY(reread.graph.services[1].authorization.empty());
    // An entry without a rule is refused, not half-read.
    QVERIFY(!ui::parseSnapshotJson(
        R"({"services":[{"name":"a","authorization":[{"policy":"p","denied":1}]}]})", &reread,
        &error));
    QVERIFY2(error.contains("authorization"), qPrintable(error));
  }

  // Each policy's badges are written by the control plane's writer and read back; a file written
  // before they existed reads as no badges.
  void policyBadgesInTheFile() {
    cp::GraphSnapshot g;
    const std::vector<cp::PolicyInfo> policies = {
        {"TrafficRoute", "reviews-canary", "reviews", "x", 3, {true, true, false, false}},
        {"PeerAuthentication", "mesh", "*", "y", 4, {false, false, false, true}},
        {"RateLimit", "cart", "cart", "z", 5, {false, false, true, false}},
    };
    const std::string text = cp::snapshotToJson(g, policies, "test");
    const auto doc = QJsonDocument::fromJson(QByteArray::fromStdString(text));
    const QJsonObject first = doc["policies"].toArray()[0].toObject()["badges"].toObject();
    QCOMPARE(first["fault"].toBool(), true);
    QCOMPARE(first["canary"].toBool(), true);
    QCOMPARE(first["rate_limit"].toBool(), false);
    QCOMPARE(first["mtls"].toBool(), false);

    ui::SnapshotDocument reread;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(QByteArray::fromStdString(text), &reread, &error),
             qPrintable(error));
    QCOMPARE(reread.policies.size(), policies.size());
    for (size_t i = 0; i < policies.size(); ++i) {
      QCOMPARE(reread.policies[i].name, policies[i].name);
      QVERIFY(reread.policies[i].badges == policies[i].badges);
    }
    QVERIFY2(ui::parseSnapshotJson(
                 R"({"format":"meshdeck-snapshot","format_version":1,"services":[],)"
                 R"("policies":[{"kind":"RateLimit","name":"old","yaml":"kind: RateLimit\n"}]})",
                 &reread, &error),
             qPrintable(error));
    QCOMPARE(reread.policies.size(), size_t(1));
    QVERIFY(!reread.policies[0].badges.any());
  }

  void refusesBrokenFiles() {
    ui::SnapshotDocument doc;
    QString error;
    QVERIFY(!ui::parseSnapshotJson("not json", &doc, &error));
    QVERIFY(error.startsWith("not JSON"));
    QVERIFY(!ui::parseSnapshotJson("[1,2]", &doc, &error));
    QVERIFY(!ui::parseSnapshotJson("{\"graph\": {}}", &doc, &error));
    QVERIFY(error.contains("no services"));
    QVERIFY(!ui::parseSnapshotJson(R"({"format_version": 2, "services": []})", &doc, &error));
    QVERIFY(error.contains("format version 2"));
    // A histogram whose counts do not add up is refused, not half-read.
    QVERIFY(!ui::parseSnapshotJson(
        R"({"graph":{"services":[{"name":"a","inbound":{"latency":{"layout":1,
           "buckets":[{"index":5,"count":"3"}],"count":"7","sumNs":"1","minNs":"1","maxNs":"1"}}}]}})",
        &doc, &error));
    QVERIFY2(error.contains("histogram"), qPrintable(error));
    QVERIFY(!ui::parseSnapshotJson(
        R"({"graph":{"services":[{"name":"a","inbound":{"latency":{"layout":9}}}]}})", &doc,
        &error));
    QVERIFY(error.contains("layout 9"));
    // The protobuf JSON spelling (camelCase, wrapped in "graph", buckets as objects, enum
    // names, 64-bit integers as strings) reads the same as the control plane's own.
    QVERIFY2(ui::parseSnapshotJson(
                 R"({"graph":{"policyRevision":"7","services":[{"name":"a"},{"name":"b"}],
                    "edges":[{"source":"a","destination":"b","metrics":{"requestsPerSecond":2.5,
                    "p99Ms":12,"requests":"25","responsesByClass":["0","20","0","0","5"],
                    "latency":{"layout":1,"buckets":[{"index":900,"count":"25"}],"count":"25",
                    "sumNs":"25000000","minNs":"1000000","maxNs":"1000000"}}}],
                    "proxies":[{"proxyId":"a-1","state":"REJECTED"}]}})",
                 &doc, &error),
             qPrintable(error));
    QCOMPARE(doc.graph.policy_revision, uint64_t(7));
    QCOMPARE(doc.graph.edges[0].metrics.requests, uint64_t(25));
    QCOMPARE(doc.graph.edges[0].metrics.p99_ms, 12.0);
    QCOMPARE(doc.graph.edges[0].metrics.responses_by_class[4], uint64_t(5));
    QCOMPARE(doc.graph.edges[0].metrics.latency->count(), uint64_t(25));
    QCOMPARE(doc.graph.proxies[0].state, cp::SyncState::kRejected);
    QVERIFY(!ui::SnapshotControlPlane::open("/nonexistent/file.json", &error));
  }
};

QTEST_MAIN(SnapshotTest)
#include "snapshot_test.moc"
