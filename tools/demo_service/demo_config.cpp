#include "demo_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cassert>
#include <charconv>
#include <set>

#include "common/yaml/yaml_input.h"

namespace meshdeck::tools {

namespace {

// Throws the located error; caught once at the top, where the source is known.
[[noreturn]] void fail(const YAML::Node& node, std::string path, std::string message) {
  throw common::yamlErrorAt("", node, std::move(path), std::move(message));
}

std::string scalar(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail(node, path, "must be a single value");
  return node.Scalar();
}

FieldValue fieldValue(const YAML::Node& node, const std::string& path) {
  if (node.IsScalar()) return node.Scalar();
  if (node.IsSequence()) {
    std::vector<std::string> list;
    for (size_t i = 0; i < node.size(); ++i)
      list.push_back(scalar(node[i], fmt::format("{}[{}]", path, i)));
    return list;
  }
  fail(node, path, "must be a value or a list");
}

ServiceConfig parseService(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) fail(node, path, "must be a mapping");
  ServiceConfig svc;
  bool has_name = false;
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    const std::string field = path + "." + key;
    std::string error;
    if (key == "name") {
      svc.name = scalar(value, field);
      has_name = !svc.name.empty();
    } else if (key == "version") {
      svc.version = scalar(value, field);
    } else if (key == "listen") {
      auto listen = parseHostPort(scalar(value, field), &error);
      if (!listen) fail(value, field, error);
      svc.listen = *listen;
    } else if (key == "port_file") {
      svc.port_file = scalar(value, field);
    } else if (key == "seed") {
      const std::string text = scalar(value, field);
      uint64_t seed = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
      if (ec != std::errc{} || end != text.data() + text.size())
        fail(value, field, "must be a whole number");
      svc.seed = seed;
    } else if (key == "protocol") {
      svc.protocol = scalar(value, field);
      if (svc.protocol != "http1" && svc.protocol != "grpc")
        fail(value, field, "must be http1 or grpc");
    } else if (key == "outbound_proxy") {
      auto proxy = parseHttpUrl(scalar(value, field), &error);
      if (!proxy) fail(value, field, error);
      svc.outbound_proxy = *proxy;
    } else if (isBehaviourField(key)) {
      if (!setBehaviourField(svc.behaviour, key, fieldValue(value, field), &error))
        fail(value, field, error);
    } else {
      fail(entry.first, field, "unknown field");
    }
  }
  if (!has_name) fail(node, path + ".name", "is required");
  if (auto problem = validateBehaviour(svc.behaviour); !problem.empty()) fail(node, path, problem);
  return svc;
}

bool parseLoaded(const common::YamlDocuments& loaded, std::string_view source, DemoConfig* out,
                 common::LocatedError* error) {
  assert(error != nullptr);
  // Limits, encoding and syntax are checked before any walk (the message names the limit).
  if (!loaded.ok()) {
    *error = *loaded.error;
    return false;
  }
  try {
    const YAML::Node root = loaded.first();
    if (!root.IsMap()) fail(root, "", "the file must be a mapping with 'services'");
    DemoConfig config;
    bool has_services = false;
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      if (key == "seed") {
        const std::string text = scalar(entry.second, "seed");
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), config.seed);
        if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
          fail(entry.second, "seed", "must be a whole number");
      } else if (key == "services") {
        const YAML::Node& list = entry.second;
        if (!list.IsSequence() || list.size() == 0)
          fail(list, "services", "must be a non-empty list");
        for (size_t i = 0; i < list.size(); ++i)
          config.services.push_back(parseService(list[i], fmt::format("services[{}]", i)));
        has_services = true;
      } else {
        fail(entry.first, key, "unknown field");
      }
    }
    if (!has_services) fail(root, "services", "is required");
    if (auto problem = validateDemoConfig(config); !problem.empty()) {
      *error = common::LocatedError{std::string(source), 0, 0, "", problem};
      return false;
    }
    *out = std::move(config);
    return true;
  } catch (common::LocatedError& e) {
    e.file = source;
    *error = std::move(e);
  } catch (const YAML::Exception& e) {
    *error = common::yamlErrorAt(std::string(source), e.mark, "", e.msg);
  }
  return false;
}

}  // namespace

bool parseDemoConfig(std::string_view yaml, std::string_view source, DemoConfig* out,
                     common::LocatedError* error) {
  return parseLoaded(common::loadYaml(yaml, std::string(source)), source, out, error);
}

bool loadDemoConfigFile(const std::filesystem::path& path, DemoConfig* out,
                        common::LocatedError* error) {
  return parseLoaded(common::loadYamlFile(path), path.string(), out, error);
}

std::string validateDemoConfig(const DemoConfig& config) {
  std::set<std::pair<std::string, uint16_t>> fixed;
  for (const auto& svc : config.services) {
    if (svc.listen.port == 0) continue;
    if (!fixed.emplace(svc.listen.host, svc.listen.port).second)
      return fmt::format("two services listen on {}:{} (the second is {})", svc.listen.host,
                         svc.listen.port, svc.name);
  }
  return {};
}

}  // namespace meshdeck::tools
