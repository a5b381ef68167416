#include "controlplane/cli/webhook_command_line.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>

#include "common/bounded_file.h"
#include "common/pki/pki.h"
#include "controlplane/identity/certificate_authority.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/kubernetes/injection_options.h"

namespace meshdeck::cp {

namespace {
constexpr uint64_t kMaxPemBytes = 1024 * 1024;
// A certificate of the mesh CA lives 30 days and is re-issued after 15 (checked hourly).
constexpr auto kCaCertificateLifetime = std::chrono::hours(30 * 24);
}  // namespace

void declareWebhookOptions(CLI::App& app, WebhookCommandLine& w) {
  const std::string group = "Sidecar injection";
  app.add_option("--webhook-listen", w.listen,
                 "Serve the sidecar injector's admission webhook (HTTPS POST /inject) on "
                 "HOST:PORT; off by default")
      ->group(group);
  auto* cert = app.add_option("--webhook-cert", w.cert_file,
                              "The webhook's certificate chain (PEM; re-read hourly). Default: "
                              "one issued by the mesh CA for --webhook-dns-name")
                   ->group(group);
  auto* key =
      app.add_option("--webhook-key", w.key_file, "The webhook's private key (PEM)")->group(group);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--webhook-dns-name", w.dns_names,
                 "DNS name of the webhook's Service, for a certificate of the mesh CA "
                 "(repeatable)")
      ->capture_default_str()
      ->group(group);
  kubernetes::declareInjectionOptions(app, w.settings, false);
}

bool finishWebhookOptions(WebhookCommandLine& w, const ControlPlaneOptions& options,
                          std::string* error) {
  w.settings.trust_domain = options.trust_domain;
  if (w.listen.empty()) return true;
  if (w.listen.rfind(':') == std::string::npos) {
    *error = "--webhook-listen \"" + w.listen + "\": expected HOST:PORT";
    return false;
  }
  if (w.cert_file.empty() && w.dns_names.empty()) {
    *error = "--webhook-listen needs --webhook-cert/--webhook-key or a --webhook-dns-name";
    return false;
  }
  if (const auto bad = w.settings.check(); !bad.empty()) {
    *error = "sidecar injection: " + bad;
    return false;
  }
  return true;
}

std::unique_ptr<kubernetes::WebhookServer> startWebhook(InProcessControlPlane& control_plane,
                                                        const WebhookCommandLine& w,
                                                        std::string* error) {
  error->clear();
  if (w.listen.empty()) return nullptr;
  kubernetes::WebhookServer::CertificateSource source;
  if (!w.cert_file.empty()) {
    source = [cert = w.cert_file, key = w.key_file](std::string* key_pem, std::string* chain_pem,
                                                    std::string* why) {
      std::string reason;
      if (!common::readFileLimited(cert, kMaxPemBytes, chain_pem, &reason)) {
        *why = "--webhook-cert: " + reason;
        return false;
      }
      if (!common::readFileLimited(key, kMaxPemBytes, key_pem, &reason)) {
        *why = "--webhook-key: " + reason;
        return false;
      }
      return true;
    };
  } else {
    auto* ca = control_plane.certificateAuthority();
    if (!ca) {
      *error = "the webhook needs the mesh CA, which is not running";
      return nullptr;
    }
    struct Issued {
      std::string key, chain;
      std::chrono::system_clock::time_point renew_at{};
    };
    auto issued = std::make_shared<Issued>();
    const std::string id =
        pki::formatSpiffeId({ca->trustDomain(), "meshdeck-system", "controlplane"});
    source = [ca, issued, id, names = w.dns_names](std::string* key_pem, std::string* chain_pem,
                                                   std::string* why) {
      if (issued->chain.empty() || std::chrono::system_clock::now() >= issued->renew_at) {
        const auto kc = ca->issueServerCertificate(
            id, names, std::chrono::duration_cast<std::chrono::seconds>(kCaCertificateLifetime),
            why);
        if (!kc) return false;
        issued->key = kc->key_pem;
        issued->chain = kc->chain_pem;
        issued->renew_at = std::chrono::system_clock::now() + kCaCertificateLifetime / 2;
      }
      *key_pem = issued->key;
      *chain_pem = issued->chain;
      return true;
    };
  }
  auto server = std::make_unique<kubernetes::WebhookServer>(w.settings, std::move(source));
  if (!server->start(w.listen, error)) return nullptr;
  spdlog::info("sidecar injector webhook on https://{}/inject ({})", server->address(),
               w.cert_file.empty() ? "certificate of the mesh CA" : w.cert_file);
  return server;
}

}  // namespace meshdeck::cp
