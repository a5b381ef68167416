#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/located_error.h"
#include "tools/demo_service/behaviour.h"
#include "tools/load/http_url.h"

namespace meshdeck::tools {

// One hosted service: who it is, where it listens, how it reaches its downstreams, and how it
// behaves.
struct ServiceConfig {
  std::string name;
  std::string version = "v1";
  HostPort listen{"127.0.0.1", 8080};
  std::string port_file;                  // when set, the bound port is written there
  std::optional<HttpUrl> outbound_proxy;  // downstream calls go through it in absolute-form
  // Seed of this service's draws; the file's `seed` when unset. Lets a packed fleet give each
  // replica the stream it would have had in a process of its own.
  std::optional<uint64_t> seed;
  // "http1": HTTP/1.1 only. "grpc": also serves meshdeck.demo.v1.Demo on the same port (a
  // connection opening with the HTTP/2 preface goes to the gRPC server; the admin interface
  // stays HTTP/1.1).
  std::string protocol = "http1";
  Behaviour behaviour;
};

// Everything one meshdeck-demo-service process hosts.
struct DemoConfig {
  uint64_t seed = 1;
  std::vector<ServiceConfig> services;
};

// Reads a --config YAML file:
//   seed: 42
//   services:
//     - name: catalog
//       version: v1
//       listen: 127.0.0.1:0
//       port_file: /tmp/catalog.port
//       outbound_proxy: http://127.0.0.1:15001
//       protocol: grpc               (optional; http1 by default)
//       seed: 7                      (optional; overrides the file's seed)
//       latency_p50: 5ms
//       latency_p99: 40ms
//       calls: [http://reviews/items, grpc://payments]
//       ...any other behaviour field (see Behaviour)
// Returns false with the first problem in `error` (its toString() reads
// "source:line:column: services[i].field: problem").
bool parseDemoConfig(std::string_view yaml, std::string_view source, DemoConfig* out,
                     common::LocatedError* error);
bool loadDemoConfigFile(const std::filesystem::path& path, DemoConfig* out,
                        common::LocatedError* error);

// Problems that only show across services (two services on one fixed port). Empty when fine.
std::string validateDemoConfig(const DemoConfig& config);

}  // namespace meshdeck::tools
