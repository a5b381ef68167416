// The inspector's authorization table: a selected service's rules with their allowed, denied and
// dry-run counts from the snapshot, hidden for a service without rules.
#include <QDockWidget>
#include <QLabel>
#include <QTableWidget>
#include <QtTest>

#include "support/fake_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"
#include "ui/main_window.h"

using namespace meshdeck;
using testing::FakeControlPlane;

class InspectorAuthzTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void selectedServiceShowsItsRules() {
    auto fake = std::make_shared<FakeControlPlane>();
    ui::ControlPlaneClient client(fake, false);
    ui::Inspector inspector(&client);
    inspector.resize(560, 1100);
    inspector.show();

    auto snapshot = std::make_shared<cp::GraphSnapshot>(*fake->snapshot());
    QVERIFY(snapshot->services.size() >= 2);
    cp::ServiceNode& node = snapshot->services[0];
    node.authorization = {
        {"", "default", "DEFAULT", false, 1200, 0, 0},
        {"reviews-audit", "rules[0]", "DENY", true, 0, 0, 37},
        {"reviews-no-delete", "rules[0]", "DENY", false, 0, 12, 0},
    };
    snapshot->services[1].authorization.clear();
    inspector.showSnapshot(snapshot);

    ui::GraphSelection selection;
    selection.kind = ui::GraphSelection::Kind::kNode;
    selection.node = QString::fromStdString(node.name);
    inspector.setSelection(selection);
    QTableWidget* table = inspector.authorizationTable();
    QVERIFY(table->isVisible());
    QCOMPARE(table->rowCount(), 3);
    QCOMPARE(table->item(0, 0)->text(), QStringLiteral("(no rule matched)"));
    QCOMPARE(table->item(0, 3)->text(), QStringLiteral("1200"));
    QCOMPARE(table->item(1, 0)->text(), QStringLiteral("reviews-audit"));
    QCOMPARE(table->item(1, 2)->text(), QStringLiteral("DENY (dry run)"));
    QCOMPARE(table->item(1, 5)->text(), QStringLiteral("37"));
    QVERIFY(table->item(1, 5)->background().style() != Qt::NoBrush);  // would deny: tinted
    QCOMPARE(table->item(2, 1)->text(), QStringLiteral("rules[0]"));
    QCOMPARE(table->item(2, 4)->text(), QStringLiteral("12"));
    QVERIFY(table->item(2, 4)->background().style() != Qt::NoBrush);
    QVERIFY(table->item(0, 4)->background().style() == Qt::NoBrush);  // nothing denied
    const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
    if (!dir.isEmpty()) QVERIFY(inspector.grab().save(dir + "/inspector-authz-rules-fake.png"));

    // A service without rules has no table.
    selection.node = QString::fromStdString(snapshot->services[1].name);
    inspector.setSelection(selection);
    QVERIFY(!table->isVisible());
    QCOMPARE(table->rowCount(), 0);
    client.waitForIdle();
  }

  // The window with reviews selected, its rules from the bundled reviews-authz.yaml sample and a
  // dry-run audit policy, with made-up counts (MESHDECK_SCREENSHOT_DIR:
  // inspector-authz-window-fake.png; the picture in docs/ comes from the real app and demo).
  void windowShowsTheRulesOfTheSelectedService() {
    auto fake = std::make_shared<FakeControlPlane>();
    cp::GraphSnapshot snapshot = *fake->snapshot();
    bool found = false;
    for (auto& n : snapshot.services) {
      if (n.name != "reviews") continue;
      found = true;
      n.inbound.denied = 23;  // agrees with the rules below
      n.authorization = {
          {"", "default", "DEFAULT", false, 0, 14, 0},
          {"no-delete", "rules[0]", "DENY", false, 0, 9, 0},
          {"reviews-audit", "rules[0]", "DENY", true, 0, 0, 212},
          {"reviews-readers", "rules[0].to[0]", "ALLOW", false, 1843, 0, 0},
          {"reviews-readers", "rules[0].to[1]", "ALLOW", false, 57, 0, 0},
      };
    }
    QVERIFY(found);
    fake->setSnapshot(snapshot);
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    options.use_settings = false;
    ui::MainWindow window(fake, options);
    window.resize(1440, 1000);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTRY_VERIFY_WITH_TIMEOUT(window.graphView()->layoutsDone() >= 1, 10000);
    fake->publish();
    window.graphView()->selectNode("reviews");
    // The inspector dock as wide as a user drags it to read the whole table.
    QDockWidget* inspector_dock = nullptr;
    for (auto* dock : window.findChildren<QDockWidget*>())
      if (dock->isAncestorOf(window.inspector())) inspector_dock = dock;
    QVERIFY(inspector_dock != nullptr);
    window.resizeDocks({inspector_dock}, {640}, Qt::Horizontal);
    QTRY_VERIFY_WITH_TIMEOUT(inspector_dock->width() >= 600, 5000);
    QTableWidget* table = window.inspector()->authorizationTable();
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 5, 5000);
    QCOMPARE(table->item(3, 0)->text(), QStringLiteral("reviews-readers"));
    QCOMPARE(table->item(3, 3)->text(), QStringLiteral("1843"));
    const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
    if (!dir.isEmpty()) QVERIFY(window.grab().save(dir + "/inspector-authz-window-fake.png"));
  }

  // `meshdeck --select SERVICE` (MainWindowOptions::select_service): the service is selected,
  // and the inspector opens on it, once the graph shows it; a name not (yet) in the graph
  // selects nothing and waits.
  void selectOptionSelectsTheServiceOnceShown() {
    auto fake = std::make_shared<FakeControlPlane>();
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    options.use_settings = false;
    options.select_service = "reviews";
    ui::MainWindow window(fake, options);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTRY_COMPARE_WITH_TIMEOUT(window.graphView()->selection().kind, ui::GraphSelection::Kind::kNode,
                              10000);
    QCOMPARE(window.graphView()->selection().node, QStringLiteral("reviews"));
    QTRY_VERIFY_WITH_TIMEOUT(window.inspector()->isVisible(), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(window.inspector()->title().contains("reviews"), 5000);

    // Not in the graph: nothing happens (the selection stays), until it is.
    window.selectServiceWhenShown("no-such-service");
    QTest::qWait(300);
    QCOMPARE(window.graphView()->selection().node, QStringLiteral("reviews"));
    window.selectServiceWhenShown("cart");
    QCOMPARE(window.graphView()->selection().node, QStringLiteral("cart"));
    // Done once: a later snapshot does not take the user's selection away.
    window.graphView()->selectNode("catalog");
    fake->publish();
    QTest::qWait(300);
    QCOMPARE(window.graphView()->selection().node, QStringLiteral("catalog"));
    window.client()->waitForIdle();
  }
};

QTEST_MAIN(InspectorAuthzTest)
#include "inspector_authz_test.moc"
