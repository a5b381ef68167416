#include "proxy/tls/tls_contexts.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

#include "proxy/tls/spiffe.h"

namespace meshdeck::proxy::tls {

namespace asio = boost::asio;

namespace {

std::atomic<uint64_t> g_generation{0};

constexpr unsigned char kSessionIdContext[] = "meshdeck-mtls";

std::string opensslError(const boost::system::error_code& ec) { return ec.message(); }

std::chrono::system_clock::time_point toTimePoint(const ASN1_TIME* t) {
  struct tm parts {};
  if (!t || ASN1_TIME_to_tm(t, &parts) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

struct SessionSlot {
  ClientSessionCache* cache;
  std::string key;
  uint64_t generation;
};

void freeSlot(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<SessionSlot*>(ptr);
}

int slotIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &freeSlot);
  return index;
}

// ALPN on the server side: `h2` when the client offers it (the connection then opens with the
// HTTP/2 preface, which Session detects, docs/http2.md), else `http/1.1` when offered; a
// client that offers neither gets no ALPN answer and the handshake goes on.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static constexpr unsigned char kServerProtocols[] = "\x02h2\x08http/1.1";
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kServerProtocols, sizeof kServerProtocols - 1, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

bool tls13Only(asio::ssl::context& ctx, std::string* error) {
  SSL_CTX* h = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(h, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(h, TLS1_3_VERSION) != 1) {
    *error = "this OpenSSL cannot be limited to TLS 1.3";
    return false;
  }
  return true;
}

bool loadIdentity(asio::ssl::context& ctx, const TlsMaterial& m, std::string* error) {
  boost::system::error_code ec;
  ctx.use_certificate_chain(asio::buffer(m.chain_pem), ec);
  if (ec) {
    *error = "certificate chain: " + opensslError(ec);
    return false;
  }
  ctx.use_private_key(asio::buffer(m.key_pem), asio::ssl::context::pem, ec);
  if (ec) {
    *error = "private key: " + opensslError(ec);
    return false;
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    *error = "private key does not match the certificate";
    return false;
  }
  ctx.add_certificate_authority(asio::buffer(m.trust_bundle_pem), ec);
  if (ec) {
    *error = "trust bundle: " + opensslError(ec);
    return false;
  }
  return true;
}

}  // namespace

TlsContexts::TlsContexts()
    : server_(asio::ssl::context::tls_server), client_(asio::ssl::context::tls_client) {}

std::shared_ptr<TlsContexts> TlsContexts::create(const TlsMaterial& m, std::string* error) {
  std::shared_ptr<TlsContexts> out(new TlsContexts());
  if (m.chain_pem.empty() || m.key_pem.empty() || m.trust_bundle_pem.empty()) {
    *error = "certificate chain, key and trust bundle are all required";
    return nullptr;
  }

  // The leaf: who this proxy is.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(m.chain_pem.data(), static_cast<int>(m.chain_pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> leaf(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  ERR_clear_error();
  if (!leaf) {
    *error = "certificate chain: no PEM certificate found";
    return nullptr;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
      BIO_new_mem_buf(m.key_pem.data(), static_cast<int>(m.key_pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr,
      &EVP_PKEY_free);
  ERR_clear_error();
  if (!key) {
    *error = "private key: no PEM private key found";
    return nullptr;
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    *error = "private key does not match the certificate";
    return nullptr;
  }
  auto id = spiffeIdOf(leaf.get());
  if (!id) {
    *error = "certificate has no single spiffe:// URI SAN";
    return nullptr;
  }
  out->identity_ = *id;
  out->trust_domain_ = std::string(trustDomainOf(*id));
  out->not_before_ = toTimePoint(X509_get0_notBefore(leaf.get()));
  out->not_after_ = toTimePoint(X509_get0_notAfter(leaf.get()));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf.get()), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      out->serial_hex_ = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }

  for (auto* ctx : {&out->server_, &out->client_}) {
    if (!tls13Only(*ctx, error) || !loadIdentity(*ctx, m, error)) return nullptr;
    // Send exactly the chain given, not one completed from the trust bundle.
    SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_NO_AUTO_CHAIN);
  }

  SSL_CTX* server = out->server_.native_handle();
  SSL_CTX_set_verify(server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // Required for resumption when client certificates are verified (OpenSSL refuses to resume
  // a session without a session id context in that case).
  SSL_CTX_set_session_id_context(server, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_num_tickets(server, 2);
  SSL_CTX_set_alpn_select_cb(server, &selectAlpn, nullptr);

  SSL_CTX* client = out->client_.native_handle();
  SSL_CTX_set_verify(client, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_session_cache_mode(client, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(client, &ClientSessionCache::onNewSession);

  out->generation_ = ++g_generation;
  return out;
}

ClientSessionCache::~ClientSessionCache() = default;

void ClientSessionCache::prepare(SSL* ssl, const std::string& key, uint64_t generation) {
  if (generation != generation_) {
    sessions_.clear();
    generation_ = generation;
  }
  SSL_set_ex_data(ssl, slotIndex(), new SessionSlot{this, key, generation});
  auto it = sessions_.find(key);
  if (it != sessions_.end() && SSL_SESSION_is_resumable(it->second.get()))
    SSL_set_session(ssl, it->second.get());
}

int ClientSessionCache::onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<SessionSlot*>(SSL_get_ex_data(ssl, slotIndex()));
  if (!slot || slot->generation != slot->cache->generation_) return 0;
  // A copy: the connection goes on using (and may invalidate) its own session object.
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy) slot->cache->sessions_[slot->key].reset(copy);
  return 0;  // the connection keeps its reference
}

const char* handshakeFailureReason(const boost::system::error_code& ec, SSL* ssl) {
  if (ec == boost::beast::error::timeout) return "timeout";
  if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
      ec == asio::error::connection_reset)
    return "closed";
  if (ec.category() != asio::error::get_ssl_category()) return "handshake_error";
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return "protocol_version";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "no_client_certificate";
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      switch (ssl ? SSL_get_verify_result(ssl) : X509_V_OK) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
          return "expired";
        case X509_V_ERR_CERT_NOT_YET_VALID:
          return "not_yet_valid";
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
          return "self_signed";
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:  // a chain up to a root we do not trust
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_SIGNATURE_FAILURE:
          return "unknown_ca";
        default:
          return "bad_certificate";
      }
    default:
      return "handshake_error";
  }
}

}  // namespace meshdeck::proxy::tls
