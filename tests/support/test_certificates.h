#pragma once

// Certificates for the TLS tests (the proxy's, the fake Kubernetes API server's), made with
// OpenSSL's API in memory: a CA, leaves with given subject alternative names and validity,
// self-signed leaves. P-256 keys, SHA-256 signatures. Library meshdeck_test_certificates.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace meshdeck::test {

struct TestCertificate {
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> cert;
  std::string key_pem;
  std::string cert_pem;
  std::string serialHex() const;
};

struct LeafOptions {
  std::vector<std::string> uris;    // URI SANs (usually one spiffe:// id)
  long not_before_seconds = -3600;  // relative to now
  long not_after_seconds = 86400;
  long serial = 0;  // 0: random
  std::string common_name = "workload";
  std::vector<std::string> dns_names{};     // DNS SANs ("localhost")
  std::vector<std::string> ip_addresses{};  // IP SANs ("127.0.0.1")
};

class TestCa {
 public:
  // A CA valid from an hour ago for ten days; `serial` 0: random.
  explicit TestCa(const std::string& common_name, long serial = 0);
  const std::string& certPem() const { return ca_.cert_pem; }
  // A leaf signed by this CA.
  TestCertificate issue(const LeafOptions& options) const;
  TestCertificate issue(const std::string& spiffe_id) const {
    return issue(LeafOptions{{spiffe_id}});
  }

 private:
  TestCertificate ca_;
};

// A self-signed leaf (its own issuer) with the given URI SAN.
TestCertificate selfSigned(const std::string& spiffe_id);

// Writes `text` to `path`; false on failure.
bool writeText(const std::string& path, const std::string& text);

}  // namespace meshdeck::test
