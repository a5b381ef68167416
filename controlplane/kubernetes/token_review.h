#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace meshdeck::cp::kubernetes {

class KubeApiClient;

// What a TokenReview says of a service-account token.
struct TokenReviewResult {
  enum class Outcome {
    kAuthenticated,      // a service account's token for our audience
    kUnauthenticated,    // the API server says the token is not valid (expired, revoked, forged)
    kWrongAudience,      // valid, but not for our audience
    kNotServiceAccount,  // valid, but the user is not system:serviceaccount:NS:SA
    kUnavailable,        // the API server could not be asked or gave no usable answer
  };
  Outcome outcome = Outcome::kUnavailable;
  std::string ns, service_account, pod_name, username;
  std::string error;  // why, for every outcome but kAuthenticated
};

// TokenReviewer asks whether a bearer token is a service account's token for an audience.
// review() may block (network); it is called from any thread.
class TokenReviewer {
 public:
  virtual ~TokenReviewer() = default;
  virtual TokenReviewResult review(const std::string& token) = 0;
};

// KubeTokenReviewer asks the API server: POST /apis/authentication.k8s.io/v1/tokenreviews with
// spec.audiences [audience] (docs/kubernetes-registry.md, "Workload certificates from
// service-account tokens"). The token is never logged. Thread-safe.
class KubeTokenReviewer final : public TokenReviewer {
 public:
  explicit KubeTokenReviewer(KubeApiClient& client, std::string audience = "meshdeck")
      : client_(client), audience_(std::move(audience)) {}

  TokenReviewResult review(const std::string& token) override;

  struct Counters {
    uint64_t reviews = 0, authenticated = 0, unauthenticated = 0, wrong_audience = 0;
    uint64_t not_service_account = 0, unavailable = 0;
  };
  Counters counters() const;

 private:
  KubeApiClient& client_;
  const std::string audience_;
  std::atomic<uint64_t> reviews_{0}, authenticated_{0}, unauthenticated_{0}, wrong_audience_{0},
      not_service_account_{0}, unavailable_{0};
};

// The TokenReview's answer (its JSON body) judged for `audience`; without I/O, for tests.
TokenReviewResult judgeTokenReview(const std::string& body, const std::string& audience);

}  // namespace meshdeck::cp::kubernetes
