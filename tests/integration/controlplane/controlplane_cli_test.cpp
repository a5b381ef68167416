#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>

#include "support/binaries.h"
#include "support/tagged_processes.h"

using meshdeck::test::bin;

// Real processes on loopback: meshdeck-controlplane and meshdeckctl.
class ControlPlaneCliTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    dir_ = std::make_unique<QTemporaryDir>();
    src_ = qEnvironmentVariable("MESHDECK_SOURCE_DIR");
    QVERIFY(qEnvironmentVariableIsSet("MESHDECK_BIN_DIR") && !src_.isEmpty());
  }
  void cleanup() { stopServer(); }

  void appliesAndSurvivesRestart() {
    startServer();
    // Invalid: refers to a service nobody declared. Exit 1, errors with line/column, no change.
    auto bad = ctl({"apply", "-f", policy("reviews-canary.yaml")});
    QCOMPARE(bad.code, 1);
    QVERIFY2(bad.err.contains("reviews-canary.yaml:7:9: spec.host: unknown service \"reviews\""),
             qPrintable(bad.err));
    QVERIFY(bad.err.contains("nothing changed (revision 0)"));
    auto ok = ctl({"apply", "-f", policy("reviews-destination.yaml"), "--author", "tester"});
    QCOMPARE(ok.code, 0);
    QCOMPARE(ok.out.trimmed(), QString("revision 1: created DestinationPolicy/reviews"));
    QCOMPARE(ctl({"apply", "-f", policy("reviews-canary.yaml")}).code, 0);
    QCOMPARE(ctl({"apply", "-f", policy("reviews-fault.yaml")}).code, 0);
    auto list = ctl({"get", "policies", "-o", "json"});
    QCOMPARE(list.code, 0);
    QVERIFY(list.out.contains("\"kind\":\"TrafficRoute\""));
    QVERIFY(list.out.contains("abort"));
    auto diff = ctl({"diff", "2", "3"});
    QVERIFY2(diff.out.contains("+          percentage: 5\n"), qPrintable(diff.out));

    // SIGTERM: clean exit; the history is durable.
    stopServer();
    QCOMPARE(exit_code_, 0);
    startServer();
    auto history = ctl({"history"});
    QCOMPARE(history.code, 0);
    QVERIFY(history.out.contains("tester"));
    QVERIFY2(history.out.split('\n', Qt::SkipEmptyParts).size() == 4, qPrintable(history.out));
    auto revert = ctl({"revert", "2"});
    QCOMPARE(revert.code, 0);
    QVERIFY2(revert.out.startsWith("revision 4: revert to 2: updated TrafficRoute/reviews-canary"),
             qPrintable(revert.out));
    auto del = ctl({"delete", "DestinationPolicy", "reviews"});
    QCOMPARE(del.code, 1);  // the route still uses its subsets
    // The refusal names the route to act on, located in its own YAML (`get` shows that text).
    QVERIFY2(del.err.contains("TrafficRoute/reviews-canary:") &&
                 del.err.contains("TrafficRoute/reviews-canary uses subset \"v1\" of service "
                                  "\"reviews\"") &&
                 del.err.contains("delete or change TrafficRoute/reviews-canary first"),
             qPrintable(del.err));
    QCOMPARE(ctl({"delete", "TrafficRoute", "reviews-canary"}).code, 0);

    const QString snap = dir_->filePath("snap.json");
    QCOMPARE(ctl({"snapshot", "-o", snap}).code, 0);
    QFile f(snap);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const auto doc = QJsonDocument::fromJson(f.readAll());
    QCOMPARE(doc["format"].toString(), QString("meshdeck-snapshot"));
    QCOMPARE(doc["format_version"].toInt(), 1);
    QCOMPARE(doc["policy_revision"].toInt(), 5);
    QCOMPARE(doc["policies"].toArray().size(), 1);
  }

  // Issue 15: the "billion laughs" policy is refused at once, naming the limit and where; the
  // control plane keeps answering (before the reader's limits, it pinned a thread for good).
  // A valid change that would send requests nowhere is applied, with a warning per route
  // destination on stderr ("warning: file:line:column: field: message"), dry run or not.
  void applyPrintsWarningsAndSucceeds() {
    startServer();
    QCOMPARE(ctl({"apply", "-f", policy("reviews-destination.yaml")}).code, 0);
    // No proxy of reviews has registered: neither v1 nor v2 runs.
    const QString canary = policy("reviews-canary.yaml");
    const QRegularExpression first(
        "warning: " + QRegularExpression::escape(canary) +
        ":15:\\d+: spec.http\\[0\\].route\\[0\\].destination.subset: route \"testers\" "
        "sends 100% of its requests to \"reviews\" subset \"v2\", but subset \"v2\" selects "
        "version \"v2\" of \"reviews\", which does not exist");
    for (const bool dry_run : {true, false}) {
      QStringList args{"apply", "-f", canary};
      if (dry_run) args << "--dry-run";
      auto r = ctl(args);
      QCOMPARE(r.code, 0);
      QVERIFY2(r.err.contains(first), qPrintable(r.err));
      QCOMPARE(r.err.count("warning: "), 3);
      QCOMPARE(r.out.trimmed(), dry_run
                                    ? QString("revision 2 (dry run): created "
                                              "TrafficRoute/reviews-canary")
                                    : QString("revision 2: created TrafficRoute/reviews-canary"));
    }
    // A change without surprises prints none.
    auto quiet = ctl({"apply", "-f", policy("reviews-ratelimit.yaml")});
    QCOMPARE(quiet.code, 0);
    QVERIFY2(!quiet.err.contains("warning"), qPrintable(quiet.err));
  }

  void refusesAliasBombAndKeepsServing() {
    startServer();
    const QString bomb = src_ + "/tests/data/yaml/billion-laughs.yaml";
    QElapsedTimer timer;
    timer.start();
    auto refused = ctl({"apply", "-f", bomb});
    QCOMPARE(refused.code, 1);
    QVERIFY2(refused.err.contains("billion-laughs.yaml:4:36: too many alias expansions (limit "
                                  "10000)"),
             qPrintable(refused.err));
    auto list = ctl({"get", "policies"});
    QCOMPARE(list.code, 0);
    QVERIFY(timer.elapsed() < 10000);
  }

  void policyDirAndCorruptState() {
    // A policy directory is applied at start as one revision.
    QDir().mkpath(dir_->filePath("policies"));
    for (const char* f : {"reviews-destination.yaml", "reviews-canary.yaml"})
      QVERIFY(QFile::copy(policy(f), dir_->filePath(QString("policies/") + f)));
    startServer({"--policy-dir", dir_->filePath("policies")});
    auto list = ctl({"get", "policies"});
    QVERIFY(list.out.contains("reviews-canary"));
    stopServer();
    // A corrupted state file: clear error, exit 1, no crash.
    QFile state(dir_->filePath("state/policies.json"));
    QVERIFY(state.open(QIODevice::WriteOnly | QIODevice::Truncate));
    state.write("{\"format\": \"meshdeck.policy-store/v1\", \"revisions\": [");
    state.close();
    QProcess p;
    p.start(bin("meshdeck-controlplane"),
            {"--listen", "127.0.0.1:0", "--state-dir", dir_->filePath("state")});
    QVERIFY(p.waitForFinished(10000));
    QCOMPARE(p.exitCode(), 1);
    QVERIFY2(p.readAllStandardError().contains("is corrupted"), "no clear error");
  }

  void applyRefusesOversizedAndNonUtf8FilesBeforeSending() {
    startServer();
    // 15 089 024 bytes: gRPC's default would answer "Received message larger than max".
    const QString big = dir_->filePath("big.yaml");
    {
      QFile f(big);
      QVERIFY(f.open(QIODevice::WriteOnly));
      const QByteArray line = QByteArray("# ").append(QByteArray(125, 'x')).append('\n');
      for (int i = 0; i < 15089024 / 128; ++i) f.write(line);
    }
    auto r = ctl({"apply", "-f", big});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("big.yaml: policy file is 14.4 MiB; the control plane accepts at most "
                            "8 MiB"),
             qPrintable(r.err));
    const QString binary = dir_->filePath("binary.yaml");
    {
      QFile f(binary);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("kind: TrafficRoute\nname: ab\xff\xfe\x00\x01");
    }
    r = ctl({"apply", "-f", binary});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("binary.yaml: file is not UTF-8 text (byte 0xff at line 2, column 9)"),
             qPrintable(r.err));
    QVERIFY2(!r.err.contains("serializ"), qPrintable(r.err));
    QCOMPARE(ctl({"history"}).out.split('\n', Qt::SkipEmptyParts).size(), 1);  // header only
  }

  // SIGTERM while applies of a large valid policy file are being worked on and a connection
  // that never reads is open: the control plane exits within its grace period, and the policy
  // history it wrote is intact after a restart.
  void sigtermStopsWhileCallsAreInFlight() {
    startServer({"--shutdown-grace", "5"});
    QCOMPARE(ctl({"apply", "-f", policy("reviews-destination.yaml")}).code, 0);
    QStringList files;
    for (int k = 0; k < 6; ++k) files << largePolicy(k, 12000);  // ~3.3 MiB each
    // A peer that connects and never reads.
    const int idle = ::socket(AF_INET, SOCK_STREAM, 0);
    QVERIFY(idle >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(address_.mid(address_.lastIndexOf(':') + 1).toUShort());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    QCOMPARE(::connect(idle, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    const QByteArray preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    QCOMPARE(::write(idle, preface.data(), preface.size()), ssize_t(preface.size()));
    std::vector<std::unique_ptr<QProcess>> applies;
    for (const auto& f : files) {
      applies.push_back(std::make_unique<QProcess>());
      applies.back()->start(bin("meshdeckctl"),
                            {"--server", address_, "--timeout", "60000", "apply", "-f", f});
    }
    for (auto& a : applies) QVERIFY(a->waitForStarted());
    QTest::qWait(1500);  // the calls are sent and being parsed, committed or waiting
    QElapsedTimer t;
    t.start();
    meshdeck::test::signalProcess(*server_, SIGTERM);
    QVERIFY(server_->waitForFinished(9000));
    const qint64 took = t.elapsed();
    const QString log = QString::fromUtf8(server_->readAllStandardError());
    qInfo("SIGTERM to exit: %lld ms (exit code %d)", took, server_->exitCode());
    QVERIFY2(took < 5000 + 2000, qPrintable(log.right(2000)));
    QVERIFY2(server_->exitStatus() == QProcess::NormalExit &&
                 (server_->exitCode() == 0 || server_->exitCode() == 3),
             qPrintable(log.right(2000)));
    if (server_->exitCode() == 3) QVERIFY(log.contains("still running"));
    server_.reset();
    for (auto& a : applies) {
      if (!a->waitForFinished(10000)) a->kill();
      a->waitForFinished();
    }
    // The history is intact: the server starts from it and lists revision 1 first-applied.
    startServer();
    auto history = ctl({"history"});
    QCOMPARE(history.code, 0);
    const auto rows = history.out.split('\n', Qt::SkipEmptyParts);
    QVERIFY2(rows.size() >= 2, qPrintable(history.out));
    QVERIFY2(rows.last().startsWith("1 "), qPrintable(history.out));
    QCOMPARE(ctl({"get", "policies"}).code, 0);
    ::close(idle);
  }

  // A call that keeps the server busy past the grace period (a YAML alias bomb, until the
  // parser refuses them): SIGTERM still ends the process, by the watchdog if need be.
  void sigtermEndsEvenABusyCall() {
    startServer({"--shutdown-grace", "2"});
    const QString bomb = dir_->filePath("bomb.yaml");
    {
      QFile f(bomb);
      QVERIFY(f.open(QIODevice::WriteOnly));
      QByteArray text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
      for (int i = 1; i < 12; ++i)
        text += QString("a%1: &a%1 [*a%2, *a%2, *a%2, *a%2, *a%2, *a%2, *a%2, *a%2, *a%2]\n")
                    .arg(i)
                    .arg(i - 1)
                    .toUtf8();
      text +=
          "apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\nmetadata:\n  name: b\n"
          "spec:\n  host: *a11\n";
      f.write(text);
    }
    QProcess apply;
    apply.start(bin("meshdeckctl"),
                {"--server", address_, "--timeout", "1000", "apply", "-f", bomb});
    QVERIFY(apply.waitForFinished(15000));
    QTest::qWait(200);
    QElapsedTimer t;
    t.start();
    meshdeck::test::signalProcess(*server_, SIGTERM);
    QVERIFY(server_->waitForFinished(8000));
    qInfo("SIGTERM to exit with a busy call: %lld ms (exit code %d)", t.elapsed(),
          server_->exitCode());
    QVERIFY(t.elapsed() < 2000 + 2000);
    const QString log = QString::fromUtf8(server_->readAllStandardError());
    QVERIFY2(
        server_->exitCode() == 0 || (server_->exitCode() == 3 && log.contains("still running")),
        qPrintable(log.right(2000)));
    server_.reset();
  }

  void unreachableServerExits2() {
    auto r = ctl({"--server", "127.0.0.1:1", "--timeout", "500", "get", "edges"});
    QCOMPARE(r.code, 2);
  }

 private:
  struct Result {
    int code = -1;
    QString out, err;
  };
  QString policy(const char* name) const { return src_ + "/resources/policies/" + name; }

  // `count` DestinationPolicy documents (each declares its own service), distinct per `k`.
  QString largePolicy(int k, int count) {
    const QString path = dir_->filePath(QString("large-%1.yaml").arg(k));
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly)) return path;
    for (int i = 0; i < count; ++i)
      f.write(QString("apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\nmetadata:\n"
                      "  name: svc-%1\nspec:\n  host: svc-%1\n  trafficPolicy:\n"
                      "    connectionPool:\n      maxConnections: %2\n---\n")
                  .arg(i)
                  .arg(100 + k)
                  .toUtf8());
    return path;
  }

  Result ctl(QStringList args) {
    if (!args.contains("--server")) args = QStringList{"--server", address_} + args;
    QProcess p;
    p.start(bin("meshdeckctl"), args);
    Result r;
    if (!p.waitForFinished(15000)) {
      p.kill();
      p.waitForFinished();
      return r;
    }
    r.code = p.exitCode();
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
  }

  void startServer(QStringList extra = {}) {
    server_ = std::make_unique<QProcess>();
    server_->setProcessChannelMode(QProcess::SeparateChannels);
    server_->start(
        bin("meshdeck-controlplane"),
        QStringList{"--listen", "127.0.0.1:0", "--state-dir", dir_->filePath("state")} + extra);
    QVERIFY(server_->waitForStarted());
    // The chosen port is logged: "control plane listening on 127.0.0.1:PORT".
    QString log;
    for (int i = 0; i < 100 && !log.contains("listening on "); ++i) {
      server_->waitForReadyRead(100);
      log += QString::fromUtf8(server_->readAllStandardError());
    }
    const auto m = QRegularExpression("listening on (\\S+)").match(log);
    QVERIFY2(m.hasMatch(), qPrintable(log));
    address_ = m.captured(1);
  }

  void stopServer() {
    if (!server_) return;
    meshdeck::test::signalProcess(*server_, SIGTERM);
    QVERIFY(server_->waitForFinished(10000));
    exit_code_ = server_->exitStatus() == QProcess::NormalExit ? server_->exitCode() : -1;
    server_.reset();
  }

  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<QProcess> server_;
  QString src_, address_;
  int exit_code_ = -1;
};

QTEST_GUILESS_MAIN(ControlPlaneCliTest)
#include "controlplane_cli_test.moc"
