#include "controlplane/fleet/demo_fleet.h"

#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/duration.h"
#include "controlplane/fleet/loopback_http.h"

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

}  // namespace

DemoFleet::DemoFleet(ProcessSupervisor& supervisor, DemoFleetOptions options)
    : supervisor_(supervisor),
      options_(std::move(options)),
      ports_(options_.port_first, options_.port_last) {}

DemoFleet::~DemoFleet() { stop(); }

std::vector<std::string> DemoFleet::proxyArgs(const DemoInstance& inst) const {
  return {(options_.bin_dir / "meshdeck-proxy").string(),
          "--control-plane",
          options_.control_plane,
          "--service",
          inst.service,
          "--version",
          inst.version,
          "--namespace",
          mesh_.ns,
          "--proxy-id",
          inst.proxy_id(),
          "--inbound-port",
          std::to_string(inst.inbound_port),
          "--app-port",
          std::to_string(inst.app_port),
          "--outbound-port",
          std::to_string(inst.outbound_port),
          "--admin-port",
          std::to_string(inst.admin_port),
          "--workers",
          "1"};
}

bool DemoFleet::startInstanceLocked(const DemoService& svc, const DemoVersion& version,
                                    uint32_t index) {
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

  ProcessSpec app;
  app.name = processName(inst, "app");
  app.service = svc.name;
  app.version = version.name;
  app.instance = index;
  app.role = "app";
  app.argv = {
      (options_.bin_dir / "meshdeck-demo-service").string(),
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
      "--seed",
      std::to_string(options_.seed * 1000003 + std::hash<std::string>{}(app.name) % 1000003)};
  for (const auto& call : svc.calls) {
    app.argv.push_back("--call");
    app.argv.push_back("http://" + call.service + call.path);
  }
  for (auto& a : behaviourArgs(behaviours_[key])) app.argv.push_back(std::move(a));
  app.ports = {inst.app_port};

  ProcessSpec proxy;
  proxy.name = processName(inst, "proxy");
  proxy.service = svc.name;
  proxy.version = version.name;
  proxy.instance = index;
  proxy.role = "proxy";
  proxy.argv = proxyArgs(inst);
  proxy.ports = {inst.inbound_port, inst.outbound_port, inst.admin_port};
  proxy.ready_port = inst.admin_port;
  proxy.ready_path = "/ready";

  if (!supervisor_.add(app) || !supervisor_.add(proxy)) return false;
  names_.push_back(app.name);
  names_.push_back(proxy.name);
  instances_.push_back(inst);
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
    ProcessSpec proxy;
    proxy.name = processName(side, "proxy");
    proxy.service = load.name;
    proxy.version = "v1";
    proxy.role = "proxy";
    proxy.argv = proxyArgs(side);
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
  spdlog::info("fleet: starting demo '{}' ({} services, {} instances, {} load streams)", mesh.name,
               mesh.services.size(), mesh.instanceCount(), mesh.load.size());
  for (const auto& svc : mesh_.services)
    for (const auto& v : svc.versions)
      for (uint32_t i = 0; i < v.replicas; ++i)
        if (!startInstanceLocked(svc, v, i)) {
          *error = "cannot start " + svc.name + "-" + v.name;
          return false;
        }
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
  }
  // Load first, then apps and proxies, so no request is left without a sidecar.
  std::stable_partition(names.begin(), names.end(),
                        [](const std::string& n) { return n.ends_with("/load"); });
  for (const auto& n : names) supervisor_.remove(n, std::chrono::seconds(3));
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
    for (const auto& role : {"proxy", "app"}) {
      const auto name = processName(inst, role);
      supervisor_.remove(name, std::chrono::seconds(3));
      names_.erase(std::remove(names_.begin(), names_.end(), name), names_.end());
    }
    for (uint16_t p : {inst.app_port, inst.inbound_port, inst.outbound_port, inst.admin_port})
      ports_.release(p);
  }
  return {true, service + "-" + ver->name + " scaled from " + std::to_string(current) + " to " +
                    std::to_string(replicas)};
}

ActionResult DemoFleet::killInstance(const std::string& service, const std::string& version,
                                     uint32_t index) {
  DemoInstance inst;
  inst.service = service;
  inst.version = version;
  inst.index = index;
  const auto st = supervisor_.status(processName(inst, "app"));
  if (!st || st->pid <= 0) return {false, "no running instance " + inst.proxy_id()};
  ::kill(st->pid, SIGKILL);
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
