#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controlplane/kubernetes/webhook_server.h"

namespace CLI {
class App;
}

namespace meshdeck::cp {

class InProcessControlPlane;
struct ControlPlaneOptions;

// meshdeck-controlplane's options of the sidecar injector's webhook
// (docs/kubernetes-injection.md): --webhook-listen, its serving certificate (files, or issued by
// the mesh CA for --webhook-dns-name) and the injection settings.
struct WebhookCommandLine {
  std::string listen;  // "" : no webhook
  std::string cert_file, key_file;
  std::vector<std::string> dns_names{"meshdeck-controlplane.meshdeck-system.svc"};
  kubernetes::InjectionSettings settings;
};

void declareWebhookOptions(CLI::App& app, WebhookCommandLine& w);
// After the parse: --webhook-cert and --webhook-key together, settings usable; the trust
// domain is the control plane's. False with a message for the user.
bool finishWebhookOptions(WebhookCommandLine& w, const ControlPlaneOptions& options,
                          std::string* error);
// Starts the webhook of a started control plane. Null without --webhook-listen (`error`
// empty) or on failure (`error` says why).
std::unique_ptr<kubernetes::WebhookServer> startWebhook(InProcessControlPlane& control_plane,
                                                        const WebhookCommandLine& w,
                                                        std::string* error);

}  // namespace meshdeck::cp
