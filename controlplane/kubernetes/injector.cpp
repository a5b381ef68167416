#include "controlplane/kubernetes/injector.h"

#include <boost/json/string.hpp>
#include <charconv>
#include <utility>

#include "meshdeck/version.h"

namespace meshdeck::cp::kubernetes {

namespace json = boost::json;

namespace {

const json::object* objectAt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

const json::array* arrayAt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}

// A string member of `o`, or "" (absent, null or not a string).
std::string stringAt(const json::object* o, std::string_view key) {
  if (!o) return {};
  const auto* v = o->if_contains(key);
  const auto* s = v ? v->if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

bool hasContainerNamed(const json::array* containers, std::string_view name) {
  if (!containers) return false;
  for (const auto& c : *containers)
    if (const auto* o = c.if_object(); o && stringAt(o, "name") == name) return true;
  return false;
}

std::optional<uint32_t> parsePort(std::string_view text) {
  uint32_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535)
    return std::nullopt;
  return port;
}

// The application's port: the annotation, else the first TCP containerPort of the first
// container (what Kubernetes users declare anyway).
std::optional<uint32_t> appPort(const json::object* annotations, const json::array& containers,
                                std::string* why) {
  if (const auto text = stringAt(annotations, kAppPortAnnotation); !text.empty()) {
    const auto port = parsePort(text);
    if (!port)
      *why = "annotation " + std::string(kAppPortAnnotation) + " \"" + text + "\" is not a port";
    return port;
  }
  for (const auto& c : containers) {
    const auto* container = c.if_object();
    const auto* ports = container ? arrayAt(*container, "ports") : nullptr;
    if (!ports) continue;
    for (const auto& p : *ports) {
      const auto* port = p.if_object();
      if (!port) continue;
      const auto protocol = stringAt(port, "protocol");
      if (!protocol.empty() && protocol != "TCP") continue;
      const auto* number = port->if_contains("containerPort");
      if (number && number->is_int64() && number->as_int64() > 0 && number->as_int64() <= 65535)
        return static_cast<uint32_t>(number->as_int64());
    }
  }
  *why = "no port to forward to: declare a containerPort or the annotation " +
         std::string(kAppPortAnnotation);
  return std::nullopt;
}

json::object envFromField(std::string_view name, std::string_view field) {
  return {{"name", name}, {"valueFrom", {{"fieldRef", {{"fieldPath", field}}}}}};
}

json::object httpProbe(std::string_view path, uint32_t port, int period, int failures) {
  return {{"httpGet", {{"path", path}, {"port", port}}},
          {"periodSeconds", period},
          {"timeoutSeconds", 1},
          {"failureThreshold", failures}};
}

json::object initContainer(const InjectionSettings& s, uint32_t app_port) {
  json::array args{"--proxy-uid",
                   std::to_string(s.proxy_uid),
                   "--inbound-port",
                   std::to_string(s.inbound_port),
                   "--outbound-port",
                   std::to_string(s.outbound_port),
                   "--exclude-inbound-ports",
                   std::to_string(s.admin_port),
                   "--app-port",
                   std::to_string(app_port)};
  return {
      {"name", kInitContainerName},
      {"image", s.image()},
      {"imagePullPolicy", s.image_pull_policy},
      {"command", json::array{kInitContainerName}},
      {"args", std::move(args)},
      {"resources",
       {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}},
        {"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}}}},
      // Root only for iptables, with just the two capabilities it needs; iptables takes its
      // lock under /run, so the root file system stays writable for this short-lived container.
      {"securityContext",
       {{"runAsUser", 0},
        {"runAsGroup", 0},
        {"runAsNonRoot", false},
        {"privileged", false},
        {"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", false},
        {"capabilities", {{"add", {"NET_ADMIN", "NET_RAW"}}, {"drop", {"ALL"}}}}}},
  };
}

json::object sidecar(const InjectionSettings& s, const std::string& service,
                     const std::string& version, uint32_t app_port) {
  // $(VAR) in args is expanded by the kubelet from the container's env: the pod's name and
  // namespace are unknown at admission (generateName; the namespace of a template).
  const std::pair<std::string_view, std::string> flags[] = {
      {"--control-plane", s.control_plane},
      {"--control-plane-tls", s.control_plane_tls},
      {"--sa-token-file", std::string(kTokenPath)},
      {"--trust-domain", s.trust_domain},
      {"--service", service},
      {"--version", version},
      {"--namespace", "$(POD_NAMESPACE)"},
      {"--proxy-id", "$(POD_NAME)"},
      // Where the other sidecars reach this one (the inbound listener binds it).
      {"--host-address", "$(POD_IP)"},
      {"--inbound-port", std::to_string(s.inbound_port)},
      {"--outbound-port", std::to_string(s.outbound_port)},
      {"--app-port", std::to_string(app_port)},
      {"--admin-port", std::to_string(s.admin_port)},
      // On the pod IP too, for the kubelet's probes.
      {"--admin", "0.0.0.0:" + std::to_string(s.admin_port)},
  };
  json::array args;
  for (const auto& [flag, value] : flags) {
    args.emplace_back(flag);
    args.emplace_back(value);
  }
  json::object resources{{"requests", {{"cpu", s.cpu_request}, {"memory", s.memory_request}}}};
  if (!s.memory_limit.empty()) resources["limits"] = {{"memory", s.memory_limit}};
  return {
      {"name", kSidecarName},
      {"image", s.image()},
      {"imagePullPolicy", s.image_pull_policy},
      // A native sidecar: an init container that keeps running; it starts before the other
      // init containers and the application, and stops after them.
      {"restartPolicy", "Always"},
      {"args", std::move(args)},
      {"env",
       {envFromField("POD_NAME", "metadata.name"),
        envFromField("POD_NAMESPACE", "metadata.namespace"), envFromField("POD_IP", "status.podIP"),
        envFromField("SERVICE_ACCOUNT", "spec.serviceAccountName")}},
      {"ports",
       {{{"name", "mesh-inbound"}, {"containerPort", s.inbound_port}, {"protocol", "TCP"}},
        {{"name", "mesh-admin"}, {"containerPort", s.admin_port}, {"protocol", "TCP"}}}},
      {"resources", std::move(resources)},
      {"startupProbe", httpProbe("/healthz", s.admin_port, 1, 60)},
      {"readinessProbe", httpProbe("/ready", s.admin_port, 5, 3)},
      {"livenessProbe", httpProbe("/healthz", s.admin_port, 10, 3)},
      {"securityContext",
       {{"runAsUser", s.proxy_uid},
        {"runAsGroup", s.proxy_uid},
        {"runAsNonRoot", true},
        {"privileged", false},
        {"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", {"ALL"}}}}}},
      {"volumeMounts",
       {{{"name", kTokenVolume}, {"mountPath", kTokenDir}, {"readOnly", true}},
        {{"name", kCaVolume}, {"mountPath", kCaDir}, {"readOnly", true}}}},
  };
}

json::array volumes(const InjectionSettings& s) {
  json::object token{{"audience", s.token_audience},
                     {"expirationSeconds", s.token_expiration_seconds},
                     {"path", "token"}};
  json::array sources{json::object{{"serviceAccountToken", std::move(token)}}};
  json::array out;
  out.push_back(json::object{{"name", kTokenVolume},
                             {"projected", json::object{{"sources", std::move(sources)}}}});
  // Optional: a namespace without the ConfigMap still starts its pods (the sidecar then takes
  // the trust bundle from its first Identity.Sign answer).
  out.push_back(
      json::object{{"name", kCaVolume},
                   {"configMap", json::object{{"name", s.ca_configmap}, {"optional", true}}}});
  return out;
}

json::object add(std::string path, json::value value) {
  return {{"op", "add"}, {"path", std::move(path)}, {"value", std::move(value)}};
}

InjectionResult skipped(std::string reason) {
  InjectionResult r;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

std::string InjectionSettings::image() const {
  return proxy_image.empty() ? std::string("meshdeck/meshdeck-proxy:") + meshdeck::kVersion
                             : proxy_image;
}

std::string InjectionSettings::injectedVersion() const {
  return version.empty() ? std::string(meshdeck::kVersion) : version;
}

std::string InjectionSettings::check() const {
  for (const uint32_t p : {inbound_port, outbound_port, admin_port})
    if (p == 0 || p > 65535) return "proxy ports must be 1-65535";
  if (inbound_port == outbound_port || inbound_port == admin_port || outbound_port == admin_port)
    return "the proxy's inbound, outbound and admin ports must differ";
  if (token_expiration_seconds < 600) return "the token expiry must be at least 600 s";
  if (control_plane.empty() || trust_domain.empty() || ca_configmap.empty() ||
      token_audience.empty())
    return "control plane, trust domain, CA ConfigMap and token audience must not be empty";
  if (proxy_uid <= 0) return "the proxy's user id must not be root";
  return {};
}

InjectionResult computeInjection(
    const json::object& pod, const InjectionSettings& settings,
    const std::optional<std::map<std::string, std::string>>& namespace_labels) {
  const json::object* metadata = objectAt(pod, "metadata");
  const json::object* annotations = metadata ? objectAt(*metadata, "annotations") : nullptr;
  const json::object* labels = metadata ? objectAt(*metadata, "labels") : nullptr;
  const json::object* spec = objectAt(pod, "spec");
  if (namespace_labels) {
    const auto it = namespace_labels->find(std::string(kNamespaceLabel));
    if (it == namespace_labels->end() || it->second != "enabled")
      return skipped("namespace not labelled " + std::string(kNamespaceLabel) + "=enabled");
  }
  if (stringAt(annotations, kInjectAnnotation) == "false")
    return skipped("opted out by annotation " + std::string(kInjectAnnotation) + ": \"false\"");
  if (annotations && annotations->contains(kInjectedAnnotation))
    return skipped("already injected (" + std::string(kInjectedAnnotation) + ": \"" +
                   stringAt(annotations, kInjectedAnnotation) + "\")");
  if (!spec) return skipped("no pod spec");
  // A member the patch extends must be what the API's schema says (or absent/null): replacing
  // a malformed value would hide the manifest's error.
  for (const char* key : {"containers", "initContainers", "volumes"})
    if (const auto* v = spec->if_contains(key); v && !v->is_null() && !v->is_array()) {
      auto r = skipped("spec." + std::string(key) + " is not a list");
      r.warnings.push_back("meshdeck: no sidecar injected: " + r.reason);
      return r;
    }
  if (const auto* v = metadata ? metadata->if_contains("annotations") : nullptr;
      v && !v->is_null() && !v->is_object()) {
    auto r = skipped("metadata.annotations is not a map");
    r.warnings.push_back("meshdeck: no sidecar injected: " + r.reason);
    return r;
  }
  const json::array* containers = arrayAt(*spec, "containers");
  const json::array* inits = arrayAt(*spec, "initContainers");
  if (hasContainerNamed(containers, kSidecarName) || hasContainerNamed(inits, kSidecarName))
    return skipped("already injected (a container is named " + std::string(kSidecarName) + ")");
  if (const auto* host = spec->if_contains("hostNetwork");
      host && host->is_bool() && host->as_bool())
    return skipped("host-network pod: its traffic is the node's and is not captured");
  if (!containers || containers->empty()) return skipped("no containers");
  if (const auto* v = arrayAt(*spec, "volumes")) {
    for (const auto& volume : *v)
      if (const auto* o = volume.if_object()) {
        const auto name = stringAt(o, "name");
        if (name == kTokenVolume || name == kCaVolume)
          return skipped("the pod already has a volume named " + name);
      }
  }

  std::string why;
  const auto port = appPort(annotations, *containers, &why);
  if (!port) {
    auto r = skipped(why);
    r.warnings.push_back("meshdeck: no sidecar injected: " + why);
    return r;
  }
  if (*port == settings.inbound_port || *port == settings.outbound_port ||
      *port == settings.admin_port) {
    auto r = skipped("the application's port " + std::to_string(*port) + " is one of the proxy's");
    r.warnings.push_back("meshdeck: no sidecar injected: " + r.reason);
    return r;
  }

  // The service account first: Identity.Sign issues spiffe://<td>/ns/<ns>/sa/<account> for the
  // pod's projected token and checks it against --service (docs/kubernetes-registry.md).
  std::string service = stringAt(annotations, kServiceAnnotation);
  if (service.empty()) service = stringAt(spec, "serviceAccountName");
  for (const char* key : {"app.kubernetes.io/name", "app"})
    if (service.empty()) service = stringAt(labels, key);
  if (service.empty()) service = "default";
  std::string version;
  for (const char* key : {"app.kubernetes.io/version", "version"})
    if (version.empty()) version = stringAt(labels, key);
  if (version.empty()) version = "v1";

  const bool capture = stringAt(annotations, kCaptureAnnotation) != "false";
  InjectionResult r;
  r.injected = true;
  r.reason = capture ? "injected" : "injected without traffic capture";
  auto& patch = r.patch;

  // Order of the init containers (Istio's with native sidecars): the capture rules first, so
  // that nothing of the pod talks before them; then the sidecar, so that the pod's own init
  // containers already have a working mesh; then the pod's own.
  json::array added;
  if (capture) added.push_back(initContainer(settings, *port));
  added.push_back(sidecar(settings, service, version, *port));
  if (!inits) {
    // No array (or null): "add" of the whole array; "/-" would point into nothing.
    patch.push_back(add("/spec/initContainers", std::move(added)));
  } else {
    for (size_t i = 0; i < added.size(); ++i)
      patch.push_back(add("/spec/initContainers/" + std::to_string(i), std::move(added[i])));
  }

  auto new_volumes = volumes(settings);
  if (!arrayAt(*spec, "volumes")) {
    patch.push_back(add("/spec/volumes", std::move(new_volumes)));
  } else {
    for (auto& v : new_volumes) patch.push_back(add("/spec/volumes/-", std::move(v)));
  }

  const json::string injected(settings.injectedVersion());
  if (!metadata) {
    patch.push_back(
        add("/metadata", json::object{{"annotations", {{kInjectedAnnotation, injected}}}}));
  } else if (!annotations) {
    patch.push_back(add("/metadata/annotations", json::object{{kInjectedAnnotation, injected}}));
  } else {
    patch.push_back(
        add("/metadata/annotations/" + escapePointerToken(kInjectedAnnotation), injected));
  }
  return r;
}

std::string escapePointerToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (const char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

namespace {

// Splits "/a/b~1c" into unescaped tokens; false for a pointer that does not start with "/" or
// holds a "~" not followed by 0 or 1.
bool splitPointer(std::string_view pointer, std::vector<std::string>* tokens) {
  if (pointer.empty()) return true;
  if (pointer.front() != '/') return false;
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens->push_back(std::move(token));
      token.clear();
    } else if (pointer[i] == '~') {
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) return false;
      token += pointer[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      token += pointer[i];
    }
  }
  return true;
}

// An array index token: "0" or digits without a leading zero.
std::optional<size_t> arrayIndex(const std::string& token) {
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return std::nullopt;
  size_t index = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
  if (ec != std::errc() || end != token.data() + token.size()) return std::nullopt;
  return index;
}

}  // namespace

bool applyPatch(json::value& document, const json::array& patch, std::string* error) {
  for (size_t n = 0; n < patch.size(); ++n) {
    const auto fail = [&](const std::string& why) {
      *error = "operation " + std::to_string(n) + ": " + why;
      return false;
    };
    const auto* op = patch[n].if_object();
    if (!op) return fail("not an object");
    if (stringAt(op, "op") != "add") return fail("only \"add\" is supported");
    const auto* path = op->if_contains("path");
    const auto* value = op->if_contains("value");
    if (!path || !path->is_string() || !value) return fail("needs a string path and a value");
    std::vector<std::string> tokens;
    if (!splitPointer(path->as_string(), &tokens)) return fail("bad JSON pointer");
    if (tokens.empty()) {
      document = *value;
      continue;
    }
    json::value* parent = &document;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      if (auto* o = parent->if_object()) {
        parent = o->if_contains(tokens[i]);
      } else if (auto* a = parent->if_array()) {
        const auto index = arrayIndex(tokens[i]);
        parent = index && *index < a->size() ? &(*a)[*index] : nullptr;
      } else {
        parent = nullptr;
      }
      if (!parent) return fail("path " + std::string(path->as_string()) + " does not exist");
    }
    const std::string& last = tokens.back();
    if (auto* o = parent->if_object()) {
      (*o)[last] = *value;
    } else if (auto* a = parent->if_array()) {
      if (last == "-") {
        a->push_back(*value);
      } else {
        const auto index = arrayIndex(last);
        if (!index || *index > a->size())
          return fail("index out of range in " + std::string(path->as_string()));
        a->insert(a->begin() + static_cast<std::ptrdiff_t>(*index), *value);
      }
    } else {
      return fail("the parent of " + std::string(path->as_string()) + " is not a container");
    }
  }
  return true;
}

}  // namespace meshdeck::cp::kubernetes
