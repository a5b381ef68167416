#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace meshdeck::pki {

// An operator's credentials file (kubeadm's admin.conf, for Meshdeck): who it is, where the
// control plane's TLS port is, and the PEM material to reach it with mutual TLS. YAML:
//
//   apiVersion: meshdeck.io/v1alpha1
//   kind: Credentials
//   operator: alice
//   role: viewer
//   server: 127.0.0.1:15012
//   certificate: |   (PEM, the operator's certificate chain)
//   key: |           (PEM, its private key)
//   trustBundle: |   (PEM, the mesh roots the server's certificate must chain to)
struct Credentials {
  std::string operator_name;
  std::string role;
  std::string server;
  std::string certificate_pem;
  std::string key_pem;
  std::string trust_bundle_pem;
};

std::string credentialsToYaml(const Credentials& c);
// Parses a credentials file's text; nothing with the fault in `error` (a missing field, a field
// that is not PEM, not YAML at all).
std::optional<Credentials> parseCredentials(const std::string& text, std::string* error);

// Writes `c` to `path` with mode 0600, atomically. False with the reason.
bool writeCredentialsFile(const std::filesystem::path& path, const Credentials& c,
                          std::string* error);
// Reads `path` (at most 1 MiB). `warning` gets a message when the file is readable or writable
// by group or others (it holds a private key). Nothing with the reason on failure, which
// names the file.
std::optional<Credentials> readCredentialsFile(const std::filesystem::path& path,
                                               std::string* error, std::string* warning);

}  // namespace meshdeck::pki
