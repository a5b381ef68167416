// The per-endpoint connection limit and its queue (proxy/upstream_queue.h): the count of open
// connections, first-come-first-served hand-over of released connections through the pool,
// room granted when a connection closes, overflow, timeout, cancellation, and the attempt's side
// (admitUpstreamConnection) on a Worker whose thread is never started. No connection is opened;
// the io_context is polled (ready handlers only), and timeouts use deadlines already past.
#include "proxy/upstream_queue.h"

#include <QtTest>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <optional>

#include "proxy/exchange.h"
#include "proxy/upstream_attempt.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

using namespace meshdeck::proxy;
using State = ConnectionWaiter::State;
using Clock = std::chrono::steady_clock;

namespace {

const auto kFar = Clock::now() + std::chrono::hours(1);

std::unique_ptr<UpstreamConnection> connection(boost::asio::io_context& io, const std::string& key,
                                               const std::string& address) {
  auto c = std::make_unique<UpstreamConnection>(io);
  c->pool_key = key;
  c->address = address;
  return c;
}

// Runs waiter.wait() as its own coroutine; `out` is set when it returns.
void startWait(boost::asio::io_context& io, ConnectionWaiter& w, Clock::time_point deadline,
               size_t max_waiting, std::optional<State>& out) {
  boost::asio::co_spawn(io.get_executor(), w.wait(deadline, max_waiting),
                        [&out](std::exception_ptr e, State s) {
                          if (!e) out = s;
                        });
}

// A downstream that is an HTTP/2 stream as far as the queue is concerned.
class FakeStream final : public Downstream {
 public:
  Awaitable<BodyPiece> readBody(Exchange&) override { co_return BodyPiece{}; }
  Awaitable<void> sendInterim(Exchange&, const ResponseHeader&) override { co_return; }
  bool concurrentBody() const override { return true; }
  bool cancelled() const override { return closed; }
  void reset() {
    closed = true;
    if (on_cancel) on_cancel();
  }
  bool closed = false;
};

}  // namespace

class UpstreamQueueTest : public QObject {
  Q_OBJECT

 private slots:
  void roomUnderTheLimitIsGrantedWhenAConnectionCloses() {
    boost::asio::io_context io;
    auto endpoint_slots = std::make_shared<EndpointSlots>();
    // Two connections open under a limit of 2: the third attempt waits.
    auto c1 = connection(io, "a", "c1");
    endpoint_slots->opened();
    SlotHold(endpoint_slots).attachTo(*c1);
    SlotHold second(endpoint_slots);  // a connect in progress
    endpoint_slots->opened();
    QCOMPARE(endpoint_slots->open(), 2u);
    ConnectionWaiter w(io.get_executor(), endpoint_slots, 2);
    std::optional<State> got;
    startWait(io, w, kFar, 8, got);
    io.poll();
    QVERIFY(!got);
    QCOMPARE(endpoint_slots->waiting(), size_t(1));
    // The connect in progress failed: its count goes to the waiter, which may open one.
    second.reset();
    io.poll();
    QCOMPARE(got, std::optional<State>(State::kSlot));
    QVERIFY(bool(w.slot));
    QCOMPARE(endpoint_slots->open(), 2u);
    QCOMPARE(endpoint_slots->waiting(), size_t(0));
    // The connection it opens keeps the count until it is destroyed.
    auto c2 = connection(io, "a", "c2");
    w.slot.attachTo(*c2);
    QVERIFY(!w.slot);
    QCOMPARE(endpoint_slots->open(), 2u);
    c2.reset();
    c1.reset();
    QCOMPARE(endpoint_slots->open(), 0u);
  }

  void releasedConnectionsGoToTheWaitersInOrder() {
    boost::asio::io_context io;
    UpstreamPool pool;
    const auto& endpoint_slots = pool.endpointSlots("a");
    ConnectionWaiter first(io.get_executor(), endpoint_slots, 1),
        second(io.get_executor(), endpoint_slots, 1);
    endpoint_slots->opened();  // the one connection, busy
    std::optional<State> got1, got2;
    startWait(io, first, kFar, 8, got1);
    startWait(io, second, kFar, 8, got2);
    io.poll();
    QCOMPARE(endpoint_slots->waiting(), size_t(2));
    // A connection of another endpoint goes idle: nobody waits for it.
    pool.give(connection(io, "b", "b1"), 8, Clock::now());
    QCOMPARE(pool.idleCount("b"), size_t(1));
    // Released by its exchange: the first waiter takes it, none is pooled, no count changes.
    auto busy = connection(io, "a", "x");
    pool.give(std::move(busy), 8, Clock::now());
    io.poll();
    QCOMPARE(got1, std::optional<State>(State::kConnection));
    QVERIFY(first.connection);
    QCOMPARE(first.connection->address, std::string("x"));
    QVERIFY(!got2);
    QCOMPARE(pool.idleCount("a"), size_t(0));
    // The first is done with it: the second waiter takes the same connection.
    pool.give(std::move(first.connection), 8, Clock::now());
    io.poll();
    QCOMPARE(got2, std::optional<State>(State::kConnection));
    QCOMPARE(second.connection->address, std::string("x"));
    QCOMPARE(endpoint_slots->waiting(), size_t(0));
    // Nobody waits any more: the next release goes idle.
    pool.give(std::move(second.connection), 8, Clock::now());
    QCOMPARE(pool.idleCount("a"), size_t(1));
  }

  void aFullQueueOverflowsAtOnce() {
    boost::asio::io_context io;
    auto endpoint_slots = std::make_shared<EndpointSlots>();
    endpoint_slots->opened();
    ConnectionWaiter a(io.get_executor(), endpoint_slots, 1),
        b(io.get_executor(), endpoint_slots, 1);
    std::optional<State> ga, gb;
    startWait(io, a, kFar, 1, ga);
    startWait(io, b, kFar, 1, gb);
    io.poll();
    QVERIFY(!ga);
    QCOMPARE(gb, std::optional<State>(State::kOverflow));
    QCOMPARE(endpoint_slots->waiting(), size_t(1));
    a.cancel();
    io.poll();
    QCOMPARE(ga, std::optional<State>(State::kCancelled));
    endpoint_slots->closed();
  }

  void aWaiterLeavesTheQueueAtItsDeadline() {
    boost::asio::io_context io;
    UpstreamPool pool;
    const auto& endpoint_slots = pool.endpointSlots("a");
    endpoint_slots->opened();
    ConnectionWaiter w(io.get_executor(), endpoint_slots, 1);
    std::optional<State> got;
    startWait(io, w, Clock::now() - std::chrono::milliseconds(1), 8, got);
    for (int i = 0; i < 1000 && !got; ++i) io.poll();
    QCOMPARE(got, std::optional<State>(State::kTimedOut));
    QCOMPARE(endpoint_slots->waiting(), size_t(0));
    // What is released afterwards is not handed to it.
    pool.give(connection(io, "a", "x"), 8, Clock::now());
    QVERIFY(!w.connection);
    QCOMPARE(pool.idleCount("a"), size_t(1));
  }

  void aCancelledOrDestroyedWaiterLosesNothing() {
    boost::asio::io_context io;
    UpstreamPool pool;
    const auto& endpoint_slots = pool.endpointSlots("a");
    endpoint_slots->opened();
    endpoint_slots->opened();
    {
      // A waiting attempt whose coroutine frame is destroyed with its io_context (a worker
      // shutting down) leaves the queue.
      boost::asio::io_context other;
      boost::asio::co_spawn(
          other.get_executor(),
          [endpoint_slots = endpoint_slots]() -> Awaitable<void> {
            ConnectionWaiter w(co_await boost::asio::this_coro::executor, endpoint_slots, 2);
            co_await w.wait(kFar, 8);
          },
          [](std::exception_ptr) {});
      other.poll();
      QCOMPARE(endpoint_slots->waiting(), size_t(1));
    }
    QCOMPARE(endpoint_slots->waiting(), size_t(0));
    ConnectionWaiter cancelled(io.get_executor(), endpoint_slots, 2),
        last(io.get_executor(), endpoint_slots, 2);
    std::optional<State> g2, g3;
    startWait(io, cancelled, kFar, 8, g2);
    startWait(io, last, kFar, 8, g3);
    io.poll();
    QCOMPARE(endpoint_slots->waiting(), size_t(2));
    cancelled.cancel();
    cancelled.cancel();  // twice: nothing more
    io.poll();
    QCOMPARE(g2, std::optional<State>(State::kCancelled));
    QCOMPARE(endpoint_slots->waiting(), size_t(1));
    // The next release goes to the only one still waiting.
    pool.give(connection(io, "a", "x"), 8, Clock::now());
    io.poll();
    QCOMPARE(g3, std::optional<State>(State::kConnection));
    // A cancel() after the grant changes nothing.
    last.cancel();
    QCOMPARE(last.state(), State::kConnection);
    QVERIFY(last.connection);
    last.connection.reset();  // had no count of its own (opened outside the limit)
    QCOMPARE(endpoint_slots->open(), 2u);
    endpoint_slots->closed();
    endpoint_slots->closed();
    QCOMPARE(endpoint_slots->open(), 0u);
  }

  void anHttp2StreamWaitsAndIsCountedOnAWorker() {
    std::atomic<bool> draining{false};
    WorkerContext context;
    context.draining = &draining;
    Worker worker(0, context);
    SessionHost& host = worker;
    ClusterConfig cc;
    cc.name = "up";
    cc.endpoints.push_back(EndpointConfig{"127.0.0.1", 9001, "", ""});
    cc.max_idle_connections = 1;  // the limit
    cc.circuit_breaker.max_pending_requests = 2;
    ClusterRuntime cluster(std::make_shared<const ClusterConfig>(cc));
    auto& cs = cluster.statsIn(host.stats());
    const auto& endpoint_slots = host.pool().endpointSlots(cluster.pool_keys[0]);

    struct Run {
      FakeStream down;
      Exchange ex;
      Attempt at;
      SlotHold slot;
      std::optional<bool> result;
    };
    // poll() stops the io_context when it runs out of work: restart it each time.
    auto poll = [&] {
      host.io().restart();
      host.io().poll();
    };
    auto start = [&](Run& r, bool queue, Clock::time_point deadline) {
      boost::asio::co_spawn(host.io().get_executor(),
                            admitUpstreamConnection(host, r.down, r.ex, cluster, cs, 0, queue,
                                                    deadline, r.at, r.slot),
                            [&r](std::exception_ptr e, bool ok) {
                              if (!e) r.result = ok;
                            });
      poll();
    };
    // Under the limit: room at once. An HTTP/1.1 client's attempt never waits (over the limit).
    Run first, h1, w1, w2, w3, late;
    start(first, true, kFar);
    QCOMPARE(first.result, std::optional<bool>(true));
    QVERIFY(bool(first.slot));
    start(h1, false, kFar);
    QCOMPARE(h1.result, std::optional<bool>(true));
    QCOMPARE(endpoint_slots->open(), 2u);
    // Over it: two wait (the circuit breaker's max_pending_requests), the third overflows.
    start(w1, true, kFar);
    start(w2, true, kFar);
    QVERIFY(!w1.result && !w2.result);
    QCOMPARE(cs.rq_pending_active, uint64_t(2));
    start(w3, true, kFar);
    QCOMPARE(w3.result, std::optional<bool>(false));
    QCOMPARE(w3.at.local_status, 503u);
    QCOMPARE(std::string(w3.at.local_code), std::string(error_code::kOverflow));
    QVERIFY(w3.ex.circuit_open);
    QCOMPARE(cs.rq_pending_overflow, uint64_t(1));
    // The client of w1 resets its stream: it leaves the queue.
    w1.down.reset();
    poll();
    QCOMPARE(w1.result, std::optional<bool>(false));
    QVERIFY(w1.at.downstream_failed);
    QVERIFY(!w1.down.on_cancel);
    // The first attempt's connection is released: w2 takes it (no new connect), as reused.
    auto c = std::make_unique<UpstreamConnection>(host.io());
    c->pool_key = cluster.pool_keys[0];
    first.slot.attachTo(*c);
    host.pool().give(std::move(c), cc.max_idle_connections, host.now());
    poll();
    QCOMPARE(w2.result, std::optional<bool>(true));
    QVERIFY(w2.at.conn);
    QVERIFY(w2.at.reused);
    QCOMPARE(cs.cx_reused, uint64_t(1));
    QCOMPARE(cs.rq_pending_active, uint64_t(0));
    QCOMPARE(cs.rq_pending, uint64_t(2));  // w1 and w2 waited
    // A wait that runs out is an overflow too.
    start(late, true, Clock::now() - std::chrono::milliseconds(1));
    for (int i = 0; i < 1000 && !late.result; ++i) poll();
    QCOMPARE(late.result, std::optional<bool>(false));
    QCOMPARE(late.at.local_status, 503u);
    QCOMPARE(cs.rq_pending_overflow, uint64_t(2));
    // Everything given back: nothing counted open.
    w2.at.conn.reset();
    h1.slot.reset();
    QCOMPARE(endpoint_slots->open(), 0u);
  }
};

QTEST_APPLESS_MAIN(UpstreamQueueTest)
#include "upstream_queue_test.moc"
