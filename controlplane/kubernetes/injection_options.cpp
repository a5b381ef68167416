#include "controlplane/kubernetes/injection_options.h"

#include <CLI/CLI.hpp>

namespace meshdeck::cp::kubernetes {

void declareInjectionOptions(CLI::App& app, InjectionSettings& s, bool with_trust_domain) {
  const std::string group = "Sidecar injection";
  const auto add = [&](const std::string& name, auto& value, const std::string& help) {
    app.add_option(name, value, help)->capture_default_str()->group(group);
  };
  add("--proxy-image", s.proxy_image,
      "Image of meshdeck-proxy and meshdeck-proxy-init (default "
      "meshdeck/meshdeck-proxy:<version>)");
  add("--image-pull-policy", s.image_pull_policy, "imagePullPolicy of the injected containers");
  add("--mesh-address", s.control_plane, "The control plane as the sidecars reach it (plaintext)");
  add("--mesh-tls-address", s.control_plane_tls,
      "The control plane's TLS port as the sidecars reach it");
  if (with_trust_domain) add("--trust-domain", s.trust_domain, "SPIFFE trust domain of the mesh");
  add("--ca-configmap", s.ca_configmap, "ConfigMap holding the trust bundle (key root-cert.pem)");
  add("--token-audience", s.token_audience, "Audience of the projected service-account token");
  add("--token-expiration", s.token_expiration_seconds,
      "Lifetime of the projected token in seconds (at least 600)");
  add("--proxy-uid", s.proxy_uid, "User id of the sidecar (its traffic is not captured)");
  add("--proxy-inbound-port", s.inbound_port, "The sidecar's inbound port");
  add("--proxy-outbound-port", s.outbound_port, "The sidecar's outbound port");
  add("--proxy-admin-port", s.admin_port, "The sidecar's admin port (probes)");
  add("--proxy-cpu-request", s.cpu_request, "The sidecar's CPU request");
  add("--proxy-memory-request", s.memory_request, "The sidecar's memory request");
  add("--proxy-memory-limit", s.memory_limit, "The sidecar's memory limit (\"\" for none)");
}

}  // namespace meshdeck::cp::kubernetes
