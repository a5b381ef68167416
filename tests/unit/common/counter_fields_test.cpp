// Every counter of common/telemetry/counter_fields.h, given a distinct value, must come through
// every layer that carries it: the proxy's merge, the telemetry proto, the control plane's
// aggregator, the API type, the management proto, the snapshot JSON, meshdeckctl's columns and
// the Prometheus text. A counter added to a table but missed by a layer fails here.
#include "common/telemetry/counter_fields.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <QtTest>
#include <boost/json.hpp>
#include <set>
#include <sstream>

#include "common/clock.h"
#include "controlplane/server/proto_convert.h"
#include "controlplane/server/telemetry_service.h"
#include "controlplane/snapshot_json.h"
#include "controlplane/telemetry/telemetry_aggregator.h"
#include "meshdeck/v1/management.pb.h"
#include "meshdeck/v1/telemetry.pb.h"
#include "proxy/mesh/mesh_agent.h"
#include "proxy/stats.h"
#include "tools/meshdeckctl/meshdeckctl.h"

using namespace meshdeck;

namespace {

// A distinct non-zero value per counter and copy.
uint64_t valueOf(size_t index, uint64_t salt) { return 1000 * (index + 1) + salt; }

std::string camel(std::string_view snake) {
  std::string out;
  bool upper = false;
  for (char c : snake) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
    upper = false;
  }
  return out;
}

uint64_t protoField(const google::protobuf::Message& m, std::string_view name) {
  const auto* field = m.GetDescriptor()->FindFieldByName(std::string(name));
  if (field == nullptr || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_UINT64)
    return UINT64_MAX;
  return m.GetReflection()->GetUInt64(m, field);
}

// The expected window value of counter i: two proxy deltas merged (salts 1 and 2).
uint64_t mergedValue(size_t i) { return valueOf(i, 1) + valueOf(i, 2); }

template <typename T>
void checkEdgeCounters(const T& obj, const char* layer) {
  size_t i = 0;
  common::forEachEdgeCounter(
      [&](const common::EdgeCounterField& f, uint64_t v) {
        QVERIFY2(v == mergedValue(i),
                 qPrintable(QStringLiteral("%1: %2 is %3, want %4")
                                .arg(layer, QString::fromLatin1(f.name.data(), f.name.size()))
                                .arg(v)
                                .arg(mergedValue(i))));
        ++i;
      },
      obj);
}

}  // namespace

class CounterFieldsTest : public QObject {
  Q_OBJECT

 private slots:
  void tablesAreWellFormed() {
    std::set<std::string_view> names, columns;
    for (const auto* table : {&common::kEdgeCounters}) {
      for (const auto& f : *table) {
        QVERIFY2(names.insert(f.name).second, f.name.data());
        QVERIFY2(columns.insert(f.column).second, f.column.data());
        QCOMPARE(std::string(f.json_name), camel(f.name));
        QVERIFY(!f.help.empty());
      }
    }
    for (const auto& f : common::kEdgeProxyCounters) {
      QVERIFY2(names.insert(f.name).second, f.name.data());
      QCOMPARE(std::string(f.json_name), camel(f.name));
    }
    // Listener families: consecutive entries, the first with the help text, labels distinct.
    std::set<std::string_view> closed;
    std::string_view family;
    std::set<std::string_view> labels;
    for (const auto& f : common::kListenerCounters) {
      if (f.metric.empty()) continue;
      if (f.metric != family) {
        QVERIFY2(!closed.count(f.metric), f.metric.data());
        if (!family.empty()) closed.insert(family);
        family = f.metric;
        labels.clear();
        QVERIFY2(!f.help.empty(), f.name.data());
      } else {
        QVERIFY2(f.help.empty(), f.name.data());
        QVERIFY2(!f.label.empty(), f.name.data());
      }
      QVERIFY2(labels.insert(f.label).second, f.name.data());
    }
    std::set<std::string_view> events;
    for (const auto& f : common::kClusterEvents)
      QVERIFY2(events.insert(f.event).second, f.event.data());
  }

  // proxy merge -> EdgeStats -> EdgeReport -> aggregator -> api -> WindowMetrics proto -> api.
  void edgeCountersSurviveEveryLayer() {
    proxy::EdgeDelta a, b;
    size_t i = 0;
    common::forEachEdgeCounter(
        [&](const auto&, uint64_t& x, uint64_t& y) {
          x = valueOf(i, 1);
          y = valueOf(i, 2);
          ++i;
        },
        a, b);
    i = 0;
    common::forEachEdgeProxyCounter(
        [&](const auto&, uint64_t& x, uint64_t& y) {
          x = valueOf(100 + i, 1);
          y = valueOf(100 + i, 2);
          ++i;
        },
        a, b);
    a.merge(b);
    checkEdgeCounters(a, "proxy merge");
    i = 0;
    common::forEachEdgeProxyCounter(
        [&](const auto& f, uint64_t v) {
          QVERIFY2(v == mergedValue(100 + i), f.name.data());
          ++i;
        },
        a);

    proxy::EdgeId id;
    id.source_service = "web";
    id.destination_service = "reviews";
    id.client_side = true;
    proxy::EdgeMap edges;
    edges.emplace(id, a);
    v1::TelemetryReport report;
    proxy::fillTelemetryReport(edges, "web-1", 1, 1000, &report);
    QCOMPARE(report.edges_size(), 1);
    i = 0;
    for (const auto& f : common::kEdgeCounters)
      QVERIFY2(protoField(report.edges(0), f.name) == mergedValue(i++), f.name.data());
    i = 0;
    for (const auto& f : common::kEdgeProxyCounters)
      QVERIFY2(protoField(report.edges(0), f.name) == mergedValue(100 + i++), f.name.data());

    cp::EdgeReport received;
    std::string error;
    QVERIFY2(cp::edgeReportFromProto(report.edges(0), &received, &error), error.c_str());
    checkEdgeCounters(received, "EdgeReport");

    common::SimulatedTimeSource clock;
    cp::TelemetryAggregator aggregator(clock, 60, 60);
    QVERIFY(aggregator.ingest(received));
    const auto window = aggregator.edges(10);
    QCOMPARE(window.size(), size_t{1});
    checkEdgeCounters(window[0].metrics, "aggregator window");

    v1::WindowMetrics wire;
    cp::toProto(window[0].metrics, &wire);
    i = 0;
    for (const auto& f : common::kEdgeCounters)
      QVERIFY2(protoField(wire, f.name) == mergedValue(i++), f.name.data());
    checkEdgeCounters(cp::fromProto(wire), "management proto");
  }

  // gRPC statuses and the edge's protocol come through the same layers: proxy merge, telemetry
  // proto, the control plane's check and aggregator, the management proto, the snapshot JSON
  // and meshdeckctl's wide table.
  void grpcStatusesThroughEveryLayer() {
    proxy::EdgeDelta a, b;
    a.requests = 60;
    a.grpc_statuses[0] = 57;
    a.grpc_statuses[14] = 3;
    a.responses_by_code[200] = 57;
    a.responses_by_code[503] = 3;
    b.requests = 40;
    b.grpc_statuses[0] = 40;
    b.responses_by_code[200] = 40;
    a.merge(b);
    QCOMPARE(a.grpc_statuses[0], uint64_t{97});
    proxy::EdgeId grpc_id;
    grpc_id.source_service = "checkout";
    grpc_id.destination_service = "payments";
    grpc_id.client_side = true;
    grpc_id.protocol = 2;  // Exchange::Protocol::kGrpc
    proxy::EdgeId http_id = grpc_id;
    http_id.protocol = 0;
    proxy::EdgeDelta plain;
    plain.requests = 5;
    plain.responses_by_code[200] = 5;
    proxy::EdgeMap edges;
    edges.emplace(grpc_id, a);
    edges.emplace(http_id, plain);
    v1::TelemetryReport report;
    proxy::fillTelemetryReport(edges, "checkout-1", 1, 1000, &report);
    QCOMPARE(report.edges_size(), 2);
    common::SimulatedTimeSource clock;
    cp::TelemetryAggregator aggregator(clock, 60, 60);
    for (const auto& e : report.edges()) {
      if (e.key().protocol() == "grpc") {
        QCOMPARE(e.grpc_statuses().at(0), uint64_t{97});
        QCOMPARE(e.grpc_statuses().at(14), uint64_t{3});
        QCOMPARE(e.grpc_statuses().size(), size_t{2});  // zeros are not sent
      } else {
        QCOMPARE(e.key().protocol(), std::string("http/1.1"));
        QVERIFY(e.grpc_statuses().empty());
      }
      cp::EdgeReport received;
      std::string error;
      QVERIFY2(cp::edgeReportFromProto(e, &received, &error), error.c_str());
      QVERIFY(aggregator.ingest(received));
    }
    const auto window = aggregator.edges(10);
    QCOMPARE(window.size(), size_t{1});
    QCOMPARE(window[0].protocol, std::string("http1,grpc"));
    QCOMPARE(window[0].metrics.grpc_statuses[0], uint64_t{97});
    QCOMPARE(window[0].metrics.grpc_statuses[14], uint64_t{3});
    QCOMPARE(window[0].metrics.success_rate, 1.0 - 3.0 / 105.0);

    cp::GraphSnapshot g;
    g.edges = window;
    v1::GraphSnapshot wire;
    cp::toProto(g, &wire);
    QCOMPARE(wire.edges(0).protocol(), std::string("http1,grpc"));
    QCOMPARE(wire.edges(0).metrics().grpc_statuses().at(14), uint64_t{3});
    const auto back = cp::fromProto(wire);
    QVERIFY(back.edges[0].metrics.grpc_statuses == window[0].metrics.grpc_statuses);

    const auto doc = boost::json::parse(cp::snapshotToJson(g, {}, "test"));
    const auto& edge = doc.at("edges").at(0).as_object();
    QCOMPARE(boost::json::value_to<std::string>(edge.at("protocol")), std::string("http1,grpc"));
    const auto& statuses = edge.at("metrics").at("grpc_statuses").as_object();
    QCOMPARE(statuses.size(), size_t{2});
    QCOMPARE(boost::json::value_to<uint64_t>(statuses.at("OK")), uint64_t{97});
    QCOMPARE(boost::json::value_to<uint64_t>(statuses.at("UNAVAILABLE")), uint64_t{3});

    const auto columns = tools::edgeTableColumns(true);
    std::istringstream table(tools::edgeTable(wire, true));
    std::string header, row;
    std::getline(table, header);
    std::getline(table, row);
    std::vector<std::string> heads, cells;
    for (std::istringstream s(header); s >> header;) heads.push_back(header);
    for (std::istringstream s(row); s >> row;) cells.push_back(row);
    QCOMPARE(heads, columns);
    QCOMPARE(cells.size(), heads.size());
    const auto at = [&](const char* column) {
      return cells[size_t(std::find(heads.begin(), heads.end(), column) - heads.begin())];
    };
    QCOMPARE(at("PROTOCOL"), std::string("http1,grpc"));
    QCOMPARE(at("GRPC"), std::string("OK=97,UNAVAILABLE=3"));
    // The default table stays as it was.
    const auto narrow = tools::edgeTableColumns(false);
    QCOMPARE(std::count(narrow.begin(), narrow.end(), "GRPC"), 0);
  }

  // Snapshot JSON writes every counter under its name; meshdeckctl shows every one in -o wide.
  void edgeCountersInSnapshotJsonAndColumns() {
    cp::GraphSnapshot g;
    cp::ServiceEdge e;
    e.source = "web";
    e.destination = "reviews";
    size_t i = 0;
    common::forEachEdgeCounter([&](const auto&, uint64_t& v) { v = mergedValue(i++); }, e.metrics);
    g.edges.push_back(e);

    const auto doc = boost::json::parse(cp::snapshotToJson(g, {}, "test"));
    const auto& metrics = doc.at("edges").at(0).at("metrics").as_object();
    i = 0;
    for (const auto& f : common::kEdgeCounters) {
      const auto* v = metrics.if_contains(f.name);
      QVERIFY2(v != nullptr, f.name.data());
      QVERIFY2(boost::json::value_to<uint64_t>(*v) == mergedValue(i++), f.name.data());
    }

    v1::GraphSnapshot wire;
    cp::toProto(g, &wire);
    const auto columns = tools::edgeTableColumns(true);
    std::istringstream table(tools::edgeTable(wire, true));
    std::string header, row;
    std::getline(table, header);
    std::getline(table, row);
    std::vector<std::string> heads, cells;
    for (std::istringstream s(header); s >> header;) heads.push_back(header);
    for (std::istringstream s(row); s >> row;) cells.push_back(row);
    QCOMPARE(heads, columns);
    QCOMPARE(cells.size(), heads.size());  // no cell of this row is empty or holds a space
    i = 0;
    for (const auto& f : common::kEdgeCounters) {
      const auto at = std::find(heads.begin(), heads.end(), std::string(f.column));
      QVERIFY2(at != heads.end(), f.column.data());
      QCOMPARE(cells[size_t(at - heads.begin())], std::to_string(mergedValue(i++)));
    }
    // The default table keeps its one counter column.
    const auto narrow = tools::edgeTableColumns(false);
    QCOMPARE(std::count(narrow.begin(), narrow.end(), "FAULTS"), 1);
    QCOMPARE(narrow.size(), size_t{11});
  }

  // Listener and cluster counters: merged, and exposed in /stats under their family and label.
  void listenerAndClusterCountersInPrometheus() {
    proxy::WorkerStats w1, w2;
    auto& l1 = w1.listeners["main"];
    auto& l2 = w2.listeners["main"];
    auto& c1 = w1.clusters["reviews"];
    auto& c2 = w2.clusters["reviews"];
    size_t i = 0;
    common::forEachListenerCounter(
        [&](const auto&, uint64_t& x, uint64_t& y) {
          x = valueOf(i, 1);
          y = valueOf(i, 2);
          ++i;
        },
        l1, l2);
    i = 0;
    common::forEachClusterEvent(
        [&](const auto&, uint64_t& x, uint64_t& y) {
          x = valueOf(i, 1);
          y = valueOf(i, 2);
          ++i;
        },
        c1, c2);
    w1.merge(w2);
    const std::string text = w1.renderPrometheus();

    i = 0;
    common::forEachListenerCounter(
        [&](const common::ListenerCounterField& f, uint64_t v) {
          QVERIFY2(v == mergedValue(i), f.name.data());
          ++i;
          if (f.metric.empty()) return;
          const std::string line = std::string(f.metric) + "{listener=\"main\"" +
                                   (f.label.empty() ? "" : "," + std::string(f.label)) + "} " +
                                   std::to_string(v) + "\n";
          QVERIFY2(text.find(line) != std::string::npos, line.c_str());
          const std::string type = "# TYPE " + std::string(f.metric) + " " +
                                   std::string(common::metricTypeName(f.type)) + "\n";
          QVERIFY2(text.find(type) != std::string::npos, type.c_str());
          QVERIFY2(text.find(type) == text.rfind(type), type.c_str());
        },
        w1.listeners["main"]);

    i = 0;
    common::forEachClusterEvent(
        [&](const common::ClusterEventField& f, uint64_t v) {
          QVERIFY2(v == mergedValue(i), f.name.data());
          ++i;
          const std::string line = "meshdeck_cluster_events_total{cluster=\"reviews\",event=\"" +
                                   std::string(f.event) + "\"} " + std::to_string(v) + "\n";
          QVERIFY2(text.find(line) != std::string::npos, line.c_str());
        },
        w1.clusters["reviews"]);
  }
};

QTEST_GUILESS_MAIN(CounterFieldsTest)
#include "counter_fields_test.moc"
