#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Sidecar injection (docs/kubernetes-injection.md): the one piece of code that turns a pod (or
// a workload's pod template) into the RFC 6902 JSON patch that adds Meshdeck's sidecar. The
// admission webhook (admission_review.h) sends the patch to the API server; `meshdeckctl
// inject` applies it with applyPatch() to the templates of a manifest. Plain Boost.JSON, no
// I/O, no Kubernetes client.
namespace meshdeck::cp::kubernetes {

// Names both sides agree on (deploy/kubernetes/, the proxy image, the docs).
inline constexpr std::string_view kInitContainerName = "meshdeck-proxy-init";
inline constexpr std::string_view kSidecarName = "meshdeck-proxy";
inline constexpr std::string_view kInjectAnnotation = "meshdeck.io/inject";      // "false": opt out
inline constexpr std::string_view kCaptureAnnotation = "meshdeck.io/capture";    // "false": no init
inline constexpr std::string_view kInjectedAnnotation = "meshdeck.io/injected";  // set by the patch
inline constexpr std::string_view kAppPortAnnotation = "meshdeck.io/app-port";
inline constexpr std::string_view kServiceAnnotation = "meshdeck.io/service";
inline constexpr std::string_view kNamespaceLabel = "meshdeck.io/inject";  // "enabled"
inline constexpr std::string_view kTokenVolume = "meshdeck-token";
inline constexpr std::string_view kCaVolume = "meshdeck-ca-root";
inline constexpr std::string_view kTokenDir = "/var/run/secrets/meshdeck";
inline constexpr std::string_view kTokenPath = "/var/run/secrets/meshdeck/token";
inline constexpr std::string_view kCaDir = "/var/run/secrets/meshdeck-ca";
inline constexpr std::string_view kCaPath = "/var/run/secrets/meshdeck-ca/root-cert.pem";

// What the injected containers look like. The defaults fit deploy/kubernetes/ (the control
// plane as Service meshdeck-controlplane in namespace meshdeck-system).
struct InjectionSettings {
  std::string proxy_image;  // empty: "meshdeck/meshdeck-proxy:<program version>"
  std::string image_pull_policy = "IfNotPresent";
  std::string control_plane = "meshdeck-controlplane.meshdeck-system.svc:15010";
  std::string control_plane_tls = "meshdeck-controlplane.meshdeck-system.svc:15012";
  std::string trust_domain = "meshdeck.local";
  // The ConfigMap holding the mesh's trust bundle (key root-cert.pem).
  std::string ca_configmap = "meshdeck-ca-root";
  // The projected service-account token the sidecar exchanges for its first certificate.
  std::string token_audience = "meshdeck";
  int64_t token_expiration_seconds = 3600;  // the API server's minimum is 600
  uint32_t inbound_port = 15006, outbound_port = 15001, admin_port = 15000;
  // The sidecar's user (the images' nonroot user): the capture rules let its traffic through,
  // so the application must run as another user.
  int64_t proxy_uid = 65532;
  std::string cpu_request = "100m", memory_request = "128Mi", memory_limit = "512Mi";
  // Written as the value of meshdeck.io/injected; empty: the program version.
  std::string version;

  std::string image() const;
  std::string injectedVersion() const;
  // "" when usable; otherwise what is wrong (ports, expiry, empty names).
  std::string check() const;
};

struct InjectionResult {
  // True when `patch` adds the sidecar; false when the pod is left alone (`reason` says why).
  bool injected = false;
  std::string reason;
  boost::json::array patch;           // RFC 6902 operations, all "add"
  std::vector<std::string> warnings;  // for the AdmissionResponse's warnings / stderr
};

// The patch for `pod` (an object with "metadata" and "spec": a Pod or a pod template). Left
// alone, with the reason: pods annotated meshdeck.io/inject: "false", already injected (the
// meshdeck.io/injected annotation or a container named meshdeck-proxy), host-network pods, pods
// without containers or without a port to forward to, and — when `namespace_labels` is given —
// pods of a namespace without the label meshdeck.io/inject=enabled. The webhook passes no
// labels (the MutatingWebhookConfiguration's namespaceSelector has chosen the namespace).
InjectionResult computeInjection(
    const boost::json::object& pod, const InjectionSettings& settings,
    const std::optional<std::map<std::string, std::string>>& namespace_labels = std::nullopt);

// One JSON Pointer reference token (RFC 6901): "~" as "~0", "/" as "~1".
std::string escapePointerToken(std::string_view token);

// Applies RFC 6902 "add" operations (the only ones computeInjection() writes) to `document`: an
// object member is added or replaced, an array element inserted at its index or appended at
// "-". False with the operation and the reason in `error`; `document` may then be half-patched.
bool applyPatch(boost::json::value& document, const boost::json::array& patch, std::string* error);

}  // namespace meshdeck::cp::kubernetes
