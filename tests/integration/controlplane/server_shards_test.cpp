// The control plane's gRPC server shards (docs/cp-scale.md, "Server shards"): K servers on one
// port, the connections spread over them by the kernel, every service reachable on each, and
// the state behind them one: each proxy gets its config whatever server its stream landed on,
// and each report is counted and aggregated once.
#include <absl/synchronization/mutex.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QtTest>
#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>

#include "common/histogram_proto.h"
#include "common/latency_histogram.h"
#include "controlplane/in_process_control_plane.h"
#include "integration/controlplane/fake_proxy.h"
#include "meshdeck/v1/identity.grpc.pb.h"
#include "meshdeck/v1/management.grpc.pb.h"

using namespace meshdeck::cp;
using namespace std::chrono_literals;

namespace {
constexpr uint32_t kShards = 4;
// Connections: with 64 the chance that the kernel's hash leaves one of 4 servers without any
// is 4 x (3/4)^64, about 4e-8.
constexpr int kConnections = 64;

meshdeck::v1::TelemetryReport reportOf(const std::string& proxy, uint32_t requests) {
  meshdeck::v1::TelemetryReport report;
  report.set_proxy_id(proxy);
  report.set_sequence(1);
  report.set_interval_ms(1000);
  meshdeck::common::LatencyHistogram h;
  for (uint32_t i = 0; i < requests; ++i) h.record(2'000'000);  // 2 ms
  auto* e = report.add_edges();
  e->mutable_key()->set_source_service("front");
  e->mutable_key()->set_destination_service("back");
  e->set_side(meshdeck::v1::CLIENT);
  e->set_requests(requests);
  (*e->mutable_responses_by_code())[200] = requests;
  meshdeck::common::toProto(h, e->mutable_latency());
  return report;
}
}  // namespace

class ServerShardsTest : public QObject {
  Q_OBJECT

 private slots:
  void proxiesOnEveryServerGetPushesAndReportOnce() {
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir.clear();
    options.server_shards = kShards;
    InProcessControlPlane cp(options);
    std::string error;
    QVERIFY2(cp.start(&error), error.c_str());
    QCOMPARE(cp.counters().calls_by_server.size(), size_t(kShards));

    // One connection per proxy (distinct channel arguments: no shared subchannel).
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<meshdeck::v1::ConfigDiscovery::Stub>> discovery;
    std::vector<std::unique_ptr<meshdeck::testing::FakeProxy>> proxies;
    for (int i = 0; i < kConnections; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);
      channels.push_back(
          grpc::CreateCustomChannel(cp.listenAddress(), grpc::InsecureChannelCredentials(), args));
      discovery.push_back(meshdeck::v1::ConfigDiscovery::NewStub(channels.back()));
      proxies.push_back(std::make_unique<meshdeck::testing::FakeProxy>(
          discovery.back().get(),
          meshdeck::testing::makeNode("front-v1-" + std::to_string(i), "front", "v1",
                                      uint32_t(20000 + 2 * i))));
    }
    // Every proxy gets its config, wherever its stream landed.
    for (auto& p : proxies) QVERIFY2(p->waitForResponses(1, 10s), p->node().proxy_id().c_str());

    // Each proxy reports once on its own connection: `i + 1` requests.
    uint64_t requests = 0;
    for (int i = 0; i < kConnections; ++i) {
      auto telemetry = meshdeck::v1::TelemetryIngest::NewStub(channels[size_t(i)]);
      meshdeck::testing::FakeReporter reporter(telemetry.get());
      meshdeck::v1::ReportAck ack;
      QVERIFY(reporter.send(reportOf("front-v1-" + std::to_string(i), uint32_t(i + 1)), &ack));
      QCOMPARE(ack.rejected_edges(), 0u);
      requests += uint64_t(i + 1);
    }
    const auto counters = cp.counters();
    QCOMPARE(counters.reports, uint64_t(kConnections));
    QCOMPARE(counters.edges_accepted, uint64_t(kConnections));
    QCOMPARE(counters.reports_refused, 0u);
    // The edge holds every report once: 64 x 65 / 2 requests in its second.
    const auto history = cp.edgeHistory("front", "back", 60);
    double rate = 0;
    for (const auto& s : history) rate += s.requests_per_second;
    QCOMPARE(rate, double(requests));

    // A management call on every connection answers (WhoAmI, on each server).
    for (auto& channel : channels) {
      auto mesh = meshdeck::v1::Mesh::NewStub(channel);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      meshdeck::v1::WhoAmIResponse who;
      const auto status = mesh->WhoAmI(&ctx, {}, &who);
      QVERIFY2(status.ok(), status.error_message().c_str());
    }

    // The kernel spread the connections: every server took streams, and the calls add up to
    // the 64 discovery streams, 64 report streams and 64 WhoAmI calls.
    const auto by_server = cp.counters().calls_by_server;
    QCOMPARE(by_server.size(), size_t(kShards));
    for (size_t s = 0; s < by_server.size(); ++s)
      QVERIFY2(by_server[s] > 0, qPrintable(QString("server %1 took no call").arg(s)));
    QCOMPARE(std::accumulate(by_server.begin(), by_server.end(), uint64_t{0}),
             uint64_t(3 * kConnections));
    for (auto& p : proxies) p->stop();
    cp.stop();
  }

  // The telemetry streams are served on the server's own completion queues (docs/cp-scale.md,
  // "Telemetry on queues of its own"): 64 streams open at once are spread over the 4 queues,
  // each report is acknowledged and counted once, a report for another proxy on a stream is
  // refused whole, the streams end when their clients go, and a control plane stopping with
  // streams open stops promptly.
  void telemetryStreamsSpreadOverQueues() {
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir.clear();
    options.telemetry_queues = 4;
    auto cp = std::make_unique<InProcessControlPlane>(options);
    std::string error;
    QVERIFY2(cp->start(&error), error.c_str());
    QCOMPARE(cp->counters().telemetry_streams_by_queue.size(), size_t(4));

    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<meshdeck::v1::TelemetryIngest::Stub>> stubs;
    std::vector<std::unique_ptr<meshdeck::testing::FakeReporter>> reporters;
    for (int i = 0; i < kConnections; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);
      channels.push_back(
          grpc::CreateCustomChannel(cp->listenAddress(), grpc::InsecureChannelCredentials(), args));
      stubs.push_back(meshdeck::v1::TelemetryIngest::NewStub(channels.back()));
      reporters.push_back(std::make_unique<meshdeck::testing::FakeReporter>(stubs.back().get()));
    }
    // Every stream open at once: each reports, then reports again.
    uint64_t requests = 0;
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < kConnections; ++i) {
        meshdeck::v1::ReportAck ack;
        auto report = reportOf("front-v1-" + std::to_string(i), uint32_t(i + 1));
        report.set_sequence(uint64_t(round + 1));
        QVERIFY(reporters[size_t(i)]->send(report, &ack));
        QCOMPARE(ack.sequence(), uint64_t(round + 1));
        QCOMPARE(ack.rejected_edges(), 0u);
        requests += uint64_t(i + 1);
      }
    }
    auto counters = cp->counters();
    QCOMPARE(counters.reports, uint64_t(2 * kConnections));
    QCOMPARE(counters.edges_accepted, uint64_t(2 * kConnections));
    const auto by_queue = counters.telemetry_streams_by_queue;
    QCOMPARE(std::accumulate(by_queue.begin(), by_queue.end(), uint64_t{0}),
             uint64_t(kConnections));
    // gRPC matches a new call to a queue that has one requested, starting with the queue of
    // its connection: 64 connections do not all land on one queue.
    QVERIFY2(std::count_if(by_queue.begin(), by_queue.end(), [](uint64_t n) { return n > 0; }) >= 2,
             "every telemetry stream was served by one queue");
    double rate = 0;
    for (const auto& s : cp->edgeHistory("front", "back", 60)) rate += s.requests_per_second;
    QCOMPARE(rate, double(requests));

    // Another proxy's report on stream 0: refused whole, acknowledged with its edge rejected.
    {
      meshdeck::v1::ReportAck ack;
      QVERIFY(reporters[0]->send(reportOf("front-v1-1", 5), &ack));
      QCOMPARE(ack.rejected_edges(), 1u);
      QCOMPARE(cp->counters().reports_refused, 1u);
    }

    // Half the clients go: their streams end on the server.
    reporters.resize(kConnections / 2);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (cp->counters().telemetry_streams != kConnections / 2 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    QCOMPARE(cp->counters().telemetry_streams, kConnections / 2);

    // The rest are open while the control plane stops: it stops, and promptly.
    const auto t0 = std::chrono::steady_clock::now();
    cp->stop();
    QVERIFY(std::chrono::steady_clock::now() - t0 < 5s);
    cp.reset();
    reporters.clear();  // their streams ended with the server
  }

  void aReportThatDoesNotParseEndsTheStreamWithAnError() {
    // Bytes that are no TelemetryReport on the telemetry stream (a peer sending garbage): the
    // stream ends with INVALID_ARGUMENT, the report is counted refused, the server serves on.
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir.clear();
    auto cp = std::make_unique<InProcessControlPlane>(options);
    std::string error;
    QVERIFY2(cp->start(&error), error.c_str());
    auto channel = grpc::CreateChannel(cp->listenAddress(), grpc::InsecureChannelCredentials());
    grpc::GenericStub generic(channel);
    // A field 1 (proxy_id) whose length runs past the message's end, then random bytes.
    std::string garbage = "\x0a\xff\xff\x03";
    for (int i = 0; i < 1000; ++i) garbage.push_back(char((i * 131 + 7) & 0xff));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::CompletionQueue cq;
    auto stream = generic.PrepareCall(&context, "/meshdeck.v1.TelemetryIngest/Report", &cq);
    const auto next = [&](void* expected) {
      void* tag = nullptr;
      bool ok = false;
      return cq.Next(&tag, &ok) && tag == expected && ok;
    };
    stream->StartCall(reinterpret_cast<void*>(1));
    QVERIFY(next(reinterpret_cast<void*>(1)));
    grpc::Slice slice(garbage);
    grpc::ByteBuffer bytes(&slice, 1);
    stream->Write(bytes, reinterpret_cast<void*>(2));
    QVERIFY(next(reinterpret_cast<void*>(2)));
    grpc::ByteBuffer reply;
    stream->Read(&reply, reinterpret_cast<void*>(3));
    void* tag = nullptr;
    bool ok = true;
    QVERIFY(cq.Next(&tag, &ok));
    QCOMPARE(tag, reinterpret_cast<void*>(3));
    QVERIFY(!ok);  // no acknowledgement: the stream ended
    grpc::Status status;
    stream->Finish(&status, reinterpret_cast<void*>(4));
    QVERIFY(next(reinterpret_cast<void*>(4)));
    QCOMPARE(int(status.error_code()), int(grpc::StatusCode::INVALID_ARGUMENT));
    QVERIFY2(status.error_message().find("does not parse") != std::string::npos,
             status.error_message().c_str());
    QCOMPARE(cp->counters().reports_refused, 1u);
    // The server still takes a good report on a new stream.
    auto stub = meshdeck::v1::TelemetryIngest::NewStub(channel);
    meshdeck::testing::FakeReporter reporter(stub.get());
    meshdeck::v1::ReportAck ack;
    QVERIFY(reporter.send(reportOf("front-v1-0", 3), &ack));
    QCOMPARE(ack.rejected_edges(), 0u);
    QCOMPARE(cp->counters().reports, 1u);
    cq.Shutdown();
    for (void* t = nullptr; cq.Next(&t, &ok);) {
    }
    cp->stop();
  }

  // A started control plane has turned Abseil's deadlock detection off (runtime_tuning.h):
  // with Debian's Abseil (built without NDEBUG) two mutexes taken in both orders would abort
  // the process here ("Potential Mutex deadlock").
  void startTurnsOffMutexDeadlockDetection() {
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir.clear();
    InProcessControlPlane cp(options);
    std::string error;
    QVERIFY2(cp.start(&error), error.c_str());
    absl::Mutex a, b;
    {
      absl::MutexLock la(&a);
      absl::MutexLock lb(&b);
    }
    {
      absl::MutexLock lb(&b);
      absl::MutexLock la(&a);
    }
    cp.stop();
  }

  // Every method of Mesh and Identity is forwarded: none answers UNIMPLEMENTED on a sharded
  // server (a method added to a service but not to controlplane/server/server_shard.h would).
  void everyMethodIsForwarded() {
    ControlPlaneOptions options;
    options.listen = "127.0.0.1:0";
    options.state_dir.clear();
    options.server_shards = 2;
    InProcessControlPlane cp(options);
    std::string error;
    QVERIFY2(cp.start(&error), error.c_str());
    auto channel = grpc::CreateChannel(cp.listenAddress(), grpc::InsecureChannelCredentials());
    grpc::GenericStub stub(channel);
    std::vector<std::string> methods;
    for (const char* name :
         {meshdeck::v1::Mesh::service_full_name(), meshdeck::v1::Identity::service_full_name(),
          meshdeck::v1::ConfigDiscovery::service_full_name(),
          meshdeck::v1::TelemetryIngest::service_full_name()}) {
      const auto* service =
          google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
      QVERIFY2(service, name);
      for (int m = 0; m < service->method_count(); ++m)
        methods.push_back("/" + service->full_name() + "/" + service->method(m)->name());
    }
    QVERIFY(methods.size() > 20);
    // One call each with an empty message, all at once (the streaming ones run until their
    // deadline); each ends with the method's own answer, never UNIMPLEMENTED.
    struct Call {
      grpc::ClientContext ctx;
      grpc::Slice empty{std::string()};
      grpc::ByteBuffer request{&empty, 1}, response;
      std::mutex mutex;
      std::condition_variable cv;
      bool done = false;
      grpc::Status status;
    };
    std::vector<std::unique_ptr<Call>> calls;
    for (const auto& method : methods) {
      auto call = std::make_unique<Call>();
      call->ctx.set_deadline(std::chrono::system_clock::now() + 1s);
      Call* c = call.get();
      stub.UnaryCall(&c->ctx, method, grpc::StubOptions(), &c->request, &c->response,
                     [c](grpc::Status s) {
                       std::lock_guard lock(c->mutex);
                       c->status = std::move(s);
                       c->done = true;
                       c->cv.notify_all();
                     });
      calls.push_back(std::move(call));
    }
    for (size_t i = 0; i < calls.size(); ++i) {
      auto& c = *calls[i];
      std::unique_lock lock(c.mutex);
      QVERIFY2(c.cv.wait_for(lock, 10s, [&] { return c.done; }), methods[i].c_str());
      QVERIFY2(c.status.error_code() != grpc::StatusCode::UNIMPLEMENTED,
               (methods[i] + ": " + c.status.error_message()).c_str());
    }
    QCOMPARE(cp.counters().calls_by_server.size(), size_t(2));
    const auto by_server = cp.counters().calls_by_server;
    QCOMPARE(std::accumulate(by_server.begin(), by_server.end(), uint64_t{0}),
             uint64_t(methods.size()));
    cp.stop();
  }

  // The ports of the first server are the ones every server binds; a port held by another
  // socket without SO_REUSEPORT fails the start with a clear error, whatever the shard count.
  void portInUseIsRefused() {
    ControlPlaneOptions first;
    first.listen = "127.0.0.1:0";
    first.state_dir.clear();
    first.server_shards = 3;
    InProcessControlPlane a(first);
    std::string error;
    QVERIFY2(a.start(&error), error.c_str());
    QVERIFY(!a.secureListenAddress().empty());
    QCOMPARE(a.counters().calls_by_server.size(), size_t(3));

    // A one-server control plane on the same address binds too (SO_REUSEPORT), so take the
    // port with a plain socket instead.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    QVERIFY(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    QCOMPARE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    QCOMPARE(::listen(fd, 4), 0);
    socklen_t len = sizeof addr;
    QCOMPARE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ControlPlaneOptions second = first;
    second.listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    second.secure_listen = "127.0.0.1:0";
    InProcessControlPlane b(second);
    QVERIFY(!b.start(&error));
    QVERIFY2(error.find("cannot listen on") != std::string::npos, error.c_str());
    QVERIFY(b.counters().calls_by_server.empty());
    ::close(fd);
    a.stop();
  }
};

QTEST_GUILESS_MAIN(ServerShardsTest)
#include "server_shards_test.moc"
