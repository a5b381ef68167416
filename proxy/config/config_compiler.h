#pragma once

#include <string>
#include <vector>

#include "common/located_error.h"
#include "proxy/config/config.h"

namespace meshdeck::v1 {
class ProxyConfig;
}

namespace meshdeck::proxy {

// Validates a ProxyConfig and turns it into the immutable Config the workers run. Returns
// nullptr and appends every problem found to `errors` (each with its field path, e.g.
// "clusters[2].endpoints[0].address.port", no file or position: a proto has none) when the
// config is invalid. Nothing is partially applied: the caller keeps its old config on failure.
ConfigPtr compileConfig(const meshdeck::v1::ProxyConfig& proto,
                        std::vector<common::LocatedError>* errors);
// The same, the problems as text, one per line ("clusters[2]...port: must be 1..65535"): the
// NACK detail sent to the control plane.
ConfigPtr compileConfig(const meshdeck::v1::ProxyConfig& proto, std::string* error);

// The source configuration of `config` as canonical JSON (preserved proto field names), for the
// admin /config endpoint.
std::string configJson(const Config& config);

// The ProxyConfig of the standalone reverse proxy: one INBOUND listener "main" on `listen`
// (host:port) routing every request round robin to `upstreams` (host:port each).
bool standaloneConfig(const std::string& listen, const std::vector<std::string>& upstreams,
                      meshdeck::v1::ProxyConfig* out, std::string* error);

// Splits "host:port" (IPv6 in brackets). Returns false on a malformed address.
bool parseHostPort(const std::string& text, std::string* host, uint16_t* port);

}  // namespace meshdeck::proxy
