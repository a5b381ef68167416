// Chaos on the storefront demo while a scenario plays: kill -9 of random sidecars and demo
// services, kill -9 of the control plane and a restart on the same state directory, a state
// directory that turns read-only and then full while policies are applied, and jumps of the
// control plane's wall clock (libfaketime, that process only). After each fault the mesh must
// come back (every proxy synced, every demo edge with traffic), no policy revision may be lost
// or half-written, and the control plane's output and `meshdeckctl` must say what happened.
//
// The state directory is a small tmpfs the test mounts (and a read-only bind mount over it), so
// the test needs CAP_SYS_ADMIN (CI runs as root). Without it the test fails and says why: a
// chaos test that quietly leaves out two of its faults would pass without proving them.
// MESHDECK_CHAOS_SEED picks the random victims again (the seed used is always printed).
#include <signal.h>
#include <sys/mount.h>

#include <QtTest>
#include <random>
#include <thread>

#include "support/binaries.h"
#include "support/tagged_processes.h"

using namespace meshdeck::test;

namespace {

constexpr const char* kFakeTimeLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
constexpr int kRecoveryMs = 60'000;  // per fault, generous: the machine is shared and loaded

void sleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Runs a program to completion (bounded); returns exit code (-1: did not finish) and output.
std::pair<int, QString> run(const QString& program, const QStringList& args,
                            int timeout_ms = 20'000) {
  QProcess p;
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(program, args);
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished(5'000);
    return {-1, QString::fromUtf8(p.readAll()) + "\n(timed out)"};
  }
  return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
          QString::fromUtf8(p.readAll())};
}

// The scenario that plays during the chaos: a real policy change with a checkpoint, then a
// long wait, so that it is still playing when the last fault is injected (a bundled scenario
// ends within a minute, and the headless control plane exits when its scenario ends).
constexpr const char* kScenario = R"(apiVersion: meshdeck.io/v1alpha1
kind: Scenario
metadata: {name: chaos-backdrop, title: A timeout on catalog while chaos happens, description: x}
spec:
  demo: storefront
  seed: 5
  steps:
    - title: A 1 s timeout on catalog
      actions:
        - applyPolicy: |
            apiVersion: meshdeck.io/v1alpha1
            kind: TrafficRoute
            metadata: {name: catalog-timeout}
            spec:
              host: catalog
              http:
                - name: default
                  timeout: 1s
                  route:
                    - {destination: {host: catalog}}
      checkpoint: {edge: storefront-web -> catalog, metric: errorRate, below: 0.05, within: 60s}
    - title: Keep playing while the chaos goes on
      actions:
        - wait: 900s
)";

}  // namespace

class FleetChaosTest : public QObject {
  Q_OBJECT

 public:
  ~FleetChaosTest() override { teardown(); }

 private:
  // --- the control plane ---------------------------------------------------------------------
  void startControlPlane() {
    cp_ = std::make_unique<QProcess>();
    auto env = taggedEnvironment(tag_);
    // libfaketime for the control plane only (preload_once.cpp keeps its children from
    // inheriting it), the wall clock only, its offset read from a file we change.
    env.insert("LD_PRELOAD", QString(kFakeTimeLib) + ":" + preload_once_);
    env.insert("FAKETIME_TIMESTAMP_FILE", faketime_file_);
    env.insert("FAKETIME_CACHE_DURATION", "1");
    env.insert("DONT_FAKE_MONOTONIC", "1");
    cp_->setProcessEnvironment(env);
    cp_->setProcessChannelMode(QProcess::MergedChannels);
    cp_output_start_ = cp_out_.size();
    cp_->start(bin("meshdeck-controlplane"),
               {"--listen", "127.0.0.1:0", "--state-dir", state_, "--demo", "storefront",
                "--scenario", scenario_file_, "--log-level", "info"});
    address_.clear();
  }

  // Reads what the control plane printed so far (kept whole, for messages and log checks).
  void pump(int wait_ms = 0) {
    if (!cp_) return;
    if (wait_ms > 0) cp_->waitForReadyRead(wait_ms);
    cp_out_ += QString::fromUtf8(cp_->readAll());
  }
  QString outputSinceStart() const { return cp_out_.mid(cp_output_start_); }
  QString tail() const { return cp_out_.right(6000); }

  // Waits for the fleet of the current control plane to be up (the first complete graph).
  bool waitForDemo(int timeout_ms, QString* why) {
    QElapsedTimer t;
    t.start();
    const QRegularExpression listening("listening on (127\\.0\\.0\\.1:[0-9]+)");
    while (t.elapsed() < timeout_ms) {
      pump(500);
      const QString out = outputSinceStart();
      if (address_.isEmpty())
        if (const auto m = listening.match(out); m.hasMatch()) address_ = m.captured(1);
      if (!address_.isEmpty() && out.contains("first complete graph")) return true;
      if (cp_->state() == QProcess::NotRunning) break;
    }
    *why = "the demo did not come up within " + QString::number(timeout_ms) + " ms:\n" + tail();
    return false;
  }

  std::pair<int, QString> ctl(const QStringList& args, const QString& server = {}) {
    pump();
    return run(bin("meshdeckctl"),
               QStringList{"--server", server.isEmpty() ? address_ : server} + args);
  }

  // --- what the user sees --------------------------------------------------------------------
  struct Mesh {
    QMap<QString, QString> proxies;  // proxy id -> state
    QSet<QString> edges;             // "a -> b" with requests in the window
  };
  Mesh mesh() {
    Mesh m;
    const auto proxies =
        QJsonDocument::fromJson(ctl({"get", "proxies", "-o", "json"}).second.toUtf8());
    for (const auto& v : proxies.array())
      m.proxies[v.toObject()["proxy_id"].toString()] = v.toObject()["state"].toString();
    const auto edges =
        QJsonDocument::fromJson(ctl({"get", "edges", "-o", "json", "-w", "5"}).second.toUtf8());
    for (const auto& v : edges.array()) {
      const QJsonObject e = v.toObject();
      if (e["metrics"].toObject()["requests"].toVariant().toLongLong() > 0)
        m.edges << e["source"].toString() + " -> " + e["destination"].toString();
    }
    return m;
  }

  // Every proxy of the baseline synced, and every baseline edge with traffic, within the bound.
  // Traffic is judged over the last 5 s, so only a look at least that long after the fault
  // (`since` started when it was injected) counts.
  bool waitForRecovery(const QString& after, QString* why, const QElapsedTimer* since = nullptr) {
    QElapsedTimer t;
    t.start();
    Mesh m;
    QStringList missing;
    while (t.elapsed() < kRecoveryMs) {
      m = mesh();
      missing.clear();
      for (const auto& p : baseline_.proxies.keys())
        if (m.proxies.value(p) != "SYNCED")
          missing << p + " " + (m.proxies.contains(p) ? m.proxies.value(p) : "absent");
      for (const auto& e : baseline_.edges)
        if (!m.edges.contains(e)) missing << "edge " + e + " without traffic";
      if (since && since->elapsed() < 5'500) missing << "(less than 5.5 s since the fault)";
      if (missing.isEmpty()) {
        qInfo("%s: mesh back after %lld ms (%lld proxies synced, %lld edges with traffic)",
              qPrintable(after), static_cast<long long>(t.elapsed()),
              static_cast<long long>(m.proxies.size()), static_cast<long long>(m.edges.size()));
        return true;
      }
      sleepMs(1000);
    }
    *why = after + ": the mesh did not come back within " + QString::number(kRecoveryMs) +
           " ms; still wrong: " + missing.join(", ") + "\n" + tail();
    return false;
  }

  // --- policies and the state directory ------------------------------------------------------
  QString history() { return ctl({"history"}).second; }

  // Applies a new version of the test's own policy (a new revision each time).
  std::pair<int, QString> applyNext() {
    ++applies_;
    QFile f(base_.filePath("policy.yaml"));
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return {-1, "cannot write policy"};
    f.write(QStringLiteral("apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\n"
                           "metadata: {name: chaos-shipping}\nspec:\n  host: shipping\n  http:\n"
                           "    - name: default\n      timeout: %1ms\n      route:\n"
                           "        - {destination: {host: shipping}}\n")
                .arg(2000 + applies_)
                .toUtf8());
    f.close();
    return ctl({"apply", "-f", f.fileName(), "--author", "chaos"});
  }

  // The state files parse, hold exactly the revisions `history` lists, and no temporary file
  // of an interrupted write is left.
  bool stateIsWhole(const QString& hist, QString* why) {
    QFile file(state_ + "/policies.json");
    if (!file.open(QIODevice::ReadOnly)) return *why = "no policies.json", false;
    QJsonParseError e;
    const auto doc = QJsonDocument::fromJson(file.readAll(), &e);
    if (e.error != QJsonParseError::NoError ||
        doc["format"].toString() != "meshdeck.policy-store/v1")
      return *why = "policies.json does not parse: " + e.errorString(), false;
    QStringList numbers;
    for (const auto& r : doc["revisions"].toArray())
      numbers.prepend(QString::number(r.toObject()["number"].toVariant().toLongLong()));
    QStringList listed;
    for (const auto& line : hist.split('\n').mid(1))
      if (!line.trimmed().isEmpty()) listed << line.simplified().split(' ').first();
    if (numbers != listed)
      return *why =
                 "policies.json holds " + numbers.join(',') + ", history lists " + listed.join(','),
             false;
    QFile ca(state_ + "/identity/ca.json");
    if (!ca.open(QIODevice::ReadOnly) || QJsonDocument::fromJson(ca.readAll()).isNull())
      return *why = "identity/ca.json does not parse", false;
    const auto leftovers = QDir(state_).entryList({".*.tmp-*"}, QDir::Files | QDir::Hidden);
    if (!leftovers.isEmpty()) return *why = "half-written files: " + leftovers.join(','), false;
    return true;
  }

  // A second control plane (no demo) started on the state directory as it is now: it must
  // start, serve the history, and refuse an apply saying the state directory is not writable.
  void sideControlPlaneServesAndRefuses(const QString& expected_history) {
    QProcess side;
    side.setProcessChannelMode(QProcess::MergedChannels);
    side.start(bin("meshdeck-controlplane"),
               {"--listen", "127.0.0.1:0", "--state-dir", state_, "--log-level", "info"});
    QString out, address;
    const QRegularExpression listening("listening on (127\\.0\\.0\\.1:[0-9]+)");
    QElapsedTimer t;
    t.start();
    while (address.isEmpty() && side.state() != QProcess::NotRunning && t.elapsed() < 30'000) {
      side.waitForReadyRead(500);
      out += QString::fromUtf8(side.readAll());
      if (const auto m = listening.match(out); m.hasMatch()) address = m.captured(1);
    }
    out += QString::fromUtf8(side.readAll());
    auto stop = qScopeGuard([&] {
      // SIGTERM: a clean stop removes its private TLS directory.
      side.terminate();
      if (!side.waitForFinished(15'000)) {
        side.kill();
        side.waitForFinished(10'000);
      }
    });
    QVERIFY2(!address.isEmpty(),
             qPrintable("a control plane does not start on this state directory:\n" + out));
    QCOMPARE(ctl({"history"}, address).second, expected_history);
    QFile f(base_.filePath("side.yaml"));
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(
        "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: chaos-shipping}\n"
        "spec:\n  host: shipping\n  http:\n    - name: default\n      timeout: 3s\n"
        "      route:\n        - {destination: {host: shipping}}\n");
    f.close();
    const auto [code, text] = ctl({"apply", "-f", f.fileName()}, address);
    QVERIFY2(code != 0 && text.contains("not writable"), qPrintable(text));
    qInfo("a control plane started on it refuses applies: %s", qPrintable(text.trimmed()));
  }

  bool mountOk(const QString& what, int rc, const QString& out) {
    if (rc == 0) return true;
    qWarning("%s failed (%d): %s", qPrintable(what), rc, qPrintable(out));
    return false;
  }

  void teardown() {
    if (cp_) {
      if (cp_->state() != QProcess::NotRunning) {
        meshdeck::test::signalProcess(*cp_, SIGTERM);
        if (!cp_->waitForFinished(30'000)) {
          cp_->kill();
          cp_->waitForFinished(10'000);
        }
      }
      cp_.reset();
    }
    // Innermost first: the read-only bind mount, then the tmpfs.
    for (int i = 0; i < 4 && mounted_ > 0; ++i) {
      if (::umount2(state_.toLocal8Bit().constData(), 0) == 0)
        --mounted_;
      else
        sleepMs(500);
    }
    if (mounted_ > 0) ::umount2(state_.toLocal8Bit().constData(), MNT_DETACH);
    mounted_ = 0;
  }

  bool waitForScenarioStep1(QString* why) {
    // The scenario's own revision is in before the chaos starts.
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 30'000) {
      if (history().contains("catalog-timeout")) return true;
      sleepMs(500);
    }
    *why = "the scenario did not apply its policy:\n" + tail();
    return false;
  }

  QTemporaryDir base_;
  QString preload_once_, state_, faketime_file_, scenario_file_, address_, cp_out_;
  qsizetype cp_output_start_ = 0;
  const QByteArray tag_ = newProcessTag();
  std::unique_ptr<QProcess> cp_;
  int mounted_ = 0;
  int applies_ = 0;
  Mesh baseline_;
  std::mt19937_64 random_;
  QElapsedTimer total_;

 private slots:
  void initTestCase() {
    total_.start();
    QVERIFY(base_.isValid());
    QVERIFY2(QFile::exists(kFakeTimeLib),
             "libfaketime is missing (Debian package libfaketime; scripts/setup.sh installs it)");
    preload_once_ = qEnvironmentVariable("MESHDECK_CHAOS_PRELOAD_ONCE");
    QVERIFY2(QFile::exists(preload_once_), "MESHDECK_CHAOS_PRELOAD_ONCE names no file");
    state_ = base_.filePath("state");
    QVERIFY(QDir().mkpath(state_));
    // The state directory is a 1 MiB tmpfs: small enough to fill, ours to remount read-only.
    const auto [rc, out] =
        run("mount", {"-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", state_});
    QVERIFY2(mountOk("mount -t tmpfs", rc, out),
             "this test mounts a tmpfs and a read-only bind mount for the state directory and "
             "cannot here (needs root / CAP_SYS_ADMIN)");
    mounted_ = 1;
    faketime_file_ = base_.filePath("faketime");
    QFile ft(faketime_file_);
    QVERIFY(ft.open(QIODevice::WriteOnly));
    ft.write("+0\n");
    ft.close();
    scenario_file_ = base_.filePath("chaos-backdrop.yaml");
    QFile sc(scenario_file_);
    QVERIFY(sc.open(QIODevice::WriteOnly));
    sc.write(kScenario);
    sc.close();
    const QString seed_text = qEnvironmentVariable("MESHDECK_CHAOS_SEED");
    const uint64_t seed = seed_text.isEmpty()
                              ? static_cast<uint64_t>(QDateTime::currentMSecsSinceEpoch())
                              : seed_text.toULongLong();
    random_.seed(seed);
    qInfo("chaos seed %llu (MESHDECK_CHAOS_SEED=%llu repeats the choice of victims)",
          static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));

    startControlPlane();
    QString why;
    QVERIFY2(waitForDemo(120'000, &why), qPrintable(why));
    QVERIFY2(waitForScenarioStep1(&why), qPrintable(why));
    baseline_ = mesh();
    QVERIFY2(baseline_.proxies.size() >= 15 && baseline_.edges.size() >= 15,
             qPrintable(QString("baseline: %1 proxies, %2 edges")
                            .arg(baseline_.proxies.size())
                            .arg(baseline_.edges.size())));
    const auto [code, text] = applyNext();
    QVERIFY2(code == 0, qPrintable(text));
    qInfo("baseline after %lld ms: %lld proxies, %lld edges",
          static_cast<long long>(total_.elapsed()),
          static_cast<long long>(baseline_.proxies.size()),
          static_cast<long long>(baseline_.edges.size()));
  }

  void killedSidecarsAndServicesComeBack() {
    const QString before = history();
    for (const QString role : {"/proxy", "/app"}) {
      QStringList candidates;
      QMap<QString, QPair<int, int>> pids;  // name -> pid, restarts
      for (const auto& line : ctl({"fleet", "ls"}).second.split('\n')) {
        const QStringList f = line.simplified().split(' ');
        if (f.size() >= 5 && f[0].endsWith(role) && f[2] == "running") {
          candidates << f[0];
          pids[f[0]] = {f[3].toInt(), f[4].toInt()};
        }
      }
      QVERIFY2(candidates.size() >= 2, qPrintable(candidates.join(',')));
      std::shuffle(candidates.begin(), candidates.end(), random_);
      const QStringList victims = candidates.mid(0, 2);
      QElapsedTimer fault;
      fault.start();
      for (const auto& v : victims) {
        qInfo("kill -9 %s (pid %d)", qPrintable(v), pids[v].first);
        QCOMPARE(::kill(pids[v].first, SIGKILL), 0);
      }
      QString why;
      QVERIFY2(waitForRecovery("kill -9 of " + victims.join(" and "), &why, &fault),
               qPrintable(why));
      // What the user sees: the supervisor's log line and the restart count in `fleet ls`.
      const QString fleet = ctl({"fleet", "ls"}).second;
      for (const auto& v : victims) {
        const QRegularExpression said("fleet: " + QRegularExpression::escape(v) +
                                      " exited \\(signal 9\\), restart");
        for (int i = 0; i < 20 && !said.match(cp_out_).hasMatch(); ++i) pump(250);
        QStringList lines;
        for (const auto& line : cp_out_.split('\n'))
          if (line.contains(v)) lines << line;
        QVERIFY2(said.match(cp_out_).hasMatch(), qPrintable(lines.join('\n')));
        bool counted = false;
        for (const auto& line : fleet.split('\n')) {
          const QStringList f = line.simplified().split(' ');
          if (f.size() >= 5 && f[0] == v)
            counted = f[4].toInt() > pids[v].second && f[3].toInt() != pids[v].first;
        }
        QVERIFY2(counted, qPrintable(v + " restart not shown:\n" + fleet));
      }
    }
    QCOMPARE(history(), before);
  }

  void killedControlPlaneRestartsOnItsState() {
    const QString before = history();
    QString why;
    QVERIFY2(stateIsWhole(before, &why), qPrintable(why));
    const QList<int> fleet = processesTagged(tag_);
    qInfo("kill -9 of the control plane (pid %lld, %lld processes in its fleet)",
          static_cast<long long>(cp_->processId()), static_cast<long long>(fleet.size()));
    QVERIFY(meshdeck::test::signalProcess(*cp_, SIGKILL));
    QVERIFY(cp_->waitForFinished(20'000));
    pump();
    // Its children die with it (PR_SET_PDEATHSIG), bounded.
    const QList<int> left = survivorsTagged(tag_, 10'000);
    QVERIFY2(left.isEmpty(),
             qPrintable(QString("%1 processes outlived the control plane").arg(left.size())));
    QElapsedTimer restart;
    restart.start();
    startControlPlane();
    QVERIFY2(waitForDemo(120'000, &why), qPrintable(why));
    qInfo("restarted control plane: its fleet's first complete graph after %lld ms",
          static_cast<long long>(restart.elapsed()));
    QVERIFY2(waitForRecovery("restart of the control plane", &why), qPrintable(why));
    // The history survived whole; the scenario replays its first step, which changes nothing.
    QCOMPARE(history(), before);
    QVERIFY2(stateIsWhole(before, &why), qPrintable(why));
    const auto [code, text] = applyNext();
    QVERIFY2(code == 0, qPrintable(text));
  }

  void readOnlyStateDirRefusesAppliesThenRecovers() {
    const QString before = history();
    {
      const auto [rc, out] = run("mount", {"--bind", state_, state_});
      QVERIFY2(mountOk("mount --bind", rc, out), qPrintable(out));
      ++mounted_;
      const auto [rc2, out2] = run("mount", {"-o", "remount,ro,bind", state_});
      QVERIFY2(mountOk("remount,ro", rc2, out2), qPrintable(out2));
    }
    QFile probe(state_ + "/probe");
    QVERIFY2(!probe.open(QIODevice::WriteOnly), "the state directory is still writable");
    qInfo("state directory read-only");
    const auto [code, text] = applyNext();
    QVERIFY2(code != 0 && text.contains("not writable"), qPrintable(text));
    for (int i = 0; i < 20 && !outputSinceStart().contains("not writable"); ++i) pump(250);
    QVERIFY2(outputSinceStart().contains("not writable"), qPrintable(tail()));
    QCOMPARE(history(), before);
    sideControlPlaneServesAndRefuses(before);
    QString why;
    QVERIFY2(waitForRecovery("read-only state directory", &why), qPrintable(why));
    QVERIFY(::umount2(state_.toLocal8Bit().constData(), 0) == 0);
    --mounted_;
    const auto [code2, text2] = applyNext();
    QVERIFY2(code2 == 0, qPrintable(text2));
    const QString after = history();
    QVERIFY2(after.endsWith(before.mid(before.indexOf('\n') + 1)) && after != before,
             qPrintable(after));
    QVERIFY2(stateIsWhole(after, &why), qPrintable(why));
  }

  void fullStateDirRefusesAppliesThenRecovers() {
    const QString before = history();
    QFile filler(state_ + "/filler");
    QVERIFY(filler.open(QIODevice::WriteOnly));
    const QByteArray chunk(4096, 'x');
    for (int i = 0; i < 1024 && filler.write(chunk) == chunk.size(); ++i) {
    }
    filler.close();
    qInfo("state directory full (%lld bytes of filler)", static_cast<long long>(filler.size()));
    const auto [code, text] = applyNext();
    QVERIFY2(code != 0 && text.contains("not writable") && text.contains("No space"),
             qPrintable(text));
    QCOMPARE(history(), before);
    QString why;
    QVERIFY2(stateIsWhole(before, &why), qPrintable(why));
    sideControlPlaneServesAndRefuses(before);
    QVERIFY2(waitForRecovery("full state directory", &why), qPrintable(why));
    QVERIFY(filler.remove());
    const auto [code2, text2] = applyNext();
    QVERIFY2(code2 == 0, qPrintable(text2));
    QVERIFY2(stateIsWhole(history(), &why), qPrintable(why));
  }

  void wallClockJumpsOfTheControlPlane() {
    for (const auto& [offset, label] :
         {std::pair<QByteArray, QString>{"+7200\n", "a jump of 2 h forward"},
          {"+0\n", "a jump of 2 h back"}}) {
      const QString before = history();
      QFile ft(faketime_file_);
      QVERIFY(ft.open(QIODevice::WriteOnly | QIODevice::Truncate));
      ft.write(offset);
      ft.close();
      qInfo("%s of the control plane's wall clock", qPrintable(label));
      sleepMs(2500);  // libfaketime re-reads the file every second
      // The jump is real: the revision made now carries the control plane's new time.
      const auto [code, text] = applyNext();
      QVERIFY2(code == 0, qPrintable(text));
      const QString after = history();
      const QString newest = after.split('\n').value(1);
      const QDateTime stamp =
          QDateTime::fromString(newest.simplified().split(' ').value(1), Qt::ISODateWithMs);
      const qint64 skew = stamp.secsTo(QDateTime::currentDateTimeUtc());
      QVERIFY2(stamp.isValid(), qPrintable(newest));
      QVERIFY2(offset.startsWith("+0") ? qAbs(skew) < 600 : skew < -6000, qPrintable(newest));
      QVERIFY2(after.endsWith(before.mid(before.indexOf('\n') + 1)), qPrintable(after));
      QString why;
      QElapsedTimer since;
      since.start();
      QVERIFY2(waitForRecovery(label, &why, &since), qPrintable(why));
      QVERIFY2(stateIsWhole(after, &why), qPrintable(why));
      pump(200);
      for (int i = 0;
           i < 20 && !outputSinceStart().contains("wall clock jumped by " +
                                                  QString(offset.startsWith("+0") ? "-" : "+"));
           ++i)
        pump(250);
      QVERIFY2(outputSinceStart().contains("wall clock jumped by " +
                                           QString(offset.startsWith("+0") ? "-" : "+")),
               qPrintable(tail()));
    }
  }

  void cleanupTestCase() {
    const bool running = cp_ && cp_->state() != QProcess::NotRunning;
    teardown();
    const QList<int> left = survivorsTagged(tag_, 10'000);
    qInfo("chaos test done in %lld ms", static_cast<long long>(total_.elapsed()));
    QVERIFY2(running, qPrintable("the control plane had exited:\n" + tail()));
    QVERIFY2(left.isEmpty(), qPrintable(QString("%1 processes left behind").arg(left.size())));
  }
};

QTEST_GUILESS_MAIN(FleetChaosTest)
#include "fleet_chaos_test.moc"
