// /metrics: the Prometheus text of the control plane's totals (checked with a strict reader of
// the format), label values from the network escaped, and the HTTP server's refusals, on a
// real loopback socket (port 0).
#include <QtTest>

#include "controlplane/metrics/metrics_server.h"
#include "controlplane/metrics/prometheus_text.h"
#include "support/prometheus_parser.h"
#include "support/raw_http.h"

using namespace meshdeck;
using namespace meshdeck::cp;
using meshdeck::test::parsePrometheus;

namespace {
EdgeTotals edge(const std::string& src, const std::string& dst, uint64_t ok, uint64_t errors,
                uint64_t latency_ns) {
  EdgeTotals e;
  e.source = src;
  e.destination = dst;
  e.requests = ok + errors;
  e.responses_by_class[1] = ok;
  e.responses_by_class[4] = errors;
  common::LatencyHistogram h;
  h.recordN(latency_ns, e.requests);
  e.latency = SparseHistogram::fromDense(h);
  return e;
}
using Labels = std::map<std::string, std::string>;
}  // namespace

class MetricsTest : public QObject {
  Q_OBJECT

 private slots:
  void textParsesStrictly() {
    metrics::MetricsInput in;
    in.edges.push_back(edge("page", "reviews", 90, 10, 2'000'000));  // 2 ms
    auto slow = edge("page", "ratings", 5, 0, 3'000'000'000);        // 3 s
    slow.grpc_statuses[0] = 4;
    slow.grpc_statuses[14] = 1;
    in.edges.push_back(slow);
    in.proxies_by_state[static_cast<size_t>(SyncState::kSynced)] = 3;
    in.proxies_by_state[static_cast<size_t>(SyncState::kRejected)] = 1;
    in.ca_root_expiry = SystemTime(std::chrono::seconds(1'900'000'000));
    in.health.emplace_back("reviews", ServiceHealth{HealthState::kDegraded, {"5xx 10.0% ≥ 0%"}});
    in.bad_requests = 7;
    in.refusals = {2, 3, 5, 7, 11};
    const std::string text = metrics::renderPrometheus(in);
    std::string error;
    const auto doc = parsePrometheus(text, &error);
    QVERIFY2(doc, (error + "\n" + text).c_str());
    QCOMPARE(doc->types.at("meshdeck_edge_requests_total"), std::string("counter"));
    QCOMPARE(doc->types.at("meshdeck_edge_request_duration_seconds"), std::string("histogram"));
    const Labels pr{{"source", "page"}, {"destination", "reviews"}};
    QCOMPARE(*doc->value("meshdeck_edge_requests_total", pr), 100.0);
    auto with = [](Labels l, const std::string& k, const std::string& v) {
      l[k] = v;
      return l;
    };
    QCOMPARE(*doc->value("meshdeck_edge_responses_total", with(pr, "class", "5xx")), 10.0);
    QCOMPARE(*doc->value("meshdeck_edge_responses_total", with(pr, "class", "2xx")), 90.0);
    QCOMPARE(*doc->value("meshdeck_edge_responses_total", with(pr, "class", "4xx")), 0.0);
    // 2 ms: above le=0.001, within le=0.0025.
    const std::string b = "meshdeck_edge_request_duration_seconds_bucket";
    QCOMPARE(*doc->value(b, with(pr, "le", "0.001")), 0.0);
    QCOMPARE(*doc->value(b, with(pr, "le", "0.0025")), 100.0);
    QCOMPARE(*doc->value(b, with(pr, "le", "+Inf")), 100.0);
    QCOMPARE(*doc->value("meshdeck_edge_request_duration_seconds_count", pr), 100.0);
    QCOMPARE(*doc->value("meshdeck_edge_request_duration_seconds_sum", pr), 0.2);
    // 3 s: only from le=5 on.
    const Labels rr{{"source", "page"}, {"destination", "ratings"}};
    QCOMPARE(*doc->value(b, with(rr, "le", "2.5")), 0.0);
    QCOMPARE(*doc->value(b, with(rr, "le", "5")), 5.0);
    QCOMPARE(*doc->value("meshdeck_edge_grpc_calls_total", with(rr, "grpc_status", "UNAVAILABLE")),
             1.0);
    QVERIFY(!doc->value("meshdeck_edge_grpc_calls_total", with(rr, "grpc_status", "INTERNAL")));
    QCOMPARE(*doc->value("meshdeck_proxies", {{"sync_state", "synced"}}), 3.0);
    QCOMPARE(*doc->value("meshdeck_proxies", {{"sync_state", "rejected"}}), 1.0);
    QCOMPARE(*doc->value("meshdeck_proxies", {{"sync_state", "stale"}}), 0.0);
    QCOMPARE(*doc->value("meshdeck_ca_root_expiry_timestamp_seconds"), 1.9e9);
    QCOMPARE(
        *doc->value("meshdeck_service_health", {{"service", "reviews"}, {"state", "degraded"}}),
        1.0);
    QCOMPARE(*doc->value("meshdeck_service_health", {{"service", "reviews"}, {"state", "healthy"}}),
             0.0);
    QCOMPARE(*doc->value("meshdeck_metrics_bad_requests_total"), 7.0);
    QCOMPARE(doc->types.at("meshdeck_security_refusals_total"), std::string("counter"));
    const std::string refusals = "meshdeck_security_refusals_total";
    QCOMPARE(*doc->value(refusals, {{"reason", "proxy_stream"}}), 2.0);
    QCOMPARE(*doc->value(refusals, {{"reason", "proxy_identity"}}), 3.0);
    QCOMPARE(*doc->value(refusals, {{"reason", "management_unauthenticated"}}), 5.0);
    QCOMPARE(*doc->value(refusals, {{"reason", "management_forbidden"}}), 7.0);
    QCOMPARE(*doc->value(refusals, {{"reason", "identity_sign"}}), 11.0);
  }

  // Service names come from the network: whatever they hold, the text stays parseable and the
  // label reads back as the name (bytes that are not UTF-8 as U+FFFD).
  void hostileLabelValuesAreEscaped() {
    const std::string hostile = "a\"b\\c\nd} x{le=\"1\"} 9\n# TYPE evil counter";
    metrics::MetricsInput in;
    in.edges.push_back(edge(hostile, "reviews", 1, 0, 1'000'000));
    in.health.emplace_back(hostile, ServiceHealth{HealthState::kHealthy, {}});
    const std::string text = metrics::renderPrometheus(in);
    std::string error;
    const auto doc = parsePrometheus(text, &error);
    QVERIFY2(doc, (error + "\n" + text).c_str());
    QCOMPARE(*doc->value("meshdeck_edge_requests_total",
                         {{"source", hostile}, {"destination", "reviews"}}),
             1.0);
    QVERIFY(!doc->types.count("evil"));
    QCOMPARE(metrics::escapeLabelValue("ok\xff\xc0\xafz\xe2\x82\xac"),
             std::string("ok\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz\xe2\x82\xac"));
    QCOMPARE(metrics::escapeLabelValue("\\\"\n"), std::string("\\\\\\\"\\n"));
  }

  // The reader used here and in the integration test refuses what it must (so that its "parses"
  // means something).
  void strictReaderRefusesBrokenText() {
    std::string error;
    const char* broken[] = {
        "x 1\n",                               // no TYPE
        "# TYPE x counter\nx{a=\"1\",} 1\n",   // trailing comma
        "# TYPE x counter\nx{a=\"\\t\"} 1\n",  // unknown escape
        "# TYPE x counter\nx -1\n",            // negative counter
        "# TYPE x counter\nx 1",               // no final newline
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "# TYPE x gauge\nx 1\nx 2\n",  // series twice
    };
    for (const char* text : broken) QVERIFY2(!parsePrometheus(text, &error), text);
    QVERIFY(parsePrometheus(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
        &error));
  }

  void serverAnswersAndRefuses() {
    int renders = 0;
    metrics::MetricsServer server([&renders] {
      ++renders;
      return std::string("# TYPE up gauge\nup 1\n");
    });
    std::string error;
    QVERIFY2(server.start("127.0.0.1:0", &error), error.c_str());
    const std::string address = server.address();
    QVERIFY(address.rfind("127.0.0.1:", 0) == 0 && address != "127.0.0.1:0");

    const auto ok = test::rawHttpExchange(
        address, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    QVERIFY2(ok.rfind("HTTP/1.1 200", 0) == 0, ok.c_str());
    QVERIFY(ok.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    QCOMPARE(test::httpBody(ok), std::string("# TYPE up gauge\nup 1\n"));
    QCOMPARE(server.badRequests(), 0u);

    struct Case {
      std::string request, status;
    };
    const std::vector<Case> cases = {
        {"GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404"},
        {"POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 405"},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n",
         "HTTP/1.1 431"},
        {"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400"},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 400"},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", "HTTP/1.1 400"},
    };
    uint64_t refused = 0;
    for (const auto& c : cases) {
      const auto answer = test::rawHttpExchange(address, c.request);
      QVERIFY2(answer.rfind(c.status, 0) == 0, (c.request.substr(0, 40) + " -> " + answer).c_str());
      QCOMPARE(server.badRequests(), ++refused);
    }
    // Still serving after all that; two scrapes on one kept-alive connection.
    const auto twice = test::rawHttpExchange(
        address,
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n"
        "Connection: close\r\n\r\n");
    QVERIFY2(twice.find("HTTP/1.1 200") != twice.rfind("HTTP/1.1 200"), twice.c_str());
    QCOMPARE(renders, 3);
    QCOMPARE(server.scrapes(), 3u);

    // The port is taken now: a second server on it fails with a reason.
    metrics::MetricsServer second([] { return std::string(); });
    QVERIFY(!second.start(address, &error));
    QVERIFY2(error.find(address) != std::string::npos, error.c_str());
    QVERIFY(!second.start("nowhere", &error));
    server.stop();
    QVERIFY(test::rawHttpExchange(address, "GET /metrics HTTP/1.1\r\n\r\n").empty());
  }
};

QTEST_GUILESS_MAIN(MetricsTest)
#include "metrics_test.moc"
