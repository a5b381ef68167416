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
// With --telemetry-rate R (reports per second per proxy, simulated proxies only), every
// simulated proxy also opens its TelemetryIngest.Report stream on the same channel and sends R
// reports a second of --edges-per-report edges (the shape bench/cp_ingest.cpp merges: one
// server edge and client edges to the next services, 100 requests and a 100-sample latency
// histogram each), spread evenly over each second, while the rounds run: one control plane
// under both loads. A report is sent only when the stream's previous one has been written, so
// a control plane that falls behind shows as reports skipped and as a backlog (sent, not yet
// acknowledged) that grows; both are printed with the ingest rate.
//
// Examples (one per paragraph; the second keeps everything up for `meshdeck --connect`):
//
//   cp_convergence [--proxies 500] [--services 50] [--rounds 30]
//
//   cp_convergence --proxies 2000 --services 100 --rounds 10 --telemetry-rate 1
//       --edges-per-report 20 --simulator-processes 2 [--listen 127.0.0.1:15999 --hold 90]
//
//   cp_convergence --real --proxies 10 --services 5 [--proxy-bin PATH]
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "common/histogram_proto.h"
#include "common/shared_resources.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/runtime_tuning.h"
#include "meshdeck/v1/discovery.grpc.pb.h"
#include "meshdeck/v1/telemetry.pb.h"

using namespace meshdeck;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A discovery client that answers each response with an ACK after decoding only fields 1
// (version_info) and 2 (nonce) of the DiscoveryResponse (from its first slice when they are
// there: the simulator does not copy the config bytes it skips).
class LightProxy final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  LightProxy(grpc::GenericStub* stub, const v1::Node& node)
      : incremental_(node.client_features_size() > 0) {
    v1::DiscoveryRequest first;
    *first.mutable_node() = node;
    queue_.push_back(serialize(first));
    stub->PrepareBidiStreamingCall(&context_, "/meshdeck.v1.ConfigDiscovery/Stream",
                                   grpc::StubOptions(), this);
    writeNextLocked();
    StartRead(&in_);
    StartCall();
  }
  // Every way out of main() (a failed round returns early) ends the call before the reactor
  // goes: gRPC must not call back into a destroyed object.
  ~LightProxy() override { stop(); }
  void stop() {
    context_.TryCancel();
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 5s, [&] { return done_; });
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::vector<grpc::Slice> slices;
    (void)in_.Dump(&slices);
    // The control plane writes version_info and nonce first: read them from the first slice,
    // and copy the whole message only when they are not both in it, or when it is incremental
    // and the digest (first in `shared`, in the second slice) is needed.
    Head head;
    if (slices.empty() || !readHead(slices[0].begin(), slices[0].size(), &head)) {
      std::string bytes;
      for (const auto& sl : slices)
        bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      head = Head{};
      (void)readHead(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &head);
    }
    v1::DiscoveryRequest ack;
    ack.set_version_info(head.version);
    ack.set_response_nonce(head.nonce);
    // It does not keep the resources: it answers with the digest it was sent, as a proxy that
    // applied them would.
    if (head.incremental) ack.set_shared_digest(head.digest);
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
  struct Head {
    std::string version, nonce, digest;
    bool incremental = false;
  };
  // Reads fields 1 and 2 of a DiscoveryResponse, skips 3 and reads the digest (field 1) of
  // field 4 when present; true when every field needed was in `data`.
  bool readHead(const uint8_t* data, size_t size, Head* head) const {
    using google::protobuf::internal::WireFormatLite;
    google::protobuf::io::CodedInputStream in(data, static_cast<int>(size));
    int found = 0;
    for (;;) {
      const uint32_t tag = in.ReadTag();
      const int field = static_cast<int>(tag >> 3);
      if (field == 1 || field == 2) {
        if (!WireFormatLite::ReadString(&in, field == 1 ? &head->version : &head->nonce)) break;
        ++found;
      } else if (field == 4) {
        head->incremental = true;
        uint32_t length = 0;
        if (!in.ReadVarint32(&length)) break;
        in.PushLimit(static_cast<int>(length));
        for (;;) {
          const uint32_t inner = in.ReadTag();
          if (inner >> 3 == 1) {
            if (WireFormatLite::ReadString(&in, &head->digest)) ++found;
            break;
          }
          if (inner == 0 || !WireFormatLite::SkipField(&in, inner)) break;
        }
        break;
      } else if (tag == 0 || !WireFormatLite::SkipField(&in, tag)) {
        break;
      }
    }
    // The slices are the transport's, not the sender's: a first slice may end anywhere, so
    // without field 4 found a proxy that takes increments cannot tell from it whether the
    // response has one.
    return found == (incremental_ ? 3 : 2);
  }
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
  const bool incremental_;  // it announced incremental_shared_resources
  grpc::ClientContext context_;
  grpc::ByteBuffer in_, out_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<grpc::ByteBuffer> queue_;
  bool writing_ = false, done_ = false;
};

// Totals of every simulated telemetry stream.
struct TelemetryTotals {
  std::atomic<uint64_t> sent{0}, acked{0}, skipped{0}, failed{0};
};

// A proxy's telemetry stream: sends its (pre-serialized) report when told to, one write in
// flight at most, and counts the acknowledgements.
class TelemetryStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  TelemetryStream(grpc::GenericStub* stub, const v1::TelemetryReport& report,
                  TelemetryTotals& totals)
      : totals_(totals) {
    bool own = false;
    (void)grpc::SerializationTraits<v1::TelemetryReport>::Serialize(report, &report_, &own);
    stub->PrepareBidiStreamingCall(&context_, "/meshdeck.v1.TelemetryIngest/Report",
                                   grpc::StubOptions(), this);
    StartRead(&in_);
    StartCall();
  }
  // Sends one report, or counts it skipped while the previous one is still being written.
  void send() {
    std::lock_guard lock(mutex_);
    if (done_) return;
    if (writing_) {
      ++totals_.skipped;
      return;
    }
    writing_ = true;
    out_ = report_;  // shares the slices
    ++totals_.sent;
    StartWrite(&out_);
  }
  // Every way out of main() (a failed round returns early) ends the call before the reactor
  // goes: gRPC must not call back into a destroyed object.
  ~TelemetryStream() override { stop(); }
  void stop() {
    context_.TryCancel();
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 5s, [&] { return done_; });
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    ++totals_.acked;
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) ++totals_.failed;
  }
  void OnDone(const grpc::Status&) override {
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_all();
  }

 private:
  TelemetryTotals& totals_;
  grpc::ClientContext context_;
  grpc::ByteBuffer report_, in_, out_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool writing_ = false, done_ = false;
};

// The report of a proxy of service `src` (of `services`): `edges` edges shaped like
// cp_ingest's (the first the server side, the rest client edges to the next services).
v1::TelemetryReport makeReport(const std::string& proxy_id, int src, int services, int edges) {
  static std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(3e6), 0.6);
  v1::TelemetryReport r;
  r.set_proxy_id(proxy_id);
  r.set_interval_ms(1000);
  for (int e = 0; e < edges; ++e) {
    auto* es = r.add_edges();
    es->mutable_key()->set_source_service(fmt::format("svc{}", src));
    es->mutable_key()->set_destination_service(fmt::format("svc{}", (src + 1 + e) % services));
    es->mutable_key()->set_destination_version(e % 2 ? "v2" : "v1");
    es->set_side(e == 0 ? v1::SERVER : v1::CLIENT);
    es->set_requests(100);
    (*es->mutable_responses_by_code())[200] = 99;
    (*es->mutable_responses_by_code())[503] = 1;
    common::LatencyHistogram h;
    for (int i = 0; i < 100; ++i) h.record(static_cast<uint64_t>(latency(rng)));
    common::toProto(h, es->mutable_latency());
  }
  return r;
}

// Drives every stream's send() at `rate` per second, spread over 100 ticks a second.
class TelemetryDriver {
 public:
  TelemetryDriver(std::vector<std::unique_ptr<TelemetryStream>>& streams, double rate)
      : streams_(streams), rate_(rate) {
    thread_ = std::thread([this] { run(); });
  }
  ~TelemetryDriver() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    constexpr int kTicks = 100;
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / rate_ / kTicks));
    auto next = Clock::now();
    for (uint64_t tick = 0; !stopping_; ++tick) {
      const size_t slice = tick % kTicks;
      for (size_t i = slice; i < streams_.size(); i += kTicks) streams_[i]->send();
      next += period;
      std::this_thread::sleep_until(next);
    }
  }
  std::vector<std::unique_ptr<TelemetryStream>>& streams_;
  const double rate_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// CPU seconds (user + system) this process has used so far, every thread.
double processCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Resident and proportional set size of this process in MiB (smaps_rollup), or -1.
std::pair<double, double> selfMemoryMiB() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string line;
  double rss = -1, pss = -1;
  while (std::getline(in, line)) {
    if (line.rfind("Rss:", 0) == 0) rss = std::stod(line.substr(4)) / 1024.0;
    if (line.rfind("Pss:", 0) == 0) pss = std::stod(line.substr(4)) / 1024.0;
  }
  return {rss, pss};
}

v1::Node makeNode(const std::string& id, const std::string& service, const std::string& version,
                  uint32_t port, bool incremental, const std::vector<std::string>& dependencies) {
  v1::Node n;
  for (const auto& d : dependencies) n.add_dependencies(d);
  if (incremental) n.add_client_features(common::kIncrementalSharedResources);
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

// Waits up to `tries` x 100 ms for child `p` to exit, then kills it; reaps it either way.
void reapOrKill(pid_t p, int tries) {
  int status = 0;
  for (int i = 0; i < tries && ::waitpid(p, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(100ms);
  if (::waitpid(p, &status, WNOHANG) == 0) {
    ::kill(p, SIGKILL);
    ::waitpid(p, &status, 0);
  }
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
    for (pid_t p : pids_) reapOrKill(p, 50);
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

// The simulated fleet (or the share of it one simulator process runs): proxies [begin, end)
// of the run, one gRPC channel per 50 proxies, each with its discovery stream and, with
// telemetry, its report stream.
struct FleetShape {
  int proxies = 0, services = 0, depends = 0, edges_per_report = 20;
  double telemetry_rate = 0;
  bool whole_configs = false;
  // The dependencies of the proxies of service s: svc<s+1> .. svc<s+depends>.
  std::vector<std::string> dependenciesOf(int s) const {
    std::vector<std::string> out;
    for (int j = 1; j <= depends; ++j) out.push_back(fmt::format("svc{}", (s + j) % services));
    return out;
  }
};

class Simulator {
 public:
  Simulator(const FleetShape& shape, TelemetryTotals& totals) : shape_(shape), totals_(totals) {}
  ~Simulator() { stop(); }
  void connect(const std::string& address, int begin, int end) {
    for (int i = begin; i < end; ++i) {
      if (stubs_.empty() || i % 50 == 0) {
        grpc::ChannelArguments args;
        args.SetInt("grpc.channel_id", i);  // distinct channels, not one shared subchannel
        channels_.push_back(
            grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
        stubs_.push_back(std::make_unique<grpc::GenericStub>(channels_.back()));
      }
      const int s = i % shape_.services;
      const std::string svc = fmt::format("svc{}", s);
      const std::string ver = (i / shape_.services) % 2 ? "v2" : "v1";
      fleet_.push_back(std::make_unique<LightProxy>(
          stubs_.back().get(),
          makeNode(fmt::format("{}-{}", svc, i), svc, ver, 20000 + 4 * uint32_t(i),
                   !shape_.whole_configs, shape_.dependenciesOf(s))));
      if (shape_.telemetry_rate > 0)
        telemetry_.push_back(std::make_unique<TelemetryStream>(
            stubs_.back().get(),
            makeReport(fmt::format("{}-{}", svc, i), s, shape_.services, shape_.edges_per_report),
            totals_));
    }
  }
  void startTelemetry() {
    if (shape_.telemetry_rate > 0 && !driver_)
      driver_ = std::make_unique<TelemetryDriver>(telemetry_, shape_.telemetry_rate);
  }
  void stopTelemetry() {
    if (driver_) driver_->stop();
  }
  void stop() {
    stopTelemetry();
    for (auto& t : telemetry_) t->stop();
    telemetry_.clear();
    for (auto& p : fleet_) p->stop();
    fleet_.clear();
  }

 private:
  const FleetShape shape_;
  TelemetryTotals& totals_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<std::unique_ptr<LightProxy>> fleet_;
  std::vector<std::unique_ptr<TelemetryStream>> telemetry_;
  std::unique_ptr<TelemetryDriver> driver_;
};

// What the benchmark and its simulator processes (--simulator-processes) share: an anonymous
// shared mapping made before fork(), so the telemetry totals are the same atomics in every
// process and the benchmark tells the simulators what to do by `phase`.
struct SharedControl {
  enum Phase : int { kWait = 0, kConnect = 1, kTelemetry = 2, kStop = 3 };
  std::atomic<int> phase{kWait};
  char address[128] = {};
  TelemetryTotals totals;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the shared totals must be lock-free atomics to be shared between processes");

// A simulator process: runs proxies [begin, end) against the address the parent publishes, and
// telemetry between the phases it sets; never returns.
[[noreturn]] void simulatorProcess(SharedControl& control, const FleetShape& shape, int begin,
                                   int end) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);   // never outlive the benchmark
  cp::disableMutexDeadlockDetection();  // as the control plane does for itself
  const auto waitFor = [&](int phase) {
    while (control.phase.load() < phase) std::this_thread::sleep_for(5ms);
  };
  waitFor(SharedControl::kConnect);
  {
    Simulator sim(shape, control.totals);
    sim.connect(control.address, begin, end);
    waitFor(SharedControl::kTelemetry);
    if (control.phase.load() == SharedControl::kTelemetry) sim.startTelemetry();
    waitFor(SharedControl::kStop);
    sim.stop();
  }
  ::_exit(0);
}

// CPU seconds (user + system) process `pid` has used so far, or 0.
double pidCpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; fields >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
    if (i == 15) break;
  }
  return ticks / double(::sysconf(_SC_CLK_TCK));
}

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
  double telemetry_rate = 0;
  int edges_per_report = 20;
  app.add_option("--telemetry-rate", telemetry_rate,
                 "Telemetry reports per second per simulated proxy while the rounds run (0: none)")
      ->capture_default_str();
  app.add_option("--edges-per-report", edges_per_report, "Edges in each telemetry report")
      ->capture_default_str();
  double round_timeout = 10;
  app.add_option("--round-timeout", round_timeout,
                 "Seconds a round may take before the run fails (every proxy ACKed)")
      ->capture_default_str();
  double connect_timeout = 60;
  app.add_option("--connect-timeout", connect_timeout,
                 "Seconds every proxy may take to connect and ACK its first config")
      ->capture_default_str();
  bool whole_configs = false;
  app.add_flag("--whole-configs", whole_configs,
               "Simulated proxies do not announce incremental_shared_resources: every response "
               "carries the whole config (the protocol before it)");
  int depends = 0;
  app.add_option("--depends", depends,
                 "Scoping: each simulated proxy of svc<s> declares the K services svc<s+1> .. "
                 "svc<s+K> (mod --services) as its dependencies and gets only theirs; a round "
                 "(a route of svc0) then pushes to the proxies that depend on svc0 alone. 0: none "
                 "declared, every proxy gets the whole mesh")
      ->capture_default_str();
  cp::ControlPlaneOptions options;
  app.add_option("--server-shards", options.server_shards,
                 "gRPC servers of the control plane on its port (docs/cp-scale.md, \"Server "
                 "shards\"); 1: one, as before")
      ->capture_default_str();
  app.add_option("--telemetry-queues", options.telemetry_queues,
                 "Completion queues per gRPC server for the telemetry streams (docs/cp-scale.md, "
                 "\"Telemetry on queues of its own\")")
      ->capture_default_str();
  int simulator_processes = 0;
  app.add_option("--simulator-processes", simulator_processes,
                 "Run the simulated proxies in P processes of their own (forked before the "
                 "control plane starts), the control plane alone in this one, as a user's "
                 "proxies are; 0: every simulated proxy in this process, beside the control plane")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  std::string listen = "127.0.0.1:0";
  app.add_option("--listen", listen,
                 "Address the control plane listens on (with --hold, for `meshdeck --connect`)")
      ->capture_default_str();
  double hold = 0;
  app.add_option("--hold", hold,
                 "Seconds to keep the control plane and the fleet (telemetry flowing) up after "
                 "the figures are printed, e.g. to look at the mesh with `meshdeck --connect`")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  std::string log_level = "warn";
  app.add_option("--log-level", log_level)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (real && simulator_processes > 0) {
    fmt::print(stderr, "--simulator-processes drives simulated proxies only\n");
    return 1;
  }
  depends = std::clamp(depends, 0, std::max(0, services - 1));
  const FleetShape shape{proxies,          services,       depends,
                         edges_per_report, telemetry_rate, whole_configs};

  // The simulator processes are forked before this process starts any gRPC thread.
  auto* control = static_cast<SharedControl*>(::mmap(
      nullptr, sizeof(SharedControl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (control == MAP_FAILED) {
    fmt::print(stderr, "mmap: {}\n", std::strerror(errno));
    return 1;
  }
  new (control) SharedControl;
  std::vector<pid_t> simulators;
  for (int k = 0; k < simulator_processes; ++k) {
    const int begin = int(int64_t(proxies) * k / simulator_processes);
    const int end = int(int64_t(proxies) * (k + 1) / simulator_processes);
    const pid_t pid = ::fork();
    if (pid < 0) {
      fmt::print(stderr, "fork: {}\n", std::strerror(errno));
      return 1;
    }
    if (pid == 0) simulatorProcess(*control, shape, begin, end);
    simulators.push_back(pid);
  }
  // Every way out of main() stops the simulators and reaps them.
  struct Reaper {
    SharedControl* control;
    std::vector<pid_t>& pids;
    ~Reaper() {
      control->phase = SharedControl::kStop;
      for (pid_t p : pids) reapOrKill(p, 100);
    }
  } reaper{control, simulators};
  const auto simulatorCpuSeconds = [&] {
    double sum = 0;
    for (pid_t p : simulators) sum += pidCpuSeconds(p);
    return sum;
  };

  options.listen = listen;
  options.state_dir.clear();
  cp::InProcessControlPlane control_plane(options);
  std::string error;
  if (!control_plane.start(&error)) {
    fmt::print(stderr, "{}\n", error);
    return 1;
  }
  TelemetryTotals& totals = control->totals;
  Simulator local(shape, totals);  // the simulated proxies run here without simulator processes
  RealFleet real_fleet;
  if (real && telemetry_rate > 0) {
    fmt::print(stderr, "--telemetry-rate drives simulated proxies only\n");
    return 1;
  }
  for (int i = 0; i < proxies && real; ++i) {
    const std::string svc = fmt::format("svc{}", i % services);
    const std::string ver = (i / services) % 2 ? "v2" : "v1";
    if (!real_fleet.spawn(proxy_bin, control_plane.listenAddress(), fmt::format("{}-{}", svc, i),
                          svc, ver)) {
      fmt::print(stderr, "cannot start {}\n", proxy_bin);
      return 1;
    }
  }
  // How many proxies a round (svc0's route) reaches: with scoping only those depending on svc0.
  int reached = 0;
  for (int i = 0; i < proxies; ++i) {
    const auto deps = shape.dependenciesOf(i % services);
    if (real || whole_configs || deps.empty() ||
        std::find(deps.begin(), deps.end(), "svc0") != deps.end())
      ++reached;
  }
  if (real && depends > 0) {
    fmt::print(stderr, "--depends drives simulated proxies only\n");
    return 1;
  }
  if (!real && simulators.empty()) {
    local.connect(control_plane.listenAddress(), 0, proxies);
  } else if (!real) {
    const std::string address = control_plane.listenAddress();
    std::snprintf(control->address, sizeof control->address, "%s", address.c_str());
    control->phase = SharedControl::kConnect;
  }
  // Everyone connected and synced on the initial config.
  const auto connect_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(connect_timeout));
  for (;;) {
    const auto g = control_plane.snapshot();
    const auto synced = std::count_if(g->proxies.begin(), g->proxies.end(), [](const auto& p) {
      return p.state == cp::SyncState::kSynced;
    });
    if (synced == proxies) break;
    if (Clock::now() > connect_deadline) {
      fmt::print(stderr, "only {} of {} proxies synced within {} s\n", synced, proxies,
                 connect_timeout);
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

  // The telemetry load: running for 3 s before the first round, measured from there on.
  const bool driver = telemetry_rate > 0;
  if (driver) {
    local.startTelemetry();
    control->phase = SharedControl::kTelemetry;
    std::this_thread::sleep_for(3s);
  }
  const auto load_t0 = Clock::now();
  const double cpu0 = processCpuSeconds(), sim_cpu0 = simulatorCpuSeconds();
  // The backlog once a second during the load: whether it grows is the question.
  std::vector<uint64_t> backlog_trace;
  std::jthread tracer([&](std::stop_token stop) {
    for (auto next = Clock::now(); driver && !stop.stop_requested(); next += 1s) {
      backlog_trace.push_back(totals.sent.load() - totals.acked.load());
      while (!stop.stop_requested() && Clock::now() < next + 1s) std::this_thread::sleep_for(10ms);
    }
  });
  const uint64_t sent0 = totals.sent, acked0 = totals.acked, skipped0 = totals.skipped;
  const uint64_t backlog0 = sent0 - acked0;
  uint64_t backlog_max = backlog0;

  std::vector<double> samples;
  std::vector<uint64_t> round_pushes;
  bool failed = false;
  const uint64_t bytes0 = control_plane.counters().discovery_bytes;
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
    const uint64_t pushes_before = control_plane.counters().pushes;
    const auto result = control_plane.applyPolicies(route, "route.yaml", "bench", false);
    const auto t0 = Clock::now();
    if (!result.ok) return 1;
    const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(round_timeout));
    while (control_plane.counters().acks < acks_before + uint64_t(reached) &&
           Clock::now() < deadline)
      std::this_thread::sleep_for(200us);
    const auto t1 = Clock::now();
    if (t1 >= deadline) {
      // The run fails, but what the telemetry and the CPU did until then is still printed.
      fmt::print(stderr, "round {}: not every proxy ACKed within {} s\n", r, round_timeout);
      failed = true;
      break;
    }
    samples.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    round_pushes.push_back(control_plane.counters().pushes - pushes_before);
    backlog_max = std::max(backlog_max, totals.sent.load() - totals.acked.load());
    // With telemetry, rounds 1 s apart (each proxy reports once between two pushes).
    std::this_thread::sleep_for(driver ? 1000ms : 100ms);
    backlog_max = std::max(backlog_max, totals.sent.load() - totals.acked.load());
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - load_t0).count();
  const double cpu_s = processCpuSeconds() - cpu0, sim_cpu_s = simulatorCpuSeconds() - sim_cpu0;
  tracer.request_stop();
  tracer.join();
  const uint64_t round_bytes = control_plane.counters().discovery_bytes - bytes0;
  const uint64_t sent1 = totals.sent, acked1 = totals.acked, skipped1 = totals.skipped;
  double simulators_rss = 0;
  for (pid_t p : simulators) {
    std::ifstream in(fmt::format("/proc/{}/status", p));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmRSS:", 0) == 0) simulators_rss += std::stod(line.substr(6)) / 1024.0;
  }
  // With --hold the fleet and its telemetry go on until the hold ends.
  const auto stopFleet = [&] {
    local.stopTelemetry();
    control->phase = SharedControl::kStop;
  };
  if (hold <= 0) stopFleet();
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double p) {
    return samples[std::min(samples.size() - 1, size_t(p / 100.0 * double(samples.size())))];
  };
  if (samples.empty()) samples.push_back(0);
  if (!failed)
    fmt::print(
        "{} proxies={} services={} rounds={} debounce={}ms  convergence ms: p50={:.1f} p90={:.1f} "
        "p99={:.1f} max={:.1f}\n",
        real ? "real" : "simulated", proxies, services, rounds, options.push_debounce.count(),
        pct(50), pct(90), pct(99), samples.back());
  fmt::print(
      "discovery: {} ({}) proxies, {:.0f} bytes per proxy per round, {} incremental fallbacks\n",
      proxies,
      real            ? "real"
      : whole_configs ? "whole configs"
                      : "incremental",
      double(round_bytes) / std::max(1, rounds) / std::max(1, proxies),
      control_plane.counters().incremental_fallbacks);
  uint64_t pushes_min = UINT64_MAX, pushes_max = 0;
  for (auto p : round_pushes) {
    pushes_min = std::min(pushes_min, p);
    pushes_max = std::max(pushes_max, p);
  }
  if (round_pushes.empty()) pushes_min = 0;
  fmt::print(
      "scoping: {} dependencies per proxy; a round must reach {} of {} proxies; pushes per round "
      "(counted until its last ACK) {}..{}; {:.0f} bytes per round in all\n",
      depends, reached, proxies, pushes_min, pushes_max, double(round_bytes) / std::max(1, rounds));
  if (telemetry_rate > 0) {
    const double offered = telemetry_rate * proxies;
    fmt::print(
        "telemetry: {:.0f} reports/s offered x {} edges over {:.1f} s: {:.0f} reports/s "
        "acknowledged ({:.0f} edge-reports/s), {} skipped (previous report still being "
        "written), backlog (sent, not acknowledged) {} at the start, {} at the end, {} at most; "
        "control plane counted {} reports, {} edges accepted, {} rejected\n",
        offered, edges_per_report, load_s, double(acked1 - acked0) / load_s,
        double(acked1 - acked0) * edges_per_report / load_s, skipped1 - skipped0, backlog0,
        sent1 - acked1, backlog_max, control_plane.counters().reports,
        control_plane.counters().edges_accepted, control_plane.counters().edges_rejected);
    // The simulator's share is in it too (its streams, serializing nothing: reports are
    // pre-serialized): an upper bound of what the control plane spends per edge-report, to be
    // compared between builds, not a figure of the control plane alone.
    const double edge_reports = double(acked1 - acked0) * edges_per_report;
    if (simulators.empty())
      fmt::print(
          "cpu: the benchmark process (control plane and simulator) used {:.1f} CPU-s over the "
          "{:.1f} s of load ({:.2f} cores), {:.2f} CPU-us per edge-report acknowledged\n",
          cpu_s, load_s, cpu_s / load_s, edge_reports > 0 ? cpu_s * 1e6 / edge_reports : 0.0);
    else
      fmt::print(
          "cpu: over the {:.1f} s of load the control plane's process used {:.1f} CPU-s "
          "({:.2f} cores, {:.2f} CPU-us per edge-report acknowledged), the {} simulator "
          "processes {:.1f} CPU-s ({:.2f} cores)\n",
          load_s, cpu_s, cpu_s / load_s, edge_reports > 0 ? cpu_s * 1e6 / edge_reports : 0.0,
          simulators.size(), sim_cpu_s, sim_cpu_s / load_s);
    fmt::print("telemetry backlog each second of the load: {}\n", fmt::join(backlog_trace, " "));
  }
  // How the kernel spread the connections (and so the streams) over the servers.
  fmt::print(
      "servers: {}, calls and streams taken by each: {}; telemetry streams taken by each "
      "telemetry queue: {}\n",
      options.server_shards, fmt::join(control_plane.counters().calls_by_server, " "),
      fmt::join(control_plane.counters().telemetry_streams_by_queue, " "));
  const auto [rss, pss] = selfMemoryMiB();
  if (!simulators.empty())
    fmt::print("memory of the {} simulator processes: RSS {:.0f} MiB in all\n", simulators.size(),
               simulators_rss);
  fmt::print("memory of the benchmark process ({}): RSS {:.0f} MiB, PSS {:.0f} MiB\n",
             simulators.empty() ? "control plane and simulator" : "control plane alone", rss, pss);
  if (hold > 0) {
    fmt::print("holding for {:.0f} s: the control plane at {}, telemetry flowing\n", hold,
               control_plane.listenAddress());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(hold));
    stopFleet();
  }
  local.stop();
  real_fleet.stop();
  control_plane.stop();
  return failed ? 1 : 0;
}
