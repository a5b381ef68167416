#pragma once

#include <QtGlobal>
#include <string>
#include <vector>

#include "common/located_error.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"

namespace meshdeck::proxy::test {

// The compiled config of a proxy YAML document the test knows to be valid; a refusal ends the
// test program with the located errors (a broken fixture, not a finding).
inline ConfigPtr compileYaml(const char* yaml) {
  meshdeck::v1::ProxyConfig proto;
  std::vector<meshdeck::common::LocatedError> errors;
  if (!parseProxyConfigYaml(yaml, "test.yaml", &proto, &errors))
    qFatal("%s", meshdeck::common::toString(errors).c_str());
  std::string error;
  auto config = compileConfig(proto, &error);
  if (!config) qFatal("%s", error.c_str());
  return config;
}

}  // namespace meshdeck::proxy::test
