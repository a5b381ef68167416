// Taps end to end with real processes on 127.0.0.1 (docs/tap.md, issue 23):
//
//   requests --> [frontend sidecar] --> [reviews sidecar] --> demo reviews
//
// - idle: with no tap open, the sidecars build no tap event (their counter stays 0);
// - filters: a tap of svc/reviews with a path prefix shows only those paths, with the facts of
//   each request (both sides, method, status, route, trace id);
// - a tap of the whole mesh, and one of a destination alone, see each request once, by the
//   first mesh proxy it passes (the caller's outbound side; the callee's inbound side for a
//   caller outside the mesh);
// - limits: a tap at 10 events/s of a mesh under 200 requests/s delivers no more than the
//   rate allows and counts the rest as dropped;
// - redaction: authorization, cookie and a header the operator lists never leave the proxy,
//   in the request's headers and in the response's (HTTP/1.1 and HTTP/2 clients);
// - closing the client's stream closes the proxies' subscriptions;
// - meshdeckctl tap --count N -o json writes N JSON lines and stops.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QJsonDocument>
#include <QtTest>
#include <atomic>
#include <set>
#include <thread>

#include "controlplane/fleet/loopback_http.h"
#include "integration/common/mesh_harness.h"
#include "meshdeck/v1/management.grpc.pb.h"

using meshdeck::cp::fleet::loopbackHttp;
using namespace meshdeck::test;
namespace v1 = meshdeck::v1;

namespace {

// One GET through a sidecar's outbound port with extra header lines; the raw response.
QByteArray get(uint16_t port, const QByteArray& host, const QByteArray& path,
               const QByteArray& headers = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  QByteArray out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const QByteArray req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + headers +
                           "Connection: close\r\n\r\n";
    if (::write(fd, req.constData(), static_cast<size_t>(req.size())) == req.size()) {
      char buf[4096];
      for (int i = 0; i < 1000; ++i) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<qsizetype>(n));
      }
    }
  }
  ::close(fd);
  return out;
}

// A value of a proxy's /stats ("" when absent).
std::string statLine(uint16_t admin, const std::string& name) {
  std::string stats;
  if (loopbackHttp(admin, "GET", "/stats", "", std::chrono::milliseconds(2000), &stats, nullptr) !=
      200)
    return {};
  const auto at = stats.find("\n" + name + " ");
  if (at == std::string::npos) return {};
  const auto start = at + 1 + name.size() + 1;
  return stats.substr(start, stats.find('\n', start) - start);
}

// A tap read on a thread of its own until stopped: events, the last drop count.
class TapClient {
 public:
  TapClient(const QString& address, const v1::TapRequest& request)
      : stub_(v1::Mesh::NewStub(
            grpc::CreateChannel(address.toStdString(), grpc::InsecureChannelCredentials()))) {
    reader_ = stub_->Tap(&ctx_, request);
    thread_ = std::thread([this] {
      v1::TapResponse r;
      while (reader_->Read(&r)) {
        std::lock_guard lock(mutex_);
        for (const auto& e : r.events()) events_.push_back(e);
        dropped_ = r.dropped();
        proxies_ = r.proxies();
        ++batches_;
      }
    });
  }
  ~TapClient() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    ctx_.TryCancel();
    thread_.join();
    reader_->Finish();
  }
  std::vector<v1::TapEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  uint64_t dropped() {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  int batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  std::unique_ptr<v1::Mesh::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::TapResponse>> reader_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<v1::TapEvent> events_;
  uint64_t dropped_ = 0;
  uint32_t proxies_ = 0;
  int batches_ = 0;
};

}  // namespace

class TapE2eTest : public QObject, public MeshHarness {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(initHarness());
    address_ = QString("127.0.0.1:%1").arg(port());
    QVERIFY2(startControlPlaneAndWait(
                 {"--listen", address_, "--state-dir", dir_->filePath("state")}, "listening on "),
             qPrintable(log_));
    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    reviews_ = startSidecar("reviews", "reviews-v1", app);
    frontend_ = startSidecar("frontend", "frontend", port());
    QVERIFY(waitReady({reviews_, frontend_}, 15'000));
    QVERIFY(waitConfig(frontend_, "reviews", 5000));
    // The route works before anything is tapped.
    QByteArray first;
    for (int i = 0; i < 50 && !first.startsWith("HTTP/1.1 200"); ++i) {
      first = get(frontend_.outbound, "reviews", "/");
      if (!first.startsWith("HTTP/1.1 200"))
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    QVERIFY2(first.startsWith("HTTP/1.1 200"), first.constData());
  }
  void cleanupTestCase() { stopAll(); }

  void idleBuildsNoEvents() {
    const QJsonObject report = load(frontend_, 100, "2s");
    QCOMPARE(report["completed"].toInteger(), qint64(200));
    for (const auto* s : {&reviews_, &frontend_}) {
      QCOMPARE(statLine(s->admin, "meshdeck_tap_events_built_total"), std::string("0"));
      QCOMPARE(statLine(s->admin, "meshdeck_tap_active"), std::string("0"));
    }
  }

  void filtersShowOnlyWhatMatches() {
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));  // the last tap closed
    v1::TapRequest req;
    req.mutable_match()->set_service("reviews");
    req.mutable_match()->set_path_prefix("/b");
    TapClient tap(address_, req);
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "1", 5000));
    for (int i = 0; i < 20; ++i) {
      QVERIFY(get(frontend_.outbound, "reviews", "/a/" + QByteArray::number(i))
                  .startsWith("HTTP/1.1 200"));
      QVERIFY(get(frontend_.outbound, "reviews", "/b/" + QByteArray::number(i))
                  .startsWith("HTTP/1.1 200"));
    }
    QVERIFY(waitFor([&] { return tap.events().size() >= 20; }, 5000));
    const auto events = tap.events();
    qInfo("filter /b: %zu events", events.size());
    QCOMPARE(events.size(), size_t{20});  // the reviews proxy's inbound side, each /b once
    for (const auto& e : events) {
      QVERIFY2(e.path().rfind("/b/", 0) == 0, e.path().c_str());
      QCOMPARE(e.method(), std::string("GET"));
      QCOMPARE(e.status(), 200u);
      QCOMPARE(e.destination_service(), std::string("reviews"));
      QCOMPARE(e.source_service(), std::string("frontend"));
      QCOMPARE(e.proxy_id(), std::string("reviews-v1"));
      QCOMPARE(int(e.side()), int(v1::SERVER));
      QCOMPARE(e.trace_id().size(), size_t{32});
      QVERIFY(!e.route().empty());
      QVERIFY(e.latency_us() > 0);
    }
    QCOMPARE(tap.dropped(), 0u);
  }

  void rateLimitDropsAndCounts() {
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));  // the last tap closed
    v1::TapRequest req;  // the whole mesh: each request once, at its first proxy (frontend's)
    req.set_events_per_second(10);
    TapClient tap(address_, req);
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "1", 5000));
    const auto t0 = Clock::now();
    const QJsonObject report = load(frontend_, 200, "3s");
    QCOMPARE(report["completed"].toInteger(), qint64(600));
    QVERIFY(waitFor([&] { return tap.events().size() + tap.dropped() >= 600; }, 5000));
    const double seconds = msSince(t0) / 1000;
    const auto events = tap.events().size();
    qInfo("rate 10/s for %.1f s under 200 requests/s: %zu events, %llu dropped", seconds, events,
          static_cast<unsigned long long>(tap.dropped()));
    // Never more than the rate allows (plus the bucket's burst), the rest dropped and counted.
    QVERIFY2(double(events) <= 10 * seconds + 10, qPrintable(QString::number(events)));
    QVERIFY(events >= 10);
    QCOMPARE(events + tap.dropped(), size_t{600});
    // Dropped where the events are made: frontend's outbound side; reviews' inbound side
    // skipped them all (sent by a mesh proxy) and built nothing.
    QCOMPARE(statLine(frontend_.admin, "meshdeck_tap_events_dropped_total{reason=\"rate\"}"),
             std::to_string(tap.dropped()));
    for (const auto& e : tap.events()) QCOMPARE(int(e.side()), int(v1::CLIENT));
  }

  void meshAndDestinationTapsSeeEachRequestOnce() {
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));  // the last tap closed
    for (const bool whole_mesh : {true, false}) {
      v1::TapRequest req;
      req.mutable_match()->set_path_prefix("/once");
      if (!whole_mesh) req.mutable_match()->set_destination_service("reviews");
      TapClient tap(address_, req);
      QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "1", 5000));
      QVERIFY(waitStat(frontend_, "meshdeck_tap_active", "1", 5000));
      // Ten through frontend's sidecar, five from outside the mesh straight to reviews', then
      // one more of each: each proxy's events arrive in order, so once both last ones are in,
      // a second event of any earlier request (reviews' inbound side of the ten) would be too.
      for (int i = 0; i < 10; ++i)
        QVERIFY(get(frontend_.outbound, "reviews", "/once/in-mesh/" + QByteArray::number(i))
                    .startsWith("HTTP/1.1 200"));
      for (int i = 0; i < 5; ++i)
        QVERIFY(get(reviews_.inbound, "reviews", "/once/outside/" + QByteArray::number(i))
                    .startsWith("HTTP/1.1 200"));
      QVERIFY(get(frontend_.outbound, "reviews", "/once/in-mesh/last").startsWith("HTTP/1.1 200"));
      QVERIFY(get(reviews_.inbound, "reviews", "/once/outside/last").startsWith("HTTP/1.1 200"));
      const auto seen = [&](const std::string& path) {
        for (const auto& e : tap.events())
          if (e.path() == path) return true;
        return false;
      };
      QVERIFY(
          waitFor([&] { return seen("/once/in-mesh/last") && seen("/once/outside/last"); }, 5000));
      const auto events = tap.events();
      qInfo("%s tap: %zu events", whole_mesh ? "mesh" : "--to reviews", events.size());
      QCOMPARE(events.size(), size_t{17});
      int in_mesh = 0, outside = 0;
      for (const auto& e : events) {
        QCOMPARE(e.destination_service(), std::string("reviews"));
        if (e.path().rfind("/once/in-mesh/", 0) == 0) {
          ++in_mesh;
          QCOMPARE(int(e.side()), int(v1::CLIENT));
          QCOMPARE(e.proxy_id(), std::string("frontend"));
          QCOMPARE(e.source_service(), std::string("frontend"));
        } else {
          ++outside;
          QCOMPARE(int(e.side()), int(v1::SERVER));
          QCOMPARE(e.proxy_id(), std::string("reviews-v1"));
          QCOMPARE(e.source_service(), std::string());
        }
      }
      QCOMPARE(in_mesh, 11);
      QCOMPARE(outside, 6);
      QCOMPARE(tap.dropped(), 0u);
      tap.stop();
      QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));
    }
  }

  void headersAreRedacted() {
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));  // the last tap closed
    v1::TapRequest req;
    req.mutable_match()->set_service("reviews");
    req.set_headers(true);
    req.add_redact_headers("X-Secret");
    TapClient tap(address_, req);
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "1", 5000));
    QVERIFY(get(frontend_.outbound, "reviews", "/secret",
                "Authorization: Bearer TOPSECRET1\r\nCookie: session=TOPSECRET2\r\n"
                "X-Secret: TOPSECRET3\r\nX-Visible: hello\r\n")
                .startsWith("HTTP/1.1 200"));
    QVERIFY(waitFor([&] { return !tap.events().empty(); }, 5000));
    const auto e = tap.events().front();
    std::map<std::string, std::string> headers;
    for (const auto& h : e.request_headers()) headers[h.name()] = h.value();
    QCOMPARE(headers["x-visible"], std::string("hello"));
    for (const char* name : {"authorization", "cookie", "x-secret"}) {
      QVERIFY2(headers.count(name), name);
      QCOMPARE(headers[name], std::string("[redacted]"));
    }
    QVERIFY(e.DebugString().find("TOPSECRET") == std::string::npos);
  }

  void responseHeadersAreRedacted() {
    // The route adds response headers on frontend's outbound side, where a mesh tap sees the
    // requests: one always redacted, one listed by the operator, one shown.
    const CtlResult applied = apply(R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {name: tap-response-headers}
spec:
  host: reviews
  http:
    - name: tapped
      headers:
        response: {set: {set-cookie: "session=TOPSECRET4", x-secret: TOPSECRET5, x-shown: visible}}
      route:
        - destination: {host: reviews}
)");
    QVERIFY2(applied.code == 0, applied.err.constData());
    QVERIFY(waitConfig(frontend_, "x-shown", 5000));
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));  // the last tap closed
    v1::TapRequest req;
    req.mutable_match()->set_path_prefix("/resp");
    req.set_headers(true);
    req.add_redact_headers("X-Secret");
    TapClient tap(address_, req);
    QVERIFY(waitStat(frontend_, "meshdeck_tap_active", "1", 5000));
    // HTTP/1.1 and HTTP/2 (prior knowledge) clients of frontend's sidecar.
    QVERIFY(get(frontend_.outbound, "reviews", "/resp/h1", "X-Secret: TOPSECRET6\r\n")
                .startsWith("HTTP/1.1 200"));
    QProcess& h2 = spawn("meshdeck-load", {"--url", "http://reviews/resp/h2", "--proxy",
                                           QString("http://127.0.0.1:%1").arg(frontend_.outbound),
                                           "--http2", "--rate", "5", "--duration", "1s", "--json"});
    QVERIFY(h2.waitForFinished(15'000));
    const auto has = [&](const std::string& protocol) {
      for (const auto& e : tap.events())
        if (e.protocol() == protocol) return true;
      return false;
    };
    QVERIFY(waitFor([&] { return has("http/1.1") && has("h2"); }, 5000));
    std::set<std::string> protocols;
    for (const auto& e : tap.events()) {
      protocols.insert(e.protocol());
      QVERIFY2(e.status() == 200, e.DebugString().c_str());
      std::map<std::string, std::string> response;
      for (const auto& h : e.response_headers()) response[h.name()] = h.value();
      QCOMPARE(response["x-shown"], std::string("visible"));
      QCOMPARE(response["set-cookie"], std::string("[redacted]"));
      QCOMPARE(response["x-secret"], std::string("[redacted]"));
      QVERIFY(response.count("content-length") || response.count("content-type"));
      QVERIFY2(e.DebugString().find("TOPSECRET") == std::string::npos, e.DebugString().c_str());
    }
    QCOMPARE(protocols, (std::set<std::string>{"http/1.1", "h2"}));
    tap.stop();
    ctl({"delete", "TrafficRoute", "tap-response-headers"});
    QCOMPARE(last_code_, 0);
    QVERIFY(waitConfigGone(frontend_, "x-shown", 5000));
  }

  void closingTheClientClosesTheProxiesSubscription() {
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));  // the last tap closed
    {
      v1::TapRequest req;
      req.mutable_match()->set_service("reviews");
      TapClient tap(address_, req);
      QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "1", 5000));
    }
    QVERIFY(waitStat(reviews_, "meshdeck_tap_active", "0", 5000));
    // Idle again: traffic builds nothing more.
    const std::string built = statLine(reviews_.admin, "meshdeck_tap_events_built_total");
    QCOMPARE(load(frontend_, 100, "1s")["completed"].toInteger(), qint64(100));
    QCOMPARE(statLine(reviews_.admin, "meshdeck_tap_events_built_total"), built);
  }

  void meshdeckctlTapCountJson() {
    std::atomic<bool> stop{false};
    std::thread traffic([&] {
      for (int i = 0; i < 2000 && !stop; ++i) {
        get(frontend_.outbound, "reviews", "/ctl/" + QByteArray::number(i));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    const CtlResult r =
        ctlRun({"tap", "svc/reviews", "--path", "/ctl", "--count", "5", "-o", "json"});
    stop = true;
    traffic.join();
    QCOMPARE(r.code, 0);
    const auto lines = r.out.trimmed().split('\n');
    QCOMPARE(lines.size(), 5);
    for (const auto& line : lines) {
      const auto doc = QJsonDocument::fromJson(line);
      QVERIFY2(doc.isObject(), line.constData());
      QVERIFY(doc.object()["path"].toString().startsWith("/ctl/"));
      QCOMPARE(doc.object()["destination"].toString(), QString("reviews"));
    }
    QVERIFY2(r.err.contains("5 event(s)"), r.err.constData());
    // The table form and the per-route top.
    std::thread more([&] {
      for (int i = 0; i < 400; ++i) {
        get(frontend_.outbound, "reviews", i % 2 ? "/ctl/x" : "/ctl/y");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    const CtlResult table = ctlRun({"tap", "svc/reviews", "--count", "3", "-o", "wide"});
    const CtlResult top =
        ctlRun({"top", "--routes", "svc/reviews", "--interval", "500", "--iterations", "2"});
    more.join();
    qInfo("meshdeckctl tap -o wide:\n%s", table.out.constData());
    qInfo("meshdeckctl top --routes:\n%s", top.out.constData());
    QCOMPARE(table.code, 0);
    QVERIFY(table.out.contains("SOURCE") && table.out.contains("frontend"));
    QCOMPARE(top.code, 0);
    QVERIFY2(top.out.contains("/ctl/x") && top.out.contains("SUCCESS"), top.out.constData());
  }

 private:
  bool waitFor(const std::function<bool()>& done, int timeout_ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      if (Clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }
  bool waitStat(const Sidecar& s, const std::string& name, const std::string& value,
                int timeout_ms) {
    return waitFor([&] { return statLine(s.admin, name) == value; }, timeout_ms);
  }

  Sidecar reviews_, frontend_;
};

QTEST_GUILESS_MAIN(TapE2eTest)
#include "tap_e2e_test.moc"
