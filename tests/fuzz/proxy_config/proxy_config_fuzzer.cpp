// proxy_config: the proxy's static YAML configuration, through the public entry points the
// binary uses: parseProxyConfigYaml() (YAML -> JSON -> ProxyConfig) and compileConfig().
// Oracle: no crash, hang or sanitizer report; a config that compiles can be shown as JSON
// (the admin /config endpoint) and that JSON compiles again to the same JSON.
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"
#include "proxy/config/yaml_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  meshdeck::v1::ProxyConfig config;
  std::string error;
  meshdeck::proxy::TlsFiles tls;
  std::vector<meshdeck::common::LocatedError> errors;
  if (!meshdeck::proxy::parseProxyConfigYaml(text, "fuzz.yaml", &config, &errors, &tls)) {
    // A refusal always says why, and where: in the input named, with a message.
    if (errors.empty()) __builtin_trap();
    for (const auto& e : errors) {
      if (e.file != "fuzz.yaml" || e.message.empty()) __builtin_trap();
    }
    return 0;
  }
  const auto compiled = meshdeck::proxy::compileConfig(config, &error);
  if (!compiled) return 0;
  const std::string json = meshdeck::proxy::configJson(*compiled);
  meshdeck::v1::ProxyConfig again;
  if (!google::protobuf::util::JsonStringToMessage(json, &again).ok()) {
    std::fprintf(stderr, "proxy_config: configJson() output does not parse:\n%s\n", json.c_str());
    __builtin_trap();
  }
  const auto recompiled = meshdeck::proxy::compileConfig(again, &error);
  if (!recompiled || meshdeck::proxy::configJson(*recompiled) != json) {
    std::fprintf(stderr, "proxy_config: the config's JSON does not compile to itself: %s\n%s\n",
                 error.c_str(), json.c_str());
    __builtin_trap();
  }
  return 0;
}
