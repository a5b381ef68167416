// The certificates view: CertificatesModel under QAbstractItemModelTester, the expiring/expired
// highlighting at fixed times, the panel fed off the GUI thread, and the inspector's transport,
// denied and proxy-identity details.
#include <QAbstractItemModelTester>
#include <QDockWidget>
#include <QLabel>
#include <QTableView>
#include <QTableWidget>
#include <QtTest>

#include "certificates_control_plane.h"
#include "ui/certificates_panel.h"
#include "ui/control_plane_client.h"
#include "ui/inspector.h"
#include "ui/main_window.h"
#include "ui/table_models.h"

using namespace meshdeck;
using namespace std::chrono_literals;
using testing::CertificatesControlPlane;
using testing::FakeControlPlane;

namespace {

// 2026-09-21 12:00:00 UTC: a fixed "now" for every highlighting check.
const cp::SystemTime kNow = cp::SystemTime(std::chrono::seconds(1'790'000'000));

cp::CertificateInfo certificate(const std::string& proxy, cp::SystemTime not_before,
                                std::chrono::hours lifetime, const std::string& serial) {
  cp::CertificateInfo c;
  c.proxy_id = proxy;
  c.spiffe_id = "spiffe://meshdeck.local/ns/default/sa/" + proxy.substr(0, proxy.find('-'));
  c.issuer = "CN=Meshdeck Root CA 5E0C41A2,O=meshdeck.local";
  c.serial = serial;
  c.not_before = not_before;
  c.not_after = not_before + lifetime;
  return c;
}

// Valid (issued 2 h ago), expiring (issued 20 h ago of 24 h), expired (issued 25 h ago).
std::vector<cp::CertificateInfo> threeCertificates() {
  return {certificate("reviews-v1-0", kNow - 2h, 24h, "0A"),
          certificate("ratings-v1-0", kNow - 20h, 24h, "0B"),
          certificate("cart-v1-0", kNow - 25h, 24h, "0C")};
}

void saveScreenshot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
  if (dir.isEmpty()) return;
  QVERIFY(w->grab().save(dir + "/" + name + ".png"));
}

}  // namespace

class CertificatesTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void stateBoundariesAtFixedTimes() {
    // 100 h lifetime: the last 20 % starts at 80 h.
    const auto c = certificate("a-v1-0", kNow, 100h, "01");
    QCOMPARE(int(ui::certificateState(c, kNow)), int(ui::CertificateState::kValid));
    QCOMPARE(int(ui::certificateState(c, kNow + 79h + 59min)), int(ui::CertificateState::kValid));
    QCOMPARE(int(ui::certificateState(c, kNow + 80h)), int(ui::CertificateState::kExpiring));
    QCOMPARE(int(ui::certificateState(c, kNow + 99h)), int(ui::CertificateState::kExpiring));
    QCOMPARE(int(ui::certificateState(c, kNow + 100h)), int(ui::CertificateState::kExpired));
    QCOMPARE(int(ui::certificateState(c, kNow + 200h)), int(ui::CertificateState::kExpired));
    QCOMPARE(ui::formatRemaining(kNow + 3h + 20min, kNow), QStringLiteral("in 3 h 20 min"));
    QCOMPARE(ui::formatRemaining(kNow - 5min, kNow), QStringLiteral("expired 5 min ago"));
    QCOMPARE(ui::formatRemaining(kNow + 72h, kNow), QStringLiteral("in 3 d 0 h"));
  }

  void modelHighlightsExpiringAndExpired() {
    ui::CertificatesModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    model.setCertificates(threeCertificates(), kNow);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.columnCount(), int(ui::CertificatesModel::kColumns));
    using M = ui::CertificatesModel;
    auto text = [&model](int row, int column) {
      return model.data(model.index(row, column), Qt::DisplayRole).toString();
    };
    auto background = [&model](int row, int column) {
      return model.data(model.index(row, column), Qt::BackgroundRole);
    };
    QCOMPARE(text(0, M::kProxy), QStringLiteral("reviews-v1-0"));
    QCOMPARE(text(0, M::kSpiffeId),
             QStringLiteral("spiffe://meshdeck.local/ns/default/sa/reviews"));
    QCOMPARE(text(0, M::kIssuer), QStringLiteral("CN=Meshdeck Root CA 5E0C41A2,O=meshdeck.local"));
    QCOMPARE(text(1, M::kSerial), QStringLiteral("0B"));
    QCOMPARE(text(0, M::kState), QStringLiteral("valid"));
    QCOMPARE(text(1, M::kState), QStringLiteral("expiring"));
    QCOMPARE(text(2, M::kState), QStringLiteral("expired"));
    QCOMPARE(text(0, M::kExpires), QStringLiteral("in 22 h 0 min"));
    QCOMPARE(text(2, M::kExpires), QStringLiteral("expired 1 h 0 min ago"));
    // No tint on a valid row, amber on the expiring one, red on the expired one, on every cell.
    QVERIFY(!background(0, M::kProxy).isValid());
    const QColor amber = background(1, M::kProxy).value<QColor>();
    const QColor red = background(2, M::kExpires).value<QColor>();
    QVERIFY(amber.isValid() && red.isValid());
    QVERIFY(amber.red() > amber.blue() && amber.green() > amber.blue());  // amber
    QVERIFY(red.red() > 2 * red.green());                                 // red
    QCOMPARE(background(1, M::kState).value<QColor>(), amber);
    QCOMPARE(model.count(ui::CertificateState::kValid), 1);
    QCOMPARE(model.count(ui::CertificateState::kExpiring), 1);
    QCOMPARE(model.count(ui::CertificateState::kExpired), 1);
    // Sort values: expiry in ms since the epoch.
    QVERIFY(model.data(model.index(2, M::kExpires), Qt::UserRole).toLongLong() <
            model.data(model.index(0, M::kExpires), Qt::UserRole).toLongLong());
    QVERIFY(model.data(model.index(0, M::kProxy), Qt::ToolTipRole).toString().contains("0A"));

    // Time moves, same certificates: dataChanged, no reset; the valid one is now expiring.
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy changes(&model, &QAbstractItemModel::dataChanged);
    model.setCertificates(threeCertificates(), kNow + 18h);
    QCOMPARE(resets.count(), 0);
    QCOMPARE(changes.count(), 1);
    QCOMPARE(int(model.stateAt(0)), int(ui::CertificateState::kExpiring));
    // A renewal (new serial): reset.
    auto renewed = threeCertificates();
    renewed[1] = certificate("ratings-v1-0", kNow, 24h, "0D");
    model.setCertificates(renewed, kNow);
    QCOMPARE(resets.count(), 1);
    QCOMPARE(int(model.stateAt(1)), int(ui::CertificateState::kValid));
    QVERIFY(model.certificateAt(3) == nullptr);
    model.setCertificates({}, kNow);
    QCOMPARE(model.rowCount(), 0);
  }

  void panelListsCertificatesSoonestExpiryFirst() {
    auto plane = std::make_shared<CertificatesControlPlane>(std::make_shared<FakeControlPlane>());
    ui::ControlPlaneClient client(plane, false);
    ui::CertificatesPanel panel(&client);
    panel.setClock([] { return kNow; });
    panel.resize(480, 300);
    panel.show();  // refreshes: nothing issued yet
    QTRY_VERIFY_WITH_TIMEOUT(panel.summary()->text().contains("No workload certificates"), 5000);
    plane->setCertificates(threeCertificates());
    panel.refresh();
    QTRY_COMPARE_WITH_TIMEOUT(panel.model()->rowCount(), 3, 5000);
    const QString summary = panel.summary()->text();
    QVERIFY2(summary.contains("3 certificate(s)") && summary.contains("1 expiring") &&
                 summary.contains("1 expired"),
             qPrintable(summary));
    // The view sorts by expiry: the expired certificate first, the freshest last.
    QAbstractItemModel* view_model = panel.table()->model();
    QCOMPARE(view_model->index(0, ui::CertificatesModel::kProxy).data().toString(),
             QStringLiteral("cart-v1-0"));
    QCOMPARE(view_model->index(2, ui::CertificatesModel::kProxy).data().toString(),
             QStringLiteral("reviews-v1-0"));
    client.waitForIdle();
  }

  void inspectorShowsTransportDeniedAndIdentity() {
    auto fake = std::make_shared<FakeControlPlane>();
    auto plane = std::make_shared<CertificatesControlPlane>(fake);
    ui::ControlPlaneClient client(plane, false);
    ui::Inspector inspector(&client);
    inspector.resize(420, 900);
    inspector.show();

    auto snapshot = std::make_shared<cp::GraphSnapshot>(*fake->snapshot());
    QVERIFY(!snapshot->edges.empty());
    cp::ServiceEdge& edge = snapshot->edges.front();
    edge.metrics.requests = 1000;
    edge.metrics.mtls_requests = 950;
    edge.metrics.plaintext_requests = 50;
    edge.metrics.denied = 12;
    inspector.showSnapshot(snapshot);
    ui::GraphSelection selection;
    selection.kind = ui::GraphSelection::Kind::kEdge;
    selection.source = QString::fromStdString(edge.source);
    selection.destination = QString::fromStdString(edge.destination);
    inspector.setSelection(selection);
    QString security = inspector.securityText();
    QVERIFY2(security.contains("mTLS 950 (95.00 %)") && security.contains("plaintext 50 (5.0 %)") &&
                 security.contains("mixed") && security.contains("Denied: 12 (1.2 % of requests)"),
             qPrintable(security));
    edge.metrics.plaintext_requests = 0;
    edge.metrics.mtls_requests = 1000;
    edge.metrics.denied = 0;
    inspector.showSnapshot(snapshot);
    security = inspector.securityText();
    QVERIFY2(security.contains("all mutual TLS") && security.contains("Denied: 0"),
             qPrintable(security));

    // A service: its proxies' SPIFFE ids and certificate expiry (one proxy has none).
    const std::string service = "reviews";
    std::vector<const cp::ProxyInfo*> proxies;
    for (const auto& p : snapshot->proxies) {
      if (p.service == service) proxies.push_back(&p);
    }
    QVERIFY(proxies.size() >= 2);
    const auto now = std::chrono::system_clock::now();
    plane->setCertificates({
        certificate(proxies[0]->proxy_id, now - 2h, 24h, "A1"),
        // An older certificate of the same proxy is ignored: the newest counts.
        certificate(proxies[0]->proxy_id, now - 30h, 24h, "A0"),
        certificate(proxies[1]->proxy_id, now - 21h, 24h, "B1"),
    });
    selection = {};
    selection.kind = ui::GraphSelection::Kind::kNode;
    selection.node = QString::fromStdString(service);
    inspector.setSelection(selection);
    QTableWidget* table = inspector.proxiesTable();
    constexpr int kExpires = 4;
    QTRY_VERIFY_WITH_TIMEOUT(
        table->item(0, kExpires) && table->item(0, kExpires)->text().startsWith("in "), 5000);
    const QString identity = inspector.identityText();
    QVERIFY2(identity.contains("spiffe://meshdeck.local/ns/default/sa/reviews") &&
                 identity.contains(QString("2 of %1 proxies").arg(proxies.size())),
             qPrintable(identity));
    QVERIFY(table->item(0, 0)->toolTip().contains("serial A1"));  // the newest one
    QVERIFY2(table->item(0, kExpires)->text().startsWith("in 21 h") ||
                 table->item(0, kExpires)->text().startsWith("in 22 h"),
             qPrintable(table->item(0, kExpires)->text()));
    QVERIFY(table->item(0, kExpires)->background().style() == Qt::NoBrush);  // valid: no tint
    QVERIFY(table->item(1, kExpires)->text().startsWith("in 2 h") ||
            table->item(1, kExpires)->text().startsWith("in 3 h"));
    QVERIFY(table->item(1, kExpires)->background().style() != Qt::NoBrush);  // expiring: tinted
    if (proxies.size() > 2) QCOMPARE(table->item(2, kExpires)->text(), QStringLiteral("none"));
    saveScreenshot(&inspector, "inspector-node-identity");
    client.waitForIdle();
  }

  // The Certificates tab of the real window with the storefront's proxies: for the docs.
  void certificatesTabInTheWindow() {
    auto fake = std::make_shared<FakeControlPlane>();
    auto plane = std::make_shared<CertificatesControlPlane>(fake);
    plane->setCertificates(CertificatesControlPlane::forProxies(
        *fake->snapshot(), std::chrono::system_clock::now(),
        {2h, 7h, 11h, 19h + 40min, 3h, 14h, 24h + 10min, 21h}));
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    options.use_settings = false;
    ui::MainWindow window(plane, options);
    window.resize(1440, 900);
    window.show();
    QVERIFY(window.certificatesPanel() != nullptr);
    window.sidePanel()->setCurrentWidget(window.certificatesPanel());
    // A wider side panel than the default, so that issuer and SPIFFE id show in the picture.
    if (auto* dock = window.findChild<QDockWidget*>("meshDock"))
      window.resizeDocks({dock}, {760}, Qt::Horizontal);
    QTRY_COMPARE_WITH_TIMEOUT(window.certificatesPanel()->model()->rowCount(),
                              int(fake->snapshot()->proxies.size()), 5000);
    QVERIFY(window.certificatesPanel()->model()->count(ui::CertificateState::kExpiring) > 0);
    QVERIFY(window.certificatesPanel()->model()->count(ui::CertificateState::kExpired) > 0);
    QTest::qWait(300);
    saveScreenshot(&window, "certificates-panel");
    window.client()->waitForIdle();
  }
};

QTEST_MAIN(CertificatesTest)
#include "certificates_test.moc"
