#include "support/test_certificates.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>

namespace meshdeck::test {

namespace {

std::shared_ptr<EVP_PKEY> newKey() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) throw std::runtime_error("EVP_EC_gen failed");
  return {k, &EVP_PKEY_free};
}

std::string pemOf(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string pemOf(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Makes a certificate for `key` named `cn`, signed by `issuer_key` (issuer: `issuer`, or
// itself when null).
TestCertificate make(const std::string& cn, std::shared_ptr<EVP_PKEY> key, X509* issuer,
                     EVP_PKEY* issuer_key, bool is_ca, const LeafOptions& o) {
  std::shared_ptr<X509> cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  long serial = o.serial;
  if (serial == 0) {
    RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
    serial = (serial & 0x7fffffffffffL) | 1;
  }
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), o.not_before_seconds);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), o.not_after_seconds);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* issuer_cert = issuer ? issuer : cert.get();
  if (is_ca) {
    addExtension(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(cert.get(), issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    addExtension(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
  } else {
    addExtension(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    addExtension(cert.get(), issuer_cert, NID_key_usage, "critical,digitalSignature");
    addExtension(cert.get(), issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
    std::string san;
    auto add = [&san](const char* type, const std::vector<std::string>& values) {
      for (const auto& v : values) san += (san.empty() ? "" : ",") + std::string(type) + v;
    };
    add("URI:", o.uris);
    add("DNS:", o.dns_names);
    add("IP:", o.ip_addresses);
    if (!san.empty()) addExtension(cert.get(), issuer_cert, NID_subject_alt_name, san);
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key.get(), EVP_sha256()) == 0)
    throw std::runtime_error("X509_sign failed");
  TestCertificate out;
  out.key_pem = pemOf(key.get());
  out.cert_pem = pemOf(cert.get());
  out.key = std::move(key);
  out.cert = std::move(cert);
  return out;
}

}  // namespace

std::string TestCertificate::serialHex() const {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

TestCa::TestCa(const std::string& common_name, long serial) {
  LeafOptions o;
  o.not_after_seconds = 10 * 86400;
  o.serial = serial;
  ca_ = make(common_name, newKey(), nullptr, nullptr, true, o);
}

TestCertificate TestCa::issue(const LeafOptions& options) const {
  return make(options.common_name, newKey(), ca_.cert.get(), ca_.key.get(), false, options);
}

TestCertificate selfSigned(const std::string& spiffe_id) {
  return make("self-signed", newKey(), nullptr, nullptr, false, LeafOptions{{spiffe_id}});
}

bool writeText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  return static_cast<bool>(f);
}

}  // namespace meshdeck::test
