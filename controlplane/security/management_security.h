#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/pki/credentials_file.h"
#include "controlplane/security/audit_log.h"
#include "controlplane/security/operator_registry.h"
#include "controlplane/security/roles.h"

namespace meshdeck::cp::identity {
class CertificateAuthority;
}

namespace meshdeck::cp::security {

// Who may manage the mesh on the plaintext port (ControlPlaneOptions).
struct ManagementAccess {
  // False (--no-plaintext-management): no management call at all on the plaintext port.
  bool plaintext_management = true;
  // True (--insecure-management): the plaintext port serves management calls to any peer, also
  // when it listens beyond loopback (the behaviour before operators existed).
  bool insecure_management = false;
};

// What the transport says about the caller of one management call (filled by the gRPC layer
// from the call's auth context; nothing else is trusted).
struct PeerInfo {
  bool tls = false;      // arrived on the TLS port (transport_security_type not "insecure")
  std::string address;   // gRPC's peer(): "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"
  std::string cert_pem;  // the verified client certificate (x509_pem_cert), "" for none
};

// The caller a decision was made about.
struct Caller {
  std::string identity;  // the operator's name, or "plaintext" on the plaintext port
  std::optional<Role> role;
  std::string peer;
  bool tls = false;
};

// The answer to "may this caller make this call?".
struct Decision {
  enum class Code { kOk, kUnauthenticated, kPermissionDenied, kUnavailable };
  Code code = Code::kOk;
  std::string message;  // why it was refused, naming the role needed
  Caller caller;
  bool ok() const { return code == Code::kOk; }
};

// True for loopback peers ("ipv4:127.x", "ipv6:[::1]", "unix:") and loopback listen hosts
// ("127.0.0.1:15010", "localhost:1", "[::1]:1").
bool isLoopbackPeer(std::string_view peer);
bool isLoopbackListen(std::string_view listen_address);

// ManagementSecurity decides every management call (docs/security.md, "Operators and roles"):
// on the TLS port the caller is the operator named by its client certificate's SPIFFE id
// (spiffe://<td>/operator/<name>), looked up by certificate serial in the operator registry,
// refused when unknown, revoked, a workload or of too small a role; on the plaintext port
// management is served to loopback peers only (as the admin, as before operators existed),
// or to nobody (--no-plaintext-management), or to anyone (--insecure-management). An
// unreadable operator registry refuses every management call. It also issues operators'
// credentials and writes the audit log. No gRPC here. Thread-safe.
class ManagementSecurity {
 public:
  static constexpr std::chrono::hours kOperatorCertLifetime{24 * 365};

  // `state_dir` empty: registry and audit log in memory. A registry that cannot be read is
  // logged and leaves management refused (broken() says why); nothing is guessed.
  ManagementSecurity(const std::filesystem::path& state_dir, std::string trust_domain,
                     std::string listen_address, ManagementAccess access);

  Decision authorize(const PeerInfo& peer, std::string_view call);
  // The plaintext port's address once bound (port 0 given: the port chosen), for the refusal
  // that names it. Any thread.
  void setListenAddress(std::string bound);
  // Appends a mutating call to the audit log (failures are logged, never fatal).
  void audit(const Caller& caller, std::string_view call, std::string_view outcome,
             std::string_view detail, uint64_t revision);

  // Issues a certificate for operator `name` and records it with `role`; the credentials to
  // hand over (server = `tls_address`). Nothing with the reason on failure.
  std::optional<pki::Credentials> addOperator(const std::string& name, Role role,
                                              identity::CertificateAuthority& ca,
                                              const std::string& tls_address, std::string* error);
  bool revokeOperator(const std::string& name, std::string* error);
  std::vector<Operator> operators() const;
  std::vector<std::string> readAudit(std::chrono::system_clock::time_point since,
                                     std::string* error) const;

  // At first start: `<state-dir>/admin.credentials` (0600) for operator "admin" with the admin
  // role. An existing file is kept as it is. Nothing to do without a state directory.
  bool ensureAdminCredentials(identity::CertificateAuthority& ca, const std::string& tls_address,
                              std::string* error);

  const std::string& broken() const { return broken_; }
  std::string trustDomain() const { return trust_domain_; }
  // Calls refused for want of an identity (UNAUTHENTICATED) and for want of a role or place
  // (PERMISSION_DENIED).
  uint64_t refusedUnauthenticated() const { return refused_unauthenticated_.load(); }
  uint64_t refusedPermission() const { return refused_permission_.load(); }

 private:
  Decision refuse(Decision::Code code, std::string message, Caller caller);

  const std::filesystem::path state_dir_;
  const std::string trust_domain_;
  mutable std::mutex listen_mutex_;
  std::string listen_address_;  // guarded by listen_mutex_
  const ManagementAccess access_;
  std::unique_ptr<OperatorRegistry> registry_;
  std::string broken_;  // why the registry could not be read, "" when it could
  AuditLog audit_;
  std::atomic<uint64_t> refused_unauthenticated_{0}, refused_permission_{0};
};

}  // namespace meshdeck::cp::security
