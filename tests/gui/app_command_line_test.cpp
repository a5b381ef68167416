// The desktop app's command line (app/command_line.h): the combinations it refuses, and the
// control plane each accepted one opens — embedded (real, loopback port 0, its state directory
// created), a snapshot file (read-only; a missing or broken file says so), an unreachable remote,
// and a real control plane reached with a context of the contexts file or a credentials file:
// the window's source names the operator and its role, and a viewer's apply is refused naming
// the role it needs.
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "app/command_line.h"
#include "common/pki/contexts_file.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/snapshot_json.h"
#include "support/binaries.h"
#include "support/free_ports.h"

using namespace meshdeck;
using namespace meshdeck::app;
namespace pki = meshdeck::pki;

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
        {{"--timeline-at", "soon"}, "--timeline-at takes a time in seconds (> 0)"},
        {{"--timeline-at", "-5"}, "--timeline-at takes a time in seconds (> 0)"},
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
    QCOMPARE(options.timeline_at_seconds, -1.0);  // live
    QVERIFY(read({"--demo", "storefront", "--timeline-at", "12.5"}, &cl, &error));
    QCOMPARE(mainWindowOptions(cl, OpenedControlPlane{}).timeline_at_seconds, 12.5);
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

  void connectsWithAContextOrCredentialsAndShowsTheRole() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    // A real control plane with a TLS port: its first start writes admin.credentials.
    cp::ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir = dir.filePath("state").toStdString();
    QVERIFY(QDir().mkpath(dir.filePath("state")));
    cp::InProcessControlPlane server(options);
    std::string why;
    QVERIFY2(server.start(&why), why.c_str());
    const QString admin = dir.filePath("state/admin.credentials");
    QVERIFY(QFile::exists(admin));
    const QString tls = QString::fromStdString(server.secureListenAddress());

    // The contexts file meshdeckctl writes, in this test's own config directory.
    qputenv("XDG_CONFIG_HOME", dir.filePath("config").toUtf8());
    pki::ContextConfig contexts;
    contexts.current = "lab";
    contexts.contexts.push_back({"lab", admin.toStdString(), ""});
    QVERIFY2(pki::writeContexts(pki::contextsPath(), contexts, &why), why.c_str());

    AppCommandLine cl;
    QString error;
    OpenedControlPlane opened;
    QVERIFY(read({"--connect", "lab"}, &cl, &error));
    QVERIFY2(openControlPlane(cl, &opened, &error), qPrintable(error));
    QCOMPARE(opened.source,
             QStringLiteral("Remote control plane %1 (context lab), as admin (admin)").arg(tls));

    // A viewer, added by the admin with meshdeckctl, reached with --credentials alone.
    QProcess ctl;
    ctl.start(meshdeck::test::bin("meshdeckctl"),
              {"--credentials", admin, "operator", "add", "alice", "--role", "viewer", "-o",
               dir.filePath("alice.creds")});
    QVERIFY(ctl.waitForFinished(20'000));
    QVERIFY2(ctl.exitCode() == 0, ctl.readAllStandardError().constData());
    QVERIFY(read({"--credentials", dir.filePath("alice.creds")}, &cl, &error));
    QVERIFY2(openControlPlane(cl, &opened, &error), qPrintable(error));
    QCOMPARE(opened.source, QStringLiteral("Remote control plane %1, as alice (viewer)").arg(tls));
    // A viewer reads (the CA's status), but may not apply.
    QVERIFY(opened.control_plane->rotateRoot(cp::RootRotationAction::kStatus, false).ok);
    const auto applied = opened.control_plane->applyPolicies(
        "apiVersion: meshdeck.io/v1alpha1\nkind: RateLimit\nmetadata: {name: x}\n"
        "spec: {selector: {service: reviews}, requestsPerSecond: 5}\n",
        "x.yaml", "alice", false);
    QVERIFY(!applied.ok);
    QVERIFY(!applied.errors.empty());
    QCOMPARE(
        QString::fromStdString(applied.errors.front().message),
        QStringLiteral("control plane: apply needs the operator role; you are alice (viewer)"));

    // The plaintext port on loopback is the local admin.
    QVERIFY(read({"--connect", QString::fromStdString(server.listenAddress())}, &cl, &error));
    QVERIFY2(openControlPlane(cl, &opened, &error), qPrintable(error));
    QVERIFY2(opened.source.endsWith(", plaintext: as the local admin (admin)"),
             qPrintable(opened.source));

    // An unknown name that is not HOST:PORT is an error, never a silent fallback.
    QVERIFY(read({"--connect", "nope"}, &cl, &error));
    QVERIFY(!openControlPlane(cl, &opened, &error));
    QCOMPARE(error, QStringLiteral("--connect: no context \"nope\" in %1, and not HOST:PORT (add "
                                   "one with meshdeckctl config add-context nope --credentials "
                                   "FILE)")
                        .arg(QString::fromStdString(pki::contextsPath().string())));
    QVERIFY(read({"--credentials", dir.filePath("missing.creds")}, &cl, &error));
    QVERIFY(!openControlPlane(cl, &opened, &error));
    QVERIFY2(error.startsWith("--credentials: cannot open " + dir.filePath("missing.creds")),
             qPrintable(error));
    qunsetenv("XDG_CONFIG_HOME");
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
