// Mutual TLS between real meshdeck-proxy processes, with certificates made by the test: a
// STRICT port refuses plain HTTP, TLS 1.2, anonymous clients and certificates the mesh does
// not vouch for (each reason counted in /stats); PERMISSIVE takes both and counts them;
// authorization by verified identity; a sidecar pair (outbound → mTLS → inbound → backend)
// with identity checks on the client side, pooling, resumption and an Upgrade tunnel; clients
// stalled before, in and after the handshake closed by the timeouts; and a certificate
// rotation under steady load that loses no request.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QElapsedTimer>
#include <QProcess>
#include <QtTest>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "proxy_process.h"
#include "support/test_certificates.h"
#include "test_backend.h"

using namespace meshdeck::proxy::testing;
using namespace meshdeck::test;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr const char* kTd = "spiffe://meshdeck.local/ns/default/sa/";

std::string id(const std::string& svc) { return kTd + svc; }

bool writeFile(const QString& path, const std::string& text) {
  return writeText(path.toStdString(), text);
}

struct TlsResult {
  bool handshake_ok = false;
  int status = 0;
  std::string body;
  std::string error_header;
  std::string peer_serial;
  std::string error;
};

// One HTTPS request on a fresh connection with an optional client certificate.
TlsResult tlsRequest(uint16_t port, const TestCertificate* client, const std::string& ca_pem,
                     const std::string& target = "/name", int max_version = TLS1_3_VERSION,
                     const std::string& host = "backend") {
  TlsResult out;
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
  boost::system::error_code ec;
  if (client) {
    ctx.use_certificate_chain(asio::buffer(client->cert_pem), ec);
    ctx.use_private_key(asio::buffer(client->key_pem), asio::ssl::context::pem, ec);
  }
  ctx.add_certificate_authority(asio::buffer(ca_pem), ec);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
  stream.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) {
    out.error = "connect: " + ec.message();
    return out;
  }
  timeval tv{5, 0};
  ::setsockopt(stream.lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) {
    out.error = "handshake: " + ec.message();
    return out;
  }
  out.handshake_ok = true;
  if (X509* peer = SSL_get0_peer_certificate(stream.native_handle())) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr);
    char* hex = BN_bn2hex(bn);
    out.peer_serial = hex;
    OPENSSL_free(hex);
    BN_free(bn);
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  http::write(stream, req, ec);
  if (ec) {
    out.error = "write: " + ec.message();
    return out;
  }
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  if (ec) {
    out.error = "read: " + ec.message();
    return out;
  }
  out.status = res.result_int();
  out.body = res.body();
  out.error_header = std::string(res["x-meshdeck-error"]);
  return out;
}

std::string refused(const std::string& listener, const std::string& reason) {
  return "meshdeck_listener_tls_refused_total{listener=\"" + listener + "\",reason=\"" + reason +
         "\"}";
}

std::string clusterEvent(const std::string& cluster, const std::string& event) {
  return "meshdeck_cluster_events_total{cluster=\"" + cluster + "\",event=\"" + event + "\"}";
}

std::string transport(const std::string& listener, const std::string& t) {
  return "meshdeck_listener_requests_by_transport_total{listener=\"" + listener +
         "\",transport=\"" + t + "\"}";
}

std::string timeouts(const std::string& listener, const std::string& kind) {
  return "meshdeck_listener_timeouts_total{listener=\"" + listener + "\",kind=\"" + kind + "\"}";
}

// A TCP connection to 127.0.0.1:port that sends `bytes` and then only waits.
int connectAndSend(uint16_t port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      (!bytes.empty() && ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
                             static_cast<ssize_t>(bytes.size()))) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Milliseconds until the peer closes `fd` (end of stream or reset), reading and dropping what
// it sends; -1 if it is still open after `limit_ms`.
qint64 msUntilClosed(int fd, int limit_ms) {
  QElapsedTimer t;
  t.start();
  char buf[4096];
  while (t.elapsed() < limit_ms) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<qint64>(1, limit_ms - t.elapsed())));
    if (ready <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return t.elapsed();
  }
  return -1;
}

}  // namespace

class ProxyMtlsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    ca_ = std::make_unique<TestCa>("meshdeck test root");
    reviews_ = ca_->issue(id("reviews"));
    productpage_ = ca_->issue(id("productpage"));
    ratings_ = ca_->issue(id("ratings"));
    QVERIFY(writeFile(path("ca.pem"), ca_->certPem()));
    writeIdentity("reviews", reviews_);
    writeIdentity("productpage", productpage_);
    backend_ = std::make_unique<TestBackend>("b1");
  }

  void strictRefusesWhatTheMeshDoesNotVouchFor() {
    ProxyProcess proxy;
    QVERIFY(proxy.start({"--listen", "127.0.0.1:0", "--upstream", backendAddress(), "--workers",
                         "1", "--tls-cert", path("reviews.crt"), "--tls-key", path("reviews.key"),
                         "--tls-trust", path("ca.pem"), "--listen-tls-mode", "strict"}));
    const uint16_t port = proxy.port("main");

    // Plain HTTP gets no answer at all.
    QCOMPARE(rawExchange(port, "GET /name HTTP/1.1\r\nHost: a\r\n\r\n", 2000), std::string());
    // TLS 1.2, from our client and from the openssl command line.
    auto v12 = tlsRequest(port, &productpage_, ca_->certPem(), "/name", TLS1_2_VERSION);
    QVERIFY2(!v12.handshake_ok, v12.error.c_str());
    QProcess sclient;
    sclient.start("openssl", {"s_client", "-connect", QString("127.0.0.1:%1").arg(port), "-tls1_2",
                              "-cert", path("productpage.crt"), "-key", path("productpage.key")});
    QVERIFY(sclient.waitForStarted(5000));
    sclient.closeWriteChannel();
    QVERIFY(sclient.waitForFinished(10000));
    QVERIFY(sclient.exitCode() != 0);
    // No client certificate, self-signed, another CA, expired, another trust domain.
    QCOMPARE(tlsRequest(port, nullptr, ca_->certPem()).status, 0);
    auto self = selfSigned(id("productpage"));
    QCOMPARE(tlsRequest(port, &self, ca_->certPem()).status, 0);
    TestCa foreign("another root");
    auto stranger = foreign.issue(id("productpage"));
    QCOMPARE(tlsRequest(port, &stranger, ca_->certPem()).status, 0);
    auto expired = ca_->issue(LeafOptions{{id("productpage")}, -7200, -60});
    QCOMPARE(tlsRequest(port, &expired, ca_->certPem()).status, 0);
    auto other_domain = ca_->issue("spiffe://other.local/ns/default/sa/productpage");
    QCOMPARE(tlsRequest(port, &other_domain, ca_->certPem()).status, 0);
    QCOMPARE(backend_->requests.load(), uint64_t{0});

    // A workload of the mesh gets through.
    auto ok = tlsRequest(port, &productpage_, ca_->certPem());
    QVERIFY2(ok.status == 200, ok.error.c_str());
    QCOMPARE(ok.body, std::string("b1"));
    QCOMPARE(ok.peer_serial, reviews_.serialHex());

    QCOMPARE(proxy.stat(refused("main", "plaintext")), 1.0);
    QCOMPARE(proxy.stat(refused("main", "protocol_version")), 2.0);
    QCOMPARE(proxy.stat(refused("main", "no_client_certificate")), 1.0);
    QCOMPARE(proxy.stat(refused("main", "self_signed")), 1.0);
    QCOMPARE(proxy.stat(refused("main", "unknown_ca")), 1.0);
    QCOMPARE(proxy.stat(refused("main", "expired")), 1.0);
    QCOMPARE(proxy.stat(refused("main", "wrong_trust_domain")), 1.0);
    QCOMPARE(proxy.stat(transport("main", "mtls")), 1.0);
    QCOMPARE(proxy.stat(transport("main", "plaintext")), 0.0);
    QCOMPARE(
        proxy.stat("meshdeck_listener_tls_handshakes_total{listener=\"main\",resumed=\"false\"}"),
        1.0);
  }

  void http2OverMutualTlsByAlpn() {
    // nghttp (nghttp2-client) insists on ALPN h2 over TLS: the proxy selects it, and the
    // connection is served as HTTP/2 with the client's mesh identity.
    ProxyProcess proxy;
    QVERIFY(proxy.start({"--listen", "127.0.0.1:0", "--upstream", backendAddress(), "--workers",
                         "1", "--tls-cert", path("reviews.crt"), "--tls-key", path("reviews.key"),
                         "--tls-trust", path("ca.pem"), "--listen-tls-mode", "strict"}));
    const uint16_t port = proxy.port("main");
    QProcess nghttp;
    nghttp.start("/usr/bin/nghttp",
                 {"--cert", path("productpage.crt"), "--key", path("productpage.key"),
                  QString("https://127.0.0.1:%1/name").arg(port)});
    QVERIFY(nghttp.waitForFinished(20000));
    const QString err = QString::fromLocal8Bit(nghttp.readAllStandardError());
    QVERIFY2(nghttp.exitCode() == 0, qPrintable(err));
    QCOMPARE(QString::fromLocal8Bit(nghttp.readAllStandardOutput()), QString("b1"));
    QCOMPARE(proxy.stat("meshdeck_listener_http2_connections_total{listener=\"main\"}"), 1.0);
    QCOMPARE(proxy.stat(transport("main", "mtls")), 1.0);
    // Without a client certificate the handshake is refused as for HTTP/1.1.
    QProcess anonymous;
    anonymous.start("/usr/bin/nghttp", {QString("https://127.0.0.1:%1/name").arg(port)});
    QVERIFY(anonymous.waitForFinished(20000));
    // (nghttp may exit 0 here: with TLS 1.3 the refusal comes after its handshake ended.)
    QVERIFY(!anonymous.readAllStandardOutput().contains("b1"));
    QCOMPARE(proxy.stat(refused("main", "no_client_certificate")), 1.0);
  }

  void permissiveTakesBothAndCountsThem() {
    ProxyProcess proxy;
    QVERIFY(proxy.start({"--listen", "127.0.0.1:0", "--upstream", backendAddress(), "--workers",
                         "1", "--tls-cert", path("reviews.crt"), "--tls-key", path("reviews.key"),
                         "--tls-trust", path("ca.pem"), "--listen-tls-mode", "permissive"}));
    const uint16_t port = proxy.port("main");
    Client plain(port);
    QCOMPARE(plain.request("GET", "/name").status, 200);
    QCOMPARE(plain.request("GET", "/name").status, 200);
    QCOMPARE(tlsRequest(port, &productpage_, ca_->certPem()).status, 200);
    // TLS still means mutual TLS: an anonymous TLS client is refused.
    QCOMPARE(tlsRequest(port, nullptr, ca_->certPem()).status, 0);
    QCOMPARE(proxy.stat(transport("main", "plaintext")), 2.0);
    QCOMPARE(proxy.stat(transport("main", "mtls")), 1.0);
    QCOMPARE(proxy.stat(refused("main", "no_client_certificate")), 1.0);
  }

  void startWithoutCertificateIsRefused() {
    ProxyProcess proxy;
    QVERIFY(!proxy.start({"--listen", "127.0.0.1:0", "--upstream", backendAddress(),
                          "--listen-tls-mode", "strict"}));
    QVERIFY2(proxy.output().contains("mutual TLS"), qPrintable(proxy.output()));
    ProxyProcess bad_key;
    QVERIFY(!bad_key.start({"--listen", "127.0.0.1:0", "--upstream", backendAddress(), "--tls-cert",
                            path("reviews.crt"), "--tls-key", path("productpage.key"),
                            "--tls-trust", path("ca.pem")}));
    QVERIFY2(bad_key.output().contains("does not match"), qPrintable(bad_key.output()));
  }

  void authorizationUsesTheVerifiedIdentity() {
    const QString yaml = QString(R"(tls: {cert: reviews.crt, key: reviews.key, trust_bundle: ca.pem}
workload: {service: reviews, version: v1}
security:
  inbound_mode: MUTUAL_TLS
  authorization:
    - {name: allow-productpage, action: ALLOW, sources: ["%1"]}
listeners:
  - {name: inbound, address: {port: 0}, direction: INBOUND, route_table: inbound}
route_tables:
  - name: inbound
    virtual_hosts: [{name: local, domains: ["*"], routes: [{name: in, destinations: [{cluster: local}]}]}]
clusters:
  - {name: local, endpoints: [{address: {port: %2}}]}
)")
                             .arg(QString::fromStdString(id("productpage")))
                             .arg(backend_->port());
    QVERIFY(writeFile(path("authz.yaml"), yaml.toStdString()));
    ProxyProcess proxy;
    QVERIFY(proxy.start({"--config", path("authz.yaml"), "--workers", "1"}));
    const uint16_t port = proxy.port("inbound");
    QCOMPARE(tlsRequest(port, &productpage_, ca_->certPem()).status, 200);
    auto denied = tlsRequest(port, &ratings_, ca_->certPem());
    QCOMPARE(denied.status, 403);
    QCOMPARE(denied.error_header, std::string("DENY"));
  }

  void yamlTlsSectionErrorsAreLocated() {
    QVERIFY(writeFile(path("bad-tls.yaml"),
                      "workload: {service: a}\ntls:\n  cert: a.crt\n  "
                      "password: x\n"));
    ProxyProcess proxy;
    QVERIFY(!proxy.start({"--config", path("bad-tls.yaml")}));
    QVERIFY2(proxy.output().contains("bad-tls.yaml:4:3: tls.password: unknown field"),
             qPrintable(proxy.output()));
  }

  void stalledClientsAreClosedByTheTimeouts() {
    // The TLS connection's deadlines are entries in the worker's timer wheel, as plain ones
    // (up to one 100 ms tick late): each stage a client can stall in on a STRICT port ends by
    // the listener's header or idle timeout.
    const QString yaml = QString(R"(tls: {cert: reviews.crt, key: reviews.key, trust_bundle: ca.pem}
workload: {service: reviews, version: v1}
security: {inbound_mode: MUTUAL_TLS}
listeners:
  - {name: inbound, address: {port: 0}, direction: INBOUND, route_table: inbound, header_timeout: 1s, idle_timeout: 1500ms}
route_tables:
  - name: inbound
    virtual_hosts: [{name: local, domains: ["*"], routes: [{name: in, destinations: [{cluster: local}]}]}]
clusters:
  - {name: local, endpoints: [{address: {port: %1}}]}
)")
                             .arg(backend_->port());
    QVERIFY(writeFile(path("timeouts.yaml"), yaml.toStdString()));
    ProxyProcess proxy;
    QVERIFY(proxy.start({"--config", path("timeouts.yaml"), "--workers", "1"}));
    const uint16_t port = proxy.port("inbound");
    constexpr int kLimitMs = 5000;
    // The socket is closed before the worker counts why: wait (bounded) for the count.
    const auto statReaches = [&proxy](const std::string& series, double value) {
      for (int i = 0; i < 100 && proxy.stat(series) < value; ++i) QTest::qWait(20);
      return proxy.stat(series);
    };
    const auto closedByTimeout = [](qint64 ms, int timeout_ms) {
      return ms >= timeout_ms - 50 && ms < kLimitMs - 1000;
    };

    // Connected, silent: closed before any TLS.
    int fd = connectAndSend(port, "");
    QVERIFY(fd >= 0);
    qint64 ms = msUntilClosed(fd, kLimitMs);
    ::close(fd);
    QVERIFY2(closedByTimeout(ms, 1000), QByteArray::number(ms));
    // Half a ClientHello: a handshake record announcing 512 bytes, of which 10 come.
    fd = connectAndSend(port, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
                                  std::string(10, 'r'));
    QVERIFY(fd >= 0);
    ms = msUntilClosed(fd, kLimitMs);
    ::close(fd);
    QVERIFY2(closedByTimeout(ms, 1000), QByteArray::number(ms));
    QCOMPARE(statReaches(refused("inbound", "timeout"), 1.0), 1.0);
    // The same half ClientHello, then the client goes away: refused as "closed", at once.
    fd = connectAndSend(port, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
    QVERIFY(fd >= 0);
    ::close(fd);
    for (int i = 0; i < 100 && proxy.stat(refused("inbound", "closed")) < 1.0; ++i)
      QTest::qWait(20);
    QCOMPARE(proxy.stat(refused("inbound", "closed")), 1.0);

    // Handshake done, then silence / half a request head / one request and silence.
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    ctx.use_certificate_chain(asio::buffer(productpage_.cert_pem), ec);
    ctx.use_private_key(asio::buffer(productpage_.key_pem), asio::ssl::context::pem, ec);
    ctx.add_certificate_authority(asio::buffer(ca_->certPem()), ec);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    const auto stalled = [&](const std::string& request, int timeout_ms, std::string* answer) {
      asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
      stream.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
      if (ec) return qint64{-2};
      timeval tv{kLimitMs / 1000, 0};
      ::setsockopt(stream.lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      stream.handshake(asio::ssl::stream_base::client, ec);
      if (ec) return qint64{-3};
      QElapsedTimer t;
      t.start();
      if (!request.empty()) asio::write(stream, asio::buffer(request), ec);
      if (ec) {
        qWarning("write after the handshake: %s\n%s", ec.message().c_str(),
                 qPrintable(proxy.output()));
        return qint64{-4};
      }
      char buf[4096];
      for (;;) {
        const size_t n = stream.read_some(asio::buffer(buf), ec);
        if (answer) answer->append(buf, n);
        if (ec) break;
      }
      // Closed by the proxy (no close_notify: a truncated stream), not by our receive timeout.
      if (ec != asio::ssl::error::stream_truncated && ec != asio::error::eof &&
          ec != asio::error::connection_reset)
        return qint64{-5};
      const qint64 ms = t.elapsed();
      return ms >= timeout_ms - 50 && ms < kLimitMs - 1000 ? ms : -6 - ms;
    };
    ms = stalled("", 1000, nullptr);
    QVERIFY2(ms > 0, QByteArray::number(ms));
    ms = stalled("GET /name HTTP/1.1\r\nHost: reviews\r\nX-Slow: ", 1000, nullptr);
    QVERIFY2(ms > 0, QByteArray::number(ms));
    std::string answer;
    ms = stalled("GET /name HTTP/1.1\r\nHost: reviews\r\n\r\n", 1500, &answer);
    QVERIFY2(ms > 0, QByteArray::number(ms));
    QVERIFY2(answer.rfind("HTTP/1.1 200", 0) == 0, answer.c_str());

    QCOMPARE(statReaches(timeouts("inbound", "header"), 3.0), 3.0);
    QCOMPARE(statReaches(timeouts("inbound", "idle"), 1.0), 1.0);
    QCOMPARE(proxy.stat(transport("inbound", "mtls")), 1.0);
  }

  void sidecarPair() {
    ProxyProcess inbound, outbound;
    QVERIFY(startPair(inbound, outbound, "300ms", 64));
    const uint16_t port = outbound.port("outbound");
    Client app(port);
    auto first = app.request("GET", "/name", {{"host", "reviews"}});
    QCOMPARE(first.status, 200);
    QCOMPARE(first.body, std::string("b1"));
    QCOMPARE(app.request("GET", "/name", {{"host", "reviews"}}).status, 200);
    QVERIFY(outbound.stat(clusterEvent("reviews", "reused")) >= 1);
    QCOMPARE(outbound.stat(clusterEvent("reviews", "tls_handshake")), 1.0);
    // The inbound side closes idle connections after 300 ms: the next request needs a new
    // connection, whose handshake resumes the session.
    QTest::qWait(700);
    QCOMPARE(app.request("GET", "/name", {{"host", "reviews"}}).status, 200);
    QCOMPARE(outbound.stat(clusterEvent("reviews", "tls_resumed")), 1.0);
    QCOMPARE(inbound.stat(
                 "meshdeck_listener_tls_handshakes_total{listener=\"inbound\",resumed=\"true\"}"),
             1.0);
    QCOMPARE(inbound.stat(transport("inbound", "mtls")), 3.0);

    // Bodies larger than a TLS record, both ways, in gathered and partial writes.
    auto download = app.request("GET", "/download?bytes=3000000", {{"host", "reviews"}});
    QCOMPARE(download.status, 200);
    QCOMPARE(download.body.size(), size_t{3000000});
    auto chunked = app.request("GET", "/chunked?bytes=1000000", {{"host", "reviews"}});
    QCOMPARE(chunked.status, 200);
    QCOMPARE(chunked.body.size(), size_t{1000000});
    std::string upload(900000, '\0');
    for (size_t i = 0; i < upload.size(); ++i) upload[i] = static_cast<char>('a' + (i * 7) % 26);
    auto echo = app.request("POST", "/echo", {{"host", "reviews"}}, upload);
    QCOMPARE(echo.status, 200);
    QVERIFY(echo.body == upload);

    // A server whose identity is not the expected one, and one that does not speak TLS.
    auto wrong = app.request("GET", "/name", {{"host", "ratings"}});
    QCOMPARE(wrong.status, 502);
    QCOMPARE(std::string(wrong.headers["x-meshdeck-error"]), std::string("UI"));
    QCOMPARE(outbound.stat(clusterEvent("ratings", "tls_identity_mismatch")), 1.0);
    auto plain = app.request("GET", "/name", {{"host", "plain"}});
    QCOMPARE(plain.status, 502);
    QCOMPARE(std::string(plain.headers["x-meshdeck-error"]), std::string("TLS"));
    QCOMPARE(outbound.stat(clusterEvent("plain", "tls_failure")), 1.0);

    // Upgrade tunnels through both proxies and the mTLS hop.
    const std::string out = rawExchange(port,
                                        "GET /ws HTTP/1.1\r\nHost: reviews\r\nConnection: "
                                        "Upgrade\r\nUpgrade: websocket\r\n\r\nping-bytes",
                                        1500);
    QVERIFY2(out.rfind("HTTP/1.1 101", 0) == 0, out.c_str());
    QVERIFY2(out.find("\r\n\r\nping-bytes") != std::string::npos, out.c_str());
  }

  void sidecarPairOverHttp2() {
    // The hop between the sidecars as HTTP/2 over mutual TLS (ALPN h2): the HTTP/1.1 app's
    // requests become streams on one connection, whatever the app does with its own.
    ProxyProcess inbound, outbound;
    QVERIFY(startPair(inbound, outbound, "60s", 64, "protocol: http2"));
    const uint16_t port = outbound.port("outbound");
    for (int i = 0; i < 5; ++i) {
      Client app(port);  // a new app connection each time
      auto res = app.request("GET", "/name", {{"host", "reviews"}});
      QCOMPARE(res.status, 200);
      QCOMPARE(res.body, std::string("b1"));
    }
    Client app(port);
    std::string upload(900000, 'u');
    auto echo = app.request("POST", "/echo", {{"host", "reviews"}}, upload);
    QCOMPARE(echo.status, 200);
    QVERIFY(echo.body == upload);
    auto download = app.request("GET", "/download?bytes=3000000", {{"host", "reviews"}});
    QCOMPARE(download.body.size(), size_t{3000000});
    // One connection, one handshake, one HTTP/2 connection on the inbound side.
    QCOMPARE(outbound.stat(clusterEvent("reviews", "connect")), 1.0);
    QCOMPARE(outbound.stat(clusterEvent("reviews", "tls_handshake")), 1.0);
    QVERIFY(outbound.stat(clusterEvent("reviews", "reused")) >= 6);
    QCOMPARE(inbound.stat("meshdeck_listener_http2_connections_total{listener=\"inbound\"}"), 1.0);
    QCOMPARE(inbound.stat(transport("inbound", "mtls")), 7.0);
    // Trailers survive end to end for an app that reads them (te: trailers): the backend's
    // chunked trailers cross the hop as HTTP/2 trailers and come back as chunked trailers.
    const std::string out = rawExchange(
        port,
        "GET /trailers HTTP/1.1\r\nHost: reviews\r\nte: trailers\r\nConnection: close\r\n\r\n",
        3000);
    QVERIFY2(out.rfind("HTTP/1.1 200", 0) == 0, out.c_str());
    QVERIFY2(
        out.find("hello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: fine\r\n\r\n") != std::string::npos,
        out.c_str());
  }

  void sidecarPairHopHttp2() {
    // What the control plane compiles for a mesh cluster of HTTP/1.1 sidecars over mutual TLS
    // (Cluster.hop_http2): the cluster's protocol stays HTTP/1.1, the hop is HTTP/2.
    ProxyProcess inbound, outbound;
    QVERIFY(startPair(inbound, outbound, "60s", 64, "hop_http2: true"));
    const uint16_t port = outbound.port("outbound");
    constexpr int kRequests = 8;
    {
      Client app(port);  // one app connection, kRequests requests
      for (int i = 0; i < kRequests; ++i) {
        auto res = app.request("GET", "/name", {{"host", "reviews"}});
        QCOMPARE(res.status, 200);
        QCOMPARE(res.body, std::string("b1"));
      }
      std::string upload(300000, 'u');
      auto echo = app.request("POST", "/echo", {{"host", "reviews"}}, upload);
      QCOMPARE(echo.status, 200);
      QVERIFY(echo.body == upload);
    }
    // The kRequests + 1 requests were streams on ONE upstream connection: one connect, one
    // handshake, one HTTP/2 connection accepted by the inbound sidecar, which spoke HTTP/1.1 to
    // its app.
    QCOMPARE(outbound.stat(clusterEvent("reviews", "connect")), 1.0);
    QCOMPARE(outbound.stat(clusterEvent("reviews", "tls_handshake")), 1.0);
    QCOMPARE(outbound.stat(clusterEvent("reviews", "reused")), double(kRequests));
    QCOMPARE(inbound.stat("meshdeck_listener_http2_connections_total{listener=\"inbound\"}"), 1.0);
    QCOMPARE(inbound.stat(transport("inbound", "mtls")), double(kRequests + 1));
    // Trailers survive end to end for an app that reads them.
    const std::string out = rawExchange(
        port,
        "GET /trailers HTTP/1.1\r\nHost: reviews\r\nte: trailers\r\nConnection: close\r\n\r\n",
        3000);
    QVERIFY2(out.rfind("HTTP/1.1 200", 0) == 0, out.c_str());
    QVERIFY2(
        out.find("hello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: fine\r\n\r\n") != std::string::npos,
        out.c_str());
    QCOMPARE(outbound.stat(clusterEvent("reviews", "connect")), 1.0);
    QCOMPARE(inbound.stat(transport("inbound", "mtls")), double(kRequests + 2));
    // An Upgrade (WebSocket) cannot be an HTTP/2 stream here: it keeps HTTP/1.1 over its own mTLS
    // connection to the same sidecar, and tunnels.
    const std::string ws = rawExchange(port,
                                       "GET /ws HTTP/1.1\r\nHost: reviews\r\nConnection: "
                                       "Upgrade\r\nUpgrade: websocket\r\n\r\nping-bytes",
                                       1500);
    QVERIFY2(ws.rfind("HTTP/1.1 101", 0) == 0, ws.c_str());
    QVERIFY2(ws.find("\r\n\r\nping-bytes") != std::string::npos, ws.c_str());
    QCOMPARE(outbound.stat(clusterEvent("reviews", "connect")), 2.0);
    QCOMPARE(inbound.stat("meshdeck_listener_http2_connections_total{listener=\"inbound\"}"), 1.0);
  }

  void rotationUnderLoadLosesNoRequest() {
    ProxyProcess inbound, outbound;
    // One idle connection kept per endpoint for four concurrent callers: connections (and
    // handshakes) come and go all the time, before, during and after the rotation.
    QVERIFY(startPair(inbound, outbound, "60s", 1));
    const uint16_t port = outbound.port("outbound");
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    std::string first_failure;
    std::mutex m;
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&] {
        Client app(port);
        for (int i = 0; i < 5000 && !stop; ++i) {
          auto r = app.request("GET", "/name", {{"host", "reviews"}});
          if (r.status == 200) {
            ++ok;
          } else {
            ++failed;
            std::lock_guard lock(m);
            if (first_failure.empty())
              first_failure = std::to_string(r.status) + " " + r.error + " " + r.body;
          }
          if (!app.open()) break;
        }
      });
    }
    QTest::qWait(1000);
    const double handshakes_before = outbound.stat(clusterEvent("reviews", "tls_handshake"));
    // New certificates from the same CA, with a later expiry than the old ones.
    auto reviews2 = ca_->issue(LeafOptions{{id("reviews")}, -60, 2 * 86400});
    auto productpage2 = ca_->issue(LeafOptions{{id("productpage")}, -60, 2 * 86400});
    writeIdentity("reviews", reviews2);
    writeIdentity("productpage", productpage2);
    inbound.signal(SIGHUP);
    outbound.signal(SIGHUP);
    // The inbound proxy presents the new certificate to new connections.
    std::string serial;
    for (int i = 0; i < 50 && serial != reviews2.serialHex(); ++i) {
      QTest::qWait(50);
      serial = tlsRequest(inbound.port("inbound"), &productpage_, ca_->certPem()).peer_serial;
    }
    QCOMPARE(serial, reviews2.serialHex());
    QTest::qWait(1000);
    stop = true;
    for (auto& t : callers) t.join();
    QVERIFY2(failed == 0, first_failure.c_str());
    QVERIFY2(ok > 200, QByteArray::number(ok.load()));
    // The outbound proxy made full handshakes with its new identity after the rotation (its
    // session cache starts again).
    QVERIFY(outbound.stat(clusterEvent("reviews", "tls_handshake")) > handshakes_before);
    QVERIFY(outbound.stat(clusterEvent("reviews", "tls_resumed")) > 0);
    const auto expiry = [](ProxyProcess& p, const std::string& svc) {
      return p.stat("meshdeck_tls_certificate_expiry_seconds{identity=\"" + id(svc) + "\"}");
    };
    const double now = static_cast<double>(QDateTime::currentSecsSinceEpoch());
    QVERIFY(expiry(inbound, "reviews") > now + 1.5 * 86400);
    QVERIFY(expiry(outbound, "productpage") > now + 1.5 * 86400);
    // Restore the first identities for any later test.
    writeIdentity("reviews", reviews_);
    writeIdentity("productpage", productpage_);
  }

  void cleanupTestCase() { backend_.reset(); }

 private:
  QString path(const QString& name) const { return dir_.filePath(name); }
  QString backendAddress() const { return QString("127.0.0.1:%1").arg(backend_->port()); }
  void writeIdentity(const QString& name, const TestCertificate& c) {
    // Written to temporary files and renamed, so a reload never reads half a file.
    QVERIFY(writeFile(path(name + ".crt.tmp"), c.cert_pem));
    QVERIFY(writeFile(path(name + ".key.tmp"), c.key_pem));
    QVERIFY(::rename(qPrintable(path(name + ".key.tmp")), qPrintable(path(name + ".key"))) == 0);
    QVERIFY(::rename(qPrintable(path(name + ".crt.tmp")), qPrintable(path(name + ".crt"))) == 0);
  }

  // `cluster_extra`: a line added to the outbound side's mesh cluster "reviews" (the hop):
  // "protocol: http2", "hop_http2: true", or "" for the default.
  bool startPair(ProxyProcess& inbound, ProxyProcess& outbound, const char* inbound_idle,
                 int max_idle, const char* cluster_extra = "") {
    const QString in_yaml =
        QString(R"(tls: {cert: reviews.crt, key: reviews.key, trust_bundle: ca.pem}
workload: {service: reviews, version: v1}
security: {inbound_mode: MUTUAL_TLS}
listeners:
  - {name: inbound, address: {port: 0}, direction: INBOUND, route_table: inbound, idle_timeout: %1}
route_tables:
  - name: inbound
    virtual_hosts: [{name: local, domains: ["*"], routes: [{name: in, destinations: [{cluster: "inbound|local"}]}]}]
clusters:
  - {name: "inbound|local", endpoints: [{address: {port: %2}}]}
)")
            .arg(inbound_idle)
            .arg(backend_->port());
    if (!writeFile(path("inbound.yaml"), in_yaml.toStdString())) return false;
    if (!inbound.start({"--config", path("inbound.yaml"), "--workers", "1"})) return false;
    const QString out_yaml =
        QString(R"(tls: {cert: productpage.crt, key: productpage.key, trust_bundle: ca.pem}
workload: {service: productpage, version: v1}
listeners:
  - {name: outbound, address: {port: 0}, direction: OUTBOUND, route_table: outbound}
route_tables:
  - name: outbound
    virtual_hosts:
      - {name: reviews, domains: [reviews], routes: [{name: reviews, destinations: [{cluster: reviews}]}]}
      - {name: ratings, domains: [ratings], routes: [{name: ratings, destinations: [{cluster: ratings}]}]}
      - {name: plain, domains: [plain], routes: [{name: plain, destinations: [{cluster: plain}]}]}
clusters:
  - name: reviews
    service: reviews
    max_idle_connections: %3
    endpoints: [{address: {port: %1}}]
    tls: {mode: MUTUAL_TLS, expected_identities: ["%4"]}
    %6
  - name: ratings
    service: ratings
    endpoints: [{address: {port: %1}}]
    tls: {mode: MUTUAL_TLS, expected_identities: ["%5"]}
  - name: plain
    endpoints: [{address: {port: %2}}]
    tls: {mode: MUTUAL_TLS}
)")
            .arg(inbound.port("inbound"))
            .arg(backend_->port())
            .arg(max_idle)
            .arg(QString::fromStdString(id("reviews")))
            .arg(QString::fromStdString(id("ratings")))
            .arg(QString(cluster_extra));
    if (!writeFile(path("outbound.yaml"), out_yaml.toStdString())) return false;
    return outbound.start({"--config", path("outbound.yaml"), "--workers", "1"});
  }

  QTemporaryDir dir_;
  std::unique_ptr<TestCa> ca_;
  TestCertificate reviews_, productpage_, ratings_;
  std::unique_ptr<TestBackend> backend_;
};

QTEST_GUILESS_MAIN(ProxyMtlsTest)
#include "proxy_mtls_test.moc"
