#include "controlplane/fleet/demo_fleet.h"

#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

#include "common/atomic_file.h"
#include "common/duration.h"
#include "controlplane/fleet/loopback_http.h"
#include "controlplane/identity/bootstrap_tokens.h"

namespace meshdeck::cp::fleet {

PortAllocator::PortAllocator(uint16_t first, uint16_t last)
    : first_(first), last_(last), next_(first) {}

uint16_t PortAllocator::allocate() {
  std::lock_guard lock(mu_);
  for (uint32_t tries = 0; tries <= uint32_t(last_ - first_); ++tries) {
    const uint16_t port = next_;
    next_ = next_ >= last_ ? first_ : uint16_t(next_ + 1);
    if (taken_.count(port)) continue;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) {
      taken_.insert(port);
      return port;
    }
  }
  return 0;
}

void PortAllocator::release(uint16_t port) {
  std::lock_guard lock(mu_);
  taken_.erase(port);
}

namespace {

std::string processName(const DemoInstance& inst, const std::string& role) {
  return inst.proxy_id() + "/" + role;
}

std::vector<std::string> behaviourArgs(const Behaviour& b) {
  return {"--latency-p50",   common::formatDuration(b.latency_p50),
          "--latency-p99",   common::formatDuration(b.latency_p99),
          "--error-rate",    std::to_string(b.error_rate),
          "--error-status",  std::to_string(b.error_status),
          "--response-size", std::to_string(b.response_size)};
}

uint64_t instanceSeed(uint64_t fleet_seed, const std::string& app_name) {
  return fleet_seed * 1000003 + std::hash<std::string>{}(app_name) % 1000003;
}

}  // namespace

// The apps of several instances, hosted by one `meshdeck-demo-service --config` process.
struct DemoFleet::Pack {
  std::string name;  // "apps-<k>/app"
  YAML::Emitter services;
  uint32_t count = 0;
  std::vector<uint32_t> ports;
  Pack() { services << YAML::BeginSeq; }
};

DemoFleet::DemoFleet(ProcessSupervisor& supervisor, DemoFleetOptions options)
    : supervisor_(supervisor),
      options_(std::move(options)),
      ports_(options_.port_first, options_.port_last) {}

DemoFleet::~DemoFleet() { stop(); }

std::vector<std::string> DemoFleet::proxyArgs(const DemoInstance& inst) const {
  std::vector<std::string> args{
      (options_.bin_dir / "meshdeck-proxy").string(), "--control-plane", options_.control_plane,
      "--service", inst.service, "--version", inst.version, "--namespace", mesh_.ns, "--proxy-id",
      inst.proxy_id(), "--inbound-port", std::to_string(inst.inbound_port), "--app-port",
      std::to_string(inst.app_port), "--outbound-port", std::to_string(inst.outbound_port),
      "--admin-port", std::to_string(inst.admin_port), "--workers", "1",
      // Exit within the supervisor's 3 s stop grace rather than be killed after it.
      "--drain-timeout", "2"};
  // A gRPC service's sidecar declares it: the control plane then makes the hop to the app and
  // the clusters of the service HTTP/2 (gRPC), unless a DestinationPolicy says otherwise.
  if (const DemoService* svc = mesh_.find(inst.service); svc && svc->protocol != "http1") {
    args.push_back("--app-protocol");
    args.push_back(svc->protocol);
  }
  // Scoping (docs/cp-scale.md): the demo file says whom each service calls, so its sidecars
  // take only those services' configuration. A service calling nobody still names itself, so
  // that it gets a scope (and not the whole mesh); load generators' sidecars keep the whole mesh.
  if (const DemoService* svc = mesh_.find(inst.service)) {
    std::set<std::string> deps;
    for (const auto& call : svc->calls) deps.insert(call.service);
    if (deps.empty()) deps.insert(svc->name);
    std::string joined;
    for (const auto& d : deps) joined += (joined.empty() ? "" : ",") + d;
    args.push_back("--depends");
    args.push_back(joined);
  }
  return args;
}

std::string DemoFleet::callUrl(const DemoCall& call) const {
  const DemoService* callee = mesh_.find(call.service);
  if (callee && callee->protocol == "grpc") return "grpc://" + call.service + call.path;
  return "http://" + call.service + call.path;
}

bool DemoFleet::ensureWorkDirLocked(std::string* error) {
  if (!work_dir_.empty()) return true;
  std::string tmpl = (std::filesystem::temp_directory_path() / "meshdeck-fleet-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {  // mode 0700
    *error = "cannot create the fleet's run directory in " +
             std::filesystem::temp_directory_path().string();
    return false;
  }
  work_dir_ = tmpl;
  return true;
}

ProcessSpec DemoFleet::sidecarSpecLocked(const DemoInstance& inst) {
  ProcessSpec proxy;
  proxy.argv = proxyArgs(inst);
  if (!options_.issue_bootstrap_token) return proxy;
  std::string error;
  if (!ensureWorkDirLocked(&error)) {
    spdlog::error("fleet: {} runs without identity: {}", inst.proxy_id(), error);
    return proxy;
  }
  const auto dir = work_dir_ / "tokens";
  const std::string id = inst.proxy_id(), ns = mesh_.ns, service = inst.service;
  const auto issue = options_.issue_bootstrap_token;
  // Issues a token and writes it for the sidecar; the token itself never leaves this function.
  auto hand_out = [issue, dir, id, ns, service]() -> bool {
    std::string token = issue(id, ns, service);
    if (token.empty()) return false;
    std::string why;
    const bool ok = identity::writeTokenFile(dir, id, token, &why).has_value();
    std::fill(token.begin(), token.end(), '\0');
    if (!ok) spdlog::error("fleet: cannot write the bootstrap token of {}: {}", id, why);
    return ok;
  };
  if (!hand_out()) {
    spdlog::warn(
        "fleet: no bootstrap token for {} (the control plane issues none); it runs "
        "without a mesh identity, in plaintext",
        id);
    return proxy;
  }
  proxy.argv.insert(proxy.argv.end(), {"--bootstrap-token-file", (dir / (id + ".token")).string(),
                                       "--trust-domain", options_.trust_domain});
  if (!options_.control_plane_tls.empty()) {
    proxy.argv.push_back("--control-plane-tls");
    proxy.argv.push_back(options_.control_plane_tls);
  }
  // Tokens are single use: every restart needs a fresh one (issuing replaces the pending one,
  // so the first start simply gets a newer token than the one written above).
  proxy.before_start = [hand_out] { hand_out(); };
  return proxy;
}

bool DemoFleet::startInstanceLocked(const DemoService& svc, const DemoVersion& version,
                                    uint32_t index, Pack* pack) {
  DemoInstance inst;
  inst.service = svc.name;
  inst.version = version.name;
  inst.index = index;
  inst.app_port = ports_.allocate();
  inst.inbound_port = ports_.allocate();
  inst.outbound_port = ports_.allocate();
  inst.admin_port = ports_.allocate();
  if (!inst.app_port || !inst.inbound_port || !inst.outbound_port || !inst.admin_port) {
    spdlog::error("fleet: no free ports left for {}", inst.proxy_id());
    return false;
  }
  const auto key = svc.name + "|" + version.name;
  if (!behaviours_.count(key)) behaviours_[key] = version.behaviour;
  const Behaviour& b = behaviours_[key];
  // The seed depends on the instance, not on how it is hosted: packed or not, an instance
  // draws the same latencies and errors.
  const uint64_t seed = instanceSeed(options_.seed, processName(inst, "app"));

  ProcessSpec proxy = sidecarSpecLocked(inst);
  proxy.name = processName(inst, "proxy");
  proxy.service = svc.name;
  proxy.version = version.name;
  proxy.instance = index;
  proxy.role = "proxy";
  proxy.ports = {inst.inbound_port, inst.outbound_port, inst.admin_port};
  proxy.ready_port = inst.admin_port;
  proxy.ready_path = "/ready";

  if (pack) {
    inst.app_process = pack->name;
    YAML::Emitter& e = pack->services;
    e << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << svc.name;
    e << YAML::Key << "version" << YAML::Value << version.name;
    e << YAML::Key << "listen" << YAML::Value << "127.0.0.1:" + std::to_string(inst.app_port);
    e << YAML::Key << "outbound_proxy" << YAML::Value
      << "http://127.0.0.1:" + std::to_string(inst.outbound_port);
    e << YAML::Key << "seed" << YAML::Value << std::to_string(seed);
    e << YAML::Key << "call_mode" << YAML::Value << svc.call_mode;
    e << YAML::Key << "protocol" << YAML::Value << svc.protocol;
    e << YAML::Key << "calls" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& call : svc.calls) e << callUrl(call);
    e << YAML::EndSeq;
    e << YAML::Key << "latency_p50" << YAML::Value << common::formatDuration(b.latency_p50);
    e << YAML::Key << "latency_p99" << YAML::Value << common::formatDuration(b.latency_p99);
    e << YAML::Key << "error_rate" << YAML::Value << std::to_string(b.error_rate);
    e << YAML::Key << "error_status" << YAML::Value << b.error_status;
    e << YAML::Key << "response_size" << YAML::Value << b.response_size;
    e << YAML::EndMap;
    ++pack->count;
    pack->ports.push_back(inst.app_port);
  } else {
    ProcessSpec app;
    app.name = processName(inst, "app");
    app.service = svc.name;
    app.version = version.name;
    app.instance = index;
    app.role = "app";
    app.argv = {(options_.bin_dir / "meshdeck-demo-service").string(),
                "--name",
                svc.name,
                "--version",
                version.name,
                "--listen",
                "127.0.0.1:" + std::to_string(inst.app_port),
                "--outbound-proxy",
                "http://127.0.0.1:" + std::to_string(inst.outbound_port),
                "--call-mode",
                svc.call_mode,
                "--protocol",
                svc.protocol,
                "--seed",
                std::to_string(seed)};
    for (const auto& call : svc.calls) {
      app.argv.push_back("--call");
      app.argv.push_back(callUrl(call));
    }
    for (auto& a : behaviourArgs(b)) app.argv.push_back(std::move(a));
    app.ports = {inst.app_port};
    if (!supervisor_.add(app)) return false;
    names_.push_back(app.name);
    inst.app_process = app.name;
  }
  if (!supervisor_.add(proxy)) return false;
  names_.push_back(proxy.name);
  instances_.push_back(inst);
  return true;
}

bool DemoFleet::startPackLocked(Pack& pack, std::string* error) {
  pack.services << YAML::EndSeq;
  const std::string stem = pack.name.substr(0, pack.name.find('/'));
  const auto file = work_dir_ / (stem + ".yaml");
  const std::string text = "# " + std::to_string(pack.count) + " demo services of '" + mesh_.name +
                           "', written by the fleet\nseed: " + std::to_string(options_.seed) +
                           "\nservices:\n" + pack.services.c_str() + "\n";
  if (!common::writeFileAtomically(file, text, error)) return false;
  ProcessSpec app;
  app.name = pack.name;
  app.service = stem;
  app.role = "app";
  app.argv = {(options_.bin_dir / "meshdeck-demo-service").string(), "--config", file.string()};
  app.ports = pack.ports;
  if (!supervisor_.add(app)) {
    *error = "process name " + pack.name + " is taken";
    return false;
  }
  names_.push_back(app.name);
  pack_sizes_[app.name] = pack.count;
  return true;
}

void DemoFleet::startLoadLocked(const DemoLoad& load) {
  // The load generator enters the mesh through a sidecar of its own, so its calls show on the
  // graph as edges from the "<load name>" client.
  auto it = load_sidecars_.find(load.name);
  if (it == load_sidecars_.end()) {
    DemoInstance side;
    side.service = load.name;
    side.version = "v1";
    side.app_port = ports_.allocate();  // nothing listens here: a client-only workload
    side.inbound_port = ports_.allocate();
    side.outbound_port = ports_.allocate();
    side.admin_port = ports_.allocate();
    ProcessSpec proxy = sidecarSpecLocked(side);
    proxy.name = processName(side, "proxy");
    proxy.service = load.name;
    proxy.version = "v1";
    proxy.role = "proxy";
    proxy.ports = {side.inbound_port, side.outbound_port, side.admin_port};
    proxy.ready_port = side.admin_port;
    if (supervisor_.add(proxy)) names_.push_back(proxy.name);
    it = load_sidecars_.emplace(load.name, side).first;
  }
  ProcessSpec gen;
  gen.name = load.name + "/load";
  gen.service = load.name;
  gen.version = "v1";
  gen.role = "load";
  gen.argv = {(options_.bin_dir / "meshdeck-load").string(),
              "--url",
              "http://" + load.target + load.path,
              "--proxy",
              "http://127.0.0.1:" + std::to_string(it->second.outbound_port),
              "--rate",
              std::to_string(load.rate),
              "--connections",
              std::to_string(load.connections),
              "--duration",
              "24h"};
  if (supervisor_.add(gen)) names_.push_back(gen.name);
}

bool DemoFleet::start(const DemoMesh& mesh, std::string* error) {
  for (const char* bin : {"meshdeck-proxy", "meshdeck-demo-service", "meshdeck-load"}) {
    if (::access((options_.bin_dir / bin).c_str(), X_OK) != 0) {
      *error = "cannot run " + (options_.bin_dir / bin).string();
      return false;
    }
  }
  std::lock_guard lock(mu_);
  mesh_ = mesh;
  const uint32_t per_process = mesh_.appsPerProcess();
  spdlog::info(
      "fleet: starting demo '{}' ({} services, {} instances, {} load streams, {} app(s) per "
      "process)",
      mesh.name, mesh.services.size(), mesh.instanceCount(), mesh.load.size(), per_process);
  if ((per_process > 1 || options_.issue_bootstrap_token) && !ensureWorkDirLocked(error))
    return false;
  std::unique_ptr<Pack> pack;
  uint32_t packs = 0;
  for (const auto& svc : mesh_.services)
    for (const auto& v : svc.versions)
      for (uint32_t i = 0; i < v.replicas; ++i) {
        if (per_process > 1 && !pack) {
          pack = std::make_unique<Pack>();
          pack->name = "apps-" + std::to_string(packs++) + "/app";
        }
        if (!startInstanceLocked(svc, v, i, pack.get())) {
          *error = "cannot start " + svc.name + "-" + v.name;
          return false;
        }
        if (pack && pack->count >= per_process) {
          if (!startPackLocked(*pack, error)) return false;
          pack.reset();
        }
      }
  if (pack && pack->count > 0 && !startPackLocked(*pack, error)) return false;
  for (const auto& load : mesh_.load) startLoadLocked(load);
  return true;
}

void DemoFleet::stop() {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    names.swap(names_);
    for (const auto& inst : instances_)
      for (uint16_t p : {inst.app_port, inst.inbound_port, inst.outbound_port, inst.admin_port})
        ports_.release(p);
    instances_.clear();
    load_sidecars_.clear();
    pack_sizes_.clear();
  }
  // Load first, then apps and proxies together (one grace period for the whole fleet, not one
  // per process: 200 sidecars draining one after the other took minutes).
  const auto load_end = std::stable_partition(
      names.begin(), names.end(), [](const std::string& n) { return n.ends_with("/load"); });
  supervisor_.remove(std::vector<std::string>(names.begin(), load_end), std::chrono::seconds(3));
  supervisor_.remove(std::vector<std::string>(load_end, names.end()), std::chrono::seconds(3));
  std::lock_guard lock(mu_);
  if (!work_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
    work_dir_.clear();
  }
}

std::vector<std::string> DemoFleet::processNames() const {
  std::lock_guard lock(mu_);
  return names_;
}

std::vector<DemoInstance> DemoFleet::instances() const {
  std::lock_guard lock(mu_);
  return instances_;
}

std::vector<ProcessInfo> DemoFleet::processes() const {
  std::vector<ProcessInfo> out;
  for (const auto& s : supervisor_.list()) {
    ProcessInfo p;
    p.name = s.spec.name;
    p.service = s.spec.service;
    p.version = s.spec.version;
    p.role = s.spec.role;
    p.instance = s.spec.instance;
    p.state = s.state == ProcessState::kRunning && !s.ready ? "starting" : toString(s.state);
    p.pid = s.pid;
    p.restarts = s.restarts;
    p.uptime_seconds = s.uptime_seconds;
    p.cpu_percent = s.cpu_percent;
    p.rss_bytes = s.rss_bytes;
    for (uint32_t port : s.spec.ports) p.ports.push_back(port);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> DemoFleet::logs(const std::string& name, uint32_t tail) const {
  return supervisor_.logs(name, tail ? tail : 200);
}

ActionResult DemoFleet::restart(const std::string& name) {
  if (!supervisor_.restart(name)) return {false, "no process named " + name};
  return {true, "restarting " + name};
}

ActionResult DemoFleet::scale(const std::string& service, const std::string& version,
                              uint32_t replicas) {
  if (replicas > 16) return {false, "at most 16 replicas per version"};
  std::lock_guard lock(mu_);
  const DemoService* svc = mesh_.find(service);
  if (!svc) return {false, "unknown service " + service};
  const DemoVersion* ver = nullptr;
  for (const auto& v : svc->versions)
    if (version.empty() ? &v == &svc->versions.front() : v.name == version) ver = &v;
  if (!ver) return {false, "unknown version " + version + " of " + service};
  uint32_t current = 0;
  for (const auto& inst : instances_)
    if (inst.service == service && inst.version == ver->name)
      current = std::max(current, inst.index + 1);
  for (uint32_t i = current; i < replicas; ++i)
    if (!startInstanceLocked(*svc, *ver, i)) return {false, "cannot start another instance"};
  for (uint32_t i = current; i > replicas; --i) {
    auto it = std::find_if(instances_.begin(), instances_.end(), [&](const DemoInstance& d) {
      return d.service == service && d.version == ver->name && d.index == i - 1;
    });
    if (it == instances_.end()) continue;
    const DemoInstance inst = *it;
    instances_.erase(it);
    // A packed app stays in its pack (idle, out of the mesh once its sidecar is gone), and
    // keeps its port.
    const bool packed = pack_sizes_.count(inst.app_process) > 0;
    std::vector<std::string> names = {processName(inst, "proxy")};
    if (!packed) names.push_back(inst.app_process);
    for (const auto& name : names) {
      supervisor_.remove(name, std::chrono::seconds(3));
      names_.erase(std::remove(names_.begin(), names_.end(), name), names_.end());
    }
    for (uint16_t p : {inst.inbound_port, inst.outbound_port, inst.admin_port}) ports_.release(p);
    if (!packed) ports_.release(inst.app_port);
  }
  return {true, service + "-" + ver->name + " scaled from " + std::to_string(current) + " to " +
                    std::to_string(replicas)};
}

ActionResult DemoFleet::killInstance(const std::string& service, const std::string& version,
                                     uint32_t index) {
  std::string process;
  uint32_t hosted = 1;
  {
    std::lock_guard lock(mu_);
    for (const auto& inst : instances_)
      if (inst.service == service && inst.version == version && inst.index == index)
        process = inst.app_process;
    if (auto it = pack_sizes_.find(process); it != pack_sizes_.end()) hosted = it->second;
  }
  DemoInstance inst;
  inst.service = service;
  inst.version = version;
  inst.index = index;
  const auto st = process.empty() ? std::nullopt : supervisor_.status(process);
  if (!st || st->pid <= 0) return {false, "no running instance " + inst.proxy_id()};
  ::kill(st->pid, SIGKILL);
  if (hosted > 1)
    return {true, "killed " + inst.proxy_id() + " with its pack " + process + " (pid " +
                      std::to_string(st->pid) + ", " + std::to_string(hosted) + " instances)"};
  return {true, "killed " + inst.proxy_id() + " (pid " + std::to_string(st->pid) + ")"};
}

ActionResult DemoFleet::setBehaviour(const std::string& service, const std::string& version,
                                     std::optional<uint32_t> instance, const Behaviour& b) {
  std::vector<DemoInstance> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& inst : instances_)
      if (inst.service == service && (version.empty() || inst.version == version) &&
          (!instance || inst.index == *instance))
        targets.push_back(inst);
    // A restarted instance keeps the behaviour of its version (not of one instance).
    if (!instance)
      for (const auto& inst : targets) behaviours_[inst.service + "|" + inst.version] = b;
  }
  if (targets.empty()) return {false, "no instance of " + service + " " + version};
  const std::string body = "{\"latency_p50\":\"" + common::formatDuration(b.latency_p50) +
                           "\",\"latency_p99\":\"" + common::formatDuration(b.latency_p99) +
                           "\",\"error_rate\":" + std::to_string(b.error_rate) +
                           ",\"error_status\":" + std::to_string(b.error_status) +
                           ",\"response_size\":" + std::to_string(b.response_size) + "}";
  for (const auto& inst : targets) {
    std::string why;
    std::string answer;
    const unsigned status = loopbackHttp(inst.app_port, "PUT", "/_demo/behaviour", body,
                                         std::chrono::seconds(2), &answer, &why);
    if (status / 100 != 2) {
      if (status != 0) why = "HTTP " + std::to_string(status) + ": " + answer;
      return {false, "cannot change " + inst.proxy_id() + ": " + why};
    }
  }
  return {true,
          "changed behaviour of " + std::to_string(targets.size()) + " instance(s) of " + service};
}

ActionResult DemoFleet::setLoadRate(const std::string& load, double rate) {
  std::lock_guard lock(mu_);
  for (auto& l : mesh_.load) {
    if (l.name != load) continue;
    l.rate = rate;
    supervisor_.remove(load + "/load", std::chrono::seconds(2));
    names_.erase(std::remove(names_.begin(), names_.end(), load + "/load"), names_.end());
    startLoadLocked(l);
    return {true, "load " + load + " now at " + std::to_string(rate) + " rps"};
  }
  return {false, "no load stream named " + load};
}

}  // namespace meshdeck::cp::fleet
