// The desktop app's snapshot reader reads every edge counter of common/telemetry/counter_fields.h
// back from a snapshot the control plane wrote (snake_case keys) and from protobuf's JSON
// mapping (lowerCamelCase keys, 64-bit numbers as strings).
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include "common/telemetry/counter_fields.h"
#include "controlplane/snapshot_json.h"
#include "ui/snapshot_control_plane.h"

using namespace meshdeck;

namespace {

uint64_t valueOf(size_t index) { return 7000 * (index + 1) + 3; }

QString q(std::string_view s) { return QString::fromLatin1(s.data(), qsizetype(s.size())); }

void check(const cp::WindowMetrics& m, const char* form) {
  size_t i = 0;
  common::forEachEdgeCounter(
      [&](const common::EdgeCounterField& f, uint64_t v) {
        QVERIFY2(v == valueOf(i),
                 qPrintable(QStringLiteral("%1: %2 is %3").arg(form, q(f.name)).arg(v)));
        ++i;
      },
      m);
}

}  // namespace

class CounterFieldsSnapshotReaderTest : public QObject {
  Q_OBJECT

 private slots:
  void readsEveryEdgeCounterSnakeAndCamel() {
    cp::GraphSnapshot g;
    cp::ServiceEdge e;
    e.source = "web";
    e.destination = "reviews";
    size_t i = 0;
    common::forEachEdgeCounter([&](const auto&, uint64_t& v) { v = valueOf(i++); }, e.metrics);
    g.edges.push_back(e);
    cp::ServiceNode n;
    n.name = "reviews";
    n.inbound = e.metrics;
    g.services.push_back(n);
    const QByteArray written = QByteArray::fromStdString(cp::snapshotToJson(g, {}, "test"));

    ui::SnapshotDocument doc;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(written, &doc, &error), qPrintable(error));
    QCOMPARE(doc.graph.edges.size(), size_t{1});
    check(doc.graph.edges[0].metrics, "snake_case edge");
    QCOMPARE(doc.graph.services.size(), size_t{1});
    check(doc.graph.services[0].inbound, "snake_case node");

    // The same document with protobuf JSON's camelCase keys and string numbers.
    QJsonObject root = QJsonDocument::fromJson(written).object();
    QJsonArray edges = root["edges"].toArray();
    QJsonObject edge = edges[0].toObject();
    QJsonObject metrics = edge["metrics"].toObject();
    for (const auto& f : common::kEdgeCounters) {
      QVERIFY2(metrics.contains(q(f.name)), f.name.data());
      const QJsonValue v = metrics.take(q(f.name));
      metrics[q(f.json_name)] = QString::number(v.toInteger());
    }
    edge["metrics"] = metrics;
    edges[0] = edge;
    root["edges"] = edges;
    QVERIFY2(ui::parseSnapshotJson(QJsonDocument(root).toJson(), &doc, &error), qPrintable(error));
    check(doc.graph.edges[0].metrics, "camelCase edge");
  }

  // gRPC statuses (by name in the snapshot file, by code in protobuf JSON) and the edge's
  // protocol read back; unknown status keys are ignored, not fatal.
  void readsGrpcStatusesAndProtocol() {
    cp::GraphSnapshot g;
    cp::ServiceEdge e;
    e.source = "checkout";
    e.destination = "payments";
    e.protocol = "grpc";
    e.metrics.requests = 100;
    e.metrics.grpc_statuses[0] = 97;
    e.metrics.grpc_statuses[4] = 3;
    g.edges.push_back(e);
    const QByteArray written = QByteArray::fromStdString(cp::snapshotToJson(g, {}, "test"));
    ui::SnapshotDocument doc;
    QString error;
    QVERIFY2(ui::parseSnapshotJson(written, &doc, &error), qPrintable(error));
    QCOMPARE(doc.graph.edges.at(0).protocol, std::string("grpc"));
    QVERIFY(doc.graph.edges.at(0).metrics.grpc_statuses == e.metrics.grpc_statuses);

    QJsonObject root = QJsonDocument::fromJson(written).object();
    QJsonArray edges = root["edges"].toArray();
    QJsonObject edge = edges[0].toObject();
    QJsonObject metrics = edge["metrics"].toObject();
    metrics.remove("grpc_statuses");
    metrics["grpcStatuses"] =
        QJsonObject{{"0", "97"}, {"4", "3"}, {"99", "5"}, {"NOT_A_STATUS", 7}, {"-1", 2}};
    edge["metrics"] = metrics;
    edges[0] = edge;
    root["edges"] = edges;
    QVERIFY2(ui::parseSnapshotJson(QJsonDocument(root).toJson(), &doc, &error), qPrintable(error));
    QVERIFY(doc.graph.edges.at(0).metrics.grpc_statuses == e.metrics.grpc_statuses);
  }
};

QTEST_GUILESS_MAIN(CounterFieldsSnapshotReaderTest)
#include "counter_fields_snapshot_reader_test.moc"
