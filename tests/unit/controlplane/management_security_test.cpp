// Operators and roles (controlplane/security): the role table, the operator registry's strict
// reading and atomic writing, the audit log's lines and rotation, and ManagementSecurity's
// decisions for each kind of caller, with certificates from a real in-memory CA.
#include "controlplane/security/management_security.h"

#include <google/protobuf/descriptor.h>
#include <sys/stat.h>

#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <set>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/pki/credentials_file.h"
#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"
#include "meshdeck/v1/management.pb.h"

using namespace meshdeck::cp::security;
using meshdeck::cp::identity::CertificateAuthority;
namespace pki = meshdeck::pki;

namespace {
constexpr const char* kTd = "meshdeck.local";

std::filesystem::path pathOf(const QTemporaryDir& dir, const char* name) {
  return std::filesystem::path(dir.path().toStdString()) / name;
}

void writeFile(const std::filesystem::path& p, const std::string& text, mode_t mode = 0600) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  ::chmod(p.c_str(), mode);
}

PeerInfo tlsPeer(const std::string& cert_pem) {
  return PeerInfo{true, "ipv4:127.0.0.1:5000", cert_pem};
}
}  // namespace

class ManagementSecurityTest : public QObject {
  Q_OBJECT

 private slots:
  void everyMeshRpcHasARule() {
    // A call missing from the table is refused to everyone: each RPC of Mesh must be in it
    // (RotateRoot by action).
    const auto* service = meshdeck::v1::TapRequest::descriptor()->file()->FindServiceByName("Mesh");
    QVERIFY(service);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string name = service->method(i)->name();
      const bool ruled = name == "RotateRoot"
                             ? ruleOf("RotateRoot/status") && ruleOf("RotateRoot/begin") &&
                                   ruleOf("RotateRoot/retire")
                             : ruleOf(name) != nullptr;
      QVERIFY2(ruled, name.c_str());
    }
    // A tap shows live traffic: the operator's, and audited.
    QVERIFY(ruleOf("Tap")->least_role == Role::kOperator);
    QVERIFY(ruleOf("Tap")->mutating);
  }

  void roleTableNamesEveryCallOnce() {
    std::set<std::string_view> seen;
    for (const auto& r : callRules()) QVERIFY2(seen.insert(r.call).second, r.call.data());
    QVERIFY(ruleOf("GetGraph")->least_role == Role::kViewer);
    QVERIFY(ruleOf("ListCertificates")->least_role == Role::kViewer);
    QVERIFY(ruleOf("GetProcessLogs")->least_role == Role::kViewer);
    QVERIFY(ruleOf("RotateRoot/status")->least_role == Role::kViewer);
    QVERIFY(ruleOf("ApplyPolicies")->least_role == Role::kOperator);
    QVERIFY(ruleOf("RevertToRevision")->least_role == Role::kOperator);
    QVERIFY(ruleOf("ScaleService")->least_role == Role::kOperator);
    QVERIFY(ruleOf("RotateRoot/begin")->least_role == Role::kAdmin);
    QVERIFY(ruleOf("AddOperator")->least_role == Role::kAdmin);
    QVERIFY(ruleOf("ReadAudit")->least_role == Role::kAdmin);
    QVERIFY(ruleOf("ApplyPolicies")->mutating);
    QVERIFY(!ruleOf("GetGraph")->mutating);
    QVERIFY(ruleOf("Nonsense") == nullptr);
    QVERIFY(allows(Role::kAdmin, Role::kViewer));
    QVERIFY(allows(Role::kOperator, Role::kOperator));
    QVERIFY(!allows(Role::kViewer, Role::kOperator));
    QVERIFY(!allows(Role::kOperator, Role::kAdmin));
    QVERIFY(parseRole("operator") == std::optional<Role>(Role::kOperator));
    QVERIFY(!parseRole("Admin"));
    QVERIFY(!parseRole(""));
  }

  void operatorIdsAreTheirOwnKind() {
    QCOMPARE(operatorSpiffeId(kTd, "alice"), std::string("spiffe://meshdeck.local/operator/alice"));
    QCOMPARE(operatorNameOf("spiffe://meshdeck.local/operator/alice", kTd),
             std::optional<std::string>("alice"));
    QVERIFY(!operatorNameOf("spiffe://meshdeck.local/ns/default/sa/reviews", kTd));
    QVERIFY(!operatorNameOf("spiffe://other.org/operator/alice", kTd));
    QVERIFY(!operatorNameOf("spiffe://meshdeck.local/operator/Alice", kTd));
    QVERIFY(!operatorNameOf("spiffe://meshdeck.local/operator/a/b", kTd));
    QVERIFY(!operatorNameOf("spiffe://meshdeck.local/operator/", kTd));
    QVERIFY(validOperatorName("ci-bot.2"));
    QVERIFY(!validOperatorName("-x"));
    QVERIFY(!validOperatorName(std::string(64, 'a')));
  }

  void registryPersistsAtomicallyAndPrivately() {
    QTemporaryDir dir;
    const auto file = pathOf(dir, "operators.json");
    std::string error;
    auto r = OperatorRegistry::open(file, &error);
    QVERIFY2(r, error.c_str());
    QVERIFY(r->list().empty());
    QVERIFY2(r->add("alice", Role::kViewer, "0A1B", "2026-01-01T00:00:00Z", &error), error.c_str());
    QVERIFY(r->add("bob", Role::kOperator, "FF", "2026-01-01T00:00:00Z", &error));
    QCOMPARE(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
             std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    QVERIFY(r->revoke("bob", &error));
    QVERIFY(!r->revoke("carol", &error));
    QCOMPARE(error, std::string("no operator \"carol\""));
    QVERIFY(!r->add("bob", Role::kOperator, "EE", "", &error));
    QVERIFY2(error.find("was revoked") != std::string::npos, error.c_str());
    QVERIFY(!r->add("Bad Name", Role::kViewer, "EE", "", &error));
    auto again = OperatorRegistry::open(file, &error);
    QVERIFY2(again, error.c_str());
    QCOMPARE(again->list().size(), size_t{2});
    QCOMPARE(again->findBySerial("0A1B")->name, std::string("alice"));
    QVERIFY(again->find("bob")->revoked);
    QVERIFY(again->find("bob")->role == Role::kOperator);
  }

  void registryRefusesWhatItCannotTrust_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("garbage") << "\x01\x02 not json"
                             << "not JSON";
    QTest::newRow("empty") << ""
                           << "not JSON";
    QTest::newRow("list") << "[]"
                          << "not a JSON object";
    QTest::newRow("version") << "{\"version\":2,\"operators\":[]}"
                             << "\"version\" must be 1";
    QTest::newRow("unknown key") << "{\"version\":1,\"operators\":[],\"x\":1}"
                                 << "unknown key \"x\"";
    QTest::newRow("operators type") << "{\"version\":1,\"operators\":{}}"
                                    << "\"operators\" must be a list";
    QTest::newRow("bad role") << "{\"version\":1,\"operators\":[{\"name\":\"a\",\"role\":\"root\","
                                 "\"serials\":[],\"revoked\":false}]}"
                              << "operators[0] (a): missing or invalid \"role\"";
    QTest::newRow("bad name") << "{\"version\":1,\"operators\":[{\"name\":\"A "
                                 "B\",\"role\":\"admin\",\"serials\":[],\"revoked\":false}]}"
                              << "operators[0]: missing or invalid \"name\"";
    QTest::newRow("bad serial") << "{\"version\":1,\"operators\":[{\"name\":\"a\",\"role\":"
                                   "\"admin\",\"serials\":[\"xy\"],\"revoked\":false}]}"
                                << "operators[0].serials: not an upper-case hex serial";
    QTest::newRow("revoked as string") << "{\"version\":1,\"operators\":[{\"name\":\"a\",\"role\":"
                                          "\"admin\",\"serials\":[],\"revoked\":\"no\"}]}"
                                       << "operators[0]: unknown key or wrong type \"revoked\"";
    QTest::newRow("missing revoked")
        << "{\"version\":1,\"operators\":[{\"name\":\"a\",\"role\":\"admin\",\"serials\":[]}]}"
        << "operators[0] (a): missing \"serials\" or \"revoked\"";
    QTest::newRow("duplicate name")
        << "{\"version\":1,\"operators\":[{\"name\":\"a\",\"role\":\"admin\",\"serials\":[],"
           "\"revoked\":false},"
           "{\"name\":\"a\",\"role\":\"viewer\",\"serials\":[],\"revoked\":false}]}"
        << "operators[1]: operator \"a\" appears twice";
    QTest::newRow("duplicate serial")
        << "{\"version\":1,\"operators\":[{\"name\":\"a\",\"role\":\"admin\",\"serials\":[\"AB\"],"
           "\"revoked\":false},"
           "{\"name\":\"b\",\"role\":\"viewer\",\"serials\":[\"AB\"],\"revoked\":false}]}"
        << "operators[1]: serial AB appears twice";
    QTest::newRow("truncated") << "{\"version\":1,\"operators\":[{\"name\":\"a\",\"ro"
                               << "not JSON";
  }
  void registryRefusesWhatItCannotTrust() {
    QFETCH(QString, text);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const auto file = pathOf(dir, "operators.json");
    writeFile(file, text.toStdString());
    std::string error;
    QVERIFY(!OperatorRegistry::open(file, &error));
    QVERIFY2(error.find(file.string() + " is not a valid operator registry: ") == 0, error.c_str());
    QVERIFY2(error.find(expected.toStdString()) != std::string::npos, error.c_str());
  }

  void registryRefusesHugeAndGroupWritableFiles() {
    QTemporaryDir dir;
    const auto file = pathOf(dir, "operators.json");
    writeFile(file, std::string(OperatorRegistry::kMaxFileBytes + 10, ' '));
    std::string error;
    QVERIFY(!OperatorRegistry::open(file, &error));
    QVERIFY2(error.find("the limit is 1 MiB") != std::string::npos, error.c_str());
    writeFile(file, "{\"version\":1,\"operators\":[]}", 0620);
    QVERIFY(!OperatorRegistry::open(file, &error));
    QCOMPARE(error, file.string() +
                        " is writable by group or others; refusing to use it (chmod 600 " +
                        file.string() + ")");
  }

  void aCorruptedRegistryRefusesEveryManagementCall() {
    QTemporaryDir dir;
    writeFile(pathOf(dir, "operators.json"), "{ garbage");
    ManagementSecurity security(dir.path().toStdString(), kTd, "127.0.0.1:15010", {});
    QVERIFY(!security.broken().empty());
    const auto d = security.authorize(PeerInfo{false, "ipv4:127.0.0.1:1", ""}, "GetGraph");
    QVERIFY(d.code == Decision::Code::kUnavailable);
    QVERIFY2(d.message.find("management is refused: the operator registry cannot be read (") == 0,
             d.message.c_str());
  }

  void auditLogAppendsLinesAndRotates() {
    QTemporaryDir dir;
    const auto file = pathOf(dir, "audit.log");
    AuditLog log(file, 600);
    std::string error;
    for (int i = 0; i < 6; ++i) {
      AuditEntry e{std::chrono::system_clock::now(),
                   "alice",
                   "operator",
                   "ipv4:127.0.0.1:1",
                   "ApplyPolicies",
                   "ok",
                   "entry " + std::to_string(i),
                   uint64_t(i)};
      QVERIFY2(log.append(e, &error), error.c_str());
    }
    QVERIFY(std::filesystem::exists(file.string() + ".1"));
    QVERIFY(std::filesystem::file_size(file) <= 600);
    QCOMPARE(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
             std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const auto lines = log.read({}, 100, &error);
    QVERIFY(!lines.empty());
    QVERIFY2(lines.back().find("\"detail\":\"entry 5\"") != std::string::npos,
             lines.back().c_str());
    QVERIFY(lines.back().find("\"identity\":\"alice\"") != std::string::npos);
    QCOMPARE(log.read({}, 1, &error).size(), size_t{1});
    QVERIFY(
        log.read(std::chrono::system_clock::now() + std::chrono::hours(1), 100, &error).empty());
  }

  void decisionsPerCaller() {
    meshdeck::common::SimulatedTimeSource clock;
    std::string error;
    auto ca = CertificateAuthority::openOrCreate({}, kTd, clock, &error);
    QVERIFY2(ca, error.c_str());
    ManagementSecurity security({}, kTd, "127.0.0.1:15010", {});
    const auto alice = security.addOperator("alice", Role::kViewer, *ca, "127.0.0.1:15012", &error);
    QVERIFY2(alice, error.c_str());
    QCOMPARE(alice->server, std::string("127.0.0.1:15012"));
    const auto leaf = pki::loadCertPem(alice->certificate_pem);
    QCOMPARE(pki::subjectAltNames(leaf.get()).uris,
             std::vector<std::string>{"spiffe://meshdeck.local/operator/alice"});

    auto d = security.authorize(tlsPeer(alice->certificate_pem), "GetGraph");
    QVERIFY2(d.ok(), d.message.c_str());
    QCOMPARE(d.caller.identity, std::string("alice"));
    d = security.authorize(tlsPeer(alice->certificate_pem), "ApplyPolicies");
    QVERIFY(d.code == Decision::Code::kPermissionDenied);
    QCOMPARE(d.message, std::string("apply needs the operator role; you are alice (viewer)"));

    d = security.authorize(tlsPeer(""), "GetGraph");
    QVERIFY(d.code == Decision::Code::kUnauthenticated);
    QCOMPARE(d.message, std::string("get refused: no client certificate; the TLS port serves "
                                    "management calls to operators only (use the TLS port with "
                                    "an operator's credentials (meshdeckctl --credentials FILE))"));

    const auto workload =
        ca->issueClientCertificate("spiffe://meshdeck.local/ns/default/sa/reviews",
                                   std::chrono::hours(1), "reviews-1", &error);
    d = security.authorize(tlsPeer(workload->chain_pem), "GetGraph");
    QVERIFY(d.code == Decision::Code::kPermissionDenied);
    QCOMPARE(d.message,
             std::string("get refused: spiffe://meshdeck.local/ns/default/sa/reviews is not an "
                         "operator identity (operators are spiffe://meshdeck.local/operator/"
                         "<name>); a workload certificate cannot manage the mesh"));

    // A certificate for an operator id the registry does not hold.
    const auto stranger = ca->issueClientCertificate("spiffe://meshdeck.local/operator/mallory",
                                                     std::chrono::hours(1), "x", &error);
    d = security.authorize(tlsPeer(stranger->chain_pem), "GetGraph");
    QVERIFY(d.code == Decision::Code::kUnauthenticated);
    QVERIFY2(
        d.message.find("of operator mallory is not in the operator registry") != std::string::npos,
        d.message.c_str());

    QVERIFY(security.revokeOperator("alice", &error));
    d = security.authorize(tlsPeer(alice->certificate_pem), "GetGraph");
    QVERIFY(d.code == Decision::Code::kPermissionDenied);
    QCOMPARE(d.message, std::string("get refused: operator alice was revoked"));
    QCOMPARE(security.refusedUnauthenticated(), uint64_t{2});
    QCOMPARE(security.refusedPermission(), uint64_t{3});
  }

  void plaintextPort() {
    ManagementSecurity loopback({}, kTd, "127.0.0.1:15010", {});
    auto d = loopback.authorize(PeerInfo{false, "ipv4:127.0.0.1:4000", ""}, "AddOperator");
    QVERIFY(d.ok());
    QVERIFY(d.caller.role == std::optional<Role>(Role::kAdmin));
    QVERIFY(loopback.authorize(PeerInfo{false, "ipv6:[::1]:4000", ""}, "ApplyPolicies").ok());
    d = loopback.authorize(PeerInfo{false, "ipv4:10.1.2.3:4000", ""}, "ApplyPolicies");
    QVERIFY(d.code == Decision::Code::kPermissionDenied);
    QVERIFY2(d.message.find("apply refused: the plaintext port serves management calls to "
                            "loopback clients only (you are ipv4:10.1.2.3:4000)") == 0,
             d.message.c_str());

    ManagementSecurity off({}, kTd, "127.0.0.1:15010", ManagementAccess{false, false});
    d = off.authorize(PeerInfo{false, "ipv4:127.0.0.1:4000", ""}, "GetGraph");
    QVERIFY(d.code == Decision::Code::kPermissionDenied);
    QVERIFY2(d.message.find("get refused: management calls are off on the plaintext port "
                            "(--no-plaintext-management)") == 0,
             d.message.c_str());

    ManagementSecurity wide({}, kTd, "0.0.0.0:15010", {});
    d = wide.authorize(PeerInfo{false, "ipv4:127.0.0.1:4000", ""}, "GetGraph");
    QVERIFY(d.code == Decision::Code::kPermissionDenied);
    QVERIFY2(d.message.find("get refused: the plaintext port listens on 0.0.0.0:15010, beyond "
                            "loopback") == 0,
             d.message.c_str());
    ManagementSecurity insecure({}, kTd, "0.0.0.0:15010", ManagementAccess{true, true});
    QVERIFY(insecure.authorize(PeerInfo{false, "ipv4:10.1.2.3:4000", ""}, "ApplyPolicies").ok());
  }

  void adminCredentialsAreWrittenOnceAndPrivate() {
    QTemporaryDir dir;
    meshdeck::common::SimulatedTimeSource clock;
    std::string error;
    auto ca = CertificateAuthority::openOrCreate({}, kTd, clock, &error);
    ManagementSecurity security(dir.path().toStdString(), kTd, "127.0.0.1:15010", {});
    QVERIFY2(security.ensureAdminCredentials(*ca, "127.0.0.1:15012", &error), error.c_str());
    const auto file = pathOf(dir, "admin.credentials");
    QCOMPARE(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
             std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::string before, warning;
    QVERIFY(meshdeck::common::readFile(file, &before, &error));
    const auto c = pki::readCredentialsFile(file, &error, &warning);
    QVERIFY2(c, error.c_str());
    QVERIFY(warning.empty());
    QCOMPARE(c->operator_name, std::string("admin"));
    QCOMPARE(c->server, std::string("127.0.0.1:15012"));
    QVERIFY(security.ensureAdminCredentials(*ca, "127.0.0.1:9999", &error));
    std::string after;
    QVERIFY(meshdeck::common::readFile(file, &after, &error));
    QCOMPARE(after, before);
    QCOMPARE(security.operators().size(), size_t{1});
    ::chmod(file.c_str(), 0644);
    QVERIFY(pki::readCredentialsFile(file, &error, &warning));
    QCOMPARE(warning, file.string() +
                          " is readable or writable by group or others and holds a private "
                          "key; run chmod 600 " +
                          file.string());
    writeFile(file, "kind: Credentials\noperator: x\n");
    QVERIFY(!pki::readCredentialsFile(file, &error, &warning));
    QCOMPARE(error, file.string() + ": missing field \"server\"");
  }
};

QTEST_GUILESS_MAIN(ManagementSecurityTest)
#include "management_security_test.moc"
