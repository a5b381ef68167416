// The inspector's gRPC breakdown: a selected gRPC edge shows its protocol and its calls by
// grpc-status, most frequent first, server errors marked; an edge without gRPC shows none.
#include <QLabel>
#include <QtTest>

#include "support/fake_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/graph_view.h"
#include "ui/inspector.h"

using namespace meshdeck;
using testing::FakeControlPlane;

class InspectorGrpcTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void grpcEdgeShowsItsStatuses() {
    auto fake = std::make_shared<FakeControlPlane>();
    ui::ControlPlaneClient client(fake, false);
    ui::Inspector inspector(&client);
    inspector.resize(560, 1100);
    inspector.show();

    auto snapshot = std::make_shared<cp::GraphSnapshot>(*fake->snapshot());
    QVERIFY(snapshot->edges.size() >= 2);
    cp::ServiceEdge& grpc = snapshot->edges[0];
    grpc.protocol = "grpc";
    grpc.metrics.grpc_statuses = {};
    grpc.metrics.grpc_statuses[0] = 970;  // OK
    grpc.metrics.grpc_statuses[14] = 25;  // UNAVAILABLE
    grpc.metrics.grpc_statuses[5] = 5;    // NOT_FOUND
    cp::ServiceEdge& plain = snapshot->edges[1];
    plain.protocol.clear();
    plain.metrics.grpc_statuses = {};
    inspector.showSnapshot(snapshot);

    ui::GraphSelection selection;
    selection.kind = ui::GraphSelection::Kind::kEdge;
    selection.source = QString::fromStdString(grpc.source);
    selection.destination = QString::fromStdString(grpc.destination);
    inspector.setSelection(selection);
    auto* label = inspector.findChild<QLabel*>(QStringLiteral("edgeGrpc"));
    QVERIFY(label);
    QVERIFY(label->isVisible());
    const QString text = inspector.grpcText();
    QVERIFY2(text.contains("Protocol: grpc"), qPrintable(text));
    const auto ok = text.indexOf("OK"), unavailable = text.indexOf("UNAVAILABLE"),
               not_found = text.indexOf("NOT_FOUND");
    QVERIFY2(ok >= 0 && ok < unavailable && unavailable < not_found, qPrintable(text));
    QVERIFY2(text.contains("970") && text.contains("25") && text.contains("97.0"),
             qPrintable(text));
    // The server error is marked, the client error is not.
    QVERIFY2(label->text().contains("color:#d63333'>UNAVAILABLE"), qPrintable(label->text()));
    QVERIFY2(!label->text().contains("'>NOT_FOUND"), qPrintable(label->text()));

    // An edge without gRPC calls or a known protocol has no breakdown.
    selection.source = QString::fromStdString(plain.source);
    selection.destination = QString::fromStdString(plain.destination);
    inspector.setSelection(selection);
    QVERIFY(!label->isVisible());
    QCOMPARE(inspector.grpcText(), QString());
    client.waitForIdle();
  }
};

QTEST_MAIN(InspectorGrpcTest)
#include "inspector_grpc_test.moc"
