// QSettings: the window's geometry, dock layout, edge label, filters and the last demo survive a
// restart (in a temporary settings directory). Theme: the graph, the inspector's charts and the
// graph style follow a dark palette.
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDockWidget>
#include <QSettings>
#include <QTemporaryDir>
#include <QToolBar>
#include <QtTest>

#include "support/fake_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/graph_style.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"
#include "ui/main_window.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

namespace {

QPalette darkPalette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0x20, 0x21, 0x24));
  p.setColor(QPalette::Base, QColor(0x2b, 0x2b, 0x2b));
  p.setColor(QPalette::Text, QColor(0xe8, 0xea, 0xed));
  p.setColor(QPalette::WindowText, QColor(0xe8, 0xea, 0xed));
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x8b, 0xfd));
  return p;
}

QPalette lightPalette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0xef, 0xef, 0xef));
  p.setColor(QPalette::Base, QColor(0xff, 0xff, 0xff));
  p.setColor(QPalette::Text, QColor(0x10, 0x10, 0x10));
  p.setColor(QPalette::WindowText, QColor(0x10, 0x10, 0x10));
  return p;
}

QComboBox* metricBox(ui::MainWindow& window) {
  for (auto* box : window.findChildren<QComboBox*>()) {
    if (box->count() > 0 && box->itemText(0) == QStringLiteral("p99 latency")) return box;
  }
  return nullptr;
}

}  // namespace

class SettingsThemeTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(settings_dir_.isValid());
    // Everything QSettings writes goes to the temporary directory, never the user's settings.
    QCoreApplication::setOrganizationName(QStringLiteral("MeshdeckSettingsTest"));
    QCoreApplication::setApplicationName(QStringLiteral("meshdeck-settings-test"));
    QSettings::setDefaultFormat(QSettings::IniFormat);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settings_dir_.path());
  }

  void windowStateAndLastDemoSurviveARestart() {
    const QRect first_geometry(40, 30, 1111, 777);
    {
      ui::MainWindowOptions options;
      options.source = "Fake control plane";
      options.demo = "storefront";
      ui::MainWindow window(std::make_shared<FakeControlPlane>(), options);
      window.show();
      QVERIFY(QTest::qWaitForWindowExposed(&window));
      window.setGeometry(first_geometry);
      QTRY_COMPARE(window.size(), first_geometry.size());
      QComboBox* metric = metricBox(window);
      QVERIFY(metric != nullptr);
      metric->setCurrentIndex(2);  // requests/s
      auto* mesh_dock = window.findChild<QDockWidget*>("meshDock");
      QVERIFY(mesh_dock != nullptr);
      mesh_dock->hide();
      QVERIFY(window.close());  // saves
      window.client()->waitForIdle();
    }
    QSettings settings;
    QVERIFY2(QFileInfo(settings.fileName()).absoluteFilePath().startsWith(settings_dir_.path()),
             qPrintable(settings.fileName()));
    QVERIFY(QFileInfo::exists(settings.fileName()));
    QCOMPARE(settings.value("demo/last").toString(), QStringLiteral("storefront"));
    QVERIFY(!settings.value("window/geometry").toByteArray().isEmpty());
    QVERIFY(!settings.value("window/state").toByteArray().isEmpty());
    QCOMPARE(settings.value("graph/metric").toInt(), 2);

    // A new window without --demo: geometry, dock layout and label come back; the last demo
    // stays remembered.
    ui::MainWindowOptions options;
    options.source = "Fake control plane";
    ui::MainWindow again(std::make_shared<FakeControlPlane>(), options);
    again.show();
    QVERIFY(QTest::qWaitForWindowExposed(&again));
    QCOMPARE(again.size(), first_geometry.size());
    QCOMPARE(int(again.graphView()->metric()), int(ui::EdgeMetric::kRequestRate));
    QCOMPARE(metricBox(again)->currentIndex(), 2);
    QVERIFY(again.findChild<QDockWidget*>("meshDock")->isHidden());
    QCOMPARE(QSettings().value("demo/last").toString(), QStringLiteral("storefront"));
    again.client()->waitForIdle();
  }

  void graphStyleFollowsThePalette() {
    const ui::GraphStyle dark = ui::GraphStyle::fromPalette(darkPalette());
    QVERIFY(dark.dark);
    QVERIFY(dark.background.lightness() < 60);
    QVERIFY(dark.node_fill.lightness() < 80);
    QVERIFY(dark.text.lightness() > 180);
    const ui::GraphStyle light = ui::GraphStyle::fromPalette(lightPalette());
    QVERIFY(!light.dark);
    QVERIFY(light.background.lightness() > 200);
    QVERIFY(light.node_fill.lightness() > 200);
    // Health colours differ between the themes (brighter on dark) but keep their hue family.
    QVERIFY(dark.healthy != light.healthy);
    QVERIFY(dark.healthy.lightness() > light.healthy.lightness());
    QVERIFY(dark.critical.red() > dark.critical.green());
  }

  void graphViewAndChartsTurnDarkWithThePalette() {
    auto plane = std::make_shared<FakeControlPlane>();
    ui::ControlPlaneClient client(plane, false);
    ui::GraphView view;
    view.setPalette(lightPalette());
    view.resize(600, 400);
    view.show();
    QVERIFY(view.backgroundBrush().color().lightness() > 200);
    view.setPalette(darkPalette());  // a PaletteChange, as when the system theme switches
    QVERIFY2(view.backgroundBrush().color().lightness() < 60,
             qPrintable(view.backgroundBrush().color().name()));

    ui::Inspector inspector(&client);
    inspector.setPalette(lightPalette());
    const auto views = inspector.findChildren<QChartView*>();
    QVERIFY(!views.isEmpty());
    for (auto* v : views) QCOMPARE(int(v->chart()->theme()), int(QChart::ChartThemeLight));
    inspector.setPalette(darkPalette());
    for (auto* v : views) QCOMPARE(int(v->chart()->theme()), int(QChart::ChartThemeDark));
    client.waitForIdle();
  }

 private:
  QTemporaryDir settings_dir_;
};

QTEST_MAIN(SettingsThemeTest)
#include "settings_theme_test.moc"
