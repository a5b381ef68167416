#pragma once

#include "controlplane/kubernetes/injector.h"

namespace CLI {
class App;
}

namespace meshdeck::cp::kubernetes {

// Declares the injection settings as options of `app` (meshdeck-controlplane for its webhook,
// `meshdeckctl inject`), bound to `settings`, which must outlive the parse: --proxy-image,
// --mesh-address, --mesh-tls-address, --ca-configmap, --token-audience, --token-expiration,
// --proxy-uid, --proxy-inbound-port, --proxy-outbound-port, --proxy-admin-port and the
// sidecar's resources; --trust-domain too when `with_trust_domain` (the control plane has its
// own). Check the result with InjectionSettings::check().
void declareInjectionOptions(CLI::App& app, InjectionSettings& settings, bool with_trust_domain);

}  // namespace meshdeck::cp::kubernetes
