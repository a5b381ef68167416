// Operators and roles against a real meshdeck-controlplane on loopback (docs/security.md,
// "Operators and roles"): admin.credentials at first start (0600, kept at restarts), an admin
// adding a viewer and an operator with meshdeckctl, each role's allowed and refused calls, no
// client certificate, a foreign CA, an expired certificate of the mesh's own CA, an operator
// certificate missing from the registry, a workload certificate and a revoked operator refused,
// the plaintext port on loopback (and refused with --no-plaintext-management), the audit log
// and the policy history naming the operator. Every refusal's printed error is checked.
#include <grpcpp/grpcpp.h>

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/pki/credentials_file.h"
#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"
#include "meshdeck/v1/identity.grpc.pb.h"
#include "meshdeck/v1/management.grpc.pb.h"
#include "support/binaries.h"

using meshdeck::test::bin;
using namespace std::chrono_literals;
namespace pki = meshdeck::pki;
namespace v1 = meshdeck::v1;

namespace {
const char* kPolicy =
    "apiVersion: meshdeck.io/v1alpha1\n"
    "kind: DestinationPolicy\n"
    "metadata: {name: reviews-subsets}\n"
    "spec:\n"
    "  host: reviews\n"
    "  subsets:\n"
    "    - {name: v1, labels: {version: v1}}\n";

struct Run {
  int code = -1;
  QString out, err;
};

bool privateFile(const std::filesystem::path& p) {
  return (std::filesystem::status(p).permissions() & std::filesystem::perms::all) ==
         (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}
}  // namespace

class OperatorAuthTest : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  QProcess server_;
  std::string plain_, tls_;

  QString path(const QString& name) const { return dir_.filePath(name); }
  std::filesystem::path fsPath(const QString& name) const { return path(name).toStdString(); }

  bool startServer(const QStringList& extra) {
    server_.setProcessChannelMode(QProcess::SeparateChannels);
    server_.start(bin("meshdeck-controlplane"),
                  QStringList{"--listen", "127.0.0.1:0", "--state-dir", path("state"),
                              "--bootstrap-token", "reviews-1=default/reviews"} +
                      extra);
    if (!server_.waitForStarted()) return false;
    // The token file and admin.credentials are written before the ports are announced.
    const QRegularExpression announced("control plane TLS listening on \\S+\n");
    QString log;
    for (int i = 0; i < 100 && !announced.match(log).hasMatch(); ++i) {
      server_.waitForReadyRead(100);
      log += QString::fromUtf8(server_.readAllStandardError());
    }
    // (admin.credentials only at the first start: an existing file is kept.)
    const qsizetype token = log.indexOf("reviews-1.token"), listening = log.indexOf("listening on");
    if (token < 0 || token > listening || log.indexOf("admin credentials written") > listening) {
      qWarning("the token or admin.credentials written after the ports were announced:\n%s",
               qPrintable(log));
      return false;
    }
    const auto plain = QRegularExpression("control plane listening on (\\S+)").match(log);
    const auto tls = QRegularExpression("control plane TLS listening on (\\S+)").match(log);
    if (!plain.hasMatch() || !tls.hasMatch()) {
      qWarning("%s", qPrintable(log));
      return false;
    }
    plain_ = plain.captured(1).toStdString();
    tls_ = tls.captured(1).toStdString();
    return true;
  }

  void stopServer() {
    server_.terminate();
    server_.waitForFinished(10000);
  }

  Run ctl(const QStringList& args) {
    QProcess p;
    // Contexts live in the test's own config directory, never the user's.
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("XDG_CONFIG_HOME", path("config"));
    p.setProcessEnvironment(env);
    p.start(bin("meshdeckctl"), args);
    Run r;
    if (!p.waitForFinished(20000)) {
      p.kill();
      p.waitForFinished();
      return r;
    }
    r.code = p.exitCode();
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
  }
  // meshdeckctl with a credentials file (the server from the file unless it moved).
  Run as(const QString& credentials, QStringList args) {
    return ctl(QStringList{"--credentials", credentials, "--server", QString::fromStdString(tls_)} +
               args);
  }
  Run plain(QStringList args) {
    return ctl(QStringList{"--server", QString::fromStdString(plain_)} + args);
  }

  // Writes a credentials file holding `cert`/`key`, trusting the mesh's real bundle.
  void writeCreds(const QString& name, const std::string& cert, const std::string& key) {
    std::string error, warning;
    auto admin = pki::readCredentialsFile(fsPath("state/admin.credentials"), &error, &warning);
    QVERIFY2(admin, error.c_str());
    pki::Credentials c;
    c.operator_name = name.toStdString();
    c.server = admin->server;
    c.trust_bundle_pem = admin->trust_bundle_pem;
    c.certificate_pem = cert;
    c.key_pem = key;
    QVERIFY2(pki::writeCredentialsFile(fsPath(name), c, &error), error.c_str());
  }

 private slots:
  void initTestCase() {
    QVERIFY(qEnvironmentVariableIsSet("MESHDECK_BIN_DIR"));
    QVERIFY(dir_.isValid());
    QVERIFY(startServer({}));
    QFile policy(path("policy.yaml"));
    QVERIFY(policy.open(QIODevice::WriteOnly));
    policy.write(kPolicy);
  }

  void adminCredentialsAreWrittenPrivately() {
    const auto file = fsPath("state/admin.credentials");
    QVERIFY(std::filesystem::exists(file));
    QVERIFY(privateFile(file));
    std::string error, warning;
    const auto c = pki::readCredentialsFile(file, &error, &warning);
    QVERIFY2(c, error.c_str());
    QCOMPARE(c->operator_name, std::string("admin"));
    QCOMPARE(c->server, tls_);  // the file's own address works without --server
    const auto r = ctl({"--credentials", path("state/admin.credentials"), "operator", "list"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QRegularExpression("admin\\s+admin\\s+active")), qPrintable(r.out));
  }

  void adminAddsAViewerAndAnOperator() {
    auto r = as(path("state/admin.credentials"),
                {"operator", "add", "alice", "--role", "viewer", "-o", path("alice.creds")});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(
        r.out.contains("operator alice (viewer) added: spiffe://meshdeck.local/operator/alice"),
        qPrintable(r.out));
    QVERIFY(privateFile(fsPath("alice.creds")));
    r = as(path("state/admin.credentials"),
           {"operator", "add", "bob", "--role", "operator", "-o", path("bob.creds")});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    // Never overwrites a credentials file.
    r = as(path("state/admin.credentials"),
           {"operator", "add", "carol", "--role", "viewer", "-o", path("bob.creds")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(path("bob.creds") + " exists; remove it or choose another -o"),
             qPrintable(r.err));
  }

  void viewerReadsButCannotApply() {
    auto r = as(path("alice.creds"), {"get", "policies"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = as(path("alice.creds"), {"history"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = as(path("alice.creds"), {"apply", "-f", path("policy.yaml")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("apply needs the operator role; you are alice (viewer)"),
             qPrintable(r.err));
    r = as(path("alice.creds"), {"revert", "1"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("revert needs the operator role; you are alice (viewer)"),
             qPrintable(r.err));
  }

  void operatorAppliesButCannotManageOperators() {
    auto r = as(path("bob.creds"), {"apply", "-f", path("policy.yaml"), "--author", "mallory"});
    QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
    r = as(path("bob.creds"),
           {"operator", "add", "eve", "--role", "admin", "-o", path("eve.creds")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("operator add needs the admin role; you are bob (operator)"),
             qPrintable(r.err));
    QVERIFY(!std::filesystem::exists(fsPath("eve.creds")));
    r = as(path("bob.creds"), {"ca", "rotate", "begin"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("ca rotate begin needs the admin role; you are bob (operator)"),
             qPrintable(r.err));
    r = as(path("bob.creds"), {"audit"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("audit needs the admin role; you are bob (operator)"),
             qPrintable(r.err));
  }

  void historyNamesTheOperatorNotTheClaimedAuthor() {
    const auto r = plain({"history"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QRegularExpression("\\n1\\s+\\S+\\s+bob\\s")), qPrintable(r.out));
    QVERIFY2(!r.out.contains("mallory"), qPrintable(r.out));
  }

  void noClientCertificateIsRefused() {
    std::string error, warning;
    const auto admin =
        pki::readCredentialsFile(fsPath("state/admin.credentials"), &error, &warning);
    QVERIFY(admin);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = admin->trust_bundle_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("meshdeck-controlplane");
    auto stub = v1::Mesh::NewStub(grpc::CreateCustomChannel(tls_, grpc::SslCredentials(ssl), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::ListPoliciesResponse response;
    const auto status = stub->ListPolicies(&ctx, {}, &response);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    QCOMPARE(status.error_message(),
             std::string("get policies refused: no client certificate; the TLS port serves "
                         "management calls to operators only (use the TLS port with an "
                         "operator's credentials (meshdeckctl --credentials FILE))"));
  }

  void aForeignCaIsRefused() {
    // Another CA (OpenSSL, in memory) issuing an operator certificate for "admin".
    meshdeck::common::SimulatedTimeSource clock;
    clock.advance(std::chrono::system_clock::now() - clock.systemNow());
    std::string error;
    auto foreign = meshdeck::cp::identity::CertificateAuthority::openOrCreate({}, "meshdeck.local",
                                                                              clock, &error);
    QVERIFY2(foreign, error.c_str());
    const auto kc =
        foreign->issueClientCertificate("spiffe://meshdeck.local/operator/admin", 1h, "x", &error);
    QVERIFY2(kc, error.c_str());
    writeCreds("foreign.creds", kc->chain_pem, kc->key_pem);
    const auto r = as(path("foreign.creds"), {"get", "policies"});
    QCOMPARE(r.code, 2);
    // The TLS handshake fails: the server does not accept the certificate.
    QVERIFY2(r.err.contains(QString::fromStdString("meshdeckctl: " + tls_ + ": ")) &&
                 r.err.contains("UNAVAILABLE"),
             qPrintable(r.err));
    QVERIFY2(r.err.contains(QString::fromStdString(
                 "meshdeckctl: no TLS connection with " + path("foreign.creds").toStdString() +
                 "'s certificate: is " + tls_ +
                 " the control plane's TLS port, and is the certificate from this mesh's CA (a "
                 "foreign or retired root is refused in the handshake)?")),
             qPrintable(r.err));
    // Nothing was served: the audit log has no entry by this certificate either.
  }

  void anExpiredOperatorCertificateIsRefused() {
    // The mesh's own CA (its state, read by this process) issuing an admin certificate two
    // days ago that lived an hour: signed by the right root, but expired.
    meshdeck::common::SimulatedTimeSource past;
    past.advance(std::chrono::system_clock::now() - 48h - past.systemNow());
    std::string error;
    auto ca = meshdeck::cp::identity::CertificateAuthority::openOrCreate(
        fsPath("state"), "meshdeck.local", past, &error);
    QVERIFY2(ca, error.c_str());
    const auto kc =
        ca->issueClientCertificate("spiffe://meshdeck.local/operator/admin", 1h, "x", &error);
    QVERIFY2(kc, error.c_str());
    const auto leaf = pki::loadCertPem(kc->chain_pem);
    QVERIFY(leaf);
    QVERIFY(pki::certificateInfo(leaf.get())->not_after < std::chrono::system_clock::now() - 40h);
    writeCreds("expired.creds", kc->chain_pem, kc->key_pem);
    const auto r = as(path("expired.creds"), {"get", "policies"});
    QCOMPARE(r.code, 2);
    // gRPC's TLS verifies the validity period: the handshake fails, nothing is served.
    QVERIFY2(r.err.contains(QString::fromStdString("meshdeckctl: " + tls_ + ": ")) &&
                 r.err.contains("UNAVAILABLE"),
             qPrintable(r.err));
    QVERIFY2(r.err.contains(QString::fromStdString(
                 "meshdeckctl: no TLS connection with " + path("expired.creds").toStdString() +
                 "'s certificate: is " + tls_ +
                 " the control plane's TLS port, and is the certificate from this mesh's CA (a "
                 "foreign or retired root is refused in the handshake)?")),
             qPrintable(r.err));
  }

  void anOperatorCertificateNotInTheRegistryIsRefused() {
    // A valid certificate of this mesh's CA for an operator id nobody added (as a stolen CA
    // state or a bug in issuing would make): the registry decides, not the certificate.
    meshdeck::common::SimulatedTimeSource now;
    now.advance(std::chrono::system_clock::now() - now.systemNow());
    std::string error;
    auto ca = meshdeck::cp::identity::CertificateAuthority::openOrCreate(
        fsPath("state"), "meshdeck.local", now, &error);
    QVERIFY2(ca, error.c_str());
    const auto kc =
        ca->issueClientCertificate("spiffe://meshdeck.local/operator/mallory", 1h, "x", &error);
    QVERIFY2(kc, error.c_str());
    const auto serial = pki::certificateInfo(pki::loadCertPem(kc->chain_pem).get())->serial_hex;
    writeCreds("mallory.creds", kc->chain_pem, kc->key_pem);
    const auto r = as(path("mallory.creds"), {"get", "policies"});
    QCOMPARE(r.code, 1);
    QVERIFY2(
        r.err.contains(QString::fromStdString("get policies refused: the certificate " + serial +
                                              " of operator mallory is not in the "
                                              "operator registry")),
        qPrintable(r.err));
  }

  void aWorkloadCertificateIsRefused() {
    std::string token, error;
    QVERIFY(meshdeck::common::readFile(fsPath("state/tokens/reviews-1.token"), &token, &error));
    const auto key = pki::generateKey(pki::KeyType::kP256);
    auto stub =
        v1::Identity::NewStub(grpc::CreateChannel(plain_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::SignRequest req;
    req.set_proxy_id("reviews-1");
    req.set_csr_pem(pki::csrPem(key, "spiffe://meshdeck.local/ns/default/sa/reviews"));
    req.set_bootstrap_token(token);
    v1::SignResponse signed_cert;
    const auto status = stub->Sign(&ctx, req, &signed_cert);
    QVERIFY2(status.ok(), status.error_message().c_str());
    writeCreds("workload.creds", signed_cert.certificate_chain_pem(),
               pki::privateKeyPem(key.get()));
    const auto r = as(path("workload.creds"), {"apply", "-f", path("policy.yaml")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("apply refused: spiffe://meshdeck.local/ns/default/sa/reviews is not "
                            "an operator identity (operators are "
                            "spiffe://meshdeck.local/operator/<name>); a workload certificate "
                            "cannot manage the mesh"),
             qPrintable(r.err));
  }

  void aRevokedOperatorIsRefusedAtOnce() {
    auto r = as(path("state/admin.credentials"), {"operator", "revoke", "alice"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("operator alice revoked"), qPrintable(r.out));
    r = as(path("alice.creds"), {"get", "policies"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("get policies refused: operator alice was revoked"), qPrintable(r.err));
    r = as(path("state/admin.credentials"), {"operator", "list"});
    QVERIFY2(r.out.contains(QRegularExpression("alice\\s+viewer\\s+revoked")), qPrintable(r.out));
  }

  void plaintextLoopbackStillManages() {
    const auto r = plain({"get", "policies"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("reviews-subsets"), qPrintable(r.out));
  }

  void auditLogNamesWhoDidWhat() {
    const auto file = fsPath("state/audit.log");
    QVERIFY(privateFile(file));
    std::string text, error;
    QVERIFY(meshdeck::common::readFile(file, &text, &error));
    const QString log = QString::fromStdString(text);
    QVERIFY2(log.contains(QRegularExpression(
                 "\"identity\":\"alice\",\"role\":\"viewer\",[^\\n]*\"call\":\"ApplyPolicies\","
                 "\"outcome\":\"refused\"")),
             qPrintable(log));
    QVERIFY2(log.contains(QRegularExpression("\"identity\":\"bob\",\"role\":\"operator\",[^\\n]*"
                                             "\"call\":\"ApplyPolicies\",\"outcome\":\"ok\"[^\\n]*"
                                             "\"revision\":1")),
             qPrintable(log));
    QVERIFY2(log.contains(QRegularExpression(
                 "\"identity\":\"admin\",[^\\n]*\"call\":\"RevokeOperator\",\"outcome\":\"ok\"")),
             qPrintable(log));
    // Reads are not audited.
    QVERIFY(!log.contains("ListPolicies"));
    const auto r = as(path("state/admin.credentials"), {"audit", "--since", "1h"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QRegularExpression("bob\\s+ApplyPolicies\\s+ok\\s+1")),
             qPrintable(r.out));
    QVERIFY2(r.out.contains(QRegularExpression("alice\\s+ApplyPolicies\\s+refused")),
             qPrintable(r.out));
  }

  void contexts() {
    auto r = ctl({"config", "add-context", "bob-ctx", "--credentials", path("bob.creds"),
                  "--server", QString::fromStdString(tls_)});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QString file = path("config/meshdeck/contexts.yaml");
    QVERIFY2(r.out.contains("context bob-ctx saved in " + file), qPrintable(r.out));
    QVERIFY(privateFile(file.toStdString()));
    r = ctl({"--context", "bob-ctx", "get", "policies"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("reviews-subsets"), qPrintable(r.out));
    // The first context added is the current one: used when neither --credentials nor
    // --server is given (as bob: refused an admin call, naming him).
    r = ctl({"operator", "list"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("operator list needs the admin role; you are bob (operator)"),
             qPrintable(r.err));
    r = ctl({"config", "add-context", "admin-ctx", "--credentials", path("state/admin.credentials"),
             "--server", QString::fromStdString(tls_)});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = ctl({"config", "use-context", "admin-ctx"});
    QVERIFY2(r.code == 0 && r.out.contains("current context: admin-ctx"), qPrintable(r.err));
    r = ctl({"operator", "list"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = ctl({"config", "get-contexts"});
    QVERIFY2(r.out.contains(QRegularExpression("\\*\\s+admin-ctx")), qPrintable(r.out));
    r = ctl({"--context", "nope", "get", "policies"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("meshdeckctl: --context: no context \"nope\" in " + file),
             qPrintable(r.err));
    r = ctl({"config", "use-context", "nope"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("meshdeckctl: no context \"nope\" in " + file), qPrintable(r.err));
    r = ctl({"config", "add-context", "x", "--credentials", path("missing.creds")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("meshdeckctl: --credentials: cannot open"), qPrintable(r.err));
    // Leave no current context for the tests after this one.
    QVERIFY(QFile::remove(file));
  }

  void restartKeepsCredentialsAndCanCloseThePlaintextPort() {
    std::string before, after, error;
    QVERIFY(meshdeck::common::readFile(fsPath("state/admin.credentials"), &before, &error));
    stopServer();
    QVERIFY(startServer({"--no-plaintext-management"}));
    QVERIFY(meshdeck::common::readFile(fsPath("state/admin.credentials"), &after, &error));
    QCOMPARE(after, before);
    auto r = as(path("state/admin.credentials"), {"operator", "list"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = as(path("bob.creds"), {"get", "policies"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = plain({"get", "policies"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("get policies refused: management calls are off on the plaintext "
                            "port (--no-plaintext-management); use the TLS port with an "
                            "operator's credentials (meshdeckctl --credentials FILE)"),
             qPrintable(r.err));
  }

  void credentialsFileErrors() {
    auto r = ctl({"--credentials", path("missing.creds"), "get", "policies"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("meshdeckctl: --credentials: cannot open " + path("missing.creds")),
             qPrintable(r.err));
    QFile bad(path("bad.creds"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("kind: Something\n");
    bad.close();
    r = ctl({"--credentials", path("bad.creds"), "get", "policies"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(path("bad.creds") +
                            ": not a Meshdeck credentials file (kind: Credentials expected)"),
             qPrintable(r.err));
    std::filesystem::permissions(fsPath("bob.creds"), std::filesystem::perms::group_read,
                                 std::filesystem::perm_options::add);
    r = as(path("bob.creds"), {"get", "policies"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("meshdeckctl: warning: " + path("bob.creds") +
                            " is readable or writable by group or others and holds a private key"),
             qPrintable(r.err));
  }

  // --listen beyond loopback: the plaintext port serves no management calls, even to a local
  // client, unless --insecure-management.
  void aPlaintextPortBeyondLoopbackRefusesManagement() {
    for (const bool insecure : {false, true}) {
      QTemporaryDir state;
      QProcess wide;
      wide.setProcessChannelMode(QProcess::SeparateChannels);
      QStringList args{"--listen",    "0.0.0.0:0",   "--secure-listen",
                       "127.0.0.1:0", "--state-dir", state.path()};
      if (insecure) args << "--insecure-management";
      wide.start(bin("meshdeck-controlplane"), args);
      QVERIFY(wide.waitForStarted());
      QString log;
      const QRegularExpression announced("control plane TLS listening on \\S+\n");
      for (int i = 0; i < 100 && !announced.match(log).hasMatch(); ++i) {
        wide.waitForReadyRead(100);
        log += QString::fromUtf8(wide.readAllStandardError());
      }
      const auto m =
          QRegularExpression("control plane listening on 0\\.0\\.0\\.0:(\\d+)").match(log);
      QVERIFY2(m.hasMatch(), qPrintable(log));
      const auto r = ctl({"--server", "127.0.0.1:" + m.captured(1), "get", "policies"});
      wide.terminate();
      wide.waitForFinished(10000);
      if (insecure) {
        QVERIFY2(r.code == 0, qPrintable(r.err));
      } else {
        QCOMPARE(r.code, 1);
        // The port it is bound to, not the 0 it was given.
        QVERIFY2(r.err.contains("get policies refused: the plaintext port listens on 0.0.0.0:" +
                                m.captured(1) +
                                ", beyond loopback, so it serves no management calls (start "
                                "with --insecure-management to allow them)"),
                 qPrintable(r.err));
      }
    }
  }

  void cleanupTestCase() { stopServer(); }
};

QTEST_GUILESS_MAIN(OperatorAuthTest)
#include "operator_auth_test.moc"
