#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace meshdeck::proxy::tls {

// What a proxy's mesh identity is made of, all PEM.
struct TlsMaterial {
  std::string chain_pem;         // the leaf certificate first, then any intermediates
  std::string key_pem;           // the leaf's private key
  std::string trust_bundle_pem;  // root certificates trusted for peers (one or more)
};

// The two OpenSSL contexts of one mesh identity, built once and never changed afterwards:
//  - server(): TLS 1.3 only, a client certificate is required (SSL_VERIFY_PEER |
//    SSL_VERIFY_FAIL_IF_NO_PEER_CERT) and verified against the trust bundle, TLS 1.3 tickets
//    issued so that peers can resume;
//  - client(): TLS 1.3 only, the server's chain verified against the trust bundle (no host
//    name check: peers are identified by SPIFFE id), client-side session caching through
//    ClientSessionCache.
// The SPIFFE id checks happen after the handshake (spiffe.h), where the caller knows what the
// peer must be.
//
// Rotation: a new TlsContexts replaces the old one for new connections (each worker swaps its
// shared_ptr on its own thread); connections made with the old one keep it alive through their
// SSL objects, which hold a reference to their SSL_CTX.
class TlsContexts {
 public:
  // Builds both contexts. Refuses (nullptr, with a reason) a chain or key that does not parse,
  // a key that does not match the leaf, a leaf without a SPIFFE URI SAN, an empty bundle.
  static std::shared_ptr<TlsContexts> create(const TlsMaterial& material, std::string* error);

  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  boost::asio::ssl::context& server() { return server_; }
  boost::asio::ssl::context& client() { return client_; }
  // The SPIFFE id of this proxy's own certificate, and its trust domain.
  const std::string& identity() const { return identity_; }
  const std::string& trustDomain() const { return trust_domain_; }
  std::chrono::system_clock::time_point notBefore() const { return not_before_; }
  std::chrono::system_clock::time_point notAfter() const { return not_after_; }
  const std::string& serialHex() const { return serial_hex_; }
  // Increases with every TlsContexts made in this process; client session caches use it to
  // forget sessions of an older identity.
  uint64_t generation() const { return generation_; }

 private:
  TlsContexts();
  boost::asio::ssl::context server_;
  boost::asio::ssl::context client_;
  std::string identity_;
  std::string trust_domain_;
  std::chrono::system_clock::time_point not_before_{};
  std::chrono::system_clock::time_point not_after_{};
  std::string serial_hex_;
  uint64_t generation_ = 0;
};

using TlsContextsPtr = std::shared_ptr<TlsContexts>;

// The last TLS 1.3 session (ticket) received from each upstream endpoint, offered again on
// the next connection to that endpoint so that its handshake is a resumption. One per worker;
// not thread-safe. It must outlive every SSL it prepared while that SSL is in use.
class ClientSessionCache {
 public:
  ClientSessionCache() = default;
  ~ClientSessionCache();
  ClientSessionCache(const ClientSessionCache&) = delete;
  ClientSessionCache& operator=(const ClientSessionCache&) = delete;

  // Before the handshake of a new client connection to `key` made with contexts of
  // `generation`: offers the cached session (if any, and of the same generation) and arranges
  // for the tickets the server sends later to be kept under `key`. A newer generation empties
  // the cache (after a rotation, sessions of the old identity are not resumed).
  void prepare(SSL* ssl, const std::string& key, uint64_t generation);
  size_t size() const { return sessions_.size(); }

  // Installed on client contexts by TlsContexts (SSL_CTX_sess_set_new_cb).
  static int onNewSession(SSL* ssl, SSL_SESSION* session);

 private:
  struct SessionFree {
    void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<SSL_SESSION, SessionFree>> sessions_;
  uint64_t generation_ = 0;
};

// The first byte of a TLS connection is a handshake record (content type 22); an HTTP request
// starts with a method letter. PERMISSIVE listeners decide on it.
inline bool looksLikeTlsHandshake(unsigned char first_byte) { return first_byte == 0x16; }

// Why a server-side handshake failed, as a stable name for stats: "protocol_version",
// "no_client_certificate", "expired", "not_yet_valid", "self_signed", "unknown_ca",
// "bad_certificate", "timeout", "closed", "handshake_error".
const char* handshakeFailureReason(const boost::system::error_code& ec, SSL* ssl);

}  // namespace meshdeck::proxy::tls
