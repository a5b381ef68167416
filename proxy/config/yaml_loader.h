#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/located_error.h"

namespace meshdeck::v1 {
class ProxyConfig;
}

namespace meshdeck::proxy {

// The files of the proxy's mesh identity, from the YAML file's top-level `tls:` section (not
// part of ProxyConfig: a control plane hands out certificates through Identity.Sign instead).
//   tls: {cert: proxy.crt, key: proxy.key, trust_bundle: ca.crt}
// Relative paths are taken relative to the YAML file's directory.
struct TlsFiles {
  std::filesystem::path cert;          // certificate chain, leaf first (PEM)
  std::filesystem::path key;           // private key (PEM)
  std::filesystem::path trust_bundle;  // trusted roots (PEM)
  bool empty() const { return cert.empty() && key.empty() && trust_bundle.empty(); }
};

// Reads the proxy's static YAML configuration onto meshdeck.v1.ProxyConfig. The YAML mirrors
// the proto's JSON mapping (field names as in the .proto, enums by name), with durations
// written "250ms", "1.5s", "2m". Each node is checked against the message descriptor while the
// YAML is converted to JSON, so an error names the file, line, column and field path, e.g.
//   proxy.yaml:12:9: clusters[0].lb_policy: unknown value "ROUND" (expected ROUND_ROBIN, ...)
// The JSON is then parsed by protobuf's json_util and validated by compileConfig(), whose
// errors are located too ("proxy.yaml:9:15: route_tables[0]...: unknown cluster \"x\"").
// Returns false, appends the problems to `errors` (one for a YAML or schema problem, every one
// the compiler found otherwise; print them with common::toString) and leaves `out` untouched.
// `tls` (may be null) receives the `tls:` section; without one it is left empty.
bool parseProxyConfigYaml(const std::string& text, const std::string& file_name,
                          meshdeck::v1::ProxyConfig* out, std::vector<common::LocatedError>* errors,
                          TlsFiles* tls = nullptr);
bool loadProxyConfigFile(const std::filesystem::path& path, meshdeck::v1::ProxyConfig* out,
                         std::vector<common::LocatedError>* errors, TlsFiles* tls = nullptr);

}  // namespace meshdeck::proxy
