#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace meshdeck::cp::identity {

// ServerTlsFiles holds the control plane's TLS port identity (key, certificate chain, trusted
// roots) in files that gRPC's FileWatcherCertificateProvider re-reads, so the port's
// certificate and roots change without restarting the server.
//
// Layout: `<dir>/current` is a symbolic link to `<dir>/gen-<N>/`, which holds key.pem,
// cert.pem and roots.pem (all 0600, the directories 0700). An update writes a whole new
// generation and then swaps the link with rename(2), so a reader following `current` never
// sees a key of one generation with a certificate of another (gRPC re-reads when the files'
// modification times differ between its reads). The previous generation is kept (a reader may
// still be in it); older ones are removed.
//
// Not thread-safe: one owner calls update().
class ServerTlsFiles {
 public:
  // Uses `dir` (created 0700 when missing). With an empty `dir`, a private directory under the
  // system's temporary directory, removed by the destructor. Null with a reason on failure.
  static std::unique_ptr<ServerTlsFiles> open(const std::filesystem::path& dir, std::string* error);
  ~ServerTlsFiles();
  ServerTlsFiles(const ServerTlsFiles&) = delete;
  ServerTlsFiles& operator=(const ServerTlsFiles&) = delete;

  // Writes a new generation and makes it current.
  bool update(const std::string& key_pem, const std::string& chain_pem,
              const std::string& roots_pem, std::string* error);

  std::filesystem::path keyPath() const { return dir_ / "current" / "key.pem"; }
  std::filesystem::path certPath() const { return dir_ / "current" / "cert.pem"; }
  std::filesystem::path rootsPath() const { return dir_ / "current" / "roots.pem"; }
  uint64_t generation() const { return generation_; }

 private:
  ServerTlsFiles(std::filesystem::path dir, bool temporary);
  const std::filesystem::path dir_;
  const bool temporary_;
  uint64_t generation_ = 0;
};

}  // namespace meshdeck::cp::identity
