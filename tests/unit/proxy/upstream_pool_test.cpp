// The idle upstream pool: take/give, the idle limit, stale and mismatched connections, with
// a simulated clock and a fake socket probe. No connections are opened.
#include "proxy/upstream_pool.h"

#include <QtTest>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <string>

using namespace meshdeck::proxy;
using namespace std::chrono_literals;
using TimePoint = UpstreamPool::TimePoint;

namespace {

const TimePoint kT0{std::chrono::seconds(1000)};

// The fake probe: counts its calls and answers `open`.
int probes = 0;
bool probeOpen = true;
bool fakeProbe(UpstreamConnection&) {
  ++probes;
  return probeOpen;
}

std::unique_ptr<UpstreamConnection> connection(boost::asio::io_context& io, const std::string& key,
                                               const std::string& address = {}) {
  auto c = std::make_unique<UpstreamConnection>(io);
  c->pool_key = key;
  c->address = address.empty() ? key : address;
  return c;
}

}  // namespace

class UpstreamPoolTest : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    probes = 0;
    probeOpen = true;
  }

  void takesWhatWasGivenByKeyLastFirst() {
    boost::asio::io_context io;
    UpstreamPool pool(&fakeProbe);
    QVERIFY(!pool.take("a"));
    pool.give(connection(io, "a", "first"), 8, kT0);
    pool.give(connection(io, "a", "second"), 8, kT0);
    pool.give(connection(io, "b"), 8, kT0);
    QCOMPARE(pool.idleCount("a"), size_t(2));
    auto c = pool.take("a");
    QVERIFY(c);
    QCOMPARE(c->address, std::string("second"));  // the warmest one
    QVERIFY(!c->idle);
    QCOMPARE(pool.take("a")->address, std::string("first"));
    QVERIFY(!pool.take("a"));
    QCOMPARE(pool.idleCount("b"), size_t(1));
    // Taken, used, given back: it is idle again and can be taken again.
    pool.give(std::move(c), 8, kT0);
    QCOMPARE(pool.idleCount("a"), size_t(1));
  }

  // A connection keeps its key's entry of the pool (give() does not hash the key again):
  // still the right one after the pool grew by many keys (a rehash moves no entry), and a
  // connection that was in another pool finds its entry in this one.
  void aConnectionFindsItsKeysEntryAfterThePoolGrew() {
    boost::asio::io_context io;
    UpstreamPool pool(&fakeProbe);
    pool.give(connection(io, "a", "kept"), 8, kT0);
    auto c = pool.take("a");
    QVERIFY(c);
    for (int i = 0; i < 2000; ++i) pool.give(connection(io, "k" + std::to_string(i)), 8, kT0);
    pool.give(std::move(c), 8, kT0);
    QCOMPARE(pool.idleCount("a"), size_t(1));
    auto again = pool.take("a");
    QVERIFY(again);
    QCOMPARE(again->address, std::string("kept"));
    QCOMPARE(pool.idleCount("k1999"), size_t(1));
    // Taken from the entry (as an attempt does, ClusterRuntime::poolEntry()): the same list.
    UpstreamPoolEntry& entry = pool.entry("a");
    pool.give(std::move(again), 8, kT0);
    QCOMPARE(&pool.entry("a"), &entry);
    again = pool.takeUsable(entry, UpstreamTlsConfig{}, kT0);
    QVERIFY(again);
    QCOMPARE(again->address, std::string("kept"));
    QVERIFY(!pool.takeUsable(entry, UpstreamTlsConfig{}, kT0));

    UpstreamPool other(&fakeProbe);
    other.give(std::move(again), 8, kT0);
    QCOMPARE(other.idleCount("a"), size_t(1));
    QCOMPARE(pool.idleCount("a"), size_t(0));
    auto moved = other.take("a");
    QVERIFY(moved);
    QCOMPARE(moved->address, std::string("kept"));
  }

  void keepsAtMostMaxIdle() {
    boost::asio::io_context io;
    UpstreamPool pool(&fakeProbe);
    auto counters = std::make_shared<ClusterCounters>();
    for (int i = 0; i < 3; ++i) {
      auto c = connection(io, "a");
      c->counters = counters;
      ++counters->connections;
      pool.give(std::move(c), 2, kT0);
    }
    QCOMPARE(pool.idleCount("a"), size_t(2));
    QCOMPARE(counters->connections, 2u);  // the third was closed, and counted down
  }

  void aRecentConnectionIsTrustedWithoutProbing() {
    boost::asio::io_context io;
    UpstreamPool pool(&fakeProbe);
    pool.give(connection(io, "a"), 8, kT0);
    auto c = pool.takeUsable("a", {}, kT0 + 100ms);
    QVERIFY(c);
    QCOMPARE(probes, 0);
  }

  void aStaleConnectionIsProbedAndRejected() {
    boost::asio::io_context io;
    UpstreamPool pool(&fakeProbe);
    pool.give(connection(io, "a"), 8, kT0);
    probeOpen = false;  // the server closed it while it sat idle
    QVERIFY(!pool.takeUsable("a", {}, kT0 + 1s));
    QCOMPARE(probes, 1);
    QCOMPARE(pool.idleCount("a"), size_t(0));  // closed, not kept

    pool.give(connection(io, "a"), 8, kT0);
    probeOpen = true;
    QVERIFY(pool.takeUsable("a", {}, kT0 + UpstreamPool::kTrustRecentlyIdle));
    QCOMPARE(probes, 2);
  }

  void unexpectedBytesRejectWithoutProbing() {
    boost::asio::io_context io;
    UpstreamPool pool(&fakeProbe);
    auto c = connection(io, "a");
    pool.give(std::move(c), 8, kT0);
    auto taken = pool.take("a");
    const char junk[] = "HTTP/1.1 408";
    auto b = taken->buffer.prepare(sizeof junk);
    std::memcpy(b.data(), junk, sizeof junk);
    taken->buffer.commit(sizeof junk);
    QVERIFY(!pool.stillOpen(*taken, kT0));
    QCOMPARE(probes, 0);
  }

  void aConnectionToAnIdentityNoLongerExpectedIsDropped() {
    boost::asio::io_context io;
    UpstreamPool pool(&fakeProbe);
    auto old = connection(io, "a|tls");
    old->peer_identity = "spiffe://mesh.local/ns/default/sa/old";
    auto good = connection(io, "a|tls");
    good->peer_identity = "spiffe://mesh.local/ns/default/sa/reviews";
    pool.give(std::move(good), 8, kT0);
    pool.give(std::move(old), 8, kT0);  // on top
    UpstreamTlsConfig tls;
    tls.mutual = true;
    tls.expected_identities = {"spiffe://mesh.local/ns/default/sa/reviews"};
    auto c = pool.takeUsable("a|tls", tls, kT0);
    QVERIFY(c);
    QCOMPARE(c->peer_identity, std::string("spiffe://mesh.local/ns/default/sa/reviews"));
    QCOMPARE(pool.idleCount("a|tls"), size_t(0));
  }

  void poolKeysKeepTlsApart() {
    EndpointConfig ep;
    ep.host = "10.0.0.1";
    ep.port = 9080;
    ClusterConfig plain;
    ClusterConfig mtls;
    mtls.tls.mutual = true;
    QCOMPARE(poolKey(ep, plain), std::string("10.0.0.1:9080"));
    QCOMPARE(poolKey(ep, mtls), std::string("10.0.0.1:9080|tls"));
  }
};

QTEST_APPLESS_MAIN(UpstreamPoolTest)
#include "upstream_pool_test.moc"
