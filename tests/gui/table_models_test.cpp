#include "ui/table_models.h"

#include <QAbstractItemModelTester>
#include <QtTest>

#include "support/fake_control_plane.h"

using meshdeck::testing::FakeControlPlane;
using namespace meshdeck;

class TableModelsTest : public QObject {
  Q_OBJECT

 private slots:
  void naturalCompareOrdersNumbersAsNumbers() {
    using ui::naturalCompare;
    QVERIFY(naturalCompare(u"business-2", u"business-10") < 0);
    QVERIFY(naturalCompare(u"business-10", u"business-2") > 0);
    QVERIFY(naturalCompare(u"svc-9", u"svc-10") < 0);
    QVERIFY(naturalCompare(u"a", u"a1") < 0);
    QVERIFY(naturalCompare(u"Web", u"web-1") < 0);
    QVERIFY(naturalCompare(u"web", u"Web") != 0);  // total: the exact text breaks the tie
    QCOMPARE(naturalCompare(u"same", u"same"), 0);
    QVERIFY(naturalCompare(u"x007", u"x8") < 0);
    QVERIFY(naturalCompare(u"x01", u"x1") != 0);
    QVERIFY(naturalCompare(u"x01", u"x2") < 0);
    // Digit runs longer than any integer type compare by length, then digit by digit.
    QVERIFY(naturalCompare(u"n99999999999999999999999", u"n100000000000000000000000") < 0);
    QVERIFY(naturalCompare(u"", u"a") < 0);
    QCOMPARE(naturalCompare(u"", u""), 0);
  }

  void servicesSortInNaturalOrder() {
    ui::ServicesModel model;
    model.setSnapshot(
        std::make_shared<const cp::GraphSnapshot>(FakeControlPlane::syntheticSnapshot(30, 40, 3)));
    ui::NaturalSortProxyModel sorted;
    sorted.setSourceModel(&model);
    sorted.setSortRole(Qt::UserRole);
    sorted.sort(ui::ServicesModel::kName, Qt::AscendingOrder);
    QCOMPARE(sorted.rowCount(), 30);
    QStringList names;
    for (int r = 0; r < sorted.rowCount(); ++r)
      names << sorted.index(r, ui::ServicesModel::kName).data().toString();
    QCOMPARE(names.first(), QStringLiteral("svc-0"));
    QCOMPARE(names.at(2), QStringLiteral("svc-2"));
    QCOMPARE(names.at(10), QStringLiteral("svc-10"));
    QCOMPARE(names.last(), QStringLiteral("svc-29"));
    // Numbers still sort as numbers: requests per second, descending.
    sorted.sort(ui::ServicesModel::kRate, Qt::DescendingOrder);
    for (int r = 1; r < sorted.rowCount(); ++r)
      QVERIFY(sorted.index(r - 1, ui::ServicesModel::kRate).data(Qt::UserRole).toDouble() >=
              sorted.index(r, ui::ServicesModel::kRate).data(Qt::UserRole).toDouble());
  }

  void servicesModelFollowsSnapshots() {
    ui::ServicesModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    FakeControlPlane fake;
    model.setSnapshot(fake.snapshot());
    QCOMPARE(model.rowCount(), 12);
    QCOMPARE(model.columnCount(), int(ui::ServicesModel::kColumns));
    QCOMPARE(model.data(model.index(0, ui::ServicesModel::kName), Qt::DisplayRole).toString(),
             QStringLiteral("frontend"));
    QCOMPARE(model.data(model.index(4, ui::ServicesModel::kVersions), Qt::DisplayRole).toString(),
             QStringLiteral("v1, v2"));
    // Same services, new numbers: dataChanged, no reset.
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy changes(&model, &QAbstractItemModel::dataChanged);
    fake.advance(5);
    model.setSnapshot(fake.snapshot());
    QCOMPARE(resets.count(), 0);
    QCOMPARE(changes.count(), 1);
    // Another topology: reset.
    model.setSnapshot(
        std::make_shared<const cp::GraphSnapshot>(FakeControlPlane::syntheticSnapshot(30, 40, 3)));
    QCOMPARE(resets.count(), 1);
    QCOMPARE(model.rowCount(), 30);
    QCOMPARE(model.serviceAt(2), QStringLiteral("svc-2"));
    QVERIFY(model.serviceAt(99).isEmpty());
  }

  void servicesModelAnnouncesOnlyChangedRows() {
    ui::ServicesModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const cp::GraphSnapshot base = FakeControlPlane::syntheticSnapshot(200, 400, 5);
    model.setSnapshot(std::make_shared<const cp::GraphSnapshot>(base));
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy changes(&model, &QAbstractItemModel::dataChanged);
    // The same figures in a new snapshot: nothing to announce.
    model.setSnapshot(std::make_shared<const cp::GraphSnapshot>(base));
    QCOMPARE(changes.count(), 0);
    QCOMPARE(model.rowsChanged(), quint64(0));
    // One service's rate: that row alone.
    auto next = std::make_shared<cp::GraphSnapshot>(base);
    next->services[42].inbound.requests_per_second += 5;
    next->services[42].inbound.requests += 50;
    model.setSnapshot(next);
    QCOMPARE(resets.count(), 0);
    QCOMPARE(changes.count(), 1);
    QCOMPARE(changes[0][0].value<QModelIndex>().row(), 42);
    QCOMPARE(changes[0][1].value<QModelIndex>().row(), 42);
    QCOMPARE(model.rowsChanged(), quint64(1));
    QCOMPARE(model.data(model.index(42, ui::ServicesModel::kRate), Qt::UserRole).toDouble(),
             next->services[42].inbound.requests_per_second);
    // Two runs of neighbours: two announcements of four rows in all.
    auto later = std::make_shared<cp::GraphSnapshot>(*next);
    for (size_t row : {10u, 11u, 12u, 150u}) later->services[row].inbound.p99_ms += 7;
    model.setSnapshot(later);
    QCOMPARE(changes.count(), 3);
    QCOMPARE(model.rowsChanged(), quint64(5));
  }

  void policiesModel() {
    ui::PoliciesModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setPolicies({{"TrafficRoute", "reviews-canary", "reviews", "yaml: 1\n", 3},
                       {"RateLimit", "cart-limit", "cart", "yaml: 2\n", 4}});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.data(model.index(1, ui::PoliciesModel::kTarget), Qt::DisplayRole).toString(),
             QStringLiteral("cart"));
    QCOMPARE(
        model.data(model.index(0, ui::PoliciesModel::kRevision), Qt::DisplayRole).toULongLong(),
        3ULL);
    QCOMPARE(model.policyAt(1)->name, std::string("cart-limit"));
    QVERIFY(model.policyAt(2) == nullptr);
    model.setPolicies({});
    QCOMPARE(model.rowCount(), 0);
  }

  void processesModel() {
    ui::ProcessesModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    cp::ProcessInfo p;
    p.name = "reviews-v2-0/proxy";
    p.service = "reviews";
    p.version = "v2";
    p.state = "running";
    p.ports = {15006, 15001};
    p.uptime_seconds = 3725;
    p.rss_bytes = 12 << 20;
    model.setProcesses({p});
    QCOMPARE(model.rowCount(), 1);
    QCOMPARE(model.data(model.index(0, ui::ProcessesModel::kPorts), Qt::DisplayRole).toString(),
             QStringLiteral("15006, 15001"));
    QCOMPARE(model.data(model.index(0, ui::ProcessesModel::kUptime), Qt::DisplayRole).toString(),
             QStringLiteral("1 h 2 min"));
    QCOMPARE(model.data(model.index(0, ui::ProcessesModel::kMemory), Qt::DisplayRole).toString(),
             QStringLiteral("12.0 MiB"));
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    p.restarts = 1;
    model.setProcesses({p});
    QCOMPARE(resets.count(), 0);
    QCOMPARE(model.data(model.index(0, ui::ProcessesModel::kRestarts), Qt::DisplayRole).toInt(), 1);
    cp::ProcessInfo q = p;
    q.name = "reviews-v2-1/proxy";
    model.setProcesses({p, q});
    QCOMPARE(resets.count(), 1);
    QCOMPARE(model.rowCount(), 2);
  }
};

QTEST_GUILESS_MAIN(TableModelsTest)
#include "table_models_test.moc"
