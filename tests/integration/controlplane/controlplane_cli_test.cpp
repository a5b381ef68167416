#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>

// Real processes on loopback: meshdeck-controlplane and meshdeckctl.
class ControlPlaneCliTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    dir_ = std::make_unique<QTemporaryDir>();
    bin_ = qEnvironmentVariable("MESHDECK_BIN_DIR");
    src_ = qEnvironmentVariable("MESHDECK_SOURCE_DIR");
    QVERIFY(!bin_.isEmpty() && !src_.isEmpty());
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
    p.start(bin_ + "/meshdeck-controlplane",
            {"--listen", "127.0.0.1:0", "--state-dir", dir_->filePath("state")});
    QVERIFY(p.waitForFinished(10000));
    QCOMPARE(p.exitCode(), 1);
    QVERIFY2(p.readAllStandardError().contains("is corrupted"), "no clear error");
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

  Result ctl(QStringList args) {
    if (!args.contains("--server")) args = QStringList{"--server", address_} + args;
    QProcess p;
    p.start(bin_ + "/meshdeckctl", args);
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
        bin_ + "/meshdeck-controlplane",
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
    ::kill(static_cast<pid_t>(server_->processId()), SIGTERM);
    QVERIFY(server_->waitForFinished(10000));
    exit_code_ = server_->exitStatus() == QProcess::NormalExit ? server_->exitCode() : -1;
    server_.reset();
  }

  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<QProcess> server_;
  QString bin_, src_, address_;
  int exit_code_ = -1;
};

QTEST_GUILESS_MAIN(ControlPlaneCliTest)
#include "controlplane_cli_test.moc"
