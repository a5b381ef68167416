// The meshdeck-proxy binary has one C++ runtime. With MESHDECK_PROXY_STATIC_RUNTIME (the
// default with MESHDECK_STATIC_PROXY) it carries libstdc++, libgcc, spdlog and fmt itself, which
// is safe only while no shared library it loads is C++ (cmake/MeshdeckStaticDeps.cmake): a
// shared C++ library would bring a second libstdc++ whose std::string, exceptions and
// allocator the binary's own would meet at its API. Otherwise it loads libstdc++.so and every
// C++ library shared. And the binary runs: exceptions thrown and caught (a bad option value,
// CLI11's parse error), log lines through spdlog and fmt, a clean stop on SIGTERM.
#include <QProcess>
#include <QRegularExpression>
#include <QtTest>

#include "support/binaries.h"

namespace {

struct Run {
  int code = -1;
  bool crashed = true;
  QString out;
};

Run run(const QString& program, const QStringList& args) {
  QProcess p;
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(program, args);
  if (!p.waitForStarted(10'000)) return {-1, true, program + " did not start"};
  if (!p.waitForFinished(30'000)) {
    p.kill();
    p.waitForFinished();
    return {-2, true, program + " timed out"};
  }
  return {p.exitCode(), p.exitStatus() != QProcess::NormalExit, QString::fromUtf8(p.readAll())};
}

// The shared C++ libraries ldd lists for the binary (its whole load closure).
QStringList sharedCxxLibraries(const QString& ldd_output) {
  QStringList found;
  for (const auto& line : ldd_output.split('\n')) {
    const QString lib = line.trimmed().section(' ', 0, 0);
    for (const char* cxx : {"libstdc++.so", "libgcc_s.so", "libspdlog.so", "libfmt.so", "libgrpc",
                            "libprotobuf", "libabsl_", "libyaml-cpp", "libboost_"})
      if (lib.startsWith(cxx)) found << lib;
  }
  return found;
}

}  // namespace

class ProxyRuntimeLinkTest : public QObject {
  Q_OBJECT

  const QString proxy_ = meshdeck::test::bin("meshdeck-proxy");
  const bool static_runtime_ = qEnvironmentVariable("MESHDECK_PROXY_STATIC_RUNTIME") == "ON";

 private slots:
  void oneCxxRuntime() {
    const Run ldd = run("ldd", {proxy_});
    QVERIFY2(ldd.code == 0 && !ldd.crashed, qPrintable(ldd.out));
    QVERIFY2(ldd.out.contains("libc.so.6"), qPrintable(ldd.out));
    const QStringList cxx = sharedCxxLibraries(ldd.out);
    if (static_runtime_) {
      QVERIFY2(cxx.isEmpty(), qPrintable("shared C++ libraries beside the static runtime: " +
                                         cxx.join(", ") + "\n" + ldd.out));
    } else {
      QVERIFY2(cxx.contains("libstdc++.so.6"), qPrintable(ldd.out));
    }
  }

  void throwsAndCatches() {
    const Run version = run(proxy_, {"--version"});
    QVERIFY2(version.code == 0 && !version.crashed && version.out.startsWith("0."),
             qPrintable(version.out));
    // CLI11 throws a ConversionError for the value and its parse macro catches it.
    const Run bad = run(proxy_, {"--listen", "127.0.0.1:0", "--workers", "many"});
    QVERIFY2(!bad.crashed && bad.code != 0 && bad.out.contains("--workers"), qPrintable(bad.out));
    // A config file that is not there: the proxy's own error, exit 2.
    const Run missing = run(proxy_, {"--config", "/nonexistent/meshdeck-proxy.yaml"});
    QVERIFY2(!missing.crashed && missing.code == 2 && missing.out.contains("nonexistent"),
             qPrintable(missing.out));
  }

  // spdlog's pattern and fmt's formatting of a port, then SIGTERM: drain, threads joined,
  // static destructors run, exit 0.
  void logsAndStopsCleanly() {
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(proxy_, {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--workers", "1",
                     "--log-level", "info", "--drain-timeout", "1"});
    QVERIFY(p.waitForStarted(10'000));
    const QRegularExpression listening(
        R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[meshdeck-proxy\] \[info\] )"
        R"(listener main on 127\.0\.0\.1:[1-9]\d*)");
    QString out;
    for (int i = 0; i < 100 && !listening.match(out).hasMatch(); ++i) {
      p.waitForReadyRead(100);
      out += QString::fromUtf8(p.readAll());
    }
    QVERIFY2(listening.match(out).hasMatch(), qPrintable(out));
    p.terminate();
    QVERIFY(p.waitForFinished(10'000));
    out += QString::fromUtf8(p.readAll());
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 0);
    QVERIFY2(out.contains("[info] drained"), qPrintable(out));
  }
};

QTEST_GUILESS_MAIN(ProxyRuntimeLinkTest)
#include "proxy_runtime_link_test.moc"
