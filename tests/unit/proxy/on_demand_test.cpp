// On-demand discovery, the data-path half (proxy/mesh/on_demand.h, docs/cp-scale.md "Scoping"):
// which hosts can name a service, holding requests and the one ask per service, found on a
// configuration that routes it, unknown, timeout and overflow, each counted, and the
// coroutine that holds a request on a worker's io_context (its timeout and its wake-up). The
// table is driven by plain calls; the coroutine runs on an io_context until it has no work, with
// a timeout of a few milliseconds where a timeout is what is tested. No sleeps.
#include "proxy/mesh/on_demand.h"

#include <QtTest>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <optional>
#include <vector>

#include "proxy/mesh/on_demand_hold.h"

using namespace meshdeck::proxy;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// A config whose outbound listener routes the given services (as the compiler writes them:
// one virtual host per service, its name as the domain) and whose inbound one routes "*".
ConfigPtr configRouting(std::vector<std::string> services) {
  auto config = std::make_shared<Config>();
  ListenerConfig out;
  out.name = "outbound";
  out.direction = Direction::kOutbound;
  out.route_table = "outbound";
  ListenerConfig in;
  in.name = "inbound";
  in.direction = Direction::kInbound;
  in.route_table = "inbound";
  config->listeners = {in, out};
  RouteTableConfig table;
  table.name = "outbound";
  for (const auto& s : services) {
    VirtualHostConfig vh;
    vh.name = s;
    vh.domains = {s};
    table.virtual_hosts.push_back(vh);
  }
  config->route_tables["outbound"] = table;
  RouteTableConfig inbound;
  inbound.name = "inbound";
  VirtualHostConfig any;
  any.domains = {"*"};
  inbound.virtual_hosts.push_back(any);
  config->route_tables["inbound"] = inbound;
  return config;
}

// Records each completion of a held request.
struct Outcomes {
  std::vector<std::pair<int, OnDemandResult>> got;
  OnDemand::Completion of(int who) {
    return [this, who](OnDemandResult r) { got.emplace_back(who, r); };
  }
};

std::vector<std::string> asks(OnDemand& od) {
  std::vector<std::string> out;
  od.takeAsks(&out, 64, 0ms);
  return out;
}

// Runs `coro` to its end on a fresh io_context and returns what it returned.
template <typename T, typename Make>
std::optional<T> runOnIo(Make make, std::function<void(asio::io_context&)> meanwhile = {}) {
  asio::io_context io;
  std::optional<T> result;
  asio::co_spawn(io.get_executor(), make(), [&](std::exception_ptr e, T value) {
    if (!e) result = value;
  });
  if (meanwhile) meanwhile(io);
  io.run();  // ends when the coroutine has: it waits at most for its timeout
  return result;
}

}  // namespace

class OnDemandTest : public QObject {
  Q_OBJECT

 private slots:
  void serviceNames() {
    QCOMPARE(onDemandServiceName("ratings"), std::string("ratings"));
    QCOMPARE(onDemandServiceName("Ratings:9080"), std::string("ratings"));
    QCOMPARE(onDemandServiceName("ratings.default.svc"), std::string("ratings.default.svc"));
    QCOMPARE(onDemandServiceName("svc-2"), std::string("svc-2"));
    // Not a service: IP literals, bytes a name does not have, empty.
    QCOMPARE(onDemandServiceName("10.0.0.1:80"), std::string());
    QCOMPARE(onDemandServiceName("[::1]:80"), std::string());
    QCOMPARE(onDemandServiceName("a_b"), std::string());
    QCOMPARE(onDemandServiceName(""), std::string());
    QCOMPARE(onDemandServiceName(":80"), std::string());
    QCOMPARE(onDemandServiceName(".x"), std::string());
    QCOMPARE(onDemandServiceName(std::string(254, 'a')), std::string());
    QCOMPARE(onDemandServiceName(std::string(253, 'a')), std::string(253, 'a'));
  }

  void configRoutesLooksAtOutboundListenersOnly() {
    const auto config = configRouting({"reviews"});
    QVERIFY(configRoutes(*config, "reviews"));
    QVERIFY(!configRoutes(*config, "ratings"));  // the inbound "*" does not count
  }

  // Two requests for one service: one ask; a configuration that routes it completes both
  // with kFound, and the service is remembered for the next stream's Node.dependencies.
  void heldUntilFoundAskedOnce() {
    OnDemand od;
    Outcomes o;
    od.hold("ratings", o.of(1));
    od.hold("ratings", o.of(2));
    od.hold("details", o.of(3));
    QCOMPARE(od.held(), size_t(3));
    QCOMPARE(asks(od), (std::vector<std::string>{"details", "ratings"}));
    QVERIFY(asks(od).empty());  // pending, not asked again
    od.hold("ratings", o.of(4));
    QVERIFY(asks(od).empty());
    QCOMPARE(od.counters().asked.load(), uint64_t(2));

    od.configApplied(configRouting({"reviews"}));  // not it: still held
    QVERIFY(o.got.empty());
    od.configApplied(configRouting({"reviews", "ratings"}));
    QCOMPARE(o.got.size(), size_t(2 + 1));
    for (const auto& [who, r] : o.got) {
      QVERIFY(who != 3);
      QVERIFY(r == OnDemandResult::kFound);
    }
    QCOMPARE(od.held(), size_t(1));
    QCOMPARE(od.counters().found.load(), uint64_t(3));
    QCOMPARE(od.learned(), (std::vector<std::string>{"ratings"}));

    // A request arriving after the configuration (admitted against the worker's older one) is
    // found at once, without an ask.
    od.hold("ratings", o.of(5));
    QVERIFY(o.got.back() == std::make_pair(5, OnDemandResult::kFound));
    QVERIFY(asks(od).empty());
    QCOMPARE(od.counters().found.load(), uint64_t(4));
  }

  void unknownCompletesAtOnce() {
    OnDemand od;
    Outcomes o;
    od.hold("nosuch", o.of(1));
    od.hold("nosuch", o.of(2));
    od.hold("ratings", o.of(3));
    QCOMPARE(asks(od).size(), size_t(2));
    od.unknownService("nosuch");
    QCOMPARE(o.got.size(), size_t(2));
    QVERIFY(o.got[0].second == OnDemandResult::kUnknown);
    QVERIFY(o.got[1].second == OnDemandResult::kUnknown);
    QCOMPARE(od.counters().unknown.load(), uint64_t(2));
    QCOMPARE(od.held(), size_t(1));
    od.unknownService("nosuch");  // a late second answer completes nothing
    QCOMPARE(o.got.size(), size_t(2));
    QVERIFY(od.learned().empty());
    // Asked again on a later request: an unknown service is not remembered as unknown.
    od.hold("nosuch", o.of(4));
    QCOMPARE(asks(od), (std::vector<std::string>{"nosuch"}));
  }

  // The caller's timeout: cancel() takes the ticket out (counted), after which nothing
  // completes it; the service is no longer pending once nobody waits for it.
  void timeoutCancels() {
    OnDemand od;
    Outcomes o;
    const uint64_t a = od.hold("ratings", o.of(1));
    const uint64_t b = od.hold("ratings", o.of(2));
    QCOMPARE(asks(od).size(), size_t(1));
    QVERIFY(od.cancel(a));
    QVERIFY(!od.cancel(a));
    QCOMPARE(od.counters().timeout.load(), uint64_t(1));
    QVERIFY(od.cancel(b, false));  // its connection went away: not a timeout
    QCOMPARE(od.counters().timeout.load(), uint64_t(1));
    QCOMPARE(od.held(), size_t(0));
    od.configApplied(configRouting({"ratings"}));
    QVERIFY(o.got.empty());
    // A ticket completed before its timeout cannot be cancelled (the result is on its way).
    od.configApplied(configRouting({}));
    const uint64_t c = od.hold("ratings", o.of(3));
    od.configApplied(configRouting({"ratings"}));
    QCOMPARE(o.got.size(), size_t(1));
    QVERIFY(!od.cancel(c));
    QCOMPARE(od.counters().timeout.load(), uint64_t(1));
  }

  void limitsOverflow() {
    OnDemandOptions options;
    options.max_per_service = 2;
    options.max_held = 3;
    OnDemand od(options);
    Outcomes o;
    od.hold("a", o.of(1));
    od.hold("a", o.of(2));
    od.hold("a", o.of(3));  // third for "a"
    QVERIFY((o.got == std::vector<std::pair<int, OnDemandResult>>{{3, OnDemandResult::kOverflow}}));
    od.hold("b", o.of(4));
    od.hold("c", o.of(5));  // fourth in all
    QVERIFY(o.got.back() == std::make_pair(5, OnDemandResult::kOverflow));
    QCOMPARE(od.counters().overflow.load(), uint64_t(2));
    QCOMPARE(od.held(), size_t(3));
    QCOMPARE(asks(od), (std::vector<std::string>{"a", "b"}));  // "c" was never held
  }

  // A new stream asks again for what is pending; interrupt() wakes a waiting takeAsks().
  void newStreamAsksAgain() {
    OnDemand od;
    Outcomes o;
    od.hold("ratings", o.of(1));
    QCOMPARE(asks(od).size(), size_t(1));
    od.streamOpened();
    QCOMPARE(asks(od), (std::vector<std::string>{"ratings"}));
    od.interrupt();
    std::vector<std::string> out;
    od.hold("details", o.of(2));
    QVERIFY(!od.takeAsks(&out, 64, 10s));  // interrupted: returns at once, takes nothing
    QVERIFY(out.empty());
    od.streamOpened();
    QVERIFY(od.takeAsks(&out, 1, 10s));  // at most `max` per ask
    QCOMPARE(out.size(), size_t(1));
  }

  void countersRendered() {
    OnDemand od;
    Outcomes o;
    od.hold("x", o.of(1));
    od.unknownService("x");
    const std::string text = od.renderPrometheus();
    QVERIFY(text.find("meshdeck_on_demand_requests_total{result=\"unknown\"} 1\n") !=
            std::string::npos);
    QVERIFY(text.find("meshdeck_on_demand_requests_total{result=\"found\"} 0\n") !=
            std::string::npos);
    QVERIFY(text.find("meshdeck_on_demand_held 0\n") != std::string::npos);
  }

  // --- the coroutine on an io_context ---

  void waitFoundWhenConfigArrives() {
    OnDemand od;
    const auto result = runOnIo<OnDemandResult>([&] { return waitOnDemand(od, "ratings"); },
                                                [&](asio::io_context& io) {
                                                  // After the coroutine has held the request (it
                                                  // runs first), the mesh agent's thread would
                                                  // apply a config; here it is posted behind it on
                                                  // the same io_context.
                                                  asio::post(io, [&] {
                                                    QCOMPARE(od.held(), size_t(1));
                                                    od.configApplied(configRouting({"ratings"}));
                                                  });
                                                });
    QVERIFY(result);
    QVERIFY(*result == OnDemandResult::kFound);
    QCOMPARE(od.held(), size_t(0));
    QCOMPARE(od.counters().found.load(), uint64_t(1));
  }

  void waitUnknown() {
    OnDemand od;
    const auto result = runOnIo<OnDemandResult>(
        [&] { return waitOnDemand(od, "nosuch"); },
        [&](asio::io_context& io) { asio::post(io, [&] { od.unknownService("nosuch"); }); });
    QVERIFY(result == std::optional(OnDemandResult::kUnknown));
    QCOMPARE(od.counters().timeout.load(), uint64_t(0));
  }

  void waitTimesOut() {
    OnDemandOptions options;
    options.timeout = 5ms;
    OnDemand od(options);
    const auto result = runOnIo<OnDemandResult>([&] { return waitOnDemand(od, "ratings"); });
    QVERIFY(result == std::optional(OnDemandResult::kTimeout));
    QCOMPARE(od.counters().timeout.load(), uint64_t(1));
    QCOMPARE(od.held(), size_t(0));
    // The answer after the timeout completes nothing and counts nothing.
    od.configApplied(configRouting({"ratings"}));
    QCOMPARE(od.counters().found.load(), uint64_t(0));
  }

  void waitOverflowIsAtOnce() {
    OnDemandOptions options;
    options.max_held = 0;
    OnDemand od(options);
    const auto result = runOnIo<OnDemandResult>([&] { return waitOnDemand(od, "ratings"); });
    QVERIFY(result == std::optional(OnDemandResult::kOverflow));
    QCOMPARE(od.counters().overflow.load(), uint64_t(1));
  }

  // The session hook: nothing is held for an unscoped proxy or a host that names no service;
  // a scoped one says why the NR stands.
  void hookHoldsOnlyWhenScoped() {
    OnDemand od;
    std::string detail;
    auto hook = [&](OnDemand* on_demand, std::string host) {
      return runOnIo<bool>(
          [&, on_demand, host] { return holdForService(on_demand, host, &detail); },
          [&](asio::io_context& io) { asio::post(io, [&] { od.unknownService("nosuch"); }); });
    };
    QVERIFY(hook(nullptr, "nosuch") == std::optional(false));
    QVERIFY(hook(&od, "nosuch") == std::optional(false));  // not scoped
    QCOMPARE(od.counters().unknown.load(), uint64_t(0));
    QVERIFY(detail.empty());
    od.setScoped(true);
    QVERIFY(hook(&od, "10.0.0.7:80") == std::optional(false));  // an address: not held
    QCOMPARE(od.counters().asked.load() + od.held(), uint64_t(0));
    QVERIFY(hook(&od, "nosuch:9080") == std::optional(false));
    QCOMPARE(od.counters().unknown.load(), uint64_t(1));
    QVERIFY2(detail.find("knows no service \"nosuch\"") != std::string::npos, detail.c_str());
    od.configApplied(configRouting({"ratings"}));
    QVERIFY(hook(&od, "ratings") == std::optional(true));
  }

  // A worker shutting down destroys a held request's frame: the ticket leaves the table, and a
  // later answer posts to nobody.
  void destroyedFrameLeavesTheTable() {
    OnDemand od;
    {
      asio::io_context io;
      asio::co_spawn(io.get_executor(), waitOnDemand(od, "ratings"),
                     [](std::exception_ptr, OnDemandResult) {});
      io.poll();  // runs up to the wait
      QCOMPARE(od.held(), size_t(1));
    }  // io destroyed with the suspended coroutine
    QCOMPARE(od.held(), size_t(0));
    od.configApplied(configRouting({"ratings"}));
    QCOMPARE(od.counters().found.load(), uint64_t(0));
    QCOMPARE(od.counters().timeout.load(), uint64_t(0));
  }
};

QTEST_GUILESS_MAIN(OnDemandTest)
#include "on_demand_test.moc"
