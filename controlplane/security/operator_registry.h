#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/security/roles.h"

namespace meshdeck::cp::security {

// One operator: a person or a program with a certificate from the mesh CA whose SPIFFE id is
// spiffe://<trust domain>/operator/<name>.
struct Operator {
  std::string name;
  Role role = Role::kViewer;
  std::vector<std::string> serials;  // upper-case hex serials of its certificates
  bool revoked = false;
  std::string created;  // RFC 3339 UTC
};

// "admin", "alice", "ci-bot": 1-63 of [a-z0-9._-], starting with a letter or digit.
bool validOperatorName(std::string_view name);
// spiffe://<trust_domain>/operator/<name>
std::string operatorSpiffeId(std::string_view trust_domain, std::string_view name);
// The name of an operator SPIFFE id of `trust_domain`; nothing for any other id (a workload's
// spiffe://<td>/ns/<ns>/sa/<service>, another trust domain, a malformed name).
std::optional<std::string> operatorNameOf(std::string_view spiffe_id,
                                          std::string_view trust_domain);

// OperatorRegistry is the list of operators, `<state-dir>/operators.json` (mode 0600, written
// atomically: temp file + fsync + rename). It is read strictly: anything but the documented
// shape (unknown keys, a wrong type, an invalid name, role or serial, duplicates, a file over
// kMaxFileBytes, a file writable by group or others) is refused with a message naming the file
// and the fault; nothing is guessed. Without a path it lives in memory. Thread-safe.
class OperatorRegistry {
 public:
  static constexpr uint64_t kMaxFileBytes = 1 << 20;
  static constexpr size_t kMaxOperators = 1000;
  static constexpr size_t kMaxSerialsPerOperator = 32;

  // Loads `path` (a missing file is an empty registry). Null with the reason on failure.
  static std::unique_ptr<OperatorRegistry> open(const std::filesystem::path& path,
                                                std::string* error);
  // Parses the file's text (what open() does after reading it); exposed for the tests.
  static std::optional<std::vector<Operator>> parse(std::string_view text, std::string* error);

  std::vector<Operator> list() const;
  std::optional<Operator> find(std::string_view name) const;
  // The operator holding the certificate with this serial, revoked or not.
  std::optional<Operator> findBySerial(std::string_view serial_hex) const;

  // Adds an operator, or a certificate to an existing one (its role is then set to `role` and
  // a revoked operator stays revoked: revocation is final for a name). Persists before it takes
  // effect; false with the reason (nothing changed) on failure.
  bool add(const std::string& name, Role role, const std::string& serial_hex,
           const std::string& created, std::string* error);
  // Marks an operator revoked: every certificate of it is refused from now on.
  bool revoke(const std::string& name, std::string* error);

 private:
  explicit OperatorRegistry(std::filesystem::path path) : path_(std::move(path)) {}
  bool persistLocked(const std::vector<Operator>& operators, std::string* error) const;

  const std::filesystem::path path_;
  mutable std::mutex mu_;
  std::vector<Operator> operators_;
};

}  // namespace meshdeck::cp::security
