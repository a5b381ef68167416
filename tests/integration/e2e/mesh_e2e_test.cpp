// End to end with real processes on 127.0.0.1, driven the way a user drives them:
// meshdeck-controlplane, real meshdeck-proxy sidecars in mesh mode, meshdeck-demo-service
// backends, meshdeck-load for traffic and meshdeckctl for policies and state.
//
//   meshdeck-load --proxy --> [frontend sidecar] --> [reviews-v1 sidecar] --> demo reviews v1
//                                                \-> [reviews-v2 sidecar] --> demo reviews v2
#include <QtTest>
#include <cmath>
#include <thread>

#include "controlplane/fleet/loopback_http.h"
#include "integration/common/mesh_harness.h"
#include "integration/e2e/discovery_relay.h"

using meshdeck::cp::fleet::loopbackHttp;
using namespace meshdeck::test;

class MeshE2eTest : public QObject, public MeshHarness {
  Q_OBJECT

 private slots:
  void init() { QVERIFY(initHarness()); }
  void cleanup() {
    stopAll();
    if (relay_) relay_->stop();
    relay_.reset();
  }

  // (1) A 90/10 canary applied with `meshdeckctl apply -f` is in force on the proxy within 1 s,
  // and ≥ 500 requests split 90/10 within a binomial tolerance.
  void canaryInForceWithinOneSecondAndSplits() {
    startMesh(false);
    QCOMPARE(apply(destinationYaml()).code, 0);
    QVERIFY(waitSynced(3, 5000));
    const QString before = proxies()["frontend"]["version_acked"].toString();

    const auto t0 = Clock::now();
    const CtlResult r = apply(routeYaml(90, 10));
    QVERIFY2(r.code == 0, r.err.constData());
    const double apply_ms = msSince(t0);
    const auto t1 = Clock::now();
    double in_force_ms = -1, acked_ms = -1;
    while (msSince(t1) < 3000 && (in_force_ms < 0 || acked_ms < 0)) {
      if (in_force_ms < 0 && proxyConfig(frontend_).contains("\"weight\": 10")) {
        in_force_ms = msSince(t1);
      }
      if (acked_ms < 0) {
        const auto p = proxies()["frontend"];
        if (p["state"].toString() == "SYNCED" && p["version_acked"].toString() != before)
          acked_ms = msSince(t1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    qInfo(
        "canary: meshdeckctl apply took %.0f ms; then in force on the proxy after %.0f ms, "
        "ACK recorded by the control plane (seen through meshdeckctl) after %.0f ms",
        apply_ms, in_force_ms, acked_ms);
    QVERIFY2(in_force_ms >= 0 && in_force_ms <= 1000, "canary not in force within 1 s");
    QVERIFY2(acked_ms >= 0 && acked_ms <= 1000, "no ACK within 1 s");

    const qint64 v1_before = demoRequests(reviews_[0]), v2_before = demoRequests(reviews_[1]);
    const QJsonObject report = load(200, "3s");
    const qint64 n = report["completed"].toInteger();
    QCOMPARE(n, qint64(600));
    QCOMPARE(report["errors"]["total"].toInteger(), qint64(0));
    const qint64 v1 = demoRequests(reviews_[0]) - v1_before;
    const qint64 v2 = demoRequests(reviews_[1]) - v2_before;
    QCOMPARE(v1 + v2, n);
    // Binomial(n, 0.1): 5 standard deviations (false alarm odds below 1 in a million).
    const double sd = std::sqrt(double(n) * 0.1 * 0.9);
    qInfo("canary split over %lld requests: v1 %lld, v2 %lld (expected %.0f +- %.0f)",
          static_cast<long long>(n), static_cast<long long>(v1), static_cast<long long>(v2),
          double(n) * 0.1, 5 * sd);
    QVERIFY(std::abs(double(v2) - double(n) * 0.1) <= 5 * sd);
  }

  // (2) Fault injection shows on the edge: aborts of 50 % with 503 as its error rate.
  void faultAbortVisibleOnTheEdge() {
    startMesh(false);
    QCOMPARE(apply(faultYaml("abort: {percentage: 50, httpStatus: 503}")).code, 0);
    QVERIFY(waitConfig(frontend_, "\"abort_percent\": 50", 2000));
    const QJsonObject report = load(100, "4s");
    const double n = double(report["completed"].toInteger());
    const double load_errors = double(report["responses"]["5xx"].toInteger()) / n;
    QCOMPARE(n, 400.0);
    QJsonObject edge;
    for (int i = 0; i < 40; ++i) {  // telemetry arrives every second
      edge = findEdge("frontend", "reviews", 30);
      if (edge["metrics"].toObject()["requests"].toVariant().toLongLong() >= 400) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    const auto m = edge["metrics"].toObject();
    const double error_rate = 1.0 - m["success_rate"].toDouble();
    qInfo(
        "abort 50%%: load saw %.3f errors, the edge shows error rate %.3f over %lld requests, "
        "%lld faults injected",
        load_errors, error_rate, m["requests"].toVariant().toLongLong(),
        m["faults_injected"].toVariant().toLongLong());
    QCOMPARE(m["requests"].toVariant().toLongLong(), 400LL);
    QVERIFY(std::abs(error_rate - 0.5) <= 5 * std::sqrt(0.25 / n));
    QVERIFY(std::abs(error_rate - load_errors) <= 0.01);
    QVERIFY(m["faults_injected"].toVariant().toLongLong() > 0);
  }

  // (2b) A delay of every call by 200 ms shows as the edge's latency. Its own mesh: the edge
  // window of `meshdeckctl get edges` is the control plane's (GetGraph ignores -w), so earlier
  // fast requests would still be in it.
  void faultDelayVisibleOnTheEdge() {
    startMesh(false);
    QCOMPARE(apply(faultYaml("delay: {percentage: 100, fixedDelay: 200ms}")).code, 0);
    QVERIFY(waitConfig(frontend_, "\"delay_percent\": 100", 2000));
    const QJsonObject delayed = load(20, "4s");
    QCOMPARE(delayed["completed"].toInteger(), qint64(80));
    QCOMPARE(delayed["errors"]["total"].toInteger(), qint64(0));
    QJsonObject dm;
    for (int i = 0; i < 40; ++i) {
      dm = findEdge("frontend", "reviews", 30)["metrics"].toObject();
      if (dm["requests"].toVariant().toLongLong() >= 80) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    qInfo(
        "delay 200ms: edge p50 %.1f ms, p99 %.1f ms over %lld requests, %lld faults injected "
        "(load p50 %.1f ms)",
        dm["p50_ms"].toDouble(), dm["p99_ms"].toDouble(), dm["requests"].toVariant().toLongLong(),
        dm["faults_injected"].toVariant().toLongLong(),
        delayed["latency_us"]["p50"].toDouble() / 1000.0);
    QCOMPARE(dm["requests"].toVariant().toLongLong(), 80LL);
    QVERIFY(dm["p50_ms"].toDouble() >= 195 && dm["p50_ms"].toDouble() < 400);
    QCOMPARE(dm["faults_injected"].toVariant().toLongLong(), 80LL);
  }

  // (3) SIGTERM the control plane under steady load, start it again with the same --state-dir:
  // no request fails, and the proxies resync to the same configuration and policy revision.
  void controlPlaneRestartUnderLoad() {
    startMesh(false);
    QCOMPARE(apply(destinationYaml()).code, 0);
    QCOMPARE(apply(routeYaml(90, 10)).code, 0);
    QVERIFY(waitSynced(3, 5000));
    QVERIFY(waitConfig(frontend_, "\"weight\": 10", 2000));
    const auto acked_before = proxies();
    const qint64 revision = policyRevision();
    const QString config_before = proxyConfig(frontend_);
    QVERIFY(revision >= 2);

    QProcess& gen = startLoad(100, "10s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    stopProcess(*cp_);
    QCOMPARE(cp_->exitStatus(), QProcess::NormalExit);
    QCOMPARE(cp_->exitCode(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // proxies on their own
    const auto restarted = Clock::now();
    startControlPlane();
    double resync_ms = -1;
    QString last_seen;
    while (msSince(restarted) < 15'000) {
      const auto now = proxies();
      QString seen;
      for (const auto& p : now)
        seen += p["proxy_id"].toString() + "=" + p["state"].toString() + "/" +
                p["version_acked"].toString() + " ";
      if (seen != last_seen) {
        qInfo("%6.0f ms: %s", msSince(restarted), qPrintable(seen));
        last_seen = seen;
      }
      // Resynced: every proxy synced again and running the same config as before. (Compared by
      // content: the version strings may differ across a restart, see docs/tools.md.)
      bool same = now.size() == 3 && proxyConfig(frontend_) == config_before;
      for (const auto& id : acked_before.keys())
        same = same && now[id]["state"].toString() == "SYNCED";
      if (same) {
        resync_ms = msSince(restarted);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    QVERIFY(gen.waitForFinished(30'000));
    const auto report = QJsonDocument::fromJson(gen.readAllStandardOutput()).object();
    qInfo(
        "control plane restart: proxies resynced %.0f ms after the new start; load: %lld "
        "scheduled, %lld completed, %lld errors, %lld 5xx",
        resync_ms, report["scheduled"].toInteger(), report["completed"].toInteger(),
        report["errors"]["total"].toInteger(), report["responses"]["5xx"].toInteger());
    if (resync_ms < 0) {
      QFile a("/tmp/e2e-before.json"), b("/tmp/e2e-after.json");
      if (a.open(QIODevice::WriteOnly)) a.write(config_before.toUtf8());
      if (b.open(QIODevice::WriteOnly)) b.write(proxyConfig(frontend_).toUtf8());
      for (const auto& id : acked_before.keys())
        qWarning("%s: acked %s before, now %s", qPrintable(id),
                 qPrintable(acked_before[id]["version_acked"].toString()),
                 QJsonDocument(proxies()[id]).toJson(QJsonDocument::Compact).constData());
    }
    QVERIFY2(resync_ms >= 0, "proxies did not resync to the same versions");
    QCOMPARE(policyRevision(), revision);
    QCOMPARE(report["scheduled"].toInteger(), qint64(1000));
    QCOMPARE(report["completed"].toInteger(), qint64(1000));
    QCOMPARE(report["errors"]["total"].toInteger(), qint64(0));
  }

  // (4) A config the real proxy cannot apply is NACKed, shown as rejected, and traffic goes on
  // with the last good config. The bad config is made by a test-only relay in front of the
  // frontend's sidecar (see discovery_relay.h): no valid policy compiles into one.
  void nackedConfigKeepsLastGood() {
    startMesh(true);
    QCOMPARE(apply(destinationYaml()).code, 0);
    QCOMPARE(apply(routeYaml(100, 0)).code, 0);
    QVERIFY(waitSynced(3, 5000));
    QVERIFY(waitConfig(frontend_, "\"weight\": 100", 2000));
    const QString good = proxies()["frontend"]["version_acked"].toString();

    relay_->arm("frontend");
    QCOMPARE(apply(routeYaml(50, 50)).code, 0);
    QJsonObject status;
    for (int i = 0; i < 100; ++i) {
      status = proxies()["frontend"];
      if (status["state"].toString() == "REJECTED") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    qInfo("rejected: %s", QJsonDocument(status).toJson(QJsonDocument::Compact).constData());
    QVERIFY(relay_->tampered() >= 1);
    QCOMPARE(status["state"].toString(), QString("REJECTED"));
    QVERIFY(status["nack_reason"].toString().contains("invalid regular expression"));
    QCOMPARE(status["version_acked"].toString(), good);
    const CtlResult table = ctlRun({"get", "proxies"});
    QVERIFY2(QRegularExpression("frontend +frontend .* rejected ").match(table.out).hasMatch(),
             table.out.constData());

    // Still the last good config: every request to v1, none fails.
    QVERIFY(!proxyConfig(frontend_).contains("\"weight\": 50"));
    const qint64 v2_before = demoRequests(reviews_[1]);
    const QJsonObject report = load(100, "3s");
    QCOMPARE(report["completed"].toInteger(), qint64(300));
    QCOMPARE(report["errors"]["total"].toInteger(), qint64(0));
    QCOMPARE(demoRequests(reviews_[1]) - v2_before, qint64(0));

    // The next valid change goes through again.
    relay_->disarm();
    QCOMPARE(apply(routeYaml(90, 10)).code, 0);
    QVERIFY(waitConfig(frontend_, "\"weight\": 10", 2000));
    QVERIFY(waitSynced(3, 3000));
  }

  // (6) Incremental shared resources with real sidecars: a reviews v3 endpoint joins and leaves
  // while ratings stays as it was. The frontend's sidecar receives only the reviews clusters
  // (seen by a relay on its discovery stream), and its routing follows: calls reach v3 while it
  // is there, and all succeed once it has gone.
  void endpointChangesArriveAsIncrements() {
    startMesh(true);
    const uint16_t ratings_app = port();
    startDemo("ratings", "v1", ratings_app);
    const Sidecar ratings = startSidecar("ratings", "v1", "ratings-v1", ratings_app, address_);
    QVERIFY(waitReady({ratings}, 15'000));
    QVERIFY(waitSynced(4, 10'000));
    QVERIFY(waitConfig(frontend_, "ratings|v1", 5000));
    QVERIFY(relay_->incrementalResponses() >= 1);
    QCOMPARE(relay_->wholeResponses(), uint64_t(0));

    const uint16_t v3_app = port();
    startDemo("reviews", "v3", v3_app);
    const Sidecar v3 = startSidecar("reviews", "v3", "reviews-v3", v3_app, address_);
    QProcess& v3_sidecar = *children_.back();
    QVERIFY(waitReady({v3}, 15'000));
    QVERIFY(waitConfig(frontend_, "reviews|v3", 5000));
    QVERIFY(waitSynced(5, 10'000));
    auto names = [](const meshdeck::v1::SharedResourcesDelta& d) {
      QStringList out;
      for (const auto& r : d.resources()) out << QString::fromStdString(r.name());
      for (const auto& r : d.removed()) out << "-" + QString::fromStdString(r);
      return out;
    };
    QCOMPARE(names(relay_->lastShared()), (QStringList{"cluster/reviews", "cluster/reviews|v3"}));
    QVERIFY(!relay_->lastShared().complete());
    // Round robin over three endpoints: v3's backend gets its share.
    const qint64 v3_before = demoRequests(v3);
    for (int i = 0; i < 30; ++i)
      QVERIFY(rawRequest(frontend_.outbound, "reviews").startsWith("HTTP/1.1 200"));
    QVERIFY2(demoRequests(v3) - v3_before >= 5,
             qPrintable(QString("v3 served %1 of 30").arg(demoRequests(v3) - v3_before)));

    stopProcess(v3_sidecar);
    QVERIFY(waitConfigGone(frontend_, "reviews|v3", 5000));
    QCOMPARE(names(relay_->lastShared()), (QStringList{"cluster/reviews", "-cluster/reviews|v3"}));
    QVERIFY(waitSynced(4, 10'000));
    for (int i = 0; i < 30; ++i)
      QVERIFY(rawRequest(frontend_.outbound, "reviews").startsWith("HTTP/1.1 200"));
    QVERIFY(waitConfig(frontend_, "ratings|v1", 1000));  // untouched, still there
    QCOMPARE(relay_->wholeResponses(), uint64_t(0));
  }

  // Scoping (docs/cp-scale.md): a frontend sidecar started with `--depends reviews` holds
  // reviews alone, reaches it, and is pushed nothing when ratings (outside its scope) changes (a
  // route and a new endpoint); a change of reviews reaches it. Pushes are counted at the relay
  // between it and the control plane. Then on demand: a request for ratings is held while the
  // sidecar asks for it and is answered by ratings; one for a service the mesh does not have gets
  // a clear 404 NR as soon as the control plane says so (long before the hold's timeout, 30 s
  // here); the same over HTTP/2 with a third service, details; all counted in the sidecar's
  // /stats.
  void scopedSidecarHoldsItsDependenciesOnly() {
    startControlPlane();
    relay_ = std::make_unique<meshdeck::test::DiscoveryRelay>(address_.toStdString());
    const QString frontend_cp = QString::fromStdString(relay_->start());
    QVERIFY(!frontend_cp.isEmpty());
    reviews_.clear();
    const uint16_t reviews_app = port();
    startDemo("reviews", "v1", reviews_app);
    reviews_.push_back(startSidecar("reviews", "v1", "reviews-v1", reviews_app, address_));
    const uint16_t ratings_app = port();
    startDemo("ratings", "v1", ratings_app);
    const Sidecar ratings = startSidecar("ratings", "v1", "ratings-v1", ratings_app, address_);
    SidecarOptions o;
    o.control_plane = frontend_cp;
    o.extra = {"--depends", "reviews", "--on-demand-timeout", "30"};
    frontend_ = MeshHarness::startSidecar("frontend", "frontend", port(), o);
    QVERIFY2(waitReady({reviews_[0], ratings, frontend_}, 15'000), "sidecars not ready");
    QVERIFY(waitSynced(3, 10'000));
    QVERIFY(waitConfig(frontend_, "reviews|v1", 5000));
    QVERIFY(waitConfigGone(frontend_, "ratings", 1000));
    QVERIFY(rawRequest(frontend_.outbound, "reviews").startsWith("HTTP/1.1 200"));

    // Outside its scope: ratings' route and a second ratings endpoint.
    const uint64_t before = relay_->incrementalResponses() + relay_->wholeResponses();
    QCOMPARE(apply("apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: "
                   "ratings-fault}\nspec:\n  host: ratings\n  http:\n  - route:\n    - "
                   "destination: {host: ratings}\n    fault: {abort: {percentage: 50, httpStatus: "
                   "503}}\n")
                 .code,
             0);
    const uint16_t ratings2_app = port();
    startDemo("ratings", "v2", ratings2_app);
    const Sidecar ratings2 = startSidecar("ratings", "v2", "ratings-v2", ratings2_app, address_);
    QVERIFY(waitReady({ratings2}, 15'000));
    QVERIFY(waitConfig(reviews_[0], "ratings|v2", 5000));  // reviews has the whole mesh
    QVERIFY(waitSynced(4, 10'000));
    QCOMPARE(relay_->incrementalResponses() + relay_->wholeResponses(), before);

    // Inside it: a second reviews endpoint, one increment.
    const uint16_t reviews2_app = port();
    startDemo("reviews", "v2", reviews2_app);
    const Sidecar reviews2 = startSidecar("reviews", "v2", "reviews-v2", reviews2_app, address_);
    QVERIFY(waitReady({reviews2}, 15'000));
    QVERIFY(waitConfig(frontend_, "reviews|v2", 5000));
    QVERIFY(waitSynced(5, 10'000));
    QVERIFY(relay_->incrementalResponses() + relay_->wholeResponses() > before);
    QVERIFY(waitConfigGone(frontend_, "ratings", 1000));
    QVERIFY(rawRequest(frontend_.outbound, "reviews").startsWith("HTTP/1.1 200"));
    QCOMPARE(onDemandStat(frontend_, "found"), QByteArray("0"));

    // On demand. The fault route goes first (not pushed to the frontend: outside its scope).
    ctl({"delete", "TrafficRoute", "ratings-fault"});
    QCOMPARE(last_code_, 0);
    const QByteArray reached = rawRequest(frontend_.outbound, "ratings");
    QVERIFY2(reached.startsWith("HTTP/1.1 200"), reached.constData());
    QVERIFY(waitConfig(frontend_, "ratings|v1", 1000));  // ratings joined its scope
    QCOMPARE(onDemandStat(frontend_, "found"), QByteArray("1"));
    QVERIFY(rawRequest(frontend_.outbound, "ratings:9080").startsWith("HTTP/1.1 200"));
    QCOMPARE(onDemandStat(frontend_, "found"), QByteArray("1"));  // routed, not held
    // Unknown: answered long before the 30 s hold would end. (rawRequest reads until the proxy
    // closes the connection or its 5 s read limit passes; the time includes that wait.)
    const auto asked = std::chrono::steady_clock::now();
    const QByteArray unknown = rawRequest(frontend_.outbound, "nosuch");
    const auto took = std::chrono::steady_clock::now() - asked;
    QVERIFY2(unknown.startsWith("HTTP/1.1 404") && unknown.contains("x-meshdeck-error: NR") &&
                 unknown.contains("knows no service"),
             unknown.constData());
    QVERIFY(took < std::chrono::seconds(15));
    QCOMPARE(onDemandStat(frontend_, "unknown"), QByteArray("1"));
    QCOMPARE(onDemandStat(frontend_, "timeout"), QByteArray("0"));
    QCOMPARE(onDemandStat(frontend_, "overflow"), QByteArray("0"));
    // An address is not a service: refused at once, nothing held or asked.
    QVERIFY(rawRequest(frontend_.outbound, "127.0.0.9:1").startsWith("HTTP/1.1 404"));
    QCOMPARE(onDemandStat(frontend_, "unknown"), QByteArray("1"));

    // The same over HTTP/2 (nghttp, prior knowledge): a new service, details, found on demand,
    // and an unknown one.
    const uint16_t details_app = port();
    startDemo("details", "v1", details_app);
    const Sidecar details = startSidecar("details", "v1", "details-v1", details_app, address_);
    QVERIFY(waitReady({details}, 15'000));
    QVERIFY(waitConfig(reviews_[0], "details|v1", 5000));  // the control plane has it
    auto h2get = [&](const QString& authority) {
      QProcess nghttp;
      nghttp.start("/usr/bin/nghttp", {"-v", "-n", "-H", ":authority: " + authority,
                                       QString("http://127.0.0.1:%1/").arg(frontend_.outbound)});
      nghttp.waitForFinished(20'000);
      return nghttp.readAllStandardOutput();
    };
    const QByteArray h2_found = h2get("details");
    QVERIFY2(h2_found.contains(":status: 200"), h2_found.constData());
    QCOMPARE(onDemandStat(frontend_, "found"), QByteArray("2"));
    const QByteArray h2_unknown = h2get("nosuch2");
    QVERIFY2(h2_unknown.contains(":status: 404") && h2_unknown.contains("x-meshdeck-error: NR"),
             h2_unknown.constData());
    QCOMPARE(onDemandStat(frontend_, "unknown"), QByteArray("2"));
    QCOMPARE(onDemandStat(frontend_, "timeout"), QByteArray("0"));
  }

 private:
  // meshdeck_on_demand_requests_total{result="<result>"} in the sidecar's /stats ("" absent).
  static QByteArray onDemandStat(const Sidecar& s, const char* result) {
    std::string stats;
    if (loopbackHttp(s.admin, "GET", "/stats", "", std::chrono::milliseconds(2000), &stats,
                     nullptr) != 200)
      return {};
    const std::string name =
        std::string("\nmeshdeck_on_demand_requests_total{result=\"") + result + "\"} ";
    const auto at = stats.find(name);
    if (at == std::string::npos) return {};
    const auto start = at + name.size();
    return QByteArray::fromStdString(stats.substr(start, stats.find('\n', start) - start));
  }

  // --- processes ---------------------------------------------------------------------------
  void startControlPlane() {
    if (cp_port_ == 0) cp_port_ = port();
    address_ = QString("127.0.0.1:%1").arg(cp_port_);
    QVERIFY2(startControlPlaneAndWait(
                 {"--listen", address_, "--state-dir", dir_->filePath("state")}, "listening on "),
             qPrintable(log_));
  }

  Sidecar startSidecar(const QString& service, const QString& version, const QString& id,
                       uint16_t app, const QString& control_plane) {
    SidecarOptions o;
    o.control_plane = control_plane;
    o.version = version;
    return MeshHarness::startSidecar(service, id, app, o);
  }

  void startMesh(bool relay_frontend) {
    startControlPlane();
    QString frontend_cp = address_;
    if (relay_frontend) {
      relay_ = std::make_unique<meshdeck::test::DiscoveryRelay>(address_.toStdString());
      frontend_cp = QString::fromStdString(relay_->start());
      QVERIFY(!frontend_cp.isEmpty());
    }
    reviews_.clear();
    for (const QString v : {"v1", "v2"}) {
      const uint16_t app = port();
      startDemo("reviews", v, app);
      reviews_.push_back(startSidecar("reviews", v, "reviews-" + v, app, address_));
    }
    // The frontend has no app: the load generator plays it, through the sidecar's outbound port.
    frontend_ = startSidecar("frontend", "v1", "frontend", port(), frontend_cp);
    QVERIFY2(waitReady({reviews_[0], reviews_[1], frontend_}, 15'000), "sidecars not ready");
    QVERIFY(waitSynced(3, 10'000));
  }

  // --- what a user would type --------------------------------------------------------------
  // `meshdeckctl get proxies -o json`, by proxy id.
  QMap<QString, QJsonObject> proxies() {
    QMap<QString, QJsonObject> by_id;
    for (const auto& p :
         QJsonDocument::fromJson(ctlRun({"get", "proxies", "-o", "json"}).out).array())
      by_id[p.toObject()["proxy_id"].toString()] = p.toObject();
    return by_id;
  }
  bool waitSynced(int count, int timeout_ms) {
    const auto t = Clock::now();
    while (msSince(t) < timeout_ms) {
      int synced = 0;
      for (const auto& p : proxies()) synced += p["state"].toString() == "SYNCED";
      if (synced == count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    qWarning("not synced: %s", ctlRun({"get", "proxies"}).out.constData());
    return false;
  }
  qint64 policyRevision() {
    const auto r = ctlRun({"snapshot", "-o", "-"});
    return QJsonDocument::fromJson(r.out)["policy_revision"].toInteger(-1);
  }
  qint64 demoRequests(const Sidecar& s) {
    std::string body;
    loopbackHttp(s.app, "GET", "/_demo/stats", "", std::chrono::milliseconds(1000), &body, nullptr);
    return QJsonDocument::fromJson(QByteArray::fromStdString(body))["requests"].toInteger(-1);
  }
  // meshdeck-load through the frontend's sidecar, 8 connections.
  QProcess& startLoad(int rate, const QString& duration) {
    return MeshHarness::startLoad(frontend_, rate, duration, 8);
  }
  QJsonObject load(int rate, const QString& duration) {
    return MeshHarness::load(frontend_, rate, duration, 8, 60'000);
  }

  // --- policies ----------------------------------------------------------------------------
  static QString destinationYaml() {
    return "apiVersion: meshdeck.io/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: reviews}\n"
           "spec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n"
           "  - {name: v2, labels: {version: v2}}\n";
  }
  static QString routeYaml(int w1, int w2) {
    QString y =
        "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: reviews-canary}\n"
        "spec:\n  host: reviews\n  http:\n  - name: canary\n    route:\n";
    if (w1) y += QString("    - {destination: {host: reviews, subset: v1}, weight: %1}\n").arg(w1);
    if (w2) y += QString("    - {destination: {host: reviews, subset: v2}, weight: %1}\n").arg(w2);
    return y;
  }
  static QString faultYaml(const QString& fault) {
    return "apiVersion: meshdeck.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: reviews-fault}\n"
           "spec:\n  host: reviews\n  http:\n  - route:\n    - destination: {host: reviews}\n"
           "    fault: {" +
           fault + "}\n";
  }

  std::unique_ptr<meshdeck::test::DiscoveryRelay> relay_;
  uint16_t cp_port_ = 0;
  std::vector<Sidecar> reviews_;
  Sidecar frontend_;
};

QTEST_GUILESS_MAIN(MeshE2eTest)
#include "mesh_e2e_test.moc"
