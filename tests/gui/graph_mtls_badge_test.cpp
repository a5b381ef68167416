// The padlock on each edge from its metrics: closed (all mTLS), open (all plaintext), half
// (mixed), absent without traffic unless a policy asks for mTLS; the tooltip gives the counts.
#include <QtTest>

#include "ui/graph_items.h"
#include "ui/graph_view.h"

using namespace meshdeck;
using cp::EdgeTransport;

namespace {

cp::ServiceEdge edge(const std::string& from, const std::string& to, uint64_t mtls,
                     uint64_t plaintext) {
  cp::ServiceEdge e;
  e.source = from;
  e.destination = to;
  e.metrics.mtls_requests = mtls;
  e.metrics.plaintext_requests = plaintext;
  e.metrics.requests = mtls + plaintext;
  e.metrics.requests_per_second = double(mtls + plaintext) / 10;
  e.metrics.p99_ms = 20;
  return e;
}

}  // namespace

class GraphMtlsBadgeTest : public QObject {
  Q_OBJECT

 private slots:
  void badgesOnTheGraph() {
    ui::GraphView view;
    view.resize(1000, 700);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    auto s = std::make_shared<cp::GraphSnapshot>();
    for (const char* name : {"web", "cart", "pay", "db", "idle", "strict"}) {
      cp::ServiceNode n;
      n.name = name;
      n.instances = 1;
      s->services.push_back(n);
    }
    s->edges = {edge("web", "cart", 120, 0), edge("web", "pay", 0, 40), edge("cart", "db", 90, 10),
                edge("web", "idle", 0, 0), edge("pay", "strict", 0, 0)};
    s->edges.back().policies = {"PeerAuthentication/strict"};
    cp::PolicyInfo strict{
        "PeerAuthentication", "strict", "strict", "spec:\n  mtls:\n    mode: STRICT\n", 1,
        cp::PolicyBadges{}};
    strict.badges.mtls = true;  // as the control plane computes it
    view.setPolicies({strict});
    view.showSnapshot(s);
    QTRY_COMPARE_WITH_TIMEOUT(view.layoutsDone(), quint64(1), 10000);

    ui::MtlsBadgeItem* all = view.edgeItem("web", "cart")->mtlsBadge();
    QCOMPARE(all->state(), EdgeTransport::kMtls);
    QVERIFY(all->isVisible());
    QVERIFY2(all->toolTip().contains("all 120 requests"), qPrintable(all->toolTip()));

    ui::MtlsBadgeItem* plain = view.edgeItem("web", "pay")->mtlsBadge();
    QCOMPARE(plain->state(), EdgeTransport::kPlaintext);
    QVERIFY(plain->isVisible());
    QVERIFY2(plain->toolTip().contains("40 requests"), qPrintable(plain->toolTip()));

    ui::MtlsBadgeItem* mixed = view.edgeItem("cart", "db")->mtlsBadge();
    QCOMPARE(mixed->state(), EdgeTransport::kMixed);
    QVERIFY2(mixed->toolTip().contains("90 over mTLS, 10 in plaintext"),
             qPrintable(mixed->toolTip()));
    QVERIFY(mixed->toolTip().contains("90.00 %"));

    // No traffic, no policy: nothing to say.
    QVERIFY(!view.edgeItem("web", "idle")->mtlsBadge()->isVisible());
    // No traffic, but a policy asks for mTLS: a hollow padlock that says so.
    ui::MtlsBadgeItem* required = view.edgeItem("pay", "strict")->mtlsBadge();
    QVERIFY(required->isVisible());
    QCOMPARE(required->state(), EdgeTransport::kNone);
    QVERIFY(required->requiredByPolicy());
    QVERIFY(required->toolTip().contains("required by policy"));

    // The padlock sits beside the label, inside the edge's bounds, and the edge's own tooltip
    // carries the counts too.
    ui::EdgeItem* e = view.edgeItem("cart", "db");
    QVERIFY(e->boundingRect().contains(mixed->mapRectToParent(mixed->boundingRect())));
    QVERIFY(e->toolTip().contains("90 over mTLS · 10 plaintext"));

    // Metrics move: the same badge follows (all plaintext now).
    auto next = std::make_shared<cp::GraphSnapshot>(*s);
    next->edges[2] = edge("cart", "db", 0, 70);
    view.showSnapshot(next);
    QCOMPARE(mixed->state(), EdgeTransport::kPlaintext);
    QCOMPARE(view.layoutsDone(), quint64(1));  // metrics only: no new layout

    // Painting every state does not fail (and gives the picture for a quick look).
    QImage image(view.viewport()->size(), QImage::Format_ARGB32);
    image.fill(Qt::white);
    QPainter painter(&image);
    view.render(&painter);
    painter.end();
    const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
    if (!dir.isEmpty()) QVERIFY(image.save(dir + "/mtls-badges.png"));
  }
};

QTEST_MAIN(GraphMtlsBadgeTest)
#include "graph_mtls_badge_test.moc"
