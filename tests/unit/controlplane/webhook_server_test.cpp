// The injector's HTTPS server in process, on a loopback port 0: it serves the certificate its
// source gives, takes a new one when the source changes it (refresh), keeps the current one when
// the source fails, and refuses to start without a usable certificate or with bad settings.
#include "controlplane/kubernetes/webhook_server.h"

#include <QtTest>
#include <atomic>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"
#include "support/tls_client.h"

using namespace meshdeck;
using namespace meshdeck::cp;

namespace {

// The serial of the certificate `address` presents, verified against `roots` for `host`;
// "" when the handshake fails.
std::string servedSerial(const std::string& address, const std::string& roots,
                         const std::string& host) {
  try {
    meshdeck::test::TlsClient client(address, roots, host, std::chrono::seconds(5));
    X509* cert = SSL_get_peer_certificate(client.stream().native_handle());
    if (!cert) return {};
    const auto info = pki::certificateInfo(cert);
    X509_free(cert);
    return info ? info->serial_hex : std::string();
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

class WebhookServerTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    std::string error;
    ca_ = identity::CertificateAuthority::openOrCreate({}, "meshdeck.local", clock_, &error);
    QVERIFY2(ca_, error.c_str());
    for (const auto& r : ca_->trustBundlePem()) roots_ += r;
  }
  void cleanup() {
    ca_.reset();
    roots_.clear();
  }

  void refreshesItsCertificate() {
    std::mutex mu;
    std::optional<identity::KeyAndChain> current = issue();
    QVERIFY(current);
    std::atomic<bool> fail{false};
    kubernetes::WebhookServer server(
        kubernetes::InjectionSettings{},
        [&](std::string* key, std::string* chain, std::string* why) {
          if (fail) {
            *why = "source broken";
            return false;
          }
          std::lock_guard lock(mu);
          *key = current->key_pem;
          *chain = current->chain_pem;
          return true;
        },
        std::chrono::seconds(1));
    std::string error;
    QVERIFY2(server.start("127.0.0.1:0", &error), error.c_str());
    const std::string first = serialOf(*current);
    QCOMPARE(servedSerial(server.address(), roots_, "injector.test.svc"), first);
    // The name is checked: another one does not verify.
    QCOMPARE(servedSerial(server.address(), roots_, "other.test.svc"), std::string());

    // A new certificate from the source is served after the next refresh.
    auto next = issue();
    QVERIFY(next);
    const std::string second = serialOf(*next);
    QVERIFY(second != first);
    {
      std::lock_guard lock(mu);
      current = next;
    }
    const auto loads = server.counters().certificate_loads;
    for (int i = 0; i < 100 && server.counters().certificate_loads <= loads; ++i) QTest::qWait(50);
    QVERIFY(server.counters().certificate_loads > loads);
    QCOMPARE(servedSerial(server.address(), roots_, "injector.test.svc"), second);

    // A failing source keeps the current certificate.
    fail = true;
    for (int i = 0; i < 100 && server.counters().certificate_failures == 0; ++i) QTest::qWait(50);
    QVERIFY(server.counters().certificate_failures > 0);
    QCOMPARE(servedSerial(server.address(), roots_, "injector.test.svc"), second);
    server.stop();
  }

  void refusesToStart() {
    std::string error;
    // No certificate.
    kubernetes::WebhookServer none(kubernetes::InjectionSettings{},
                                   [](std::string*, std::string*, std::string* why) {
                                     *why = "no files";
                                     return false;
                                   });
    QVERIFY(!none.start("127.0.0.1:0", &error));
    QCOMPARE(error, std::string("no files"));
    // A key that is not the certificate's.
    const auto a = issue(), b = issue();
    kubernetes::WebhookServer mismatched(kubernetes::InjectionSettings{},
                                         [&](std::string* key, std::string* chain, std::string*) {
                                           *key = a->key_pem;
                                           *chain = b->chain_pem;
                                           return true;
                                         });
    QVERIFY(!mismatched.start("127.0.0.1:0", &error));
    QVERIFY2(error.find("webhook key") == 0 && error.find("mismatch") != std::string::npos,
             error.c_str());
    // Bad settings, bad address.
    kubernetes::InjectionSettings bad;
    bad.admin_port = bad.inbound_port;
    const auto source = [&](std::string* key, std::string* chain, std::string*) {
      *key = a->key_pem;
      *chain = a->chain_pem;
      return true;
    };
    kubernetes::WebhookServer bad_settings(bad, source);
    QVERIFY(!bad_settings.start("127.0.0.1:0", &error));
    QVERIFY2(error.find("injection settings") == 0, error.c_str());
    kubernetes::WebhookServer bad_address(kubernetes::InjectionSettings{}, source);
    QVERIFY(!bad_address.start("localhost", &error));
    QVERIFY(bad_address.address().empty());
  }

 private:
  std::optional<identity::KeyAndChain> issue() {
    std::string error;
    return ca_->issueServerCertificate("spiffe://meshdeck.local/ns/meshdeck-system/sa/controlplane",
                                       {"injector.test.svc"}, std::chrono::hours(1), &error);
  }
  static std::string serialOf(const identity::KeyAndChain& kc) {
    const auto cert = pki::loadCertPem(kc.chain_pem);
    const auto info = cert ? pki::certificateInfo(cert.get()) : std::nullopt;
    return info ? info->serial_hex : std::string();
  }

  common::RealTimeSource clock_;
  std::unique_ptr<identity::CertificateAuthority> ca_;
  std::string roots_;
};

QTEST_GUILESS_MAIN(WebhookServerTest)
#include "webhook_server_test.moc"
