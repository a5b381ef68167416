#pragma once

#include <atomic>
#include <string>

#include "controlplane/history/event_sink.h"
#include "controlplane/identity/bootstrap_tokens.h"
#include "controlplane/identity/certificate_authority.h"
#include "meshdeck/v1/identity.grpc.pb.h"

namespace meshdeck::cp::kubernetes {
class TokenReviewer;
}

namespace meshdeck::cp {

// IdentityService serves Identity.Sign, the gRPC face of the mesh CA.
//
// - First certificate: the request must carry a bootstrap token issued for its proxy_id; the
//   token is burnt by this call whatever its outcome, and the identity signed is the one the
//   token was issued for (spiffe://<td>/ns/<ns>/sa/<service>), so a proxy can only get its own.
// - Renewal: a call arriving on the control plane's TLS port with a client certificate
//   (grpc::AuthContext property "x509_pem_cert") is authenticated by that certificate, verified
//   again with OpenSSL against the current trust bundle; the CSR must ask for the same SPIFFE
//   id. No token is needed (one sent is ignored and not consumed).
// - Kubernetes (with a TokenReviewer set): a first certificate or a renewal on the plaintext
//   port may carry the pod's service-account token instead of a bootstrap token. The reviewer
//   asks the API server (TokenReview, audience "meshdeck"); the identity signed is
//   spiffe://<td>/ns/<namespace>/sa/<service-account> of the authenticated token. The token is
//   not consumed (it is the pod's, reused until the kubelet rotates it). UNAUTHENTICATED when the
//   API server does not vouch for it (invalid, another audience, not a service account's),
//   UNAVAILABLE when the API server cannot be asked (the proxy retries).
//
// Status codes: UNAUTHENTICATED (no/unknown/expired token, peer certificate that does not
// verify), PERMISSION_DENIED (token of another proxy, CSR for another identity),
// INVALID_ARGUMENT (no proxy_id, malformed or forged CSR, refused key type or SANs), INTERNAL.
// Refusals are logged with the proxy id and reason (never the token) and counted.
class IdentityService final : public meshdeck::v1::Identity::CallbackService {
 public:
  IdentityService(identity::CertificateAuthority& ca, identity::BootstrapTokens& tokens)
      : ca_(ca), tokens_(tokens) {}

  // The outcome of one request, without gRPC (also used by tests). `peer_pem` is the client
  // certificate of a TLS connection, "" when there is none.
  grpc::Status sign(const meshdeck::v1::SignRequest& request, const std::string& peer_pem,
                    meshdeck::v1::SignResponse* response);

  // Reports certificates issued ("identity.issue") and renewed ("identity.renew"). Call before
  // the service is registered.
  void setEventSink(EventSink sink) { events_ = std::move(sink); }
  // Accepts service-account tokens checked by `reviewer` (not owned; outlives the service).
  // Call before the service is registered.
  void setTokenReviewer(kubernetes::TokenReviewer* reviewer) { reviewer_ = reviewer; }

  uint64_t firstIssued() const { return first_issued_.load(); }
  uint64_t renewed() const { return renewed_.load(); }
  uint64_t refused() const { return refused_.load(); }
  // Certificates issued for a service-account token; such requests refused (also counted in
  // refused()).
  uint64_t serviceAccountIssued() const { return sa_issued_.load(); }
  uint64_t serviceAccountRefused() const { return sa_refused_.load(); }

  // Identity
  grpc::ServerUnaryReactor* Sign(grpc::CallbackServerContext* ctx,
                                 const meshdeck::v1::SignRequest* request,
                                 meshdeck::v1::SignResponse* response) override;

 private:
  grpc::Status refuse(const meshdeck::v1::SignRequest& request, grpc::StatusCode code,
                      const std::string& message);

  identity::CertificateAuthority& ca_;
  identity::BootstrapTokens& tokens_;
  EventSink events_;
  kubernetes::TokenReviewer* reviewer_ = nullptr;
  std::atomic<uint64_t> first_issued_{0}, renewed_{0}, refused_{0};
  std::atomic<uint64_t> sa_issued_{0}, sa_refused_{0};
};

}  // namespace meshdeck::cp
