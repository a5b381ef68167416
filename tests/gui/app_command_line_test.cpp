// The desktop app's command line (app/command_line.h): the combinations it refuses, and the
// control plane each accepted one opens — embedded (real, loopback port 0, its state directory
// created), a snapshot file (read-only; a missing or broken file says so), an unreachable remote.
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include "app/command_line.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/snapshot_json.h"
#include "support/free_ports.h"

using namespace meshdeck;
using namespace meshdeck::app;

namespace {

bool read(QStringList args, AppCommandLine* cl, QString* error) {
  QCommandLineParser parser;
  declareOptions(parser);
  args.prepend("meshdeck");
  if (!parser.parse(args)) {
    *error = parser.errorText();
    return false;
  }
  return readCommandLine(parser, cl, error);
}

}  // namespace

class AppCommandLineTest : public QObject {
  Q_OBJECT

 private slots:
  void refusesCombinationsThatCannotWork() {
    const QList<QPair<QStringList, QString>> cases = {
        {{"a.json", "b.json"}, "give at most one snapshot file"},
        {{"a.json", "--demo", "storefront"}, "a snapshot file opens offline"},
        {{"a.json", "--connect", "127.0.0.1:1"}, "a snapshot file opens offline"},
        {{"--demo", "storefront", "--connect", "127.0.0.1:1"}, "cannot be combined with --connect"},
        {{"--scenario", "outage"}, "--scenario plays on a demo mesh: give --demo too"},
        {{"--screenshot", "x.png", "--screenshot-after", "soon"}, "soon"},
        {{"--no-such-option"}, "no-such-option"},
        {{"--keep-state"}, "--keep-state keeps a demo's policies: give --demo too"},
        {{"--window-size", "99999999999999999999x1"}, "--window-size wants WIDTHxHEIGHT"},
        {{"--window-size", "1280x720x3"}, "--window-size wants WIDTHxHEIGHT"},
        {{"--window-size", "-5x-5"}, "--window-size wants WIDTHxHEIGHT"},
        {{"--window-size", "100x100"}, "from 320x240 to 16384x16384"},
        {{"--window-size", QString::fromLatin1("\x01\xff")}, "--window-size wants WIDTHxHEIGHT"},
        {{"--window-size", ""}, "--window-size wants WIDTHxHEIGHT"},
    };
    for (const auto& [args, expected] : cases) {
      AppCommandLine cl;
      QString error;
      QVERIFY2(!read(args, &cl, &error), qPrintable(args.join(' ')));
      QVERIFY2(error.contains(expected), qPrintable(error));
    }
  }

  void readsWhatIsGiven() {
    AppCommandLine cl;
    QString error;
    QVERIFY2(read({"--demo", "storefront", "--scenario", "outage", "--screenshot", "x.png",
                   "--screenshot-after", "3,8", "--select", "cart", "--window-size", "1280x720"},
                  &cl, &error),
             qPrintable(error));
    QCOMPARE(cl.demo, QString("storefront"));
    QCOMPARE(cl.scenario, QString("outage"));
    QCOMPARE(cl.screenshot_times, (QList<double>{3, 8}));
    QCOMPARE(cl.window_size, QSize(1280, 720));
    QCOMPARE(cl.listen, QString("127.0.0.1:15010"));  // the default
    QVERIFY(!cl.keep_state);                          // a demo starts clean by default
    QVERIFY(read({"--demo", "storefront", "--keep-state"}, &cl, &error));
    QVERIFY(cl.keep_state);
    QVERIFY(read({"--demo", "storefront", "--scenario", "outage", "--screenshot", "x.png",
                  "--screenshot-after", "3,8", "--select", "cart", "--tap", "reviews"},
                 &cl, &error));
    QCOMPARE(cl.tap, QString("reviews"));
    QVERIFY(cl.snapshot.isEmpty());
    const auto options = mainWindowOptions(cl, OpenedControlPlane{});
    QCOMPARE(options.demo, QString("storefront"));
    QCOMPARE(options.select_service, QString("cart"));
    QCOMPARE(options.tap_service, QString("reviews"));
    QVERIFY(options.demo_status.startsWith("Demo storefront: starting"));
  }

  void opensAnEmbeddedControlPlane() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    AppCommandLine cl;
    QString error;
    QVERIFY(
        read({"--listen", "127.0.0.1:0", "--state-dir", dir.filePath("a/b/state")}, &cl, &error));
    OpenedControlPlane opened;
    QVERIFY2(openControlPlane(cl, &opened, &error), qPrintable(error));
    QVERIFY(opened.embedded != nullptr);
    QVERIFY(!opened.read_only);
    QCOMPARE(opened.source, QString("Embedded control plane"));
    QVERIFY(QFileInfo(dir.filePath("a/b/state")).isDir());
    QVERIFY(opened.control_plane->listenAddress().rfind("127.0.0.1:", 0) == 0);
    opened.embedded->stop();
  }

  void opensASnapshotReadOnlyOrSaysWhy() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString good = dir.filePath("mesh.json");
    {
      QFile f(good);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(QByteArray::fromStdString(cp::snapshotToJson({}, {}, "test")));
    }
    AppCommandLine cl;
    QString error;
    QVERIFY(read({good}, &cl, &error));
    OpenedControlPlane opened;
    QVERIFY2(openControlPlane(cl, &opened, &error), qPrintable(error));
    QVERIFY(opened.read_only);
    QVERIFY(opened.embedded == nullptr);
    QCOMPARE(opened.source, "Snapshot " + good);

    const QString broken = dir.filePath("broken.json");
    {
      QFile f(broken);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("{\"format\": ");
    }
    for (const QString& path : {broken, dir.filePath("missing.json")}) {
      QVERIFY(read({path}, &cl, &error));
      QVERIFY(!openControlPlane(cl, &opened, &error));
      QVERIFY2(!error.isEmpty(), qPrintable(path));
    }
  }

  void saysWhenTheRemoteCannotBeReached() {
    // A port that was free a moment ago: nothing listens there.
    const QString address = QStringLiteral("127.0.0.1:%1").arg(meshdeck::test::freePort());
    AppCommandLine cl;
    QString error;
    QVERIFY(read({"--connect", address}, &cl, &error));
    OpenedControlPlane opened;
    QVERIFY(!openControlPlane(cl, &opened, &error));
    QVERIFY2(error.startsWith("cannot reach the control plane at " + address), qPrintable(error));
  }
};

QTEST_GUILESS_MAIN(AppCommandLineTest)
#include "app_command_line_test.moc"
