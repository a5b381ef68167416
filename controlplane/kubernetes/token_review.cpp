#include "controlplane/kubernetes/token_review.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "controlplane/kubernetes/kube_api_client.h"

namespace meshdeck::cp::kubernetes {

namespace json = boost::json;

namespace {

std::string stringAt(const json::object* o, std::string_view key) {
  if (!o) return {};
  const auto* v = o->if_contains(key);
  const auto* s = v ? v->if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

const json::object* objectAt(const json::object* o, std::string_view key) {
  if (!o) return nullptr;
  const auto* v = o->if_contains(key);
  return v ? v->if_object() : nullptr;
}

}  // namespace

TokenReviewResult judgeTokenReview(const std::string& body, const std::string& audience) {
  using Outcome = TokenReviewResult::Outcome;
  TokenReviewResult r;
  json::error_code ec;
  const json::value v = json::parse(body, ec);
  const auto* status = v.is_object() ? objectAt(&v.get_object(), "status") : nullptr;
  if (ec || !status) {
    r.outcome = Outcome::kUnavailable;
    r.error = "the TokenReview answer has no status";
    return r;
  }
  const auto* authenticated = status->if_contains("authenticated");
  if (!authenticated || !authenticated->is_bool() || !authenticated->get_bool()) {
    r.outcome = Outcome::kUnauthenticated;
    const std::string why = stringAt(status, "error");
    r.error = "the API server did not authenticate the token" + (why.empty() ? "" : ": " + why);
    return r;
  }
  bool audience_ok = false;
  if (const auto* auds = status->if_contains("audiences"); auds && auds->is_array())
    for (const auto& a : auds->get_array())
      if (a.is_string() && a.get_string() == audience) audience_ok = true;
  if (!audience_ok) {
    r.outcome = Outcome::kWrongAudience;
    r.error = "the token is not for the audience \"" + audience + "\"";
    return r;
  }
  const auto* user = objectAt(status, "user");
  r.username = stringAt(user, "username");
  static constexpr std::string_view kPrefix = "system:serviceaccount:";
  const std::string_view name(r.username);
  const auto colon = name.size() > kPrefix.size() ? name.find(':', kPrefix.size()) : name.npos;
  if (name.substr(0, kPrefix.size()) != kPrefix || colon == name.npos || colon == kPrefix.size() ||
      colon + 1 == name.size()) {
    r.outcome = Outcome::kNotServiceAccount;
    r.error = "the token is not a service account's (user \"" + r.username + "\")";
    return r;
  }
  r.ns = std::string(name.substr(kPrefix.size(), colon - kPrefix.size()));
  r.service_account = std::string(name.substr(colon + 1));
  if (const auto* extra = objectAt(user, "extra"))
    if (const auto* pod = extra->if_contains("authentication.kubernetes.io/pod-name");
        pod && pod->is_array() && !pod->get_array().empty() && pod->get_array()[0].is_string())
      r.pod_name = std::string(pod->get_array()[0].get_string());
  r.outcome = Outcome::kAuthenticated;
  return r;
}

TokenReviewResult KubeTokenReviewer::review(const std::string& token) {
  ++reviews_;
  json::object spec;
  spec["token"] = token;
  spec["audiences"] = json::array{json::value(audience_)};
  json::object request;
  request["apiVersion"] = "authentication.k8s.io/v1";
  request["kind"] = "TokenReview";
  request["spec"] = std::move(spec);
  const auto answer = client_.post("/apis/authentication.k8s.io/v1/tokenreviews",
                                   json::serialize(request), std::chrono::seconds(5));
  TokenReviewResult r;
  using Outcome = TokenReviewResult::Outcome;
  if (!answer.error.empty() || (answer.status != 200 && answer.status != 201)) {
    r.outcome = Outcome::kUnavailable;
    r.error = "TokenReview through the API server failed: " +
              (answer.error.empty() ? "HTTP " + std::to_string(answer.status) : answer.error);
  } else {
    r = judgeTokenReview(answer.body, audience_);
  }
  switch (r.outcome) {
    case Outcome::kAuthenticated:
      ++authenticated_;
      break;
    case Outcome::kUnauthenticated:
      ++unauthenticated_;
      break;
    case Outcome::kWrongAudience:
      ++wrong_audience_;
      break;
    case Outcome::kNotServiceAccount:
      ++not_service_account_;
      break;
    case Outcome::kUnavailable:
      ++unavailable_;
      break;
  }
  return r;
}

KubeTokenReviewer::Counters KubeTokenReviewer::counters() const {
  return {reviews_.load(),        authenticated_.load(),       unauthenticated_.load(),
          wrong_audience_.load(), not_service_account_.load(), unavailable_.load()};
}

}  // namespace meshdeck::cp::kubernetes
