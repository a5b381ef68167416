#pragma once

#include <string>
#include <string_view>

#include "controlplane/kubernetes/injector.h"

// The admission webhook's protocol without its transport: an AdmissionReview v1 request (JSON)
// in, the HTTP status and body of the answer out. Used by WebhookServer and unit-tested alone.
namespace meshdeck::cp::kubernetes {

struct ReviewAnswer {
  enum class Outcome { kInjected, kSkipped, kBadRequest };
  Outcome outcome = Outcome::kBadRequest;
  int status = 400;  // HTTP status: 200 with an AdmissionReview, 400 with a text reason
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::string reason;  // why skipped or refused (for the log)
};

// Answers one AdmissionReview (apiVersion admission.k8s.io/v1) with allowed: true and, for a
// pod to inject, patchType JSONPatch and the base64 patch of computeInjection(). A request for
// anything but a Pod CREATE, or a pod left alone, is allowed without a patch (the reason as a
// warning when the pod asked for a sidecar but cannot have one). Every request is in scope:
// the MutatingWebhookConfiguration's namespaceSelector chooses the namespaces. A body that is
// not JSON, not an AdmissionReview v1, or without request.uid is a 400 with the reason.
ReviewAnswer answerAdmissionReview(std::string_view body, const InjectionSettings& settings);

// Standard base64 (RFC 4648, with padding), as AdmissionResponse.patch wants it.
std::string base64Encode(std::string_view bytes);

}  // namespace meshdeck::cp::kubernetes
