// Convergence of the control plane's push: from applyPolicies() returning to the control plane
// having received an ACK of the new config from every proxy. Two kinds of proxies:
//
//  - simulated (default): N discovery streams in this process, one gRPC channel per 50 proxies
//    (the real proxy opens one channel each);
//  - real (--real): N meshdeck-proxy processes in mesh mode, each parsing, compiling and
//    installing every config it is pushed before it ACKs (the ACK means "in force").
//
// The simulated proxies read only the version and nonce of each response and skip the config
// bytes: all N share this process's two cores with the control plane, and N full protobuf
// parses would measure the simulator, not the control plane (a real proxy parses its own
// config on its own core).
//
//   cp_convergence [--proxies 500] [--services 50] [--rounds 30]
//   cp_convergence --real --proxies 10 --services 5 [--proxy-bin PATH]
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "controlplane/in_process_control_plane.h"
#include "meshdeck/v1/discovery.grpc.pb.h"

using namespace meshdeck;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A discovery client that answers each response with an ACK after decoding only fields 1
// (version_info) and 2 (nonce) of the DiscoveryResponse.
class LightProxy final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  LightProxy(grpc::GenericStub* stub, const v1::Node& node) {
    v1::DiscoveryRequest first;
    *first.mutable_node() = node;
    queue_.push_back(serialize(first));
    stub->PrepareBidiStreamingCall(&context_, "/meshdeck.v1.ConfigDiscovery/Stream",
                                   grpc::StubOptions(), this);
    writeNextLocked();
    StartRead(&in_);
    StartCall();
  }
  void stop() {
    context_.TryCancel();
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 5s, [&] { return done_; });
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::vector<grpc::Slice> slices;
    (void)in_.Dump(&slices);
    std::string bytes;
    for (const auto& sl : slices)
      bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    std::string version, nonce;
    while (uint32_t tag = in.ReadTag()) {
      const int field = static_cast<int>(tag >> 3);
      if (field == 1)
        (void)google::protobuf::internal::WireFormatLite::ReadString(&in, &version);
      else if (field == 2)
        (void)google::protobuf::internal::WireFormatLite::ReadString(&in, &nonce);
      else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag))
        break;
    }
    v1::DiscoveryRequest ack;
    ack.set_version_info(version);
    ack.set_response_nonce(nonce);
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(serialize(ack));
      if (!writing_) writeNextLocked();
    }
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (ok && !queue_.empty()) writeNextLocked();
  }
  void OnDone(const grpc::Status&) override {
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_all();
  }

 private:
  static grpc::ByteBuffer serialize(const v1::DiscoveryRequest& r) {
    grpc::ByteBuffer bb;
    bool own = false;
    (void)grpc::SerializationTraits<v1::DiscoveryRequest>::Serialize(r, &bb, &own);
    return bb;
  }
  void writeNextLocked() {
    out_ = queue_.front();
    queue_.pop_front();
    writing_ = true;
    StartWrite(&out_);
  }
  grpc::ClientContext context_;
  grpc::ByteBuffer in_, out_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<grpc::ByteBuffer> queue_;
  bool writing_ = false, done_ = false;
};

v1::Node makeNode(const std::string& id, const std::string& service, const std::string& version,
                  uint32_t port) {
  v1::Node n;
  n.set_proxy_id(id);
  n.set_service(service);
  n.set_version(version);
  n.set_host("127.0.0.1");
  n.set_inbound_port(port);
  n.set_app_port(port + 1);
  n.set_outbound_port(port + 2);
  n.set_admin_port(port + 3);
  return n;
}

// A free loopback TCP port (bound to port 0, then released).
uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

// N meshdeck-proxy processes in mesh mode; SIGTERM and reaped on destruction.
class RealFleet {
 public:
  ~RealFleet() { stop(); }
  void stop() {
    for (pid_t p : pids_) ::kill(p, SIGTERM);
    for (pid_t p : pids_) {
      int status = 0;
      for (int i = 0; i < 50 && ::waitpid(p, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(100ms);
      if (::waitpid(p, &status, WNOHANG) == 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, &status, 0);
      }
    }
    pids_.clear();
  }
  bool spawn(const std::string& bin, const std::string& control_plane, const std::string& id,
             const std::string& service, const std::string& version) {
    std::vector<std::string> args = {bin,
                                     "--control-plane",
                                     control_plane,
                                     "--service",
                                     service,
                                     "--version",
                                     version,
                                     "--proxy-id",
                                     id,
                                     "--inbound-port",
                                     std::to_string(freePort()),
                                     "--app-port",
                                     std::to_string(freePort()),
                                     "--outbound-port",
                                     std::to_string(freePort()),
                                     "--admin-port",
                                     std::to_string(freePort()),
                                     "--workers",
                                     "1",
                                     "--log-level",
                                     "warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawn(&pid, bin.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return false;
    pids_.push_back(pid);
    return true;
  }

 private:
  std::vector<pid_t> pids_;
};

}  // namespace

int main(int argc, char** argv) {
  int proxies = 500, services = 50, rounds = 30;
  CLI::App app{"cp_convergence: apply -> all proxies ACKed, with simulated proxies"};
  app.add_option("--proxies", proxies)->capture_default_str();
  app.add_option("--services", services)->capture_default_str();
  app.add_option("--rounds", rounds)->capture_default_str();
  bool real = false;
  app.add_flag("--real", real, "Start real meshdeck-proxy processes instead of simulated ones");
  std::string proxy_bin =
      (std::filesystem::path(argv[0]).parent_path() / "meshdeck-proxy").string();
  app.add_option("--proxy-bin", proxy_bin, "meshdeck-proxy binary for --real")
      ->capture_default_str();
  std::string log_level = "warn";
  app.add_option("--log-level", log_level)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  cp::ControlPlaneOptions options;
  options.listen = "127.0.0.1:0";
  options.state_dir.clear();
  cp::InProcessControlPlane control_plane(options);
  std::string error;
  if (!control_plane.start(&error)) {
    fmt::print(stderr, "{}\n", error);
    return 1;
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  std::vector<std::unique_ptr<LightProxy>> fleet;
  RealFleet real_fleet;
  for (int i = 0; i < proxies && real; ++i) {
    const std::string svc = fmt::format("svc{}", i % services);
    const std::string ver = (i / services) % 2 ? "v2" : "v1";
    if (!real_fleet.spawn(proxy_bin, control_plane.listenAddress(), fmt::format("{}-{}", svc, i),
                          svc, ver)) {
      fmt::print(stderr, "cannot start {}\n", proxy_bin);
      return 1;
    }
  }
  for (int i = 0; i < proxies && !real; ++i) {
    if (i % 50 == 0) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);  // distinct channels, not one shared subchannel
      channels.push_back(grpc::CreateCustomChannel(control_plane.listenAddress(),
                                                   grpc::InsecureChannelCredentials(), args));
      stubs.push_back(std::make_unique<grpc::GenericStub>(channels.back()));
    }
    const std::string svc = fmt::format("svc{}", i % services);
    const std::string ver = (i / services) % 2 ? "v2" : "v1";
    fleet.push_back(std::make_unique<LightProxy>(
        stubs.back().get(),
        makeNode(fmt::format("{}-{}", svc, i), svc, ver, 20000 + 4 * uint32_t(i))));
  }
  // Everyone connected and synced on the initial config.
  const auto connect_deadline = Clock::now() + 60s;
  for (;;) {
    const auto g = control_plane.snapshot();
    const auto synced = std::count_if(g->proxies.begin(), g->proxies.end(), [](const auto& p) {
      return p.state == cp::SyncState::kSynced;
    });
    if (synced == proxies) break;
    if (Clock::now() > connect_deadline) {
      fmt::print(stderr, "only {} of {} proxies synced\n", synced, proxies);
      return 1;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(300ms);

  const std::string dest = R"(apiVersion: meshdeck.io/v1alpha1
kind: DestinationPolicy
metadata: {name: svc0}
spec:
  host: svc0
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
)";
  if (!control_plane.applyPolicies(dest, "dest.yaml", "bench", false).ok) return 1;
  std::this_thread::sleep_for(500ms);

  std::vector<double> samples;
  for (int r = 0; r < rounds; ++r) {
    const int w = 10 + r % 80;
    const std::string route = fmt::format(R"(apiVersion: meshdeck.io/v1alpha1
kind: TrafficRoute
metadata: {{name: canary}}
spec:
  host: svc0
  http:
  - route:
    - {{destination: {{host: svc0, subset: v1}}, weight: {}}}
    - {{destination: {{host: svc0, subset: v2}}, weight: {}}}
)",
                                          100 - w, w);
    const uint64_t acks_before = control_plane.counters().acks;
    const auto result = control_plane.applyPolicies(route, "route.yaml", "bench", false);
    const auto t0 = Clock::now();
    if (!result.ok) return 1;
    const auto deadline = t0 + 10s;
    while (control_plane.counters().acks < acks_before + uint64_t(proxies) &&
           Clock::now() < deadline)
      std::this_thread::sleep_for(200us);
    const auto t1 = Clock::now();
    if (t1 >= deadline) {
      fmt::print(stderr, "round {}: not every proxy ACKed within 10 s\n", r);
      return 1;
    }
    samples.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    std::this_thread::sleep_for(100ms);
  }
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double p) {
    return samples[std::min(samples.size() - 1, size_t(p / 100.0 * double(samples.size())))];
  };
  fmt::print(
      "{} proxies={} services={} rounds={} debounce={}ms  convergence ms: p50={:.1f} p90={:.1f} "
      "p99={:.1f} max={:.1f}\n",
      real ? "real" : "simulated", proxies, services, rounds, options.push_debounce.count(),
      pct(50), pct(90), pct(99), samples.back());
  for (auto& p : fleet) p->stop();
  fleet.clear();
  real_fleet.stop();
  control_plane.stop();
  return 0;
}
