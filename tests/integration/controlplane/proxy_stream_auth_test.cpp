// Proxies authenticated on every stream, against a real meshdeck-controlplane on loopback
// (docs/security.md, "Proxies on the streams"): with --no-plaintext-proxies, two sidecars with
// bootstrap tokens stream over the TLS port and their edge appears while a plaintext stream is
// refused; a workload certificate of another proxy cannot report telemetry or ask for the
// config of reviews, nor report edges of another service, and no edge changes; a plaintext
// stream cannot speak for a proxy that connected with an identity; a proxy without an identity
// keeps working on the plaintext port when it is open. Every refusal's message is checked.
#include <grpcpp/grpcpp.h>

#include <QJsonObject>
#include <QtTest>
#include <fstream>
#include <sstream>

#include "common/pki/pki.h"
#include "integration/common/mesh_harness.h"
#include "meshdeck/v1/discovery.grpc.pb.h"
#include "meshdeck/v1/identity.grpc.pb.h"
#include "meshdeck/v1/telemetry.grpc.pb.h"
#include "support/free_ports.h"
#include "support/prometheus_parser.h"
#include "support/raw_http.h"

using namespace meshdeck::test;
using namespace std::chrono_literals;
namespace pki = meshdeck::pki;
namespace v1 = meshdeck::v1;

namespace {
// A workload certificate got with a bootstrap token, as a proxy gets it.
struct Workload {
  std::string key_pem, chain_pem, bundle_pem;
};

std::optional<Workload> signWithToken(const std::string& plain, const QString& token_file,
                                      const std::string& proxy_id, const std::string& spiffe) {
  std::ifstream in(token_file.toStdString());
  std::stringstream token;
  token << in.rdbuf();
  const auto key = pki::generateKey(pki::KeyType::kP256);
  auto stub = v1::Identity::NewStub(grpc::CreateChannel(plain, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::SignRequest req;
  req.set_proxy_id(proxy_id);
  req.set_csr_pem(pki::csrPem(key, spiffe));
  std::string t = token.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  req.set_bootstrap_token(t);
  v1::SignResponse resp;
  const auto status = stub->Sign(&ctx, req, &resp);
  if (!status.ok()) {
    qWarning("Sign: %s", status.error_message().c_str());
    return std::nullopt;
  }
  Workload w{pki::privateKeyPem(key.get()), resp.certificate_chain_pem(), {}};
  for (const auto& b : resp.trust_bundle_pem()) w.bundle_pem += b;
  return w;
}

std::shared_ptr<grpc::Channel> tlsChannel(const std::string& address, const Workload& w) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = w.bundle_pem;
  ssl.pem_private_key = w.key_pem;
  ssl.pem_cert_chain = w.chain_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("meshdeck-controlplane");
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

std::shared_ptr<grpc::Channel> plainChannel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

// One discovery exchange: the node's first request; the first response or the stream's status.
grpc::Status discover(const std::shared_ptr<grpc::Channel>& channel, const std::string& proxy_id,
                      const std::string& service, bool* got_config) {
  auto stub = v1::ConfigDiscovery::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto stream = stub->Stream(&ctx);
  v1::DiscoveryRequest hello;
  hello.mutable_node()->set_proxy_id(proxy_id);
  hello.mutable_node()->set_service(service);
  hello.mutable_node()->set_version("v1");
  hello.mutable_node()->set_inbound_port(1);
  stream->Write(hello);
  v1::DiscoveryResponse response;
  *got_config = stream->Read(&response);
  if (*got_config) {
    ctx.TryCancel();
    stream->Finish();
    return grpc::Status::OK;
  }
  return stream->Finish();
}

// One telemetry report with one client-side edge source -> destination of `requests`; the
// stream's status (OK: the ack came, with `rejected` edges refused).
grpc::Status report(const std::shared_ptr<grpc::Channel>& channel, const std::string& proxy_id,
                    const std::string& source, const std::string& destination, uint64_t requests,
                    uint32_t* rejected) {
  auto stub = v1::TelemetryIngest::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto stream = stub->Report(&ctx);
  v1::TelemetryReport r;
  r.set_proxy_id(proxy_id);
  r.set_sequence(1);
  r.set_interval_ms(1000);
  auto* e = r.add_edges();
  e->mutable_key()->set_source_service(source);
  e->mutable_key()->set_source_version("v1");
  e->mutable_key()->set_destination_service(destination);
  e->mutable_key()->set_destination_version("v1");
  e->mutable_key()->set_protocol("http/1.1");
  e->set_side(v1::CLIENT);
  e->set_requests(requests);
  (*e->mutable_responses_by_code())[200] = requests;
  stream->Write(r);
  v1::ReportAck ack;
  if (stream->Read(&ack)) {
    *rejected = ack.rejected_edges();
    stream->WritesDone();
    ctx.TryCancel();
    stream->Finish();
    return grpc::Status::OK;
  }
  return stream->Finish();
}
}  // namespace

class ProxyStreamAuthTest : public QObject, public MeshHarness {
  Q_OBJECT

 private:
  // Every process's output, printed when a wait fails.
  const char* dump() {
    readLog(0);
    qWarning("control plane:\n%s", qPrintable(log_));
    for (const auto& p : children_) {
      p->waitForReadyRead(100);
      qWarning("%s (state %d, exit %d):\n%s%s", qPrintable(p->arguments().join(' ')),
               int(p->state()), p->exitCode(), p->readAllStandardError().constData(),
               p->readAllStandardOutput().constData());
    }
    return "the sidecars are not ready; their output is above";
  }

 private slots:
  void init() { QVERIFY(initHarness()); }
  void cleanup() { stopAll(); }

  void aSecureMeshServesOnlyAuthenticatedProxies() {
    const auto plane = secureControlPlane(
        {"frontend=default/frontend", "reviews-v1=default/reviews", "ratings-1=default/ratings"});
    const std::string metrics = "127.0.0.1:" + std::to_string(freePort());
    QVERIFY2(startControlPlaneAndWait(
                 plane.args + QStringList{"--no-plaintext-proxies", "--metrics-listen",
                                          QString::fromStdString(metrics)},
                 "TLS listening on "),
             qPrintable(log_));
    const std::string plain = address_.toStdString(), tls = plane.tls.toStdString();
    // The tokens are written before the ports are announced: a sidecar started on that line
    // reads its file at once.
    QVERIFY(log_.indexOf("ratings-1.token") >= 0);
    QVERIFY(log_.indexOf("ratings-1.token") < log_.indexOf("TLS listening on "));

    // Two sidecars with identities: their streams go over the TLS port (the plaintext one is
    // closed to proxies), they get their configs and their edge appears.
    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    const Sidecar reviews = startSidecar(
        "reviews", "reviews-v1", app, bootstrapped(plane.tls, plane.tokens + "/reviews-v1.token"));
    const Sidecar frontend = startSidecar(
        "frontend", "frontend", port(), bootstrapped(plane.tls, plane.tokens + "/frontend.token"));
    if (!waitReady({reviews, frontend}, 15'000)) QFAIL(dump());
    QVERIFY(waitConfig(frontend, "MUTUAL_TLS", 5000));
    const QJsonObject result = load(frontend, 20, "2s");
    QCOMPARE(result["completed"].toInteger(), qint64(40));
    QCOMPARE(result["responses"].toObject()["2xx"].toInteger(), qint64(40));
    QJsonObject m;
    for (int i = 0; i < 40 && m["requests"].toVariant().toLongLong() < 40; ++i) {
      m = edgeMetrics("frontend", "reviews", 30);
      if (m["requests"].toVariant().toLongLong() < 40) QTest::qWait(250);
    }
    QCOMPARE(m["requests"].toVariant().toLongLong(), 40LL);
    QCOMPARE(m["mtls_requests"].toVariant().toLongLong(), 40LL);
    QVERIFY(!log_.contains("stream refused"));

    // A proxy without an identity on the plaintext port: refused, both streams.
    bool got = false;
    auto status = discover(plainChannel(plain), "legacy-1", "legacy", &got);
    QVERIFY(!got);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("discovery stream refused: the plaintext port serves no proxies "
                         "(--no-plaintext-proxies); proxies with a workload certificate stream "
                         "over the TLS port (meshdeck-proxy --control-plane-tls)"));
    uint32_t rejected = 0;
    status = report(plainChannel(plain), "legacy-1", "legacy", "reviews", 5, &rejected);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("telemetry stream refused: the plaintext port serves no proxies "
                         "(--no-plaintext-proxies); proxies with a workload certificate stream "
                         "over the TLS port (meshdeck-proxy --control-plane-tls)"));

    // ratings-1's own certificate, used to speak for reviews-v1.
    const auto ratings = signWithToken(plain, plane.tokens + "/ratings-1.token", "ratings-1",
                                       "spiffe://meshdeck.local/ns/default/sa/ratings");
    QVERIFY(ratings);
    const auto channel = tlsChannel(tls, *ratings);
    status = report(channel, "reviews-v1", "reviews", "details", 1000, &rejected);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("telemetry refused: a report for proxy reviews-v1 with the certificate "
                         "issued to proxy ratings-1"));
    // Its own proxy id, but another service's edge.
    status = report(channel, "ratings-1", "frontend", "reviews", 1000, &rejected);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("telemetry refused: a client-side edge frontend -> reviews reported "
                         "with the certificate of spiffe://meshdeck.local/ns/default/sa/ratings, "
                         "whose proxies only report edges of service ratings"));
    // The config of reviews, asked for with ratings' certificate.
    status = discover(channel, "reviews-v1", "reviews", &got);
    QVERIFY(!got);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("discovery refused: the node is service reviews in namespace default, "
                         "but the client certificate is "
                         "spiffe://meshdeck.local/ns/default/sa/ratings"));
    // Nothing of the refused reports reached the graph.
    QVERIFY(findEdge("reviews", "details", 30).isEmpty());
    QCOMPARE(edgeMetrics("frontend", "reviews", 30)["requests"].toVariant().toLongLong(), 40LL);
    // Its own edge with its own certificate is taken.
    status = report(channel, "ratings-1", "ratings", "details", 3, &rejected);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(rejected, 0u);
    QVERIFY(waitLog("telemetry refused: a report for proxy reviews-v1", 2000));
    QVERIFY(log_.contains("proxy reviews-v1 refused (ipv4:127.0.0.1:"));

    // The refusals on /metrics: the two plaintext streams, the three nodes and reports of
    // another identity; nothing else was refused.
    const std::string scraped = httpBody(
        rawHttpExchange(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::string error;
    const auto doc = parsePrometheus(scraped, &error);
    QVERIFY2(doc, (error + "\n" + scraped).c_str());
    const std::string family = "meshdeck_security_refusals_total";
    QCOMPARE(*doc->value(family, {{"reason", "proxy_stream"}}), 2.0);
    QCOMPARE(*doc->value(family, {{"reason", "proxy_identity"}}), 3.0);
    QCOMPARE(*doc->value(family, {{"reason", "management_unauthenticated"}}), 0.0);
    QCOMPARE(*doc->value(family, {{"reason", "management_forbidden"}}), 0.0);
    QCOMPARE(*doc->value(family, {{"reason", "identity_sign"}}), 0.0);
  }

  void aPlaintextProxyCannotSpeakForAnAuthenticatedOne() {
    const auto plane = secureControlPlane({"reviews-v1=default/reviews"});
    QVERIFY2(startControlPlaneAndWait(plane.args, "TLS listening on "), qPrintable(log_));
    const std::string plain = address_.toStdString();
    QVERIFY(log_.indexOf("reviews-v1.token") >= 0);
    QVERIFY(log_.indexOf("reviews-v1.token") < log_.indexOf("TLS listening on "));
    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    const Sidecar reviews = startSidecar(
        "reviews", "reviews-v1", app, bootstrapped(plane.tls, plane.tokens + "/reviews-v1.token"));
    if (!waitReady({reviews}, 15'000)) QFAIL(dump());
    QVERIFY(waitLog("proxy reviews-v1 (reviews v1) connected", 5000));

    // A proxy without an identity is still served on the open plaintext port.
    bool got = false;
    auto status = discover(plainChannel(plain), "legacy-1", "legacy", &got);
    QVERIFY2(got, status.error_message().c_str());
    uint32_t rejected = 1;
    status = report(plainChannel(plain), "legacy-1", "legacy", "reviews", 5, &rejected);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(rejected, 0u);

    // But it cannot take over the authenticated proxy's id on either stream.
    status = discover(plainChannel(plain), "reviews-v1", "reviews", &got);
    QVERIFY(!got);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("discovery refused: proxy reviews-v1 is "
                         "spiffe://meshdeck.local/ns/default/sa/reviews: it connects over the TLS "
                         "port with its certificate, never on the plaintext port"));
    status = report(plainChannel(plain), "reviews-v1", "reviews", "details", 1000, &rejected);
    QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    QCOMPARE(status.error_message(),
             std::string("telemetry refused: proxy reviews-v1 is "
                         "spiffe://meshdeck.local/ns/default/sa/reviews: its reports come over "
                         "the TLS port with its certificate, never on the plaintext port"));
    QVERIFY(findEdge("reviews", "details", 30).isEmpty());
    // The real reviews-v1 is still connected and synced.
    QVERIFY(waitConfig(reviews, "reviews", 2000));
  }
};

QTEST_GUILESS_MAIN(ProxyStreamAuthTest)
#include "proxy_stream_auth_test.moc"
