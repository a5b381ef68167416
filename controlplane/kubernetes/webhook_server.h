#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "controlplane/kubernetes/injector.h"

// WebhookServer is the sidecar injector's HTTPS endpoint (docs/kubernetes-injection.md):
// POST /inject with an AdmissionReview v1 (answerAdmissionReview()), on a port of its own, on
// one thread of its own. Everything else is refused and counted: another path 404, another
// method 405, a head over kMaxHeaderBytes 431, a body over kMaxBodyBytes 413, a body that is
// not an AdmissionReview 400; a failed TLS handshake, a request not complete within
// kRequestTimeoutSeconds and connections beyond kMaxConnections are closed.
namespace meshdeck::cp::kubernetes {

class WebhookServer {
 public:
  static constexpr size_t kMaxHeaderBytes = 16 * 1024;
  // The API server refuses requests over 3 MiB, so no AdmissionReview it sends is larger.
  static constexpr size_t kMaxBodyBytes = 3 * 1024 * 1024;
  static constexpr int kRequestTimeoutSeconds = 10;
  static constexpr int kMaxConnections = 64;

  // The serving key and certificate chain (PEM). Called by start() and then every `refresh`
  // on the server's thread (files rotated by cert-manager, a certificate of the mesh CA
  // renewed); false with a reason keeps the current ones (logged).
  using CertificateSource =
      std::function<bool(std::string* key_pem, std::string* chain_pem, std::string* error)>;

  WebhookServer(InjectionSettings settings, CertificateSource certificates,
                std::chrono::seconds refresh = std::chrono::hours(1));
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Loads the certificate, binds `address` ("host:port"; port 0 picks one) and serves. False
  // with a reason in `error` (bad address, address in use, no usable certificate); nothing runs
  // then. Call once.
  bool start(const std::string& address, std::string* error);
  // Stops serving and joins the thread. Idempotent.
  void stop();
  // "host:port" actually bound ("" before start()).
  std::string address() const { return address_; }

  struct Counters {
    uint64_t injected = 0, skipped = 0;
    // Requests refused (any reason above) and TLS handshakes that failed.
    uint64_t bad_requests = 0, handshake_failures = 0;
    // Certificates taken from the source (start and refreshes), and refreshes that failed.
    uint64_t certificate_loads = 0, certificate_failures = 0;
  };
  Counters counters() const;

 private:
  struct State;
  bool loadCertificate(std::string* error);
  const InjectionSettings settings_;
  const CertificateSource certificates_;
  const std::chrono::seconds refresh_;
  std::unique_ptr<State> state_;
  std::unique_ptr<std::thread> thread_;
  std::string address_;
  std::atomic<uint64_t> injected_{0}, skipped_{0}, bad_requests_{0}, handshake_failures_{0},
      certificate_loads_{0}, certificate_failures_{0};
};

}  // namespace meshdeck::cp::kubernetes
