#include "controlplane/server/identity_service.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "controlplane/kubernetes/token_review.h"

namespace meshdeck::cp {

namespace v1 = meshdeck::v1;

grpc::Status IdentityService::refuse(const v1::SignRequest& request, grpc::StatusCode code,
                                     const std::string& message) {
  ++refused_;
  spdlog::warn("identity: refused a certificate for proxy \"{}\": {}", request.proxy_id(), message);
  return grpc::Status(code, message);
}

grpc::Status IdentityService::sign(const v1::SignRequest& request, const std::string& peer_pem,
                                   v1::SignResponse* response) {
  if (request.proxy_id().empty())
    return refuse(request, grpc::StatusCode::INVALID_ARGUMENT, "proxy_id is required");
  std::string expected;
  const bool renewal = !peer_pem.empty();
  bool by_service_account = false;
  if (!renewal && !request.service_account_token().empty()) {
    by_service_account = true;
    if (!request.bootstrap_token().empty()) {
      ++sa_refused_;
      return refuse(request, grpc::StatusCode::INVALID_ARGUMENT,
                    "a request carries a bootstrap token or a service-account token, not both");
    }
    if (!reviewer_) {
      ++sa_refused_;
      return refuse(request, grpc::StatusCode::UNAUTHENTICATED,
                    "this control plane does not accept service-account tokens (it runs without "
                    "the Kubernetes API: --registry kubernetes or --kube-api)");
    }
    using Outcome = kubernetes::TokenReviewResult::Outcome;
    const auto review = reviewer_->review(request.service_account_token());
    if (review.outcome != Outcome::kAuthenticated) {
      ++sa_refused_;
      return refuse(request,
                    review.outcome == Outcome::kUnavailable ? grpc::StatusCode::UNAVAILABLE
                                                            : grpc::StatusCode::UNAUTHENTICATED,
                    "service-account token refused: " + review.error);
    }
    expected = pki::formatSpiffeId({ca_.trustDomain(), review.ns, review.service_account});
    spdlog::info("identity: proxy \"{}\" authenticated by the service-account token of {}/{}{}",
                 request.proxy_id(), review.ns, review.service_account,
                 review.pod_name.empty() ? "" : " (pod " + review.pod_name + ")");
  } else if (renewal) {
    std::string why;
    const auto peer_id = ca_.verifyPeer(peer_pem, &why);
    if (!peer_id) return refuse(request, grpc::StatusCode::UNAUTHENTICATED, why);
    expected = *peer_id;
    // A renewal keeps the proxy id the certificate was issued to (the streams are bound to it,
    // docs/security.md "Proxies on the streams"); unknown after a restart of this process.
    const auto leaf = pki::loadCertPem(peer_pem);
    const auto info = leaf ? pki::certificateInfo(leaf.get()) : std::nullopt;
    if (const std::string owner = info ? ca_.issuedTo(info->serial_hex) : std::string();
        !owner.empty() && owner != request.proxy_id())
      return refuse(request, grpc::StatusCode::PERMISSION_DENIED,
                    "a renewal for proxy " + request.proxy_id() +
                        " with the certificate issued to proxy " + owner);
  } else {
    if (request.bootstrap_token().empty())
      return refuse(request, grpc::StatusCode::UNAUTHENTICATED,
                    "a first certificate needs a bootstrap token; renewals must come over the "
                    "TLS port with the current certificate");
    std::string why;
    const auto grant = tokens_.consume(request.bootstrap_token(), request.proxy_id(), &why);
    if (!grant) {
      const bool other_proxy = why.find("another proxy") != std::string::npos;
      return refuse(
          request,
          other_proxy ? grpc::StatusCode::PERMISSION_DENIED : grpc::StatusCode::UNAUTHENTICATED,
          why);
    }
    expected = pki::formatSpiffeId({ca_.trustDomain(), grant->ns, grant->service});
  }
  const auto r =
      ca_.sign(request.csr_pem(), expected, std::chrono::seconds(request.requested_ttl_seconds()),
               request.proxy_id());
  if (!r.ok) {
    using identity::SignError;
    const auto code = r.error_kind == SignError::kWrongIdentity
                          ? grpc::StatusCode::PERMISSION_DENIED
                      : r.error_kind == SignError::kInternal ? grpc::StatusCode::INTERNAL
                                                             : grpc::StatusCode::INVALID_ARGUMENT;
    if (by_service_account) ++sa_refused_;
    return refuse(request, code, r.error);
  }
  if (by_service_account) ++sa_issued_;
  response->set_certificate_chain_pem(r.chain_pem);
  for (auto& pem : ca_.trustBundlePem()) response->add_trust_bundle_pem(std::move(pem));
  *response->mutable_not_after() = google::protobuf::util::TimeUtil::TimeTToTimestamp(
      std::chrono::system_clock::to_time_t(r.not_after));
  response->set_spiffe_id(r.spiffe_id);
  ++(renewal ? renewed_ : first_issued_);
  spdlog::info(
      "identity: {} {} for proxy \"{}\" (serial {}, expires in {} s)",
      renewal ? "renewed" : "issued", r.spiffe_id, request.proxy_id(), r.serial_hex,
      std::chrono::duration_cast<std::chrono::seconds>(r.not_after - r.not_before).count());
  if (events_)
    events_(renewal ? "identity.renew" : "identity.issue", request.proxy_id(),
            fmt::format("{} serial {}", r.spiffe_id, r.serial_hex));
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* IdentityService::Sign(grpc::CallbackServerContext* ctx,
                                                const v1::SignRequest* request,
                                                v1::SignResponse* response) {
  std::string peer_pem;
  if (const auto auth = ctx->auth_context()) {
    const auto values = auth->FindPropertyValues("x509_pem_cert");
    if (!values.empty()) peer_pem.assign(values.front().data(), values.front().size());
    // Then the intermediates the client presented (an imported CA's leaves verify only with
    // them). gRPC takes them from SSL_get_peer_cert_chain, which on a server does not hold the
    // leaf; skip it anyway should a version include it.
    const auto chain = auth->FindPropertyValues("x509_pem_cert_chain");
    if (!peer_pem.empty() && !chain.empty()) {
      const auto leaf = pki::loadCertPem(peer_pem);
      for (const auto& cert :
           pki::loadCertChainPem(std::string_view(chain.front().data(), chain.front().size())))
        if (!leaf || X509_cmp(cert.get(), leaf.get()) != 0) peer_pem += pki::certPem(cert.get());
    }
  }
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(sign(*request, peer_pem, response));
  return reactor;
}

}  // namespace meshdeck::cp
