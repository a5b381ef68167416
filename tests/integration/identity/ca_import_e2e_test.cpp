// An imported CA with real processes on 127.0.0.1 (issue #7): the test makes a root and an
// intermediate with the `openssl` CLI (as an operator's PKI would), starts
// `meshdeck-controlplane --ca-import DIR`, two sidecars with bootstrap tokens and a demo backend:
//
//   meshdeck-load --proxy --> [frontend sidecar] ==mTLS==> [reviews sidecar] --> demo reviews
//
// Checked: a ca-key.pem readable by others is refused (exit 1, the file named); with 0600 the
// import succeeds; `meshdeckctl ca status` shows the imported root and `get certs` the
// intermediate as issuer of both sidecars' certificates; 100/100 requests succeed over mutual
// TLS through the sidecar pair; the reviews sidecar presents leaf + intermediate, verified by
// `openssl s_client -CAfile root-cert.pem` (root only) with a client certificate that is itself
// leaf + intermediate; the control plane's TLS port certificate is issued by the intermediate
// and renewals over that port work; a restart without --ca-import keeps the imported CA.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <thread>

#include "integration/common/mesh_harness.h"

using namespace meshdeck::test;

namespace {

const char* kOpensslConfig = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_intermediate]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = critical,URI:spiffe://meshdeck.local/ns/default/sa/tester
)";

const QString kRootSubject = "CN=Example Root CA,O=Example Corp";
const QString kIntermediateSubject = "CN=Example Mesh Intermediate CA,O=Example Corp";

}  // namespace

class CaImportIntegrationTest : public QObject, public MeshHarness {
  Q_OBJECT

 private slots:
  void initTestCase() { QVERIFY(initHarness()); }
  void cleanupTestCase() { stopAll(); }

  void runsTheMeshFromAnImportedRootAndIntermediate() {
    const auto t0 = Clock::now();
    // The operator's PKI, with the openssl CLI.
    ca_dir_ = dir_->filePath("plugin-ca");
    QVERIFY(QDir().mkpath(ca_dir_));
    QFile cnf(ca_dir_ + "/openssl.cnf");
    QVERIFY(cnf.open(QIODevice::WriteOnly));
    cnf.write(kOpensslConfig);
    cnf.close();
    const QString c = ca_dir_ + "/openssl.cnf";
    QVERIFY(openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                     "root-key.pem"}));
    QVERIFY(openssl({"req", "-new", "-x509", "-key", "root-key.pem", "-out", "root-cert.pem",
                     "-days", "3650", "-subj", "/O=Example Corp/CN=Example Root CA", "-config", c,
                     "-extensions", "v3_root"}));
    QVERIFY(openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                     "ca-key.pem"}));
    QVERIFY(openssl({"req", "-new", "-key", "ca-key.pem", "-out", "ca.csr", "-subj",
                     "/O=Example Corp/CN=Example Mesh Intermediate CA", "-config", c}));
    QVERIFY(openssl({"x509", "-req", "-in", "ca.csr", "-CA", "root-cert.pem", "-CAkey",
                     "root-key.pem", "-CAcreateserial", "-out", "ca-cert.pem", "-days", "365",
                     "-extfile", c, "-extensions", "v3_intermediate"}));
    // The import directory holds only what the control plane needs (no root key).
    import_dir_ = dir_->filePath("import");
    QVERIFY(QDir().mkpath(import_dir_));
    for (const char* f : {"root-cert.pem", "ca-cert.pem", "ca-key.pem"})
      QVERIFY(QFile::copy(ca_dir_ + "/" + f, import_dir_ + "/" + f));
    const QString key = import_dir_ + "/ca-key.pem";

    const auto plane = secureControlPlane();

    // A key readable by others is refused before anything is used.
    QVERIFY(QFile::setPermissions(key, QFile::ReadOwner | QFile::WriteOwner | QFile::ReadOther));
    {
      QProcess refused;
      refused.start(bin("meshdeck-controlplane"),
                    plane.args + QStringList{"--ca-import", import_dir_});
      QVERIFY(refused.waitForFinished(15'000));
      const QString err = QString::fromUtf8(refused.readAllStandardError());
      QCOMPARE(refused.exitCode(), 1);
      QVERIFY2(err.contains(key + ": the CA private key is accessible by group or others"),
               qPrintable(err));
      QVERIFY(!QFile::exists(dir_->filePath("state/identity/ca.json")));
    }
    QVERIFY(QFile::setPermissions(key, QFile::ReadOwner | QFile::WriteOwner));

    QVERIFY2(startControlPlaneAndWait(plane.args + QStringList{"--ca-import", import_dir_},
                                      "TLS listening on "),
             qPrintable(log_));
    QVERIFY2(log_.contains("identity: CA imported from " + import_dir_), qPrintable(log_));
    // The TLS port's certificate is issued by the intermediate and its file carries the chain.
    QVERIFY(log_.contains(QRegularExpression("control plane TLS certificate \\S+ issued by " +
                                             QRegularExpression::escape(kIntermediateSubject))));
    QFile tls_cert(dir_->filePath("state/identity/tls/current/cert.pem"));
    QVERIFY(tls_cert.open(QIODevice::ReadOnly));
    QCOMPARE(QString::fromUtf8(tls_cert.readAll()).count("BEGIN CERTIFICATE"), 2);
    // The private key is never logged.
    QFile key_file(key);
    QVERIFY(key_file.open(QIODevice::ReadOnly));
    const QString key_body = QString::fromUtf8(key_file.readAll()).split('\n').value(1);
    QVERIFY(key_body.size() > 20);
    QVERIFY(!log_.contains(key_body));

    // The tokens are written after the ports listen, and a sidecar reads its file at start (a
    // missing one ends it).
    QVERIFY(waitLog("/frontend.token", 10'000));
    QVERIFY(waitLog("/reviews-v1.token", 10'000));
    const uint16_t app = port();
    startDemo("reviews", "v1", app);
    reviews_ = startSidecar("reviews", "reviews-v1", app,
                            bootstrapped(plane.tls, plane.tokens + "/reviews-v1.token"));
    // The frontend's certificates live 12 s: it renews over the TLS port during the test.
    frontend_ = startSidecar(
        "frontend", "frontend", port(),
        bootstrapped(plane.tls, plane.tokens + "/frontend.token", {"--cert-ttl", "12"}));
    frontend_process_ = children_.back().get();
    // Generous bounds: on a loaded 2-core machine (a build beside the tests) two sidecars took
    // more than 15 s to be ready once.
    QVERIFY2(waitReady({reviews_, frontend_}, 40'000), qPrintable((readLog(0), log_.right(3000))));
    QVERIFY(waitConfig(frontend_, "MUTUAL_TLS", 15'000));

    // ca status: the imported root is the trust anchor; get certs: the intermediate issued.
    const QJsonObject status = caStatus();
    QCOMPARE(status["active_root"].toObject()["subject"].toString(), kRootSubject);
    QVERIFY2(
        status["message"].toString().contains("issued by the intermediate " + kIntermediateSubject),
        qPrintable(status["message"].toString()));
    QVERIFY2(waitIssuers(kIntermediateSubject, 15'000), qPrintable(log_.right(3000)));
    const QString table = QString::fromUtf8(ctl({"get", "certs"}));
    QVERIFY2(table.contains(kIntermediateSubject), qPrintable(table));
    qInfo("%s", qPrintable(table));

    // 100 requests over mutual TLS through the sidecar pair.
    QProcess& load = startLoad(frontend_, 50, "2s", 2);
    QVERIFY(load.waitForFinished(30'000));
    const QJsonObject report = QJsonDocument::fromJson(load.readAllStandardOutput()).object();
    qInfo("load: %lld completed, %lld 2xx, %lld errors", report["completed"].toInteger(),
          report["responses"].toObject()["2xx"].toInteger(),
          report["errors"].toObject()["total"].toInteger());
    QCOMPARE(report["completed"].toInteger(), qint64(100));
    QCOMPARE(report["responses"].toObject()["2xx"].toInteger(), qint64(100));
    QCOMPARE(report["errors"].toObject()["total"].toInteger(), qint64(0));

    // The reviews sidecar's inbound port: presents leaf + intermediate, which verifies against
    // the imported root alone; accepts a client that presents leaf + intermediate.
    QVERIFY(openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                     "client-key.pem"}));
    QVERIFY(openssl({"req", "-new", "-key", "client-key.pem", "-out", "client.csr", "-subj",
                     "/O=Example Corp", "-config", c}));
    QVERIFY(openssl({"x509", "-req", "-in", "client.csr", "-CA", "ca-cert.pem", "-CAkey",
                     "ca-key.pem", "-CAcreateserial", "-out", "client-cert.pem", "-days", "1",
                     "-extfile", c, "-extensions", "v3_client"}));
    QProcess s_client;
    s_client.setWorkingDirectory(ca_dir_);
    s_client.start(
        "openssl",
        {"s_client", "-connect", QString("127.0.0.1:%1").arg(reviews_.inbound), "-tls1_3",
         "-CAfile", "root-cert.pem", "-verify_return_error", "-showcerts", "-cert",
         "client-cert.pem", "-key", "client-key.pem", "-cert_chain", "ca-cert.pem", "-ign_eof"});
    QVERIFY(s_client.waitForStarted(5000));
    // An HTTP request over the connection: an answer proves the sidecar accepted the client's
    // leaf + intermediate (TLS 1.3 checks the client certificate after the client's Finished).
    s_client.write("GET / HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n");
    s_client.closeWriteChannel();
    if (!s_client.waitForFinished(15'000)) {
      s_client.kill();
      s_client.waitForFinished();
      QFAIL("openssl s_client did not finish");
    }
    const QString shown = QString::fromUtf8(s_client.readAllStandardOutput());
    const QString shown_err = QString::fromUtf8(s_client.readAllStandardError());
    QVERIFY2(shown.contains("Verify return code: 0 (ok)"), qPrintable(shown + shown_err));
    // Depth 0: the sidecar's leaf issued by the intermediate; depth 1: the intermediate, issued
    // by the imported root.
    QVERIFY2(shown.contains(QRegularExpression(
                 " 0 s:\\s*\\n?\\s*i:O = Example Corp, CN = Example Mesh Intermediate CA")),
             qPrintable(shown));
    QVERIFY2(shown.contains(QRegularExpression("1 s:O = Example Corp, CN = Example Mesh "
                                               "Intermediate CA\\s*\\n\\s*i:O = Example Corp, CN "
                                               "= Example Root CA")),
             qPrintable(shown));
    QCOMPARE(shown.count("BEGIN CERTIFICATE"), 2);
    QVERIFY2(shown.contains(QRegularExpression("HTTP/1.1 [0-9]{3}")), qPrintable(shown));
    qInfo("s_client: server chain of 2 verified against the imported root alone");

    // A renewal over the TLS port (mutual TLS with chains on both sides).
    const auto renew_from = Clock::now();
    while (renewals("frontend") == 0 && msSince(renew_from) < 15'000) readLog(200);
    if (renewals("frontend") == 0) {
      qWarning(
          "frontend: %s",
          qPrintable(QString::fromUtf8(frontend_process_->readAllStandardError()).right(3000)));
      for (const QString& line : log_.right(4000).split('\n')) qWarning("cp: %s", qPrintable(line));
    }
    QVERIFY(renewals("frontend") > 0);

    // A restart without --ca-import keeps the imported CA.
    stopProcess(*cp_);
    QVERIFY2(startControlPlaneAndWait(plane.args, "TLS listening on "), qPrintable(log_));
    QVERIFY2(log_.contains("identity: CA imported earlier"), qPrintable(log_));
    QCOMPARE(caStatus()["active_root"].toObject()["subject"].toString(), kRootSubject);
    // And BEGIN is refused with the way to rotate an imported CA.
    ctl({"ca", "rotate", "begin"});
    QCOMPARE(last_code_, 1);
    QVERIFY2(last_error_.contains("rotate by importing the new root + intermediate"),
             last_error_.constData());

    for (auto& child : children_) {
      const QString err = QString::fromUtf8(child->readAllStandardError());
      QVERIFY2(!err.contains("renewal of"), qPrintable(err.right(2000)));
    }
    qInfo("whole test: %.1f s", msSince(t0) / 1000);
  }

 private:
  bool openssl(const QStringList& args) {
    QProcess p;
    p.setWorkingDirectory(ca_dir_);
    p.start("openssl", args);
    if (!p.waitForFinished(15'000)) {
      p.kill();
      p.waitForFinished();
      qWarning("openssl %s timed out", qPrintable(args.join(' ')));
      return false;
    }
    if (p.exitCode() != 0)
      qWarning("openssl %s: %s", qPrintable(args.join(' ')), p.readAllStandardError().constData());
    return p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
  }
  QProcess* frontend_process_ = nullptr;
  QString ca_dir_, import_dir_;
  Sidecar reviews_, frontend_;
};

QTEST_GUILESS_MAIN(CaImportIntegrationTest)
#include "ca_import_e2e_test.moc"
