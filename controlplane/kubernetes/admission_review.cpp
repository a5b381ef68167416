#include "controlplane/kubernetes/admission_review.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace meshdeck::cp::kubernetes {

namespace json = boost::json;

namespace {

ReviewAnswer refuse(std::string reason) {
  ReviewAnswer a;
  a.outcome = ReviewAnswer::Outcome::kBadRequest;
  a.status = 400;
  a.reason = std::move(reason);
  a.body = "bad AdmissionReview: " + a.reason + "\n";
  return a;
}

std::string_view stringOf(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  const auto* s = v ? v->if_string() : nullptr;
  return s ? std::string_view(*s) : std::string_view();
}

}  // namespace

std::string base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16 |
                       static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1])
                                                                  << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += '=';
  }
  return out;
}

ReviewAnswer answerAdmissionReview(std::string_view body, const InjectionSettings& settings) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  const json::value doc = json::parse(body, ec, {}, options);
  if (ec) return refuse("not JSON: " + ec.message());
  const auto* review = doc.if_object();
  if (!review) return refuse("not a JSON object");
  if (stringOf(*review, "apiVersion") != "admission.k8s.io/v1" ||
      stringOf(*review, "kind") != "AdmissionReview")
    return refuse("expected apiVersion admission.k8s.io/v1, kind AdmissionReview");
  const auto* request_value = review->if_contains("request");
  const auto* request = request_value ? request_value->if_object() : nullptr;
  if (!request) return refuse("no request");
  const auto uid = stringOf(*request, "uid");
  if (uid.empty()) return refuse("no request.uid");

  json::object response{{"uid", uid}, {"allowed", true}};
  ReviewAnswer answer;
  answer.outcome = ReviewAnswer::Outcome::kSkipped;
  const auto* kind_value = request->if_contains("kind");
  const auto* kind = kind_value ? kind_value->if_object() : nullptr;
  const bool pod = kind && stringOf(*kind, "kind") == "Pod" && stringOf(*kind, "version") == "v1" &&
                   stringOf(*kind, "group").empty();
  const auto operation = stringOf(*request, "operation");
  if (!pod) {
    answer.reason = "not a Pod";
  } else if (operation != "CREATE") {
    answer.reason = "operation " + std::string(operation) + " (only CREATE is patched)";
  } else {
    const auto* object_value = request->if_contains("object");
    const auto* object = object_value ? object_value->if_object() : nullptr;
    if (!object) return refuse("a Pod CREATE without request.object");
    auto result = computeInjection(*object, settings);
    answer.reason = result.reason;
    if (result.injected) {
      answer.outcome = ReviewAnswer::Outcome::kInjected;
      response["patchType"] = "JSONPatch";
      response["patch"] = base64Encode(json::serialize(result.patch));
    }
    if (!result.warnings.empty()) {
      json::array warnings;
      for (auto& w : result.warnings) warnings.emplace_back(w);
      response["warnings"] = std::move(warnings);
    }
  }
  answer.status = 200;
  answer.content_type = "application/json";
  answer.body = json::serialize(json::object{{"apiVersion", "admission.k8s.io/v1"},
                                             {"kind", "AdmissionReview"},
                                             {"response", std::move(response)}});
  return answer;
}

}  // namespace meshdeck::cp::kubernetes
