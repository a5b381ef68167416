// The snapshot's optional edge history and revision list (docs/snapshot-format.md): what the
// control plane's writer (snapshotToJson) puts in, the desktop's reader (parseSnapshotJson,
// SnapshotControlPlane) gives back, sample for sample; a file without them still opens.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include "controlplane/snapshot_json.h"
#include "ui/snapshot_control_plane.h"

using namespace meshdeck;

namespace {

cp::SystemTime at(int64_t ms) { return cp::SystemTime(std::chrono::milliseconds(ms)); }

// 300 one-second samples ending at `end_ms`, every field different.
std::vector<cp::EdgeSample> samples(int64_t end_ms, double scale) {
  std::vector<cp::EdgeSample> out;
  for (int i = 0; i < 300; ++i) {
    cp::EdgeSample s;
    s.time = at(end_ms - (299 - i) * 1000);
    s.requests_per_second = scale * (10 + i);
    s.success_rate = 1.0 - 0.001 * (i % 7);
    s.p50_ms = scale * (1.5 + 0.01 * i);
    s.p90_ms = s.p50_ms * 2;
    s.p99_ms = s.p50_ms * 4.25;
    s.responses_by_class = {uint64_t(i % 2), uint64_t(100 + i), 3, uint64_t(i % 5),
                            uint64_t(i % 3)};
    out.push_back(s);
  }
  return out;
}

cp::GraphSnapshot graph() {
  cp::GraphSnapshot g;
  g.time = at(1'790'000'000'250);
  g.window_seconds = 60;
  g.policy_revision = 2;
  for (const char* name : {"web", "reviews", "ratings"}) {
    cp::ServiceNode n;
    n.name = name;
    g.services.push_back(n);
  }
  for (auto [s, d] : {std::pair{"web", "reviews"}, std::pair{"reviews", "ratings"}}) {
    cp::ServiceEdge e;
    e.source = s;
    e.destination = d;
    g.edges.push_back(e);
  }
  return g;
}

}  // namespace

class SnapshotHistoryTest : public QObject {
  Q_OBJECT

 private slots:
  void edgeHistoryAndRevisionsRoundTrip() {
    const cp::GraphSnapshot g = graph();
    cp::SnapshotExtras extras;
    extras.edge_history = {{"web", "reviews", samples(1'790'000'000'000, 1.0)},
                           {"reviews", "ratings", samples(1'790'000'000'000, 3.0)}};
    extras.revisions = {{1, "alice", at(1'789'999'000'123), "created TrafficRoute/reviews"},
                        {2, "bob", at(1'789'999'500'456), "changed TrafficRoute/reviews"}};
    const QByteArray json = QByteArray::fromStdString(cp::snapshotToJson(g, {}, "test", extras));

    // The documented shape: snake_case, RFC 3339 times, classes as an object.
    const QJsonObject root = QJsonDocument::fromJson(json).object();
    QCOMPARE(root["format_version"].toInt(), 1);
    const QJsonArray history = root["edge_history"].toArray();
    QCOMPARE(history.size(), 2);
    const QJsonObject first = history[0].toObject()["samples"].toArray()[0].toObject();
    QCOMPARE(first["time"].toString(), QStringLiteral("2026-09-21T14:08:21.000Z"));
    QCOMPARE(first["responses_by_class"].toObject()["2xx"].toInteger(), qint64(100));
    QCOMPARE(root["revisions"].toArray()[1].toObject()["author"].toString(), QStringLiteral("bob"));

    ui::SnapshotDocument doc;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(json, &doc, &error), qPrintable(error));
    QCOMPARE(doc.history.size(), size_t(2));
    for (const auto& h : extras.edge_history) {
      const auto it = doc.history.find({h.source, h.destination});
      QVERIFY(it != doc.history.end());
      QCOMPARE(it->second.size(), h.samples.size());
      for (size_t i = 0; i < h.samples.size(); ++i) {
        const auto &want = h.samples[i], &got = it->second[i];
        QVERIFY(got.time == want.time);
        QCOMPARE(got.requests_per_second, want.requests_per_second);
        QCOMPARE(got.success_rate, want.success_rate);
        QCOMPARE(got.p50_ms, want.p50_ms);
        QCOMPARE(got.p90_ms, want.p90_ms);
        QCOMPARE(got.p99_ms, want.p99_ms);
        QVERIFY(got.responses_by_class == want.responses_by_class);
      }
    }
    QCOMPARE(doc.revisions.size(), size_t(2));
    QCOMPARE(doc.revisions[0].number, uint64_t(1));
    QCOMPARE(doc.revisions[0].summary, std::string("created TrafficRoute/reviews"));
    QVERIFY(doc.revisions[1].time == extras.revisions[1].time);

    // Served as the control plane would: the last N seconds of the file, oldest first.
    ui::SnapshotControlPlane offline(std::move(doc));
    QCOMPARE(offline.edgeHistory("web", "reviews", 300).size(), size_t(300));
    const auto last_minute = offline.edgeHistory("reviews", "ratings", 60);
    QCOMPARE(last_minute.size(), size_t(60));
    QVERIFY(last_minute.back().time == at(1'790'000'000'000));
    QCOMPARE(last_minute.back().p99_ms, extras.edge_history[1].samples.back().p99_ms);
    QVERIFY(offline.edgeHistory("web", "ratings", 300).empty());
    QCOMPARE(offline.revisions().size(), size_t(2));
  }

  // What the export takes from a control plane (here: a snapshot file's): every edge with
  // history, 300 s each, the revisions; past the sample budget each edge keeps its newest.
  void extrasFromAControlPlane() {
    const cp::GraphSnapshot g = graph();
    cp::SnapshotExtras written;
    written.edge_history = {{"web", "reviews", samples(1'790'000'000'000, 1.0)},
                            {"reviews", "ratings", samples(1'790'000'000'000, 2.0)}};
    written.revisions = {{1, "alice", at(1'789'999'000'000), "created"}};
    ui::SnapshotDocument doc;
    QString error;
    QVERIFY2(
        ui::parseSnapshotJson(QByteArray::fromStdString(cp::snapshotToJson(g, {}, "test", written)),
                              &doc, &error),
        qPrintable(error));
    ui::SnapshotControlPlane source(std::move(doc));

    const cp::SnapshotExtras all = cp::snapshotExtras(source, g);
    QCOMPARE(all.edge_history.size(), size_t(2));
    QCOMPARE(all.edge_history[0].source, std::string("web"));
    QCOMPARE(all.edge_history[0].samples.size(), size_t(cp::kSnapshotHistorySeconds));
    QCOMPARE(all.revisions.size(), size_t(1));

    // A budget of 100 samples for 2 edges: the newest 50 of each.
    const cp::SnapshotExtras capped = cp::snapshotExtras(source, g, 100);
    QCOMPARE(capped.edge_history.size(), size_t(2));
    for (size_t i = 0; i < 2; ++i) {
      QCOMPARE(capped.edge_history[i].samples.size(), size_t(50));
      QVERIFY(capped.edge_history[i].samples.back().time == at(1'790'000'000'000));
      QVERIFY(capped.edge_history[i].samples.front().time == at(1'790'000'000'000 - 49'000));
    }
  }

  // Older snapshots (and exports without history) have neither field: they still open, with no
  // history and no revisions; the writer leaves empty parts out.
  void withoutExtrasStillReads() {
    const QByteArray json = QByteArray::fromStdString(cp::snapshotToJson(graph(), {}, "test"));
    const QJsonObject root = QJsonDocument::fromJson(json).object();
    QVERIFY(!root.contains("edge_history"));
    QVERIFY(!root.contains("revisions"));
    ui::SnapshotDocument doc;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(json, &doc, &error), qPrintable(error));
    QCOMPARE(doc.graph.edges.size(), size_t(2));
    QVERIFY(doc.history.empty());
    QVERIFY(doc.revisions.empty());
    ui::SnapshotControlPlane offline(std::move(doc));
    QVERIFY(offline.edgeHistory("web", "reviews", 300).empty());
  }
};

QTEST_GUILESS_MAIN(SnapshotHistoryTest)
#include "snapshot_history_test.moc"
