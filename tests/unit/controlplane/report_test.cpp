#include "controlplane/report/report.h"

#include <QtTest>

#include "controlplane/report/report_html.h"
#include "controlplane/report/svg_chart.h"
#include "support/report_fixtures.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::report;
using namespace std::chrono_literals;
using meshdeck::test::countChecks;

namespace {

// The three policies left on (support/report_fixtures.h), and three the checkup does not list:
// a route without a fault, STRICT mTLS, an enforced authorization rule.
const std::string kPolicies = std::string(meshdeck::test::kLeftOnPolicies) + R"(---
apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata:
  name: ratings-plain
spec:
  host: ratings
  http:
  - route:
    - destination:
        host: ratings
---
apiVersion: meshdeck.io/v1alpha1
kind: PeerAuthentication
metadata:
  name: mesh
spec:
  mtls:
    mode: STRICT
---
apiVersion: meshdeck.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: enforced
spec:
  action: DENY
  rules:
  - to:
    - operation:
        methods: [DELETE]
)";

// The policies as the control plane lists them: one PolicyInfo per document, its YAML the
// document's.
std::vector<PolicyInfo> policyInfos() {
  std::vector<PolicyInfo> out;
  const std::string all = kPolicies;
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find("\n---\n", start);
    const std::string doc =
        all.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
    PolicyInfo p;
    p.yaml = doc;
    const auto k = doc.find("kind: ");
    p.kind = doc.substr(k + 6, doc.find('\n', k) - k - 6);
    const auto n = doc.find("name: ");
    p.name = doc.substr(n + 6, doc.find('\n', n) - n - 6);
    out.push_back(p);
    if (end == std::string::npos) break;
    start = end + 5;
  }
  return out;
}

EdgeSection edge(const std::string& s, const std::string& d, uint64_t requests, uint64_t retries) {
  EdgeSection e;
  e.source = s, e.destination = d;
  e.metrics.requests = requests;
  e.metrics.retries = retries;
  e.metrics.mtls_requests = requests;
  e.retry_rate = requests ? double(retries) / double(requests) : 0;
  return e;
}

bool has(const std::vector<CheckItem>& items, CheckKind kind, const std::string& subject) {
  for (const auto& i : items)
    if (i.kind == kind && i.subject == subject) return true;
  return false;
}

}  // namespace

class ReportTest : public QObject {
  Q_OBJECT

 private slots:
  void checkupFindsWhatIsLeftOn() {
    const SystemTime now = SystemTime(std::chrono::hours(24 * 365 * 56));
    std::vector<EdgeSection> edges = {edge("frontend", "reviews", 1000, 150),
                                      edge("frontend", "ratings", 1000, 20),
                                      edge("reviews", "ratings", 5, 5)};
    edges[0].metrics.faults_injected = 97;
    edges[1].metrics.plaintext_requests = 40;
    edges[1].metrics.mtls_requests = 960;

    std::vector<CertificateInfo> certs;
    // A proxy renewed in time: its older certificate is near its end, the newest is not.
    certs.push_back(
        {"reviews-v1-0", "spiffe://mesh/ns/default/sa/reviews", "", "01", now - 22h, now + 2h});
    certs.push_back(
        {"reviews-v1-0", "spiffe://mesh/ns/default/sa/reviews", "", "02", now - 1h, now + 23h});
    // Not renewed: 3 h left of 24 h.
    certs.push_back(
        {"ratings-v1-0", "spiffe://mesh/ns/default/sa/ratings", "", "03", now - 21h, now + 3h});
    certs.push_back({"old-0", "spiffe://mesh/ns/default/sa/old", "", "04", now - 25h, now - 1h});

    GraphSnapshot snap;
    ProxyInfo synced, stale, rejected;
    synced.proxy_id = "frontend-v1-0", synced.state = SyncState::kSynced;
    stale.proxy_id = "ratings-v1-0", stale.state = SyncState::kStale;
    rejected.proxy_id = "reviews-v2-0", rejected.state = SyncState::kRejected;
    rejected.nack_reason = "unknown cluster";
    snap.proxies = {synced, stale, rejected};
    ServiceNode reviews;
    reviews.name = "reviews";
    reviews.authorization.push_back({"audit-reviews", "rules[0]", "DENY", true, 0, 0, 7});
    snap.services = {reviews};

    const auto items = checkup(policyInfos(), edges, certs, snap, now, ReportOptions{});

    QVERIFY(has(items, CheckKind::kFaultInjection, "TrafficRoute/reviews-delay"));
    QCOMPARE(countChecks(items, CheckKind::kFaultInjection), size_t(1));  // not ratings-plain
    for (const auto& i : items)
      if (i.kind == CheckKind::kFaultInjection)
        QVERIFY2(i.detail.find("97 requests") != std::string::npos, i.detail.c_str());
    QVERIFY(has(items, CheckKind::kPermissive, "PeerAuthentication/reviews-migration"));
    QCOMPARE(countChecks(items, CheckKind::kPermissive), size_t(1));  // STRICT is not listed
    QVERIFY(has(items, CheckKind::kPlaintext, "frontend -> ratings"));
    QCOMPARE(countChecks(items, CheckKind::kPlaintext), size_t(1));
    QVERIFY(has(items, CheckKind::kCertificateExpiring, "ratings-v1-0"));
    QVERIFY(has(items, CheckKind::kCertificateExpiring, "old-0"));
    QCOMPARE(countChecks(items, CheckKind::kCertificateExpiring), size_t(2));  // reviews renewed
    QVERIFY(has(items, CheckKind::kProxyNotSynced, "ratings-v1-0"));
    QVERIFY(has(items, CheckKind::kProxyNotSynced, "reviews-v2-0"));
    QCOMPARE(countChecks(items, CheckKind::kProxyNotSynced), size_t(2));
    // 15 % retries is listed; 2 % is not; 5 requests are too few to judge.
    QVERIFY(has(items, CheckKind::kHighRetryRate, "frontend -> reviews"));
    QCOMPARE(countChecks(items, CheckKind::kHighRetryRate), size_t(1));
    QVERIFY(has(items, CheckKind::kAuthorizationDryRun, "AuthorizationPolicy/audit-reviews"));
    QCOMPARE(countChecks(items, CheckKind::kAuthorizationDryRun), size_t(1));
    for (const auto& i : items)
      if (i.kind == CheckKind::kAuthorizationDryRun)
        QVERIFY2(i.detail.find("7 requests") != std::string::npos, i.detail.c_str());
  }

  void cleanMeshHasNoFindings() {
    const SystemTime now = SystemTime(std::chrono::hours(24 * 365 * 56));
    GraphSnapshot snap;
    const auto items = checkup({}, {edge("a", "b", 100, 1)}, {}, snap, now, ReportOptions{});
    QVERIFY(items.empty());
  }

  void escapesEverythingFromTheNetwork() {
    QCOMPARE(escapeHtml("<script>alert('x') & \"y\"</script>"),
             std::string("&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"));
    const std::string evil = "<script>alert(1)</script>";
    MeshReport r;
    r.available = true;
    r.from = SystemTime(std::chrono::hours(24 * 365 * 56));
    r.to = r.from + 10min;
    r.generated = r.to;
    r.step_seconds = 60;
    r.source = evil;
    EdgeSection e = edge(evil, "reviews\"><img src=x onerror=alert(1)>", 100, 0);
    e.metrics.responses_by_class[4] = 3;
    e.error_rate = 0.03;
    e.series = {{r.from, 100, 1.0, 0.03, 12}};
    r.edges = {e};
    r.worst_by_errors = {0};
    r.worst_by_p99 = {0};
    ServiceSection s;
    s.name = evil;
    s.health.state = HealthState::kDegraded;
    s.health.reasons = {evil};
    r.services = {s};
    r.events = {{r.from + 1min, "policy.apply", evil, evil, evil}};
    r.checkup = {{CheckKind::kProxyNotSynced, evil, evil}};
    for (auto charts : {HtmlOptions::Charts::kInlineSvg, HtmlOptions::Charts::kImages}) {
      HtmlOptions o;
      o.charts = charts;
      const auto out = renderHtml(r, o);
      QVERIFY(out.html.find("<script") == std::string::npos);
      QVERIFY(out.html.find("<img src=x") == std::string::npos);
      QVERIFY(out.html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
      for (const auto& [name, svg] : out.images) {
        QVERIFY(svg.find("<script") == std::string::npos);
        QVERIFY(svg.rfind("<svg ", 0) == 0);
      }
    }
  }

  void selfContainedHtml() {
    MeshReport r;
    r.available = true;
    r.from = SystemTime(std::chrono::hours(24 * 365 * 56));
    r.to = r.from + 1h;
    r.step_seconds = 60;
    r.requests = 1234;
    r.error_rate = 0.0125;
    r.p99_ms = 42.25;
    for (int i = 0; i < 60; ++i)
      r.series.push_back({r.from + std::chrono::minutes(i), 20, 0.33, 0, 40});
    r.events = {{r.from + 5min, "scenario.step", "retry-storm", "step 1", ""}};
    const auto inline_svg = renderHtml(r);
    QVERIFY(inline_svg.images.empty());
    QVERIFY(inline_svg.html.find("<svg ") != std::string::npos);
    QVERIFY(inline_svg.html.find("id=\"summary-requests\">1234<") != std::string::npos);
    QVERIFY(inline_svg.html.find("id=\"summary-errors\">1.25%<") != std::string::npos);
    QVERIFY(inline_svg.html.find("id=\"summary-p99\">42.2 ms<") != std::string::npos ||
            inline_svg.html.find("id=\"summary-p99\">42.3 ms<") != std::string::npos);
    // One document, each section once.
    auto occurrences = [](const std::string& text, const std::string& needle) {
      size_t n = 0;
      for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
      return n;
    };
    for (const char* once : {"<!DOCTYPE html>", "<h1>", "<h2>Summary", "<h2>Checkup",
                             "<h2>Traffic and events", "<h2>Services", "<h2>Events", "</html>"})
      QVERIFY2(occurrences(inline_svg.html, once) == 1, once);
    // Nothing fetched from elsewhere: no script, no link, no remote source.
    for (const char* needle : {"<script", "<link", "src=\"http", "href=\"http", "url("})
      QVERIFY2(inline_svg.html.find(needle) == std::string::npos, needle);
    const auto images = renderHtml(r, {HtmlOptions::Charts::kImages, true});
    QVERIFY(images.html.find("<svg") == std::string::npos);
    QVERIFY(!images.images.empty());
    for (const auto& [name, svg] : images.images)
      QVERIFY(images.html.find("<img src=\"" + name + "\"") != std::string::npos);
    QVERIFY(images.html.find(kPageBreak) != std::string::npos);
    QVERIFY(inline_svg.html.find(kPageBreak) == std::string::npos);
  }

  void chartScalesAndMarksEvents() {
    LineChart c;
    c.from = SystemTime(std::chrono::hours(24 * 365 * 56));
    c.to = c.from + 10min;
    c.points = {{c.from, 0}, {c.from + 5min, 37}, {c.to, 10}};
    c.marks = {c.from + 2min, c.to + 1h};  // the second is outside the range: not drawn
    c.unit = "%";
    const auto svg = renderLineChart(c);
    QVERIFY(svg.find(">50%<") != std::string::npos);  // 37 rounds up to a scale of 50
    size_t dashed = 0;
    for (size_t p = svg.find("stroke-dasharray"); p != std::string::npos;
         p = svg.find("stroke-dasharray", p + 1))
      ++dashed;
    QCOMPARE(dashed, size_t(1));
    QVERIFY(svg.find("<path d=\"M") != std::string::npos);
    // A step without requests (NaN) breaks the line in two.
    c.points = {{c.from, 1}, {c.from + 1min, std::nan("")}, {c.from + 2min, 2}, {c.to, 3}};
    const auto gap = renderLineChart(c);
    const auto d = gap.find("<path d=\"");
    const auto path = gap.substr(d, gap.find('"', d + 9) - d);
    QCOMPARE(std::count(path.begin(), path.end(), 'M'), 2);
    QCOMPARE(std::count(path.begin(), path.end(), 'L'), 1);
  }
};

QTEST_GUILESS_MAIN(ReportTest)
#include "report_test.moc"
