// Builds the Debian package with CPack, then checks it the way a distribution would:
// lintian, desktop-file-validate and appstreamcli on the installed files, and runs the
// installed binaries from a scratch root.
#include <QtTest>

namespace {

struct Run {
  int code = -1;
  QString out;
};

Run run(const QString& program, const QStringList& args, int timeout_ms = 300'000,
        const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment(),
        const QString& dir = {}) {
  QProcess p;
  p.setProcessEnvironment(env);
  if (!dir.isEmpty()) p.setWorkingDirectory(dir);
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(program, args);
  if (!p.waitForStarted(10'000)) return {-1, program + " did not start"};
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
    return {-2, program + " timed out:\n" + QString::fromUtf8(p.readAll())};
  }
  return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -3,
          QString::fromUtf8(p.readAll())};
}

}  // namespace

class PackagingTest : public QObject {
  Q_OBJECT

  QString build_dir_ = qEnvironmentVariable("MESHDECK_BUILD_DIR");
  bool with_ui_ = qEnvironmentVariable("MESHDECK_WITH_UI") == "ON";
  QTemporaryDir work_;
  QString deb_;
  QString root_;

 private slots:
  void initTestCase() {
    QVERIFY(QDir(build_dir_).exists());
    QVERIFY(work_.isValid());
    const Run r = run("cpack", {"-G", "DEB", "-B", work_.filePath("out"), "--config",
                                build_dir_ + "/CPackConfig.cmake"});
    QVERIFY2(r.code == 0, qPrintable(r.out));
    const auto debs = QDir(work_.filePath("out")).entryList({"meshdeck_*.deb"});
    QCOMPARE(debs.size(), 1);
    deb_ = work_.filePath("out/" + debs.first());
    qInfo("package: %s (%lld bytes)", qPrintable(debs.first()), QFileInfo(deb_).size());
    root_ = work_.filePath("root");
    const Run x = run("dpkg", {"-x", deb_, root_});
    QVERIFY2(x.code == 0, qPrintable(x.out));
  }

  void controlFieldsComeFromTheProject() {
    const Run r = run("dpkg-deb", {"--field", deb_});
    QVERIFY2(r.code == 0, qPrintable(r.out));
    QVERIFY(r.out.contains("Package: meshdeck"));
    QVERIFY(r.out.contains("Version: 0."));
    QVERIFY(r.out.contains("Section: net"));
    // Depends computed by dpkg-shlibdeps, not written by hand.
    QVERIFY2(r.out.contains("libgrpc++") && r.out.contains("libprotobuf") &&
                 r.out.contains("libyaml-cpp"),
             qPrintable(r.out));
    if (with_ui_) QVERIFY2(r.out.contains("libqt6widgets6"), qPrintable(r.out));
  }

  void filesFollowTheFhs() {
    for (const char* bin : {"meshdeck-proxy", "meshdeck-proxy-init", "meshdeck-controlplane",
                            "meshdeckctl", "meshdeck-demo-service", "meshdeck-load"})
      QVERIFY2(QFileInfo(root_ + "/usr/bin/" + bin).isExecutable(), bin);
    QVERIFY(QFile::exists(root_ + "/usr/share/meshdeck/demo/storefront.yaml"));
    QVERIFY(QFile::exists(root_ + "/usr/share/meshdeck/demo/large.yaml"));
    QVERIFY(QDir(root_ + "/usr/share/meshdeck/scenarios").entryList({"*.yaml"}).size() >= 4);
    QVERIFY(QFile::exists(root_ + "/usr/share/doc/meshdeck/copyright"));
    QVERIFY(QFile::exists(root_ + "/usr/share/man/man1/meshdeck-proxy.1.gz"));
    QVERIFY(QFile::exists(root_ + "/usr/share/man/man1/meshdeckctl.1.gz"));
    QVERIFY(QFile::exists(root_ + "/usr/lib/systemd/system/meshdeck-controlplane.service"));
    QVERIFY(QFile::exists(root_ + "/usr/lib/systemd/system/meshdeck-proxy@.service"));
    if (with_ui_) {
      QVERIFY(QFileInfo(root_ + "/usr/bin/meshdeck").isExecutable());
      QVERIFY(QFile::exists(root_ + "/usr/share/man/man1/meshdeck.1.gz"));
      QVERIFY(
          QFile::exists(root_ + "/usr/share/icons/hicolor/scalable/apps/io.meshdeck.Meshdeck.svg"));
      QVERIFY(
          QFile::exists(root_ + "/usr/share/icons/hicolor/48x48/apps/io.meshdeck.Meshdeck.png"));
    }
  }

  void desktopFileAndAppStreamValidate() {
    if (!with_ui_) {  // a headless package has no app, so no desktop entry either
      QVERIFY(!QFile::exists(root_ + "/usr/share/applications/io.meshdeck.Meshdeck.desktop"));
      return;
    }
    const Run d = run("desktop-file-validate",
                      {root_ + "/usr/share/applications/io.meshdeck.Meshdeck.desktop"});
    QVERIFY2(d.code == 0 && d.out.trimmed().isEmpty(), qPrintable(d.out));
    const Run a =
        run("appstreamcli", {"validate", "--no-net", "--pedantic",
                             root_ + "/usr/share/metainfo/io.meshdeck.Meshdeck.metainfo.xml"});
    QVERIFY2(a.code == 0, qPrintable(a.out));
  }

  void lintianReportsNoErrors() {
    const Run r = run("lintian", {"--no-tag-display-limit", deb_}, 600'000);
    QStringList errors;
    for (const auto& line : r.out.split('\n'))
      if (line.startsWith("E:")) errors << line;
    QVERIFY2(errors.isEmpty(), qPrintable(errors.join('\n')));
    qInfo("lintian:\n%s", qPrintable(r.out.trimmed().isEmpty() ? "clean" : r.out.trimmed()));
  }

  void installedBinariesRunAndFindTheirData() {
    const Run v = run(root_ + "/usr/bin/meshdeck-controlplane", {"--version"}, 10'000);
    QVERIFY2(v.code == 0 && v.out.contains("0."), qPrintable(v.out));
    if (with_ui_) {
      auto env = QProcessEnvironment::systemEnvironment();
      env.insert("QT_QPA_PLATFORM", "offscreen");
      const Run m = run(root_ + "/usr/bin/meshdeck", {"--version"}, 10'000, env);
      QVERIFY2(m.code == 0 && m.out.contains("0."), qPrintable(m.out));
    }
    // The installed control plane runs the storefront demo from the installed files alone.
    auto env = QProcessEnvironment::systemEnvironment();
    env.remove("MESHDECK_DATA_DIR");
    QTemporaryDir state;
    const Run demo = run(root_ + "/usr/bin/meshdeck-controlplane",
                         {"--listen", "127.0.0.1:0", "--state-dir", state.path(), "--demo",
                          "storefront", "--duration", "10s"},
                         120'000, env, work_.path());
    QVERIFY2(demo.code == 0, qPrintable(demo.out));
    QVERIFY2(demo.out.contains(root_ + "/usr/share/meshdeck/demo/storefront.yaml") ||
                 demo.out.contains("first complete graph"),
             qPrintable(demo.out));
  }
};

QTEST_GUILESS_MAIN(PackagingTest)
#include "packaging_test.moc"
