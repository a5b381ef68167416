#include "controlplane/fleet/demo_mesh.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "common/duration.h"
#include "controlplane/fleet/yaml_reader.h"

using meshdeck::cp::fleet::detail::readBehaviour;
using meshdeck::cp::fleet::detail::Reader;
using meshdeck::cp::fleet::detail::validName;

namespace meshdeck::cp::fleet {

const DemoService* DemoMesh::find(const std::string& service) const {
  for (const auto& s : services)
    if (s.name == service) return &s;
  return nullptr;
}

size_t DemoMesh::instanceCount() const {
  size_t n = 0;
  for (const auto& s : services)
    for (const auto& v : s.versions) n += v.replicas;
  return n;
}

uint32_t DemoMesh::appsPerProcess() const {
  if (apps_per_process > 0) return apps_per_process;
  return instanceCount() > kPackThreshold ? kAutoAppsPerProcess : 1;
}

namespace {

std::optional<DemoMesh> parseLoaded(const common::YamlDocuments& loaded, const std::string& file,
                                    std::vector<common::LocatedError>* errors) try {
  const size_t errors_before = errors->size();
  Reader r(file, errors);
  const auto doc = detail::loadDocument(r, loaded, "DemoMesh", errors);
  if (!doc) return std::nullopt;
  const YAML::Node root = *doc;
  DemoMesh mesh;
  if (const YAML::Node md = root["metadata"]; r.isMap(md, "metadata")) {
    r.onlyKeys(md, "metadata", {"name", "description"});
    mesh.name = r.str(md, "name", "metadata");
    mesh.description = r.str(md, "description", "metadata", "");
  }
  const YAML::Node spec = root["spec"];
  if (!r.isMap(spec, "spec")) return std::nullopt;
  r.onlyKeys(spec, "spec", {"namespace", "services", "load", "policies", "generate", "pack"});
  mesh.ns = r.str(spec, "namespace", "spec", "default");

  if (const YAML::Node pack = spec["pack"]; pack.IsDefined()) {
    if (r.isMap(pack, "spec.pack")) {
      r.onlyKeys(pack, "spec.pack", {"appsPerProcess"});
      mesh.apps_per_process =
          static_cast<uint32_t>(r.number(pack, "appsPerProcess", "spec.pack", 0, 0, 1000));
    }
  }
  if (const YAML::Node gen = spec["generate"]; gen.IsDefined()) {
    if (r.isMap(gen, "spec.generate")) {
      r.onlyKeys(gen, "spec.generate", {"services", "seed"});
      const auto n =
          static_cast<uint32_t>(r.number(gen, "services", "spec.generate", 200, 4, 2000));
      const auto seed = static_cast<uint64_t>(r.number(gen, "seed", "spec.generate", 1, 0, 1e15));
      DemoMesh generated = generateLargeMesh(n, seed);
      mesh.services = std::move(generated.services);
      mesh.load = std::move(generated.load);
    }
  }

  std::map<std::string, YAML::Node> declared;
  if (const YAML::Node services = spec["services"]; services.IsDefined()) {
    if (!services.IsSequence()) r.error(services, "spec.services", "must be a list");
    for (size_t i = 0; services.IsSequence() && i < services.size(); ++i) {
      const std::string path = Reader::index("spec.services", i);
      const YAML::Node s = services[i];
      if (!r.isMap(s, path)) continue;
      r.onlyKeys(s, path,
                 {"name", "tier", "external", "callMode", "protocol", "calls", "versions"});
      DemoService svc;
      svc.name = r.str(s, "name", path);
      if (!svc.name.empty() && !validName(svc.name))
        r.error(s["name"], path + ".name", "must be lower-case letters, digits and '-'");
      if (declared.count(svc.name)) r.error(s["name"], path + ".name", "duplicate service name");
      declared[svc.name] = s;
      svc.tier = r.str(s, "tier", path, "");
      if (s["external"].IsDefined()) svc.external = s["external"].as<bool>(false);
      svc.call_mode = r.str(s, "callMode", path, "sequential");
      if (svc.call_mode != "sequential" && svc.call_mode != "parallel")
        r.error(s["callMode"], path + ".callMode", "must be sequential or parallel");
      svc.protocol = r.str(s, "protocol", path, "http1");
      if (svc.protocol != "http1" && svc.protocol != "grpc")
        r.error(s["protocol"], path + ".protocol", "must be http1 or grpc");
      if (const YAML::Node calls = s["calls"]; calls.IsDefined()) {
        if (!calls.IsSequence()) r.error(calls, path + ".calls", "must be a list");
        for (size_t c = 0; calls.IsSequence() && c < calls.size(); ++c) {
          const std::string cp = Reader::index(path + ".calls", c);
          DemoCall call;
          if (calls[c].IsScalar()) {
            call.service = calls[c].Scalar();
          } else if (r.isMap(calls[c], cp)) {
            r.onlyKeys(calls[c], cp, {"service", "path"});
            call.service = r.str(calls[c], "service", cp);
            call.path = r.str(calls[c], "path", cp, "/");
          }
          svc.calls.push_back(call);
        }
      }
      const YAML::Node versions = s["versions"];
      if (!versions.IsDefined()) {
        svc.versions.push_back(DemoVersion{});
      } else if (!versions.IsSequence() || versions.size() == 0) {
        r.error(versions, path + ".versions", "must be a non-empty list");
      } else {
        std::set<std::string> names;
        for (size_t v = 0; v < versions.size(); ++v) {
          const std::string vp = Reader::index(path + ".versions", v);
          if (!r.isMap(versions[v], vp)) continue;
          r.onlyKeys(versions[v], vp,
                     {"name", "replicas", "latency", "errorRate", "errorStatus", "responseSize"});
          DemoVersion dv;
          dv.name = r.str(versions[v], "name", vp, "v1");
          if (!names.insert(dv.name).second)
            r.error(versions[v]["name"], vp + ".name", "duplicate version");
          dv.replicas = static_cast<uint32_t>(r.number(versions[v], "replicas", vp, 1, 0, 16));
          dv.behaviour = readBehaviour(r, versions[v], vp);
          svc.versions.push_back(dv);
        }
      }
      mesh.services.push_back(std::move(svc));
    }
  }
  if (mesh.services.empty() && errors->size() == errors_before)
    r.error(spec, "spec.services", "a demo mesh needs at least one service (or spec.generate)");

  // Calls must name declared services and must not form a cycle (a request would never end).
  std::map<std::string, const DemoService*> by_name;
  for (const auto& s : mesh.services) by_name[s.name] = &s;
  for (size_t i = 0; i < mesh.services.size(); ++i) {
    const auto& svc = mesh.services[i];
    for (size_t c = 0; c < svc.calls.size(); ++c) {
      if (!by_name.count(svc.calls[c].service)) {
        const YAML::Node node =
            declared.count(svc.name) ? declared[svc.name]["calls"][c] : YAML::Node();
        r.error(node, Reader::index(Reader::index("spec.services", i) + ".calls", c),
                "calls undeclared service '" + svc.calls[c].service + "'");
      }
    }
  }
  std::map<std::string, int> colour;  // 0 new, 1 on stack, 2 done
  std::function<bool(const std::string&, std::vector<std::string>&)> dfs =
      [&](const std::string& name, std::vector<std::string>& stack) {
        colour[name] = 1;
        stack.push_back(name);
        for (const auto& call : by_name[name]->calls) {
          if (!by_name.count(call.service)) continue;
          if (colour[call.service] == 1) {
            stack.push_back(call.service);
            return true;
          }
          if (colour[call.service] == 0 && dfs(call.service, stack)) return true;
        }
        stack.pop_back();
        colour[name] = 2;
        return false;
      };
  for (const auto& s : mesh.services) {
    std::vector<std::string> stack;
    if (colour[s.name] == 0 && dfs(s.name, stack)) {
      std::string cycle;
      for (const auto& n : stack) cycle += (cycle.empty() ? "" : " -> ") + n;
      r.error(declared.count(s.name) ? declared[s.name] : spec, "spec.services",
              "calls form a cycle: " + cycle);
      break;
    }
  }

  if (const YAML::Node load = spec["load"]; load.IsDefined()) {
    if (!load.IsSequence()) r.error(load, "spec.load", "must be a list");
    for (size_t i = 0; load.IsSequence() && i < load.size(); ++i) {
      const std::string path = Reader::index("spec.load", i);
      if (!r.isMap(load[i], path)) continue;
      r.onlyKeys(load[i], path, {"name", "target", "path", "rate", "connections"});
      DemoLoad l;
      l.name = r.str(load[i], "name", path, "load-" + std::to_string(i));
      l.target = r.str(load[i], "target", path);
      if (!l.target.empty() && !by_name.count(l.target))
        r.error(load[i]["target"], path + ".target", "unknown service '" + l.target + "'");
      else if (!l.target.empty() && by_name[l.target]->protocol != "http1")
        r.error(load[i]["target"], path + ".target",
                "'" + l.target + "' speaks " + by_name[l.target]->protocol +
                    "; the demo's load is HTTP/1.1 requests");
      l.path = r.str(load[i], "path", path, "/");
      l.rate = r.number(load[i], "rate", path, 10, 0.1, 100000);
      l.connections = static_cast<uint32_t>(r.number(load[i], "connections", path, 4, 1, 1024));
      mesh.load.push_back(l);
    }
  }
  if (const YAML::Node p = spec["policies"]; p.IsDefined()) {
    if (p.IsScalar())
      mesh.policies_yaml = p.Scalar();
    else
      r.error(p, "spec.policies", "must be a block of YAML documents (use 'policies: |')");
  }
  if (errors->size() != errors_before) return std::nullopt;
  return mesh;
} catch (const YAML::Exception& e) {
  detail::addYamlError(e, file, errors);
  return std::nullopt;
}

}  // namespace

std::optional<DemoMesh> parseDemoMesh(const std::string& yaml, const std::string& file,
                                      std::vector<common::LocatedError>* errors) {
  return parseLoaded(common::loadYaml(yaml, file), file, errors);
}

std::optional<DemoMesh> loadDemoMesh(const std::filesystem::path& file,
                                     std::vector<common::LocatedError>* errors) {
  auto parsed = parseLoaded(common::loadYamlFile(file), file.string(), errors);
  if (parsed) parsed->source = file;
  return parsed;
}

DemoMesh generateLargeMesh(uint32_t count, uint64_t seed) {
  DemoMesh mesh;
  mesh.name = "large";
  mesh.description = "A generated mesh of " + std::to_string(count) + " services";
  std::mt19937_64 rng(seed);
  // Layer sizes: few edge services, more frontends, most business services, some data stores.
  const uint32_t edge = std::max<uint32_t>(1, count / 50);
  const uint32_t frontend = std::max<uint32_t>(1, count / 8);
  const uint32_t data = std::max<uint32_t>(1, count / 5);
  const uint32_t business = count - edge - frontend - data;
  const std::vector<std::pair<std::string, uint32_t>> layers = {
      {"edge", edge}, {"frontend", frontend}, {"business", business}, {"data", data}};
  std::vector<std::vector<size_t>> layer_members;
  for (const auto& [tier, n] : layers) {
    layer_members.emplace_back();
    for (uint32_t i = 0; i < n; ++i) {
      DemoService s;
      s.name = tier + "-" + std::to_string(i);
      s.tier = tier;
      s.call_mode = "parallel";
      DemoVersion v;
      std::lognormal_distribution<double> p50(std::log(3.0), 0.5);
      v.behaviour.latency_p50 = std::chrono::microseconds(static_cast<int64_t>(p50(rng) * 1000));
      v.behaviour.latency_p99 = v.behaviour.latency_p50 * 4;
      s.versions.push_back(v);
      layer_members.back().push_back(mesh.services.size());
      mesh.services.push_back(std::move(s));
    }
  }
  // Each service calls 1-3 services of the following layers; a callee is chosen with
  // probability proportional to (1 + its in-degree): a few popular services, a long tail.
  std::vector<uint32_t> in_degree(mesh.services.size(), 0);
  for (size_t layer = 0; layer + 1 < layer_members.size(); ++layer) {
    std::vector<size_t> candidates;
    for (size_t l = layer + 1; l < layer_members.size() && l <= layer + 2; ++l)
      candidates.insert(candidates.end(), layer_members[l].begin(), layer_members[l].end());
    for (size_t caller : layer_members[layer]) {
      const uint32_t fan_out = 1 + static_cast<uint32_t>(rng() % 3);
      std::set<size_t> chosen;
      for (uint32_t k = 0; k < fan_out * 4 && chosen.size() < fan_out; ++k) {
        std::vector<double> weights;
        for (size_t c : candidates) weights.push_back(1.0 + 2.0 * in_degree[c]);
        std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
        chosen.insert(candidates[pick(rng)]);
      }
      for (size_t c : chosen) {
        ++in_degree[c];
        mesh.services[caller].calls.push_back({mesh.services[c].name, "/"});
      }
    }
  }
  // Every service gets traffic: uncalled ones below the edge are called by a random caller of
  // an earlier layer.
  for (size_t layer = 1; layer < layer_members.size(); ++layer) {
    for (size_t s : layer_members[layer]) {
      if (in_degree[s] > 0) continue;
      const auto& callers = layer_members[layer - 1];
      const size_t caller = callers[rng() % callers.size()];
      mesh.services[caller].calls.push_back({mesh.services[s].name, "/"});
      ++in_degree[s];
    }
  }
  for (size_t s : layer_members[0])
    mesh.load.push_back({"load-" + mesh.services[s].name, mesh.services[s].name, "/", 2.0, 2});
  return mesh;
}

std::vector<std::filesystem::path> dataDirectories() {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("MESHDECK_DATA_DIR")) dirs.emplace_back(env);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share" / "meshdeck");
#ifdef MESHDECK_SOURCE_RESOURCES_DIR
  dirs.emplace_back(MESHDECK_SOURCE_RESOURCES_DIR);
#endif
  dirs.emplace_back("/usr/share/meshdeck");
  return dirs;
}

std::optional<std::filesystem::path> findDemoFile(const std::string& name_or_path) {
  std::error_code ec;
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".yaml")) {
    if (std::filesystem::is_regular_file(name_or_path, ec)) return name_or_path;
    return std::nullopt;
  }
  for (const auto& dir : dataDirectories()) {
    const auto candidate = dir / "demo" / (name_or_path + ".yaml");
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

}  // namespace meshdeck::cp::fleet
