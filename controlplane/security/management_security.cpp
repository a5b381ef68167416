#include "controlplane/security/management_security.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"

namespace meshdeck::cp::security {

namespace {
constexpr const char* kUseTls =
    "use the TLS port with an operator's credentials (meshdeckctl --credentials FILE)";

std::string nowRfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

bool isLoopbackPeer(std::string_view peer) {
  return peer.rfind("ipv4:127.", 0) == 0 || peer.rfind("ipv6:[::1]", 0) == 0 ||
         peer.rfind("ipv6:[::ffff:127.", 0) == 0 || peer.rfind("unix:", 0) == 0;
}

bool isLoopbackListen(std::string_view listen) {
  return listen.rfind("127.", 0) == 0 || listen.rfind("localhost:", 0) == 0 ||
         listen.rfind("[::1]:", 0) == 0 || listen.rfind("unix:", 0) == 0;
}

void ManagementSecurity::setListenAddress(std::string bound) {
  std::lock_guard lock(listen_mutex_);
  listen_address_ = std::move(bound);
}

ManagementSecurity::ManagementSecurity(const std::filesystem::path& state_dir,
                                       std::string trust_domain, std::string listen_address,
                                       ManagementAccess access)
    : state_dir_(state_dir),
      trust_domain_(std::move(trust_domain)),
      listen_address_(std::move(listen_address)),
      access_(access),
      audit_(state_dir.empty() ? std::filesystem::path() : state_dir / "audit.log") {
  registry_ = OperatorRegistry::open(
      state_dir.empty() ? std::filesystem::path() : state_dir / "operators.json", &broken_);
  if (!registry_)
    spdlog::error("{}; every management call is refused until it is repaired or removed", broken_);
}

Decision ManagementSecurity::refuse(Decision::Code code, std::string message, Caller caller) {
  ++(code == Decision::Code::kUnauthenticated ? refused_unauthenticated_ : refused_permission_);
  return Decision{code, std::move(message), std::move(caller)};
}

Decision ManagementSecurity::authorize(const PeerInfo& peer, std::string_view call) {
  using Code = Decision::Code;
  Caller caller{peer.tls ? "" : "plaintext", std::nullopt, peer.address, peer.tls};
  const CallRule* rule = ruleOf(call);
  if (!rule)
    return refuse(Code::kPermissionDenied, "unknown management call " + std::string(call), caller);
  if (!registry_)
    return refuse(Code::kUnavailable,
                  "management is refused: the operator registry cannot be read (" + broken_ + ")",
                  caller);
  if (!peer.tls) {
    if (!access_.plaintext_management)
      return refuse(Code::kPermissionDenied,
                    fmt::format("{} refused: management calls are off on the plaintext port "
                                "(--no-plaintext-management); {}",
                                rule->command, kUseTls),
                    caller);
    std::string listen;
    {
      std::lock_guard lock(listen_mutex_);
      listen = listen_address_;
    }
    if (!access_.insecure_management && !isLoopbackListen(listen))
      return refuse(Code::kPermissionDenied,
                    fmt::format("{} refused: the plaintext port listens on {}, beyond loopback, "
                                "so it serves no management calls (start with "
                                "--insecure-management to allow them); {}",
                                rule->command, listen, kUseTls),
                    caller);
    if (!access_.insecure_management && !isLoopbackPeer(peer.address))
      return refuse(Code::kPermissionDenied,
                    fmt::format("{} refused: the plaintext port serves management calls to "
                                "loopback clients only (you are {}); {}",
                                rule->command, peer.address, kUseTls),
                    caller);
    // The plaintext port on loopback is whoever runs on this machine: the admin, as before
    // operators existed (the README's by-hand mesh).
    caller.role = Role::kAdmin;
    return Decision{Code::kOk, {}, caller};
  }
  if (peer.cert_pem.empty())
    return refuse(Code::kUnauthenticated,
                  fmt::format("{} refused: no client certificate; the TLS port serves management "
                              "calls to operators only ({})",
                              rule->command, kUseTls),
                  caller);
  const auto leaf = pki::loadCertPem(peer.cert_pem);
  const auto info = leaf ? pki::certificateInfo(leaf.get()) : std::nullopt;
  const auto sans = leaf ? pki::subjectAltNames(leaf.get()) : pki::SubjectAltNames{};
  if (!info || sans.uris.size() != 1)
    return refuse(Code::kUnauthenticated,
                  fmt::format("{} refused: the client certificate carries no single SPIFFE id",
                              rule->command),
                  caller);
  const std::string& uri = sans.uris.front();
  const auto name = sans.total() == 1 ? operatorNameOf(uri, trust_domain_) : std::nullopt;
  if (!name)
    return refuse(Code::kPermissionDenied,
                  fmt::format("{} refused: {} is not an operator identity (operators are "
                              "spiffe://{}/operator/<name>); a workload certificate cannot "
                              "manage the mesh",
                              rule->command, uri, trust_domain_),
                  caller);
  caller.identity = *name;
  const auto op = registry_->findBySerial(info->serial_hex);
  if (!op || op->name != *name)
    return refuse(Code::kUnauthenticated,
                  fmt::format("{} refused: the certificate {} of operator {} is not in the "
                              "operator registry",
                              rule->command, info->serial_hex, *name),
                  caller);
  if (op->revoked)
    return refuse(Code::kPermissionDenied,
                  fmt::format("{} refused: operator {} was revoked", rule->command, *name), caller);
  caller.role = op->role;
  if (!allows(op->role, rule->least_role))
    return refuse(Code::kPermissionDenied,
                  fmt::format("{} needs the {} role; you are {} ({})", rule->command,
                              toString(rule->least_role), *name, toString(op->role)),
                  caller);
  return Decision{Code::kOk, {}, caller};
}

void ManagementSecurity::audit(const Caller& caller, std::string_view call,
                               std::string_view outcome, std::string_view detail,
                               uint64_t revision) {
  AuditEntry e;
  e.time = std::chrono::system_clock::now();
  e.identity = caller.identity;
  e.role = caller.role ? std::string(toString(*caller.role)) : "";
  e.peer = caller.peer;
  e.call = std::string(call);
  e.outcome = std::string(outcome);
  e.detail = std::string(detail.substr(0, 1024));
  e.revision = revision;
  std::string error;
  if (!audit_.append(e, &error)) spdlog::error("audit log: {}", error);
}

std::optional<pki::Credentials> ManagementSecurity::addOperator(const std::string& name, Role role,
                                                                identity::CertificateAuthority& ca,
                                                                const std::string& tls_address,
                                                                std::string* error) {
  if (!registry_) {
    *error = broken_;
    return std::nullopt;
  }
  if (!validOperatorName(name)) {
    *error = "\"" + name +
             "\" is not an operator name (1-63 of a-z 0-9 . _ -, starting with a letter or digit)";
    return std::nullopt;
  }
  if (const auto existing = registry_->find(name); existing && existing->revoked) {
    *error = "operator \"" + name + "\" was revoked; a revoked name is not reused";
    return std::nullopt;
  }
  const auto kc = ca.issueClientCertificate(
      operatorSpiffeId(trust_domain_, name),
      std::chrono::duration_cast<std::chrono::seconds>(kOperatorCertLifetime), "operator:" + name,
      error);
  if (!kc) return std::nullopt;
  const auto leaf = pki::loadCertPem(kc->chain_pem);
  const auto info = leaf ? pki::certificateInfo(leaf.get()) : std::nullopt;
  if (!info) {
    *error = "cannot read the certificate just issued";
    return std::nullopt;
  }
  if (!registry_->add(name, role, info->serial_hex, nowRfc3339(), error)) return std::nullopt;
  pki::Credentials c;
  c.operator_name = name;
  c.role = std::string(toString(role));
  c.server = tls_address;
  c.certificate_pem = kc->chain_pem;
  c.key_pem = kc->key_pem;
  for (const auto& r : ca.trustBundlePem()) c.trust_bundle_pem += r;
  spdlog::info("operator {} ({}) issued certificate {}", name, toString(role), info->serial_hex);
  return c;
}

bool ManagementSecurity::revokeOperator(const std::string& name, std::string* error) {
  if (!registry_) {
    *error = broken_;
    return false;
  }
  if (!registry_->revoke(name, error)) return false;
  spdlog::info("operator {} revoked", name);
  return true;
}

std::vector<Operator> ManagementSecurity::operators() const {
  return registry_ ? registry_->list() : std::vector<Operator>{};
}

std::vector<std::string> ManagementSecurity::readAudit(std::chrono::system_clock::time_point since,
                                                       std::string* error) const {
  return audit_.read(since, 10000, error);
}

bool ManagementSecurity::ensureAdminCredentials(identity::CertificateAuthority& ca,
                                                const std::string& tls_address,
                                                std::string* error) {
  if (state_dir_.empty() || tls_address.empty() || !registry_) return true;
  const auto file = state_dir_ / "admin.credentials";
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return true;
  const auto c = addOperator("admin", Role::kAdmin, ca, tls_address, error);
  if (!c) return false;
  if (!pki::writeCredentialsFile(file, *c, error)) return false;
  spdlog::info("admin credentials written to {} (operator admin; meshdeckctl --credentials {})",
               file.string(), file.string());
  return true;
}

}  // namespace meshdeck::cp::security
