#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controlplane/api/types.h"
#include "controlplane/fleet/demo_mesh.h"
#include "controlplane/fleet/process_supervisor.h"

namespace meshdeck::cp::fleet {

// Hands out loopback TCP ports that are free now and never handed out twice, from a range
// below Linux's ephemeral range (32768+) so outgoing connections do not take them meanwhile.
class PortAllocator {
 public:
  explicit PortAllocator(uint16_t first = 21000, uint16_t last = 32000);
  // A free port, or 0 when the range is exhausted.
  uint16_t allocate();
  void release(uint16_t port);

 private:
  std::mutex mu_;
  uint16_t first_, last_, next_;
  std::set<uint16_t> taken_;
};

struct DemoFleetOptions {
  std::filesystem::path bin_dir;  // holds meshdeck-proxy, meshdeck-demo-service, meshdeck-load
  std::string control_plane = "127.0.0.1:15010";
  uint64_t seed = 1;
  uint16_t port_first = 21000, port_last = 32000;
  // Identity (docs/security.md, "Bootstrap"): when set and it returns a token, every sidecar
  // gets a one-time token in `<run dir>/tokens/<proxy id>.token` (0600 in a 0700 directory),
  // a fresh one before every restart (tokens are single use), and the flags
  // --bootstrap-token-file, --trust-domain and --control-plane-tls (when not empty, the control
  // plane's TLS port for renewals). Returning "" (a remote control plane) leaves the sidecar
  // without identity: plaintext.
  std::function<std::string(const std::string& proxy_id, const std::string& ns,
                            const std::string& service)>
      issue_bootstrap_token = {};
  std::string control_plane_tls = {};
  std::string trust_domain = "meshdeck.local";
};

// One running service instance of a demo: its demo-service process and its sidecar.
struct DemoInstance {
  std::string service, version;
  uint32_t index = 0;
  uint16_t app_port = 0, inbound_port = 0, outbound_port = 0, admin_port = 0;
  // The process serving the app: "<proxy id>/app", or "apps-<k>/app" when packed.
  std::string app_process;
  std::string proxy_id() const { return service + "-" + version + "-" + std::to_string(index); }
};

// DemoFleet turns a DemoMesh into processes under a ProcessSupervisor: for each instance a
// `meshdeck-proxy` in mesh mode (its sidecar) and its app, plus a sidecar-fronted
// `meshdeck-load` per load stream. It is what the fleet actions of the ControlPlane interface
// and the scenario engine act on. Thread-safe.
//
// Apps: with DemoMesh::appsPerProcess() == 1 each instance's app is a `meshdeck-demo-service`
// process of its own ("<proxy id>/app"). Above that, the apps are packed: up to that many
// instances share one `meshdeck-demo-service --config` process ("apps-<k>/app"), each still
// with its own port, behaviour, random stream and sidecar, so the mesh, the graph and the
// policies see exactly the same services. What packing changes: killing or restarting a pack
// takes all of its instances down at once, and scaling down a packed instance removes its
// sidecar (it leaves the mesh) while its app listener stays idle in the pack.
class DemoFleet {
 public:
  DemoFleet(ProcessSupervisor& supervisor, DemoFleetOptions options);
  ~DemoFleet();

  // Starts every process of `mesh`. Returns false (and starts nothing) if a binary is missing.
  bool start(const DemoMesh& mesh, std::string* error);
  // Stops every process this fleet started.
  void stop();
  const DemoMesh& mesh() const { return mesh_; }

  // Names of the processes to wait for before the mesh counts as up.
  std::vector<std::string> processNames() const;

  std::vector<ProcessInfo> processes() const;
  std::vector<std::string> logs(const std::string& name, uint32_t tail) const;
  ActionResult restart(const std::string& name);
  ActionResult scale(const std::string& service, const std::string& version, uint32_t replicas);
  // Kills one instance's app with SIGKILL (the supervisor restarts it), for scenarios.
  ActionResult killInstance(const std::string& service, const std::string& version, uint32_t index);
  // Changes the behaviour of every instance of service/version at run time through the demo
  // service's admin endpoint (no restart).
  ActionResult setBehaviour(const std::string& service, const std::string& version,
                            std::optional<uint32_t> instance, const Behaviour& behaviour);
  // Changes the rate of a load stream (restarts its generator with the new rate).
  ActionResult setLoadRate(const std::string& load, double rate);

  std::vector<DemoInstance> instances() const;

 private:
  struct Pack;
  // Starts one instance's sidecar, and its app: in a process of its own, or appended to `pack`.
  bool startInstanceLocked(const DemoService& svc, const DemoVersion& version, uint32_t index,
                           Pack* pack = nullptr);
  bool startPackLocked(Pack& pack, std::string* error);
  void startLoadLocked(const DemoLoad& load);
  std::vector<std::string> proxyArgs(const DemoInstance& inst) const;
  // "http://<service><path>", or "grpc://<service><path>" when the callee speaks gRPC.
  std::string callUrl(const DemoCall& call) const;
  // A sidecar process with its identity wiring (bootstrap token file, flags).
  ProcessSpec sidecarSpecLocked(const DemoInstance& inst);
  bool ensureWorkDirLocked(std::string* error);

  ProcessSupervisor& supervisor_;
  const DemoFleetOptions options_;
  PortAllocator ports_;
  mutable std::mutex mu_;
  DemoMesh mesh_;
  std::vector<DemoInstance> instances_;
  std::map<std::string, DemoInstance> load_sidecars_;  // load name -> its sidecar
  std::map<std::string, Behaviour> behaviours_;        // "svc|version" -> current behaviour
  std::vector<std::string> names_;                     // every process started
  std::map<std::string, uint32_t> pack_sizes_;         // "apps-<k>/app" -> instances hosted
  std::filesystem::path work_dir_;                     // 0700: the packs' config files, tokens/
};

}  // namespace meshdeck::cp::fleet
